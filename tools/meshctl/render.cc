#include "tools/meshctl/render.h"

#include <sstream>

namespace mesh::ctl {

namespace {

// Results may be binary: JSON carries them as text when they are valid
// UTF-8 enough to print, which nlohmann checks on dump (replace mode).
std::string shorten(const std::string& text, size_t max) {
  std::string one_line = text;
  for (char& c : one_line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return one_line.size() <= max ? one_line : one_line.substr(0, max) + "...";
}

}  // namespace

nlohmann::json to_json(const TaskRecord& r) {
  nlohmann::json attempts = nlohmann::json::array();
  for (const auto& a : r.attempts) {
    attempts.push_back({{"attempt", a.attempt},
                        {"runner", a.runner},
                        {"started_ms", a.started_ms},
                        {"ended_ms", a.ended_ms},
                        {"outcome", outcome_name(a.outcome)},
                        {"error", a.error}});
  }
  return {{"id", r.spec.id},
          {"handler", r.spec.handler},
          {"payload", r.spec.payload},
          {"priority", r.spec.priority},
          {"max_attempts", r.spec.max_attempts},
          {"timeout_ms", r.spec.timeout_ms},
          {"key", r.spec.key},
          {"stealable", r.spec.stealable},
          {"partition", r.partition},
          {"state", state_name(r.state)},
          {"attempt", r.attempt},
          {"failures", r.failures},
          {"lease_owner", r.lease_owner},
          {"submitted_ms", r.submitted_ms},
          {"finished_ms", r.finished_ms},
          {"result", r.result},
          {"error", r.error},
          {"attempts", attempts}};
}

nlohmann::json to_json(const StatsReply& s) {
  nlohmann::json histograms = nlohmann::json::object();
  for (const auto& [name, h] : s.histograms) {
    histograms[name] = {{"count", h.count}, {"sum", h.sum}, {"p50", h.p50},
                        {"p90", h.p90},     {"p99", h.p99}, {"max", h.max}};
  }
  return {{"node_id", s.node_id}, {"counters", s.counters}, {"gauges", s.gauges}, {"histograms", histograms}};
}

std::string task_line(const TaskRecord& r) {
  std::ostringstream out;
  out << r.spec.id << "  " << state_name(r.state) << "  attempts=" << r.attempt;
  if (r.state == TaskState::kCompleted) {
    out << "  result=" << shorten(r.result, 80);
  } else if (!r.error.empty()) {
    out << "  error=" << shorten(r.error, 80);
  }
  return out.str();
}

std::string task_detail(const TaskRecord& r) {
  std::ostringstream out;
  out << "id:          " << r.spec.id << "\n"
      << "handler:     " << r.spec.handler << "\n"
      << "state:       " << state_name(r.state) << "\n"
      << "partition:   " << r.partition << "\n"
      << "priority:    " << r.spec.priority << "\n"
      << "attempts:    " << r.attempt << " (failures " << r.failures << " of " << r.spec.max_attempts << ")\n";
  if (!r.lease_owner.empty()) out << "lease:       " << r.lease_owner << " until " << r.lease_deadline_ms << "\n";
  if (r.state == TaskState::kCompleted) out << "result:      " << shorten(r.result, 400) << "\n";
  if (!r.error.empty()) out << "error:       " << shorten(r.error, 400) << "\n";
  for (const auto& a : r.attempts) {
    out << "  attempt " << a.attempt << " on " << a.runner << ": " << outcome_name(a.outcome);
    if (a.ended_ms) out << " after " << (a.ended_ms - a.started_ms) << " ms";
    if (!a.error.empty()) out << " (" << shorten(a.error, 120) << ")";
    out << "\n";
  }
  return out.str();
}

std::string stats_text(const StatsReply& s) {
  std::ostringstream out;
  out << "node " << s.node_id << "\n\ngauges\n";
  for (const auto& [name, v] : s.gauges) out << "  " << name << " = " << v << "\n";
  out << "\ncounters\n";
  for (const auto& [name, v] : s.counters) out << "  " << name << " = " << v << "\n";
  out << "\nhistograms (count p50 p90 p99 max)\n";
  for (const auto& [name, h] : s.histograms) {
    out << "  " << name << ": " << h.count << " " << h.p50 << " " << h.p90 << " " << h.p99 << " " << h.max << "\n";
  }
  return out.str();
}

}  // namespace mesh::ctl
