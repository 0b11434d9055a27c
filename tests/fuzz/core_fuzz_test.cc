// Structure-aware fuzzing of the core: a simulated three-node mesh at work,
// whose nodes also receive well-formed but adversarial input. Peer messages
// are the mesh's own traffic, captured as it flows, mutated byte by byte and
// kept only when they still decode (huge terms, indices and attempts, wrong
// partitions, other nodes' ids, truncated lists); client requests carry
// extreme field values. Nothing may throw, crash or trip an assertion.
// (An allow-listed node that lies can still mislead its mesh: docs/SECURITY.md.)
//
// Reproducible from its seed: MESH_CORE_FUZZ_SEED=S replays seed S alone,
// MESH_CORE_FUZZ_SEEDS=N runs N seeds.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "node/sim/scenario.h"
#include "node/sim/sim_random.h"
#include "node/sim/simulator.h"
#include "protocol/codec.h"

namespace mesh {
namespace {

constexpr size_t kNodes = 3;
constexpr uint64_t kRunMs = 8000;
constexpr uint64_t kInjectEveryMs = 5;
constexpr size_t kMaxCaptured = 256;

uint64_t env_or(const char* name, uint64_t fallback) {
  const char* value = std::getenv(name);
  return value == nullptr ? fallback : std::strtoull(value, nullptr, 10);
}

// One byte of `bytes` replaced by a value decoders find interesting.
void mutate(std::string& bytes, SimRandom& random) {
  if (bytes.empty()) return;
  static const unsigned char kInteresting[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0xcc, 0xcd, 0xce, 0xcf, 0xc0, 0x90, 0xa0};
  size_t at = random.uniform(bytes.size());
  switch (random.uniform(3)) {
    case 0: bytes[at] = static_cast<char>(kInteresting[random.uniform(sizeof kInteresting)]); break;
    case 1: bytes[at] = static_cast<char>(bytes[at] ^ (1 << random.uniform(8))); break;
    default: bytes[at] = static_cast<char>(random.uniform(256));
  }
}

TaskSpec extreme_task(SimRandom& random, uint64_t n) {
  static const uint64_t kExtremes[] = {0, 1, 1000, UINT32_MAX, UINT64_MAX};
  TaskSpec t;
  t.id = random.uniform(4) == 0 ? "" : "fz-" + std::to_string(n % 64);
  t.handler = random.uniform(3) == 0 ? "no-such-handler" : "noop";
  t.payload = std::string(random.uniform(64), 'p');
  t.priority = static_cast<int32_t>(random.uniform(3) == 0 ? INT32_MIN : random.uniform(3) == 0 ? INT32_MAX : 0);
  t.max_attempts = static_cast<uint32_t>(kExtremes[random.uniform(5)]);
  t.timeout_ms = kExtremes[random.uniform(5)];
  t.backoff_base_ms = kExtremes[random.uniform(5)];
  t.backoff_max_ms = kExtremes[random.uniform(5)];
  t.key = random.uniform(2) == 0 ? "" : std::string(random.uniform(300), 'k');
  return t;
}

struct FuzzCounts {
  uint64_t peer_injected = 0;
  uint64_t client_injected = 0;
};

void fuzz_one_seed(uint64_t seed, FuzzCounts& counts) {
  Simulator sim(seed, NetworkFaults{1, 10, 0.01, 0.01});
  SimRandom random(derive_seed(seed, 7));
  for (size_t i = 0; i < kNodes; ++i) {
    NodeConfig config = sim_node_config(i);
    config.handlers.insert("noop");
    sim.add_node(config);
  }
  std::vector<PeerMessage> captured;
  sim.effects_hook = [&](size_t, Effects& effects) {
    for (const auto& out : effects.sends) {
      if (captured.size() < kMaxCaptured) {
        captured.push_back(out.message);
      } else {
        captured[random.uniform(kMaxCaptured)] = out.message;
      }
    }
  };
  sim.join(0, {}, 0);
  for (size_t i = 1; i < kNodes; ++i) sim.join(i, {Simulator::address_of("n0")}, i * 20);
  RequestRef ref = 1'000'000;
  for (uint64_t t = sim.now(); t < kRunMs; t += kInjectEveryMs) {
    sim.run_until(t);
    size_t target = random.uniform(kNodes);
    if (random.uniform(4) == 0) {
      std::vector<TaskSpec> tasks;
      for (size_t k = 0, n = 1 + random.uniform(4); k < n; ++k) tasks.push_back(extreme_task(random, t + k));
      std::vector<std::string> ids;
      for (const auto& task : tasks) ids.push_back(task.id);
      switch (random.uniform(5)) {
        case 0: sim.schedule(target, t, in::Submit{++ref, tasks}); break;
        case 4: sim.schedule(target, t, in::Submit{++ref, tasks, true, "x" + std::to_string(random.uniform(8))}); break;
        case 1: sim.schedule(target, t, in::Cancel{++ref, ids}); break;
        case 2: sim.schedule(target, t, in::Get{++ref, GetRequest{ids}}); break;
        default: sim.schedule(target, t, in::Wait{++ref, WaitRequest{ids, random.uniform(8) == 0, 50}});
      }
      ++counts.client_injected;
      continue;
    }
    if (captured.empty()) continue;
    const PeerMessage& base = captured[random.uniform(captured.size())];
    std::string bytes = encode_peer(base);
    for (size_t rounds = 1 + random.uniform(4); rounds > 0; --rounds) mutate(bytes, random);
    auto decoded = decode_peer(static_cast<uint16_t>(peer_kind(base)), bytes);
    if (!decoded.ok()) continue;
    sim.schedule(target, t, in::FromPeer{std::move(decoded).value()});
    ++counts.peer_injected;
  }
}

TEST_CASE("core fuzz: adversarial but well-formed peer messages and requests never crash a node") {
  std::vector<uint64_t> seeds;
  if (const char* one = std::getenv("MESH_CORE_FUZZ_SEED")) {
    seeds.push_back(std::strtoull(one, nullptr, 10));
  } else {
    uint64_t count = env_or("MESH_CORE_FUZZ_SEEDS", 12);
    for (uint64_t s = 1; s <= count; ++s) seeds.push_back(s);
  }
  FuzzCounts counts;
  for (uint64_t seed : seeds) {
    INFO("core fuzz seed " << seed << "; replay: MESH_CORE_FUZZ_SEED=" << seed
                           << " build/tests/mesh_tests -tc='core fuzz*'");
    fuzz_one_seed(seed, counts);
  }
  MESSAGE(seeds.size() << " seeds: " << counts.peer_injected << " mutated peer messages and "
                       << counts.client_injected << " extreme client requests injected");
  CHECK(counts.peer_injected > 100 * seeds.size());
  CHECK(counts.client_injected > 100 * seeds.size());
}

}  // namespace
}  // namespace mesh
