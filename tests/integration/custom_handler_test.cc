// The C++ handler API: a binary that registers its own handlers next to the
// built-ins serves them like any other.
#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

TEST_CASE("a node binary with its own handlers runs them next to the built-ins") {
  TempDir temp("meshcustom-");
  REQUIRE(!temp.path().empty());
  const std::string& dir = temp.path();
  LocalNode node(EXAMPLE_NODE_PATH, dir + "/node", {"--slots", "2"});
  Status started = node.start();
  REQUIRE_MESSAGE(started.ok(), started.message());
  MeshClient client({node.endpoint()});
  auto submitted = client.submit({task("count", "wordcount", "to be or not to be"), task("shout", "upper", "hey"),
                                  task("plain", "noop", "still here")});
  REQUIRE(submitted.ok());
  for (const auto& o : submitted.value().outcomes) CHECK(o.code == ErrorCode::kOk);
  auto done = client.wait(WaitRequest{{"count", "shout", "plain"}, false, 60000});
  REQUIRE(done.ok());
  REQUIRE(done.value().records.size() == 3);
  CHECK(done.value().records[0].result == "6");
  CHECK(done.value().records[1].result == "HEY");
  CHECK(done.value().records[2].result == "still here");
}

}  // namespace
}  // namespace mesh::test
