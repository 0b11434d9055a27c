// A node's metrics in the Prometheus text exposition format (version 0.0.4):
// base units (seconds, bytes), HELP and TYPE for every family, labels for
// codes and states, real cumulative histograms, membership and per-partition
// Raft gauges. Names come from one catalogue (prometheus_catalogue.cc).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "node/runtime/metrics.h"
#include "protocol/messages.h"

namespace mesh {

// Everything one scrape shows, gathered on the node's loop thread.
struct PrometheusView {
  StatsReply stats;                                                  // counters and gauges by internal name
  std::vector<std::pair<std::string, const Histogram*>> histograms;  // by internal name
  std::vector<MemberInfo> members;
  std::vector<GroupInfo> groups;  // partitions this node hosts
};

std::string render_prometheus(const PrometheusView& view);

// A label value with backslash, double quote and newline escaped.
std::string escape_label_value(std::string_view value);

}  // namespace mesh
