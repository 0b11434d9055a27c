// The exec policy (node/core/exec_policy.h): which exec payloads a node
// accepts at submit, and why it refuses the others.
#include "node/core/exec_policy.h"

#include <doctest/doctest.h>

#include <string>

namespace mesh {
namespace {

ExecPolicy policy() { return ExecPolicy{{"/bin/sh", "/usr/bin/env"}, {"LANG", "PATH"}}; }

ErrorCode code_of(const ExecPolicy& p, const std::string& payload) { return check_exec(p, payload).code(); }

TEST_CASE("exec policy: a listed absolute program is allowed") {
  CHECK(code_of(policy(), R"({"argv":["/bin/sh","-c","echo hi"]})") == ErrorCode::kOk);
  CHECK(code_of(policy(), R"({"argv":["/usr/bin/env"],"stdin":"x","env":{"LANG":"C","PATH":"/bin"}})") ==
        ErrorCode::kOk);
}

TEST_CASE("exec policy: a program not on the list is refused") {
  Status s = check_exec(policy(), std::string_view(R"({"argv":["/bin/rm","-rf","/tmp/x"]})"));
  CHECK(s.code() == ErrorCode::kHandlerNotAllowed);
  CHECK(s.message() == "exec: '/bin/rm' is not in the allow list");
}

TEST_CASE("exec policy: only the exact path counts") {
  for (const char* program : {"/bin/../bin/sh", "//bin/sh", "/bin/sh/", "/bin/./sh", "/usr/bin/sh"}) {
    CAPTURE(program);
    CHECK(code_of(policy(), std::string(R"({"argv":[")") + program + R"("]})") == ErrorCode::kHandlerNotAllowed);
  }
}

TEST_CASE("exec policy: a relative argv[0] is refused, never looked up in PATH") {
  for (const char* program : {"sh", "bin/sh", "./sh"}) {
    CAPTURE(program);
    Status s = check_exec(policy(), std::string(R"({"argv":[")") + program + R"("]})");
    CHECK(s.code() == ErrorCode::kHandlerNotAllowed);
    CHECK(s.message().find("must be an absolute path") != std::string::npos);
  }
}

TEST_CASE("exec policy: with no allowed program exec is off, whatever the payload") {
  ExecPolicy off;
  off.env = {"PATH"};
  for (const char* payload : {R"({"argv":["/bin/sh"]})", "not json", ""}) {
    CAPTURE(payload);
    Status s = check_exec(off, std::string(payload));
    CHECK(s.code() == ErrorCode::kHandlerNotAllowed);
    CHECK(s.message().find("exec is off") != std::string::npos);
  }
}

TEST_CASE("exec policy: an env variable not on the env list is refused") {
  Status s = check_exec(policy(), std::string_view(R"({"argv":["/bin/sh"],"env":{"PATH":"/","LD_PRELOAD":"x"}})"));
  CHECK(s.code() == ErrorCode::kHandlerNotAllowed);
  CHECK(s.message() == "exec: env variable 'LD_PRELOAD' is not in the env allow list");
}

TEST_CASE("exec policy: a payload that does not parse is an invalid argument") {
  for (const char* bad : {"", "not json", "[\"/bin/sh\"]", "{}", R"({"argv": []})", R"({"argv": "/bin/sh"})",
                          R"({"argv": ["/bin/sh", 1]})", R"({"argv": [""]})", R"({"argv": ["/bin/sh"], "stdin": 5})",
                          R"({"argv": ["/bin/sh"], "env": ["A=1"]})", R"({"argv": ["/bin/sh"], "env": {"A": 1}})",
                          R"({"argv": ["/bin/sh"], "env": {"A=B": "1"}})", R"({"argv": ["/bin/sh"], "args": []})"}) {
    CAPTURE(bad);
    Status s = check_exec(policy(), std::string(bad));
    CHECK(s.code() == ErrorCode::kInvalidArgument);
    CHECK(s.message().find("exec: ") == 0);
  }
}

TEST_CASE("exec payload: fields are read as given") {
  auto parsed = parse_exec_payload(R"({"argv":["/bin/sh","-c","a b"],"stdin":"in","env":{"B":"2","A":"1"}})");
  REQUIRE(parsed.ok());
  CHECK(parsed.value().argv == std::vector<std::string>{"/bin/sh", "-c", "a b"});
  CHECK(parsed.value().input == "in");
  CHECK(parsed.value().env.size() == 2);
}

}  // namespace
}  // namespace mesh
