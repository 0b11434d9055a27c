#include "node/runtime/event_log.h"

#include <doctest/doctest.h>

namespace mesh {
namespace {

MeshEvent event(const std::string& kind) { return MeshEvent{0, 100, kind, "n2", ""}; }

TEST_CASE("event log: events are numbered from 1 and read back after a number, oldest first") {
  EventLog log;
  log.add(event("member_joined"));
  log.add(event("member_suspect"));
  log.add(event("member_dead"), EventLog::Logging::kLoggedAlready);
  EventsReply all = log.since("n1", 0);
  CHECK(all.node_id == "n1");
  REQUIRE(all.events.size() == 3);
  CHECK(all.events[0].seq == 1);
  CHECK(all.events[2].seq == 3);
  CHECK(all.events[2].kind == "member_dead");
  CHECK(all.first_kept_seq == 1);
  EventsReply newer = log.since("n1", 2);
  REQUIRE(newer.events.size() == 1);
  CHECK(newer.events[0].kind == "member_dead");
  CHECK(log.since("n1", 3).events.empty());
}

TEST_CASE("event log: past its capacity the oldest go, and the reply says where the kept ones start") {
  EventLog log(3);
  for (int i = 0; i < 5; ++i) log.add(event("steal"));
  EventsReply reply = log.since("n1", 0);
  REQUIRE(reply.events.size() == 3);
  CHECK(reply.first_kept_seq == 3);
  CHECK(reply.events.front().seq == 3);
  CHECK(reply.events.back().seq == 5);
  CHECK(log.since("n1", 0, 2).events.size() == 2);  // at most `max`
  CHECK(EventLog().since("n1", 0).first_kept_seq == 1);  // none yet: the next one is 1
}

}  // namespace
}  // namespace mesh
