#include "node/runtime/prometheus.h"

#include <charconv>
#include <cmath>
#include <map>

#include "node/runtime/prometheus_catalogue.h"

namespace mesh {

namespace {

const char* type_name(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

// The shortest text that reads back as the same double ("0.005", "1", "2.5").
std::string format_number(double value) {
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return ec == std::errc() ? std::string(buffer, end) : std::string("NaN");
}

// Samples grouped by family, so each family gets one HELP and TYPE line
// followed by all its samples, as the exposition format requires.
class Exposition {
 public:
  explicit Exposition(const std::string& node_id) : node_label_("node=\"" + escape_label_value(node_id) + "\"") {}

  // One sample of an internal counter or gauge.
  void add(MetricType type, const std::string& internal_name, double internal_value) {
    std::string label_value;
    const MetricFamily* f = find_metric_family(type, internal_name, &label_value);
    if (f == nullptr) {
      // Never expected (a test holds the catalogue complete); still exported.
      std::string name = type == MetricType::kCounter ? internal_name + "_total" : internal_name;
      family(name, type, "Uncatalogued " + std::string(type_name(type)) + " " + internal_name + ".")
          .push_back(sample(name, {}, format_number(internal_value)));
      return;
    }
    std::string labels = f->label.empty() ? "" : std::string(f->label) + "=\"" + escape_label_value(label_value) + "\"";
    family(std::string(f->name), type, std::string(f->help))
        .push_back(sample(std::string(f->name), labels, format_number(internal_value * f->scale)));
  }

  void add_histogram(const std::string& internal_name, const Histogram& h) {
    std::string ignored;
    const MetricFamily* f = find_metric_family(MetricType::kHistogram, internal_name, &ignored);
    const double scale = f ? f->scale : 1;
    const std::string name = f ? std::string(f->name) : internal_name;
    auto& lines = family(name, MetricType::kHistogram,
                         f ? std::string(f->help) : "Uncatalogued histogram " + internal_name + ".");
    if (f != nullptr) {
      for (double bound : f->buckets) {
        auto internal_bound = static_cast<uint64_t>(std::floor(bound / scale + 1e-9));
        lines.push_back(sample(name + "_bucket", "le=\"" + format_number(bound) + "\"",
                               std::to_string(h.count_at_most(internal_bound))));
      }
    }
    lines.push_back(sample(name + "_bucket", "le=\"+Inf\"", std::to_string(h.count())));
    lines.push_back(sample(name + "_sum", {}, format_number(static_cast<double>(h.sum()) * scale)));
    lines.push_back(sample(name + "_count", {}, std::to_string(h.count())));
  }

  // A gauge computed here rather than taken from the core's map.
  void add_gauge(const std::string& name, const std::string& help, const std::string& labels, double value) {
    family(name, MetricType::kGauge, help).push_back(sample(name, labels, format_number(value)));
  }

  std::string text() const {
    std::string out;
    for (const auto& [name, f] : families_) {
      out += "# HELP meshwork_" + name + " " + f.help + "\n";
      out += "# TYPE meshwork_" + name + " " + type_name(f.type) + "\n";
      for (const auto& line : f.samples) out += line;
    }
    return out;
  }

 private:
  struct Family {
    MetricType type;
    std::string help;
    std::vector<std::string> samples;
  };

  std::vector<std::string>& family(const std::string& name, MetricType type, std::string help) {
    // A histogram's family is named without its _bucket/_sum/_count suffix.
    auto [it, inserted] = families_.try_emplace(name, Family{type, std::move(help), {}});
    return it->second.samples;
  }

  std::string sample(const std::string& name, const std::string& labels, const std::string& value) const {
    return "meshwork_" + name + "{" + node_label_ + (labels.empty() ? "" : "," + labels) + "} " + value + "\n";
  }

  std::string node_label_;
  std::map<std::string, Family> families_;
};

void add_membership(Exposition& e, const std::vector<MemberInfo>& members) {
  uint64_t by_state[kMemberStateCount] = {};
  for (const MemberInfo& m : members) ++by_state[static_cast<uint8_t>(m.state)];
  for (uint8_t s = 0; s < kMemberStateCount; ++s) {
    e.add_gauge("members", "Members this node knows of (itself included), by state.",
                std::string("state=\"") + member_state_name(static_cast<MemberState>(s)) + "\"",
                static_cast<double>(by_state[s]));
  }
}

void add_raft_groups(Exposition& e, const std::vector<GroupInfo>& groups) {
  for (const GroupInfo& g : groups) {
    const std::string partition = "partition=\"" + std::to_string(g.partition) + "\"";
    e.add_gauge("raft_term", "Current Raft term of this node's replica of a partition.", partition,
                static_cast<double>(g.term));
    e.add_gauge("raft_commit_index", "Highest log index known committed by this replica.", partition,
                static_cast<double>(g.commit_index));
    e.add_gauge("raft_applied_index", "Highest log index applied to this replica's task table.", partition,
                static_cast<double>(g.applied_index));
    e.add_gauge("raft_leader", "1 when this node leads the partition.", partition, g.role == "leader" ? 1 : 0);
    for (const FollowerLag& lag : g.lag) {
      e.add_gauge("raft_follower_lag_entries", "Entries a follower has not acknowledged, as this leader sees it.",
                  partition + ",replica=\"" + escape_label_value(lag.replica_id) + "\"",
                  static_cast<double>(lag.behind));
    }
  }
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string render_prometheus(const PrometheusView& view) {
  Exposition e(view.stats.node_id);
  for (const auto& [name, value] : view.stats.counters) {
    e.add(MetricType::kCounter, name, static_cast<double>(value));
  }
  for (const auto& [name, value] : view.stats.gauges) e.add(MetricType::kGauge, name, static_cast<double>(value));
  for (const auto& [name, histogram] : view.histograms) e.add_histogram(name, *histogram);
  add_membership(e, view.members);
  add_raft_groups(e, view.groups);
  return e.text();
}

}  // namespace mesh
