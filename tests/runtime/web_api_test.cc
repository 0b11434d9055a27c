// The HTTP API's pure parts: request targets, and a task lookup's answer.
#include <doctest/doctest.h>

#include "node/runtime/web_api.h"

namespace mesh::test {
namespace {

TEST_CASE("web api: a target's path is percent-decoded and its `after` read; bad input gives no path") {
  CHECK(parse_http_target("/v1/tasks/a%2Fb%20c").path == "/v1/tasks/a/b c");
  CHECK(parse_http_target("/v1/events?after=42").after == 42);
  CHECK(parse_http_target("/v1/events?x=1&after=7&y").after == 7);
  CHECK(parse_http_target("/v1/events?after=7x").after == 0);
  CHECK(parse_http_target("/v1/events?after=").after == 0);
  CHECK(parse_http_target("/v1/events?after=99999999999999999999999").after == 0);
  CHECK(parse_http_target("/v1/tasks/%zz").path.empty());
  CHECK(parse_http_target("/v1/tasks/%4").path.empty());
  CHECK(parse_http_target("/v1/tasks/%").path.empty());
  CHECK(parse_http_target("").path.empty());
}

TEST_CASE("web api: a task lookup answers the record, 404 when the mesh has none, 503 when it could not tell") {
  TaskRecord record;
  record.spec.id = "t-1";
  record.state = TaskState::kCompleted;
  record.result = "done";
  HttpAnswer found = task_answer("t-1", GetReply{{record}, {}});
  CHECK(found.status == 200);
  CHECK(found.content_type == "application/json");
  CHECK(found.body.find("\"id\":\"t-1\"") != std::string::npos);
  CHECK(found.body.find("COMPLETED") != std::string::npos);

  HttpAnswer missing = task_answer("t-2", GetReply{{}, {"t-2"}});
  CHECK(missing.status == 404);
  CHECK(missing.body.find("not_found") != std::string::npos);

  HttpAnswer unavailable = task_answer("t-3", ErrorReply{ErrorCode::kUnavailable, "no leader of partition 3 answered"});
  CHECK(unavailable.status == 503);
  CHECK(unavailable.body.find("no leader of partition 3") != std::string::npos);

  CHECK(task_answer("t-4", ErrorReply{ErrorCode::kInvalidArgument, "bad"}).status == 400);
}

}  // namespace
}  // namespace mesh::test
