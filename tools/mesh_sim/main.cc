// mesh_sim: runs one seed of a simulator family and prints what happened. A
// failing seed from the tests replays exactly, through the same runner:
//   mesh_sim --family replication --seed 1234
// The membership family also takes knobs (--nodes, --loss, ...) to explore
// beyond what the tests run; with none given it is the tests' run.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>

#include "node/sim/scenario.h"

namespace {

int report_membership(const mesh::ScenarioOptions& o, const mesh::ScenarioReport& r) {
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
  if (!r.converged) {
    std::printf("FAILED: %s\n", r.failure.c_str());
    return 1;
  }
  std::printf("healed: one view %llu ms after every fault was lifted\n",
              static_cast<unsigned long long>(r.heal_converged_ms));
  return 0;
}

int report_seed(mesh::SimFamily family, uint64_t seed, const mesh::SeedRun& run) {
  std::printf("%s seed %llu\n", mesh::sim_family_name(family), static_cast<unsigned long long>(seed));
  for (const auto& [name, n] : run.counts) std::printf("  %s %llu\n", name.c_str(), static_cast<unsigned long long>(n));
  if (!run.failure.empty()) {
    std::printf("FAILED: %s\n", run.failure.c_str());
    return 1;
  }
  std::printf("passed\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mesh_sim: replay one seed of a simulator family in the deterministic simulator"};
  app.set_version_flag("--version", "mesh_sim " MESH_VERSION);
  std::string family_name = "membership";
  mesh::ScenarioOptions o;
  app.add_option("--family", family_name, "membership, replication, stealing, stealing_failover or transactions")
      ->check(CLI::IsMember({"membership", "replication", "stealing", "stealing_failover", "transactions"}));
  app.add_option("--seed", o.seed, "the run's seed");
  auto* nodes = app.add_option("--nodes", o.nodes, "membership: nodes in the mesh")->check(CLI::Range(2, 5000));
  auto* loss = app.add_option("--loss", o.faults.loss, "membership: message loss probability");
  auto* dup = app.add_option("--duplicate", o.faults.duplicate, "membership: message duplication probability");
  auto* latency = app.add_option("--max-latency-ms", o.faults.max_latency_ms, "membership: latency is uniform in [1, this]");
  auto* chaos = app.add_option("--chaos-ms", o.chaos_ms, "membership: simulated time with crashes and partitions");
  auto* every = app.add_option("--fault-every-ms", o.fault_every_ms, "membership: mean time between fault actions");
  CLI11_PARSE(app, argc, argv);
  mesh::SimFamily family = *mesh::parse_sim_family(family_name);
  if (family != mesh::SimFamily::kMembership) {
    for (const auto* knob : {nodes, loss, dup, latency, chaos, every}) {
      if (knob->count() > 0) {
        std::fprintf(stderr, "%s applies to the membership family only\n", knob->get_name().c_str());
        return 2;
      }
    }
  }

  auto started = std::chrono::steady_clock::now();
  int status = family == mesh::SimFamily::kMembership
                   ? report_membership(o, mesh::run_membership_scenario(o))
                   : report_seed(family, o.seed, mesh::run_family_seed(family, o.seed));
  std::printf("wall time %.2f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return status;
}
