// Configuration files: every shipped example loads and validates, and bad
// values are refused with a message naming them.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>

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

TEST_CASE("config: plaintext beyond loopback needs --insecure") {
  NodeOptions o;
  CHECK(is_loopback_endpoint("tcp://127.0.0.1:7700"));
  CHECK(is_loopback_endpoint("tcp://localhost:7700"));
  CHECK(is_loopback_endpoint("tcp://[::1]:7700"));
  CHECK(is_loopback_endpoint("ipc:///tmp/meshd.sock"));
  CHECK_FALSE(is_loopback_endpoint("tcp://0.0.0.0:7700"));
  CHECK_FALSE(is_loopback_endpoint("tcp://10.0.0.1:7700"));
  o.listen = "tcp://0.0.0.0:7700";
  CHECK(validate(o).message().find("--insecure") != std::string::npos);
  o.insecure = true;
  CHECK(validate(o).ok());
  o.insecure = false;
  o.keys_dir = "/etc/meshwork/keys";
  CHECK(validate(o).ok());
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

TEST_CASE("config: [handlers.exec] loads into the exec settings") {
  TempDir dir("meshwork-config-");
  REQUIRE(!dir.path().empty());
  const std::string path = dir / "exec.toml";
  std::ofstream(path) << "[handlers.exec]\nallow = [\"/bin/sh\", \"/usr/bin/env\"]\nenv = [\"PATH\"]\n"
                         "workdir = \"/tmp\"\ncpu_seconds = 60\nmemory_bytes = 1073741824\nopen_files = 256\n"
                         "processes = 64\nuser = \"nobody\"\n";
  NodeOptions o;
  REQUIRE(load_config_file(path, o).ok());
  CHECK(o.exec_allow == std::vector<std::string>{"/bin/sh", "/usr/bin/env"});
  CHECK(o.exec_env == std::vector<std::string>{"PATH"});
  CHECK(o.exec_workdir == "/tmp");
  CHECK(o.exec_cpu_seconds == 60u);
  CHECK(o.exec_memory_bytes == 1073741824u);
  CHECK(o.exec_open_files == 256u);
  CHECK(o.exec_processes == 64u);
  CHECK(o.exec_user == "nobody");
  CHECK(validate(o, true).ok());
  Result<ExecConfig> exec = exec_config(o);
  REQUIRE(exec.ok());
  CHECK(exec.value().policy.programs == std::set<std::string>{"/bin/sh", "/usr/bin/env"});
  CHECK(exec.value().open_files == 256u);
  CHECK(exec.value().uid == 65534u);  // Debian's nobody
  CHECK(exec.value().gid.has_value());
  CHECK(exec_policy(o).env == std::set<std::string>{"PATH"});

  std::ofstream(path) << "[handlers.exec]\nalow = [\"/bin/sh\"]\n";
  CHECK(load_config_file(path, o).message().find("unknown setting 'handlers.exec.alow'") != std::string::npos);
  std::ofstream(path) << "[handlers.shell]\nallow = [\"/bin/sh\"]\n";
  CHECK(load_config_file(path, o).message().find("unknown setting 'handlers.shell.allow'") != std::string::npos);
}

TEST_CASE("config: without [handlers.exec] exec is off") {
  NodeOptions o;
  CHECK(validate(o).ok());
  CHECK_FALSE(exec_policy(o).enabled());
}

TEST_CASE("config: exec settings are checked") {
  NodeOptions o;
  for (const char* bad : {"sh", "bin/sh", "/bin/../bin/sh", "/bin//sh", "/bin/./sh", "/bin/sh/", "/"}) {
    CAPTURE(bad);
    o.exec_allow = {"/bin/true", bad};
    CHECK(validate(o).message().find("handlers.exec.allow: '" + std::string(bad) + "' must be an absolute path") == 0);
  }
  o = NodeOptions{};
  o.exec_env = {"A=B"};
  CHECK(validate(o).message().find("handlers.exec.env") != std::string::npos);
  o = NodeOptions{};
  o.exec_workdir = "relative/dir";
  CHECK(validate(o).message().find("workdir must be an absolute path") != std::string::npos);
  o = NodeOptions{};
  o.exec_open_files = 0;
  CHECK(validate(o).message().find("open_files must be at least 1") != std::string::npos);
  o = NodeOptions{};
  o.exec_user = "nobody";
  CHECK(validate(o, false).message().find("need meshd to run as root") != std::string::npos);
  o.exec_user.clear();
  o.exec_group = "nogroup";
  CHECK(validate(o, false).message().find("need meshd to run as root") != std::string::npos);
  CHECK(validate(o, true).ok());
  o.exec_group = "no-such-group-meshwork";
  CHECK(exec_config(o).status().message().find("no group 'no-such-group-meshwork'") != std::string::npos);
  o = NodeOptions{};
  o.exec_user = "no-such-user-meshwork";
  CHECK(exec_config(o).status().message().find("no user 'no-such-user-meshwork'") != std::string::npos);
  o.exec_user = "4242";
  o.exec_group = "4243";
  REQUIRE(exec_config(o).ok());
  CHECK(exec_config(o).value().uid == 4242u);
  CHECK(exec_config(o).value().gid == 4243u);
}

}  // namespace
}  // namespace mesh
