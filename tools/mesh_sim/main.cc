// mesh_sim: runs one seeded chaos scenario in the simulator and prints what
// happened. A failing seed from the tests replays exactly:
//   mesh_sim --seed 1234 --nodes 10
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>

#include "node/sim/scenario.h"

int main(int argc, char** argv) {
  CLI::App app{"mesh_sim: replay a seeded membership chaos scenario in the deterministic simulator"};
  mesh::ScenarioOptions o;
  app.add_option("--seed", o.seed, "the run's seed");
  app.add_option("--nodes", o.nodes, "nodes in the mesh")->check(CLI::Range(2, 5000));
  app.add_option("--loss", o.faults.loss, "message loss probability");
  app.add_option("--duplicate", o.faults.duplicate, "message duplication probability");
  app.add_option("--max-latency-ms", o.faults.max_latency_ms, "latency is uniform in [1, this]");
  app.add_option("--chaos-ms", o.chaos_ms, "simulated time with crashes and partitions");
  app.add_option("--fault-every-ms", o.fault_every_ms, "mean time between fault actions");
  CLI11_PARSE(app, argc, argv);

  auto started = std::chrono::steady_clock::now();
  mesh::ScenarioReport r = mesh::run_membership_scenario(o);
  double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("seed %llu, %zu nodes, loss %.3f, duplication %.3f\n", static_cast<unsigned long long>(o.seed),
              o.nodes, o.faults.loss, o.faults.duplicate);
  std::printf("joined: one view %llu ms after the last join\n",
              static_cast<unsigned long long>(r.join_converged_ms));
  std::printf("chaos: %llu crashes, %llu partitions over %llu ms\n", static_cast<unsigned long long>(r.crashes),
              static_cast<unsigned long long>(r.partitions), static_cast<unsigned long long>(o.chaos_ms));
  std::printf("events %llu, messages sent %llu, dropped %llu\n", static_cast<unsigned long long>(r.stats.events),
              static_cast<unsigned long long>(r.stats.messages_sent),
              static_cast<unsigned long long>(r.stats.messages_dropped));
  std::printf("trace hash %016llx (same seed, same hash)\n", static_cast<unsigned long long>(r.trace_hash));
  std::printf("wall time %.2f s\n", wall_s);
  if (!r.converged) {
    std::printf("FAILED: %s\n", r.failure.c_str());
    return 1;
  }
  std::printf("healed: one view %llu ms after every fault was lifted\n",
              static_cast<unsigned long long>(r.heal_converged_ms));
  return 0;
}
