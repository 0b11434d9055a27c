// Mutation fuzzing of what meshd reads from files before it serves: the
// sample configs and a key file, mutated byte by byte. Loading must answer
// with a Status, never throw or crash; what loads must validate without
// throwing. MESH_CONFIG_FUZZ_ITERATIONS=N explores further.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "node/runtime/config.h"
#include "node/runtime/curve_keys.h"
#include "node/sim/sim_random.h"
#include "tools/testkit/temp_dir.h"

namespace mesh {
namespace {

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string mutant(std::string text, SimRandom& random) {
  static const char kInteresting[] = {'"', '[', ']', '=', '\n', '#', '.', '-', '9', '\0', '\\', '{', '\''};
  for (size_t rounds = 1 + random.uniform(4); rounds > 0 && !text.empty(); --rounds) {
    size_t at = random.uniform(text.size());
    switch (random.uniform(4)) {
      case 0: text[at] = kInteresting[random.uniform(sizeof kInteresting)]; break;
      case 1: text.erase(at, 1 + random.uniform(8)); break;
      case 2: text.insert(at, text.substr(random.uniform(text.size()), random.uniform(16))); break;
      default: text[at] = static_cast<char>(random.uniform(256));
    }
  }
  return text;
}

TEST_CASE("config fuzz: mutated configs and key files are refused with a message, never a crash") {
  TempDir temp("configfuzz-");
  REQUIRE(!temp.path().empty());
  std::vector<std::string> configs;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(MESH_SOURCE_DIR "/configs")) {
    if (entry.path().extension() == ".toml") configs.push_back(read_text(entry.path()));
  }
  REQUIRE(!configs.empty());
  REQUIRE(keygen_mesh(temp.path() + "/keys").ok());
  const std::string key_file = read_text(temp.path() + "/keys/mesh.key");

  const char* iterations_env = std::getenv("MESH_CONFIG_FUZZ_ITERATIONS");
  const uint64_t iterations = iterations_env ? std::strtoull(iterations_env, nullptr, 10) : 3000;
  SimRandom random(0x636f6e66);
  const std::string path = temp.path() + "/mutant";
  uint64_t configs_refused = 0, keys_refused = 0;
  for (uint64_t i = 0; i < iterations; ++i) {
    bool key = i % 4 == 3;
    std::string text = mutant(key ? key_file : configs[random.uniform(configs.size())], random);
    std::ofstream(path, std::ios::trunc | std::ios::binary) << text;
    INFO("iteration " << i << ": " << text);
    if (key) {
      auto loaded = read_key_pair_file(path);
      if (!loaded.ok()) {
        ++keys_refused;
        CHECK(loaded.status().code() != ErrorCode::kOk);
        CHECK(loaded.status().message().find(path) != std::string::npos);
      }
      continue;
    }
    NodeOptions options;
    Status loaded = load_config_file(path, options);
    if (!loaded.ok()) {
      ++configs_refused;
      CHECK(!loaded.message().empty());
      continue;
    }
    (void)validate(options);
  }
  MESSAGE(iterations << " mutants: " << configs_refused << " configs and " << keys_refused << " key files refused");
  CHECK(configs_refused > 0);
  CHECK(keys_refused > 0);
}

}  // namespace
}  // namespace mesh
