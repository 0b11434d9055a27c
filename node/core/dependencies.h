// Dependencies: tasks that run once their parents, anywhere in the mesh,
// have completed (TaskSpec::after; docs/ARCHITECTURE.md, "Dependencies").
// A sans-IO component of a node: it sees its node only through
// ComponentHost.
//
// Two roles:
//   origin  a submit whose tasks name parents is checked here: no task
//           waits for itself or for the same parent twice, the parents
//           inside the submit form no cycle, and every parent outside it
//           exists (a linearizable get). It is then stored all or none, as
//           an atomic submit (Transactions).
//   leader  the leader of a partition holding BLOCKED tasks watches their
//           parents: a long-poll wait at each parent's partition, asked
//           again whenever it ends without a final state. A parent's final
//           state becomes an OpParentsDone in the child's own log, which
//           moves the child to PENDING with the parent's result as an
//           input, or to FAILED (upstream_failed). The op is idempotent and
//           the watch is rebuilt from the table by each new leader, so the
//           hand-off happens exactly once whatever dies: nothing is kept on
//           the parent's side.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "node/core/component_host.h"

namespace mesh {

struct DependencyConfig {
  uint64_t wait_ms = 10000;  // one long-poll for a parent's final state
  uint64_t retry_ms = 300;   // after a wait that failed (no leader, no answer)
  // Origin: the check that a submit's outside parents exist gives up then
  // (kUnavailable): some of their partitions have no leader.
  uint64_t check_timeout_ms = 10000;
};

// The checks of a submit that name no other partition: per task, no
// parent twice and not itself, a shard inside its count; across the
// submit, unique ids, no cycle, and parents inside it named under their
// own key. Fills in the key of each parent inside the submit.
Status check_dependency_batch(std::vector<TaskSpec>& tasks);

// The parents' results a task's handler gets, in TaskSpec::after order.
std::vector<std::string> inputs_in_order(const TaskRecord& record);

// The lines of `text` whose key (up to the first tab, or the whole line)
// hashes to shard `index` of `count`, each ended by a newline.
std::string shard_of(std::string_view text, uint32_t index, uint32_t count);

class Dependencies {
 public:
  Dependencies(DependencyConfig config, ComponentHost& host) : config_(config), host_(host) {}

  // Origin: a submit whose tasks name parents; every task has its id.
  void submit(RequestRef request, std::string txn, std::vector<TaskSpec> tasks);
  // The answer to a host.ask() of this component.
  void on_answer(uint64_t handle, const Reply& reply);
  // Leader: a record of a partition this node leads was stored or changed
  // (also called for each BLOCKED record when leadership starts).
  void on_record(uint32_t partition, const TaskRecord& record);
  void on_lead_end(uint32_t partition);
  // Starts the waits that are due and proposes the outcomes that are known.
  void tick();
  std::optional<uint64_t> next_wake() const;
  // BLOCKED tasks watched on partitions this node leads.
  size_t watched_children() const;

 private:
  using ParentKey = std::pair<std::string, std::string>;  // parent id, its key
  using Child = std::pair<uint32_t, std::string>;         // partition, task id
  struct Outcome {
    bool completed = false;
    std::string text;  // the result, or why it did not complete
  };
  struct Watch {
    std::set<Child> children;
    std::optional<Outcome> outcome;  // known once the parent is final
    uint64_t asking = 0;             // the wait in flight, 0: none
    uint64_t ask_at_ms = 0;
    bool in_job = false;             // some child was stored with it: missing means not yet
  };
  // A submit at its origin, waiting for the check of its outside parents.
  struct Check {
    RequestRef request = 0;
    std::string txn;
    std::vector<TaskSpec> tasks;
    std::vector<std::string> parent_ids;  // the asked ids, in ask order
  };

  void on_check_answer(Check check, const Reply& reply);
  void on_wait_answer(const ParentKey& parent, const Reply& reply);
  void propose_known();

  DependencyConfig config_;
  ComponentHost& host_;
  uint64_t next_handle_ = 1;
  std::map<ParentKey, Watch> watches_;
  std::map<uint64_t, ParentKey> waits_;  // handle -> the parent waited for
  std::map<uint64_t, Check> checks_;     // handle -> the submit checked
  // (partition, child, parent id) whose outcome is proposed, not yet applied.
  std::set<std::tuple<uint32_t, std::string, std::string>> proposed_;
  uint64_t propose_at_ms_ = 0;  // a refused proposal waits until then
};

}  // namespace mesh
