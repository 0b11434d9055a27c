// What a simulated mesh's tests and scenario runners check: which tasks
// were acknowledged, who leads what, and the task guarantees of DESIGN §7
// against partition leaders and their replicas.
#pragma once

#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "node/sim/simulator.h"

namespace mesh {

// Ids any node acknowledged (kOk) to its clients, over all its lives.
std::set<std::string> acknowledged(const Simulator& sim);

// The record as a live leader of its partition holds it, or nullptr.
const TaskRecord* leader_record(const Simulator& sim, const std::string& id);

bool all_terminal(const Simulator& sim, const std::set<std::string>& ids);

// Index of the live node leading `partition`, if any.
std::optional<size_t> leader_of(const Simulator& sim, uint32_t partition);

// Every live node's view of one partition, for failure messages.
std::string describe_partition(const Simulator& sim, uint32_t partition, const std::string& id = {});

// A key whose partition node `node` leads (and, with `preferred`, is the
// ring's preferred leader of, so that leadership stays put); empty if none.
std::string key_led_by(const Simulator& sim, size_t node, bool preferred = false);

// Guarantee 3 over time: the first committed result seen for a task is the
// only one it ever has, whichever node leads its partition later.
class ResultWatch {
 public:
  // Empty, or what contradicts an earlier observation.
  std::string observe(const Simulator& sim);

 private:
  std::map<std::string, TaskRecord> final_;
};

// What check_task_guarantees found: the first broken guarantee, and how
// many caught-up replicas it compared with their leader (the denominator of
// the agreement check, so that a run comparing nothing cannot pass).
struct GuaranteeCheck {
  std::string failure;  // empty when all hold
  size_t replicas_compared = 0;
};

// Guarantees 1-4 once the mesh is quiet: every acknowledged task is at its
// partition's leader, terminal, with a sound attempt history (numbered, at
// most one success), and every caught-up voter holds the same records as
// its leader; at least one replica must have been compared.
GuaranteeCheck check_task_guarantees(const Simulator& sim, const std::set<std::string>& ids);

// Adds the named counters of every node's current life to `totals`: enough
// to show that a run took the paths it is meant to.
void add_node_counters(const Simulator& sim, std::initializer_list<const char*> names,
                       std::map<std::string, uint64_t>& totals);

}  // namespace mesh
