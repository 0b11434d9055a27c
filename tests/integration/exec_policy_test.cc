// The exec policy on a real meshd ([handlers.exec], node/core/exec_policy.h):
// what it refuses is refused at submit and never stored; what it allows runs
// with the configured rlimits, environment and working directory.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

// A node whose policy allows sh alone, with PATH and FOO, in `workdir`, and
// at most 64 open files per child.
std::string sh_only_config(const std::string& dir, const std::string& workdir) {
  std::string path = dir + "/sh-only.toml";
  std::ofstream(path) << "[handlers.exec]\nallow = [\"" << program_path("sh") << "\"]\n"
                      << "env = [\"PATH\", \"FOO\"]\nworkdir = \"" << workdir << "\"\nopen_files = 64\n";
  return path;
}

std::string sh(const std::string& script, const std::string& env = "") {
  std::string payload = R"({"argv":[")" + program_path("sh") + R"(","-c",")" + script + "\"]";
  if (!env.empty()) payload += ",\"env\":" + env;
  return payload + "}";
}

TaskRecord run_to_end(MeshClient& client, const TaskSpec& spec) {
  auto submitted = client.submit({spec});
  REQUIRE_MESSAGE(submitted.ok(), submitted.status().message());
  REQUIRE_MESSAGE(submitted.value().outcomes[0].code == ErrorCode::kOk, submitted.value().outcomes[0].message);
  auto done = client.wait(WaitRequest{{spec.id}, false, kDeadlineMs});
  REQUIRE(done.ok());
  REQUIRE_FALSE(done.value().timed_out);
  return done.value().records.at(0);
}

TEST_CASE("exec policy: what the node's allow list does not name is refused at submit and never stored") {
  TempDir temp("meshexec-");
  REQUIRE(!temp.path().empty());
  const std::string workdir = std::filesystem::canonical(temp.path()).string();
  TestNode node({"--config", sh_only_config(temp.path(), workdir)});
  node.start();
  auto client = node.client();

  auto reply = client->submit({task("other-program", "exec", R"({"argv":[")" + program_path("cat") + R"("]})"),
                               task("bare-name", "exec", R"({"argv":["sh","-c","true"]})"),
                               task("bad-env", "exec", sh("true", R"({"LD_PRELOAD":"x.so"})")),
                               task("allowed", "exec", sh("echo ok"))});
  REQUIRE_MESSAGE(reply.ok(), reply.status().message());
  const auto& outcomes = reply.value().outcomes;
  REQUIRE(outcomes.size() == 4);
  for (size_t i = 0; i < 3; ++i) {
    CAPTURE(outcomes[i].id);
    CHECK_MESSAGE(outcomes[i].code == ErrorCode::kHandlerNotAllowed, outcomes[i].message);
  }
  CHECK(outcomes[0].message == "exec: '" + program_path("cat") + "' is not in the allow list");
  CHECK(outcomes[3].code == ErrorCode::kOk);

  auto got = client->get({"other-program", "bare-name", "bad-env"});
  REQUIRE(got.ok());
  CHECK(got.value().records.empty());
  CHECK(got.value().missing.size() == 3);
  auto listed = client->call(ListRequest{});
  REQUIRE(listed.ok());
  const auto& records = std::get<ListReply>(listed.value()).records;
  REQUIRE(records.size() == 1);
  CHECK(records[0].spec.id == "allowed");

  Exit refused = run_command(std::string(MESHCTL_PATH) + " --addr " + node.process().endpoint() +
                             " submit --handler exec --payload '{\"argv\":[\"/bin/rm\",\"-rf\",\"" + workdir + "\"]}'");
  CHECK(refused.code == 1);
  CHECK_MESSAGE(refused.output.find("handler_not_allowed") != std::string::npos, refused.output);
  CHECK(std::filesystem::exists(workdir));
}

TEST_CASE("exec policy: an allowed command runs with the configured limits, environment and working directory") {
  TempDir temp("meshexec-");
  REQUIRE(!temp.path().empty());
  const std::string workdir = std::filesystem::canonical(temp.path()).string();
  // meshd inherits this; the policy does not pass it on.
  REQUIRE(setenv("MESH_TEST_HIDDEN", "secret", 1) == 0);
  TestNode node({"--config", sh_only_config(temp.path(), workdir)});
  node.start();
  unsetenv("MESH_TEST_HIDDEN");
  auto client = node.client();

  SUBCASE("open_files") {
    TaskRecord r = run_to_end(*client, task("ulimit", "exec", sh("ulimit -n")));
    CHECK_MESSAGE(r.state == TaskState::kCompleted, r.result);
    CHECK(r.result == "64\n");
  }
  SUBCASE("env allow list") {
    const std::string script = R"(printf %s/%s \"${MESH_TEST_HIDDEN-unset}\" \"$FOO\")";
    TaskRecord r = run_to_end(*client, task("env", "exec", sh(script, R"({"FOO":"given"})")));
    CHECK_MESSAGE(r.state == TaskState::kCompleted, r.result);
    CHECK(r.result == "unset/given");
  }
  SUBCASE("workdir") {
    TaskRecord r = run_to_end(*client, task("pwd", "exec", sh("pwd -P")));
    CHECK_MESSAGE(r.state == TaskState::kCompleted, r.result);
    CHECK(r.result == workdir + "\n");
  }
}

TEST_CASE("exec policy: a node without [handlers.exec] refuses every exec task") {
  TempDir temp("meshexec-");
  REQUIRE(!temp.path().empty());
  const std::string config = temp / "no-exec.toml";
  std::ofstream(config) << "[executor]\nslots = 2\n";
  TestNode node({"--config", config});
  node.start();
  auto client = node.client();
  auto reply = client->submit({task("sh", "exec", sh("true")), task("noop", "noop", "x")});
  REQUIRE(reply.ok());
  CHECK(reply.value().outcomes[0].code == ErrorCode::kHandlerNotAllowed);
  CHECK(reply.value().outcomes[0].message.find("exec is off") != std::string::npos);
  CHECK(reply.value().outcomes[1].code == ErrorCode::kOk);
  auto got = client->get({"sh"});
  REQUIRE(got.ok());
  CHECK(got.value().missing == std::vector<std::string>{"sh"});
}

}  // namespace
}  // namespace mesh::test
