#include "node/sim/mesh_checks.h"

#include <algorithm>

#include "node/core/partitioning.h"
#include "tools/testkit/record_check.h"

namespace mesh {

std::set<std::string> acknowledged(const Simulator& sim) {
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

const TaskRecord* leader_record(const Simulator& sim, const std::string& id) {
  for (size_t i = 0; i < sim.size(); ++i) {
    if (!sim.alive(i)) continue;
    const TaskRecord* r = sim.node(i).find(id);
    if (r != nullptr && sim.node(i).leads(r->partition)) return r;
  }
  return nullptr;
}

bool all_terminal(const Simulator& sim, const std::set<std::string>& ids) {
  for (const auto& id : ids) {
    const TaskRecord* r = leader_record(sim, id);
    if (r == nullptr || !is_terminal(r->state)) return false;
  }
  return true;
}

std::optional<size_t> leader_of(const Simulator& sim, uint32_t partition) {
  for (size_t i = 0; i < sim.size(); ++i) {
    if (sim.alive(i) && sim.node(i).leads(partition)) return i;
  }
  return std::nullopt;
}

std::string describe_partition(const Simulator& sim, uint32_t partition, const std::string& id) {
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

std::string key_led_by(const Simulator& sim, size_t node, bool preferred) {
  const NodeState& n = sim.node(node);
  for (int k = 0; k < 100000; ++k) {
    std::string key = "k" + std::to_string(k);
    uint32_t p = partition_of(key, n.config().ring.partitions);
    if (n.leads(p) && (!preferred || n.partition_table().replicas(p).front() == n.config().node_id)) return key;
  }
  return {};
}

std::string ResultWatch::observe(const Simulator& sim) {
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

GuaranteeCheck check_task_guarantees(const Simulator& sim, const std::set<std::string>& ids) {
  GuaranteeCheck check;
  // Every message went through the codec: one it could not carry was lost
  // on a real wire.
  if (!sim.wire_failure().empty()) {
    check.failure = sim.wire_failure();
    return check;
  }
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

void add_node_counters(const Simulator& sim, std::initializer_list<const char*> names,
                       std::map<std::string, uint64_t>& totals) {
  for (size_t i = 0; i < sim.size(); ++i) {
    const auto& counters = sim.node(i).counters();
    for (const char* name : names) {
      auto it = counters.find(name);
      totals[name] += it == counters.end() ? 0 : it->second;
    }
  }
}

}  // namespace mesh
