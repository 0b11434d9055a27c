#include "node/sim/replication_scenario.h"

#include "node/core/partitioning.h"
#include "node/sim/read_checker.h"
#include "node/sim/scenario.h"

namespace mesh {

NodeConfig replicated_config(size_t i) {
  NodeConfig config = sim_node_config(i);
  config.handlers.insert("sleep");
  config.ring.partitions = kReplicatedPartitions;
  config.ring.replicas = 3;
  config.lease_ttl_ms = 1000;
  config.replication.snapshot_every = 64;  // small, so that snapshots and catch-up happen
  // Tiny, so that every snapshot streams in many chunks and appends split.
  config.replication.snapshot_chunk_bytes = 64;
  config.replication.max_append_bytes = 512;
  config.replication.request_deadline_ms = 5000;
  return config;
}

std::vector<TaskSpec> sleep_batch(const std::string& prefix, size_t n, uint64_t run_ms) {
  std::vector<TaskSpec> tasks;
  for (size_t i = 0; i < n; ++i) {
    TaskSpec t;
    t.id = prefix + std::to_string(i);
    t.handler = "sleep";
    t.payload = std::to_string(run_ms);
    t.max_attempts = 20;
    t.timeout_ms = 5000;
    t.backoff_base_ms = 10;
    t.backoff_max_ms = 100;
    tasks.push_back(std::move(t));
  }
  return tasks;
}

void random_fault(Simulator& sim, SimRandom& chaos, SeedCounts& totals,
                  const std::function<void(size_t node, size_t down)>& restart) {
  size_t n = sim.size();
  size_t down = 0;
  for (size_t i = 0; i < n; ++i) down += !sim.alive(i);
  size_t victim = chaos.uniform(n);
  switch (chaos.uniform(8)) {
    case 0:
      if (sim.alive(victim) && down < 2) {
        // Half the kills strike between the node's early sends and its write.
        if (chaos.uniform(2) == 0) {
          sim.crash_before_next_write(victim);
          sim.run_until([&] { return !sim.alive(victim); }, sim.now() + 200, 1);
          totals["crashes_before_a_write"] += !sim.alive(victim);
        }
        if (sim.alive(victim)) sim.crash(victim);
        ++totals["crashes"];
      }
      break;
    case 1:
    case 2:
      if (!sim.alive(victim)) restart(victim, down);
      break;
    case 3:
      sim.partition({{victim}, {(victim + 1) % n}});
      break;
    case 4:
      sim.heal();
      break;
    default:
      break;
  }
}

void lift_faults(Simulator& sim) {
  sim.heal();
  sim.set_faults(NetworkFaults{1, 15, 0, 0});
  for (size_t i = 0; i < sim.size(); ++i) {
    if (!sim.alive(i)) sim.restart(i);
  }
}

std::string unsettled_partitions(const Simulator& sim) {
  std::string out;
  for (size_t i = 0; i < sim.size(); ++i) {
    if (!sim.alive(i)) continue;
    out += "\n  n" + std::to_string(i) + " (" + sim.node(i).replica_id() + "):";
    for (const auto& [name, v] : sim.node(i).counters()) out += " " + name + "=" + std::to_string(v);
  }
  for (uint32_t p = 0; p < kReplicatedPartitions; ++p) {
    auto l = leader_of(sim, p);
    if (!l || sim.node(*l).group(p)->voters().size() != 3) out += "\n" + describe_partition(sim, p);
  }
  return out;
}

namespace {

// One seeded run: 5 nodes, R = 3; clients submit batches to random live
// nodes while the seed crashes and restarts nodes (at most two down, a few
// restarts with a wiped disk), cuts the network and drops, duplicates and
// reorders messages; clients read acknowledged tasks through random live
// nodes all along (ReadChecker: never missing, never backwards); then all
// faults are lifted and guarantees 1-4 checked.
std::string replication_chaos(uint64_t seed, SeedCounts& totals) {
  const size_t n = 5;
  ReplicatedMesh mesh(seed, n, NetworkFaults{1, 15, 0.03, 0.03});
  Simulator& sim = mesh.sim;
  SimRandom chaos(derive_seed(seed, 77));
  totals["seeds_with_skewed_clocks"] += skew_clocks_on_odd_seeds(sim, seed);
  if (!sim.run_until([&] { return mesh.settled(); }, 20000, 50)) return "the mesh did not settle after joining";
  ResultWatch watch;
  ReadChecker reads(1'000'000);
  bool repaired = true;
  uint64_t chaos_end = sim.now() + 6000;
  int batch_no = 0;
  while (sim.now() < chaos_end) {
    sim.run_until(sim.now() + 50 + chaos.uniform(300));
    if (std::string bad = watch.observe(sim); !bad.empty()) return bad;
    if (std::string bad = reads.observe(sim); !bad.empty()) return bad;
    if (size_t via = chaos.uniform(n); sim.alive(via)) reads.read_some(sim, via, acknowledged(sim), chaos);
    size_t target = chaos.uniform(n);
    if (sim.alive(target)) {
      sim.schedule(target, sim.now(), in::Submit{static_cast<RequestRef>(++batch_no),
                                                 sleep_batch("s" + std::to_string(batch_no) + "-", 5, 5 + chaos.uniform(40))});
    }
    // Whether every earlier lost disk has been replaced in every group it was in.
    repaired = repaired || mesh.fully_replicated();
    random_fault(sim, chaos, totals, [&](size_t victim, size_t down) {
      // The founder keeps its disk: with no seeds, an empty disk would found
      // a new mesh. A disk is lost only once the last loss is repaired.
      bool wipe = victim != 0 && down == 1 && chaos.uniform(4) == 0 && repaired;
      totals["restarts_with_wiped_disk"] += wipe;
      if (wipe) repaired = false;
      sim.restart(victim, wipe);
    });
  }
  lift_faults(sim);
  // Requests still in flight are answered by their deadline at the latest.
  if (!sim.run_until([&] { return mesh.settled(); }, sim.now() + 60000, 50)) {
    return "the mesh did not settle after the faults were lifted" + unsettled_partitions(mesh.sim);
  }
  sim.run_until(sim.now() + replicated_config(0).replication.request_deadline_ms);
  std::set<std::string> ids = acknowledged(sim);
  if (ids.empty()) {
    std::map<std::string, int> codes;
    for (size_t i = 0; i < n; ++i) {
      for (const auto& r : sim.replies(i)) {
        if (const auto* submit = std::get_if<SubmitReply>(&r.reply)) {
          for (const auto& o : submit->outcomes) ++codes[std::string(error_name(o.code)) + ": " + o.message];
        }
      }
    }
    std::string seen = " batches=" + std::to_string(batch_no);
    for (const auto& [c, k] : codes) seen += "\n  " + std::to_string(k) + " x " + c;
    for (size_t i = 0; i < n; ++i) {
      seen += "\n  n" + std::to_string(i) + ":";
      for (const auto& [name, v] : sim.node(i).counters()) seen += " " + name + "=" + std::to_string(v);
    }
    return "nothing was acknowledged; outcomes:" + seen;
  }
  if (!sim.run_until([&] { return mesh.settled() && all_terminal(sim, ids); }, sim.now() + 60000, 50)) {
    for (const auto& id : ids) {
      const TaskRecord* r = leader_record(sim, id);
      if (r == nullptr) {
        return "acknowledged task " + id + " has no live leader holding it (lost?)\n" +
               describe_partition(sim, partition_of(id, kReplicatedPartitions), id);
      }
      if (!is_terminal(r->state)) return "task " + id + " never finished: " + state_name(r->state);
    }
    return "the mesh did not settle after the faults were lifted" + unsettled_partitions(sim);
  }
  // Reads through every node once all is quiet (a seed whose chaos let no
  // submit through read nothing before). Let followers catch up before
  // comparing replicas (and leadership settle on the ring's preferred replicas).
  for (size_t i = 0; i < n; ++i) reads.read_some(sim, i, ids, chaos);
  sim.run_until(sim.now() + 2000);
  sim.run_until([&] { return mesh.settled(); }, sim.now() + 10000, 10);
  if (std::string bad = watch.observe(sim); !bad.empty()) return bad;
  if (std::string bad = reads.observe(sim); !bad.empty()) return bad;
  if (reads.reads_answered() == 0) return "no read was answered: the read check checked nothing";
  totals["reads_checked"] += reads.reads_answered();
  GuaranteeCheck check = check_task_guarantees(sim, ids);
  if (!check.failure.empty()) return check.failure;
  totals["acknowledged"] += ids.size();
  totals["replicas_compared"] += check.replicas_compared;
  add_node_counters(sim, {"stale_completions_rejected", "snapshots_installed", "replicas_added"}, totals);
  return {};
}

}  // namespace

SeedRun run_replication_seed(uint64_t seed) {
  SeedRun run;
  run.failure = replication_chaos(seed, run.counts);
  return run;
}

}  // namespace mesh
