// meshd's read-only HTTP API and web view, answered on the node's loop:
//   /                 the web view (node/runtime/web/index.html)
//   /v1/members       membership and gossiped load, as `meshctl --json members`
//   /v1/partitions    the ring and the groups this node hosts
//   /v1/steals        recent steals and steal counters
//   /v1/stats         counters, gauges and latency summaries
//   /v1/dead-letters  FAILED tasks of the partitions this node leads (at most 100)
//   /v1/load          each member's gossiped load (pending, free slots, backlog)
// Anything else: nullopt, for the caller to answer (the driver serves
// /v1/tasks/{id}, a read across the mesh, and /v1/events).
#pragma once

#include <optional>
#include <string>

#include "node/runtime/http_server.h"
#include "protocol/messages.h"

namespace mesh {

class NodeState;

std::optional<HttpAnswer> web_api_answer(const std::string& path, const NodeState& core, const StatsReply& stats);

// The answer to GET /v1/tasks/{id} from the core's answer to a get of that
// id: the record (200), 404 when the mesh has no such task, 503 when its
// partition could not answer.
HttpAnswer task_answer(const std::string& id, const Reply& reply);

// A request target split: its path, percent-decoded ("" when the encoding
// is bad), and the `after` query parameter (0 if absent or not a number).
struct HttpTarget {
  std::string path;
  uint64_t after = 0;
};
HttpTarget parse_http_target(const std::string& target);

// An events page as JSON (/v1/events).
HttpAnswer events_answer(const EventsReply& events);

}  // namespace mesh
