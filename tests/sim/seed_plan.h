// Which seeds a seeded simulator family runs, the same way for every family:
//   MESH_<FAMILY>_SEED=S   replays seed S alone (totals checks are skipped);
//   MESH_<FAMILY>_SEEDS=N  runs N seeds from a random base B (each family has
//                          its default N).
// A full run picks B from std::random_device, so every run explores new
// schedules, and prints "<family> seeds B..B+N-1" first. The family's
// regression seeds (seeds that once failed) run every time too. A failure
// names its seed and prints the command that replays it.
#pragma once

#include <doctest/doctest.h>

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "node/sim/scenario.h"

namespace mesh::test {

struct SeedPlan {
  std::string family;               // lower case, as `mesh_sim --family` spells it
  std::string test_filter;          // the doctest -tc filter that runs the family
  bool in_mesh_sim = false;         // `mesh_sim --family <family>` replays it too
  std::optional<uint64_t> replay;   // MESH_<FAMILY>_SEED
  uint64_t base = 0;
  uint64_t count = 0;
  std::vector<uint64_t> regressions;

  bool full_run() const { return !replay.has_value(); }

  std::string env_name(const char* suffix) const {
    std::string name = "MESH_";
    for (char c : family) name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return name + "_" + suffix;
  }

  // The regression seeds first, then base..base+count-1; or the replayed seed alone.
  std::vector<uint64_t> seeds() const {
    if (replay) return {*replay};
    std::vector<uint64_t> all = regressions;
    for (uint64_t s = base; s < base + count; ++s) all.push_back(s);
    return all;
  }

  std::string replay_command(uint64_t seed) const {
    std::string command = env_name("SEED") + "=" + std::to_string(seed) + " build/tests/mesh_tests -tc='" +
                          test_filter + "'";
    if (in_mesh_sim) command += "  (or: build/mesh_sim --family " + family + " --seed " + std::to_string(seed) + ")";
    return command;
  }

  std::string describe() const {
    if (replay) return family + " seed " + std::to_string(*replay) + " alone (" + env_name("SEED") + ")";
    std::string text = family + " seeds " + std::to_string(base) + ".." + std::to_string(base + count - 1) +
                       " and regression seeds";
    for (uint64_t s : regressions) text += " " + std::to_string(s);
    return text + "; replay one with " + replay_command(base);
  }
};

// A number from the environment, or nullopt when unset; anything but digits fails the test.
inline std::optional<uint64_t> env_seed_number(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr || *value == '\0') return std::nullopt;
  char* end = nullptr;
  uint64_t n = std::strtoull(value, &end, 10);
  REQUIRE_MESSAGE(*end == '\0', name << "=" << value << " is not a number");
  return n;
}

inline SeedPlan seed_plan(std::string family, std::string test_filter, uint64_t default_count,
                          std::vector<uint64_t> regressions, bool in_mesh_sim) {
  SeedPlan plan{std::move(family), std::move(test_filter), in_mesh_sim, std::nullopt, 0, 0, std::move(regressions)};
  plan.replay = env_seed_number(plan.env_name("SEED"));
  plan.count = env_seed_number(plan.env_name("SEEDS")).value_or(default_count);
  std::random_device entropy;
  // Far above the regression seeds, and short enough to type.
  plan.base = 1000 + ((static_cast<uint64_t>(entropy()) << 32) | entropy()) % 1000000000;
  return plan;
}

// Runs every seed of the plan through `run_seed`, printing the plan first and
// stopping at the first failure with its replay command; returns the counts
// summed over the seeds.
inline SeedCounts run_seed_plan(const SeedPlan& plan, const std::function<SeedRun(uint64_t)>& run_seed) {
  MESSAGE(plan.describe());
  SeedCounts totals;
  for (uint64_t seed : plan.seeds()) {
    SeedRun run = run_seed(seed);
    REQUIRE_MESSAGE(run.failure.empty(), plan.family << " seed " << seed << ": " << run.failure
                                                     << "\n  replay: " << plan.replay_command(seed));
    for (const auto& [name, n] : run.counts) totals[name] += n;
  }
  return totals;
}

// "name=n, name=n, ..." for a run's summary line.
inline std::string describe_counts(const SeedCounts& counts) {
  std::string text;
  for (const auto& [name, n] : counts) text += (text.empty() ? "" : ", ") + name + "=" + std::to_string(n);
  return text;
}

}  // namespace mesh::test
