// Configuration files: every shipped example loads and validates, and bad
// values are refused with a message naming them.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "node/runtime/config.h"
#include "tools/testkit/temp_dir.h"

namespace mesh {
namespace {

TEST_CASE("config: every example in configs/ loads and validates") {
  size_t checked = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(MESH_SOURCE_DIR "/configs")) {
    if (entry.path().extension() != ".toml") continue;
    NodeOptions options;
    Status loaded = load_config_file(entry.path().string(), options);
    INFO(entry.path().string() << ": " << loaded.message());
    CHECK(loaded.ok());
    CHECK(validate(options).ok());
    ++checked;
  }
  CHECK(checked >= 5);
}

TEST_CASE("config: values are checked") {
  NodeOptions o;
  CHECK(validate(o).ok());
  o.seeds = {"10.0.0.1:7700", "tcp://10.0.0.2:7700"};
  CHECK(validate(o).ok());
  o.seeds = {"no-port"};
  CHECK(validate(o).message().find("seed") != std::string::npos);
  o = NodeOptions{};
  o.gossip_profile = "wan";
  CHECK(validate(o).message().find("gossip profile") != std::string::npos);
  o = NodeOptions{};
  o.replicas = 0;
  CHECK(validate(o).message().find("replicas") != std::string::npos);
  o = NodeOptions{};
  o.advertise = "10.0.0.1:7700";
  CHECK(validate(o).message().find("advertise") != std::string::npos);
  o = NodeOptions{};
  o.retention_ms = 0;
  CHECK(validate(o).message().find("retention_ms") != std::string::npos);
  o = NodeOptions{};
  o.dead_letter_retention_ms = 10;
  CHECK(validate(o).message().find("dead_letter_retention_ms") != std::string::npos);
  CHECK(to_endpoint("h:1") == "tcp://h:1");
  CHECK(to_endpoint("tcp://h:1") == "tcp://h:1");
}

TEST_CASE("config: seeds as a TOML array") {
  TempDir dir("meshwork-config-");
  REQUIRE(!dir.path().empty());
  const std::string path = dir / "seeds.toml";
  std::ofstream(path) << "[node]\nseeds = [\"a:1\", \"b:2\"]\n";
  NodeOptions o;
  REQUIRE(load_config_file(path, o).ok());
  CHECK(o.seeds == std::vector<std::string>{"a:1", "b:2"});
  std::ofstream(path) << "[tasks]\nretention_ms = 60000\ndead_letter_retention_ms = 120000\n";
  REQUIRE(load_config_file(path, o).ok());
  CHECK(o.retention_ms == 60000);
  CHECK(o.dead_letter_retention_ms == 120000);
  std::ofstream(path) << "[node]\nseeds = \"a:1\"\n";
  CHECK(load_config_file(path, o).message().find("wrong type") != std::string::npos);
}

}  // namespace
}  // namespace mesh
