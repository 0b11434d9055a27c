// meshd's read-only HTTP API and web view, answered on the node's loop:
//   /                 the web view (node/runtime/web/index.html)
//   /v1/members       membership and gossiped load, as `meshctl --json members`
//   /v1/partitions    the ring and the groups this node hosts
//   /v1/steals        recent steals and steal counters
//   /v1/stats         counters, gauges and latency summaries
//   /v1/dead-letters  FAILED tasks of the partitions this node leads (at most 100)
// Anything else: nullopt, for the caller to answer.
#pragma once

#include <optional>
#include <string>

#include "node/runtime/http_metrics.h"
#include "protocol/messages.h"

namespace mesh {

class NodeState;

std::optional<HttpAnswer> web_api_answer(const std::string& path, const NodeState& core, const StatsReply& stats);

}  // namespace mesh
