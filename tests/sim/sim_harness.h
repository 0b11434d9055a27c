// Shared set-up for simulator tests: mesh start-up through one seed, views
// of what nodes believe, and the task guarantees of DESIGN §7 checked
// against the partition leaders and replicas of a simulated mesh.
#pragma once

#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <set>
#include <string>

#include "node/core/partitioning.h"
#include "node/sim/scenario.h"
#include "node/sim/simulator.h"
#include "tools/testkit/record_check.h"

namespace mesh::test {

// Adds n nodes; node 0 starts the mesh, node i joins through it at i * stagger_ms.
inline void start_mesh(Simulator& sim, size_t n, uint64_t stagger_ms) {
  for (size_t i = 0; i < n; ++i) sim.add_node(sim_node_config(i));
  sim.join(0, {}, 0);
  for (size_t i = 1; i < n; ++i) sim.join(i, {Simulator::address_of("n0")}, i * stagger_ms);
}

// The state node `viewer` believes `member_id` is in, or nullopt if unknown.
inline std::optional<MemberState> belief(const Simulator& sim, size_t viewer, const std::string& member_id) {
  for (const auto& m : sim.node(viewer).membership().members()) {
    if (m.id == member_id) return m.state;
  }
  return std::nullopt;
}

// Ids any node acknowledged (kOk) to its clients, over all its lives.
inline std::set<std::string> acknowledged(const Simulator& sim) {
  std::set<std::string> ids;
  for (size_t i = 0; i < sim.size(); ++i) {
    for (const auto& r : sim.replies(i)) {
      if (const auto* submit = std::get_if<SubmitReply>(&r.reply)) {
        for (const auto& o : submit->outcomes) {
          if (o.code == ErrorCode::kOk) ids.insert(o.id);
        }
      }
    }
  }
  return ids;
}

// The record as a live leader of its partition holds it, or nullptr.
inline const TaskRecord* leader_record(const Simulator& sim, const std::string& id) {
  for (size_t i = 0; i < sim.size(); ++i) {
    if (!sim.alive(i)) continue;
    const TaskRecord* r = sim.node(i).find(id);
    if (r != nullptr && sim.node(i).leads(r->partition)) return r;
  }
  return nullptr;
}

inline bool all_terminal(const Simulator& sim, const std::set<std::string>& ids) {
  for (const auto& id : ids) {
    const TaskRecord* r = leader_record(sim, id);
    if (r == nullptr || !is_terminal(r->state)) return false;
  }
  return true;
}

// Index of the live node leading `partition`, if any.
inline std::optional<size_t> leader_of(const Simulator& sim, uint32_t partition) {
  for (size_t i = 0; i < sim.size(); ++i) {
    if (sim.alive(i) && sim.node(i).leads(partition)) return i;
  }
  return std::nullopt;
}

// Every live node's view of one partition, for failure messages.
inline std::string describe_partition(const Simulator& sim, uint32_t partition, const std::string& id = {}) {
  std::string out = "partition " + std::to_string(partition) + " at t=" + std::to_string(sim.now()) + ":";
  for (size_t i = 0; i < sim.size(); ++i) {
    out += "\n  n" + std::to_string(i) + ": ";
    if (!sim.alive(i)) {
      out += "down";
      continue;
    }
    const RaftGroup* g = sim.node(i).group(partition);
    if (g == nullptr) {
      out += "not hosted";
      continue;
    }
    RaftStatus st = g->status();
    out += std::string(role_name(st.role)) + " term=" + std::to_string(st.term) + " leader=" + st.leader +
           " commit=" + std::to_string(st.commit_index) + " applied=" + std::to_string(st.applied_index) +
           " log=" + std::to_string(st.first_index) + ".." + std::to_string(st.last_index) + " voters=";
    for (const auto& v : st.voters) out += v + ",";
    out += " leads=" + std::to_string(sim.node(i).leads(partition));
    if (!id.empty()) {
      const TaskRecord* r = sim.node(i).table(partition)->find(id);
      out += " task=" + (r ? std::string(state_name(r->state)) : std::string("absent"));
    }
  }
  return out;
}

// A key whose partition node `node` leads (and, with `preferred`, is the
// ring's preferred leader of, so that leadership stays put).
inline std::string key_led_by(const Simulator& sim, size_t node, bool preferred = false) {
  const NodeState& n = sim.node(node);
  for (int k = 0; k < 100000; ++k) {
    std::string key = "k" + std::to_string(k);
    uint32_t p = partition_of(key, n.config().ring.partitions);
    if (n.leads(p) && (!preferred || n.partition_table().replicas(p).front() == n.config().node_id)) return key;
  }
  FAIL("node " << n.config().node_id << " leads no partition" << (preferred ? " it is the preferred leader of" : ""));
  return {};
}

// Guarantee 3 over time: the first committed result seen for a task is the
// only one it ever has, whichever node leads its partition later.
class ResultWatch {
 public:
  // Empty, or what contradicts an earlier observation.
  std::string observe(const Simulator& sim) {
    for (size_t i = 0; i < sim.size(); ++i) {
      if (!sim.alive(i)) continue;
      const NodeState& node = sim.node(i);
      for (uint32_t p = 0; p < node.config().ring.partitions; ++p) {
        if (!node.leads(p)) continue;
        for (const auto& [id, r] : node.table(p)->records()) {
          if (!is_terminal(r.state)) continue;
          auto [it, first] = final_.emplace(id, r);
          if (!first && !(it->second == r)) {
            return "task " + id + " changed after it was terminal (" + state_name(it->second.state) + " attempt " +
                   std::to_string(it->second.attempt) + " -> " + state_name(r.state) + " attempt " +
                   std::to_string(r.attempt) + " on n" + std::to_string(i) + ")";
          }
        }
      }
    }
    return {};
  }

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
inline GuaranteeCheck check_task_guarantees(const Simulator& sim, const std::set<std::string>& ids) {
  GuaranteeCheck check;
  for (const auto& id : ids) {
    const TaskRecord* r = leader_record(sim, id);
    if (r == nullptr) {
      std::string where;
      for (size_t i = 0; i < sim.size(); ++i) {
        if (sim.alive(i) && sim.node(i).find(id) != nullptr) {
          where = "\n" + describe_partition(sim, sim.node(i).find(id)->partition, id);
          break;
        }
      }
      check.failure = "acknowledged task " + id + " is not at any partition leader (lost?)" + where;
      return check;
    }
    if (!is_terminal(r->state)) {
      check.failure = "task " + id + " is still " + state_name(r->state);
      return check;
    }
    if (std::string problem = check_record(*r); !problem.empty()) {
      check.failure = problem;
      return check;
    }
  }
  for (size_t l = 0; l < sim.size(); ++l) {
    if (!sim.alive(l)) continue;
    const NodeState& leader = sim.node(l);
    for (uint32_t p = 0; p < leader.config().ring.partitions; ++p) {
      if (!leader.leads(p)) continue;
      const RaftGroup& group = *leader.group(p);
      for (size_t i = 0; i < sim.size(); ++i) {
        if (i == l || !sim.alive(i) || sim.node(i).group(p) == nullptr) continue;
        const NodeState& other = sim.node(i);
        const auto& voters = group.voters();
        if (std::find(voters.begin(), voters.end(), other.replica_id()) == voters.end()) continue;
        if (other.group(p)->applied_index() != group.commit_index()) continue;  // still catching up
        ++check.replicas_compared;
        if (other.table(p)->records() != leader.table(p)->records()) {
          check.failure = "partition " + std::to_string(p) + ": replica n" + std::to_string(i) +
                          " applied the same log as its leader n" + std::to_string(l) + " but holds other records";
          return check;
        }
      }
    }
  }
  if (check.replicas_compared == 0) check.failure = "no caught-up replica was compared with its leader";
  return check;
}

}  // namespace mesh::test
