// Result<T>: reading the value of an error is a bug that stops the process
// with the error's name, never undefined behaviour.
#include "protocol/result.h"

#include <signal.h>

#include "tests/run_in_child.h"

namespace mesh::test {
namespace {

TEST_CASE("result: value() of an error aborts and names the error") {
  ChildEnd end = run_in_child([] {
    Result<int> failed = Status(ErrorCode::kNotFound, "no such task");
    std::fprintf(stderr, "%d\n", failed.value());
  });
  REQUIRE(WIFSIGNALED(end.status));
  CHECK(WTERMSIG(end.status) == SIGABRT);
  CHECK(end.stderr_text.find("not_found: no such task") != std::string::npos);
}

TEST_CASE("result: a value reads back; an error keeps its status") {
  Result<std::string> ok = std::string("x");
  REQUIRE(ok.ok());
  CHECK(ok.value() == "x");
  Result<std::string> failed = Status(ErrorCode::kBusy, "later");
  CHECK_FALSE(failed.ok());
  CHECK(failed.status().code() == ErrorCode::kBusy);
}

}  // namespace
}  // namespace mesh::test
