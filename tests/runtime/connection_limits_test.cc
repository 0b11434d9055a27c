#include <doctest/doctest.h>

#include "node/runtime/connection_limits.h"

namespace mesh {
namespace {

TEST_CASE("connection limits: each connection is counted on its own, waits apart") {
  ConnectionLimits limits(ConnectionLimitConfig{3, 2});
  CHECK(limits.admit("a", true).ok());
  CHECK(limits.admit("a", true).ok());
  Status third_wait = limits.admit("a", true);
  CHECK(third_wait.code() == ErrorCode::kOverloaded);
  CHECK(third_wait.message().find("2 waits") != std::string::npos);
  CHECK(limits.admit("a", false).ok());  // a get still fits under the request limit
  CHECK(limits.admit("a", false).code() == ErrorCode::kOverloaded);
  // Another connection is not slowed by a's flood.
  CHECK(limits.admit("b", true).ok());
  CHECK(limits.connections() == 2);
  limits.answered("a", /*was_wait=*/true);
  CHECK(limits.admit("a", true).ok());
  for (int i = 0; i < 3; ++i) limits.answered("a", i < 2);
  limits.answered("b", true);
  CHECK(limits.connections() == 0);
  limits.answered("gone", false);  // an answer to a connection with nothing held is ignored
  CHECK(limits.connections() == 0);
}

}  // namespace
}  // namespace mesh
