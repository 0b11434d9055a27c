// Per-connection limits on a real node: a client that holds as many waits as
// it may gets `overloaded` for the next ones at once, while another client's
// waits and reads are served as usual.
#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

TEST_CASE("a connection over its wait limit is refused overloaded, another connection is served") {
  TestNode node({"--node-id", "l1", "--slots", "1", "--waits-per-connection", "5", "--requests-per-connection", "20"});
  node.start();
  auto flooder = node.client();
  TaskSpec hold = task("hold", "sleep", "600000");
  hold.timeout_ms = 600000;
  REQUIRE(flooder->submit({hold}).ok());

  // Ten waits on a task that runs for ten minutes: five are held, five refused.
  for (int i = 0; i < 10; ++i) REQUIRE(flooder->send(WaitRequest{{"hold"}, false, 60000}).ok());
  size_t overloaded = 0;
  for (int i = 0; i < 5; ++i) {
    auto reply = flooder->receive(kDeadlineMs);
    REQUIRE_MESSAGE(reply.ok(), reply.status().message());
    const auto* error = std::get_if<ErrorReply>(&reply.value().second);
    REQUIRE_MESSAGE(error != nullptr, "a held wait was answered before its task finished");
    CHECK(error->code == ErrorCode::kOverloaded);
    CHECK_MESSAGE(error->message.find("5 waits") != std::string::npos, error->message);
    ++overloaded;
  }
  CHECK(overloaded == 5);

  // Another connection: its wait is held and times out as asked, its read answers.
  auto other = node.client();
  auto waited = other->wait(WaitRequest{{"hold"}, false, 200});
  REQUIRE_MESSAGE(waited.ok(), waited.status().message());
  CHECK(waited.value().timed_out);
  auto got = other->get({"hold"});
  REQUIRE(got.ok());
  REQUIRE(got.value().records.size() == 1);
  CHECK(got.value().records[0].state == TaskState::kLeased);

  auto stats = other->stats();
  REQUIRE(stats.ok());
  CHECK(stats.value().counters["requests_over_connection_limit"] == 5);
}

}  // namespace
}  // namespace mesh::test
