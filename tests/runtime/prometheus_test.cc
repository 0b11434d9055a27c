// Prometheus exposition: every counter and gauge the sources name is
// catalogued (HELP, base units), the text follows the format's rules, and
// promtool accepts it when it is installed (scripts/setup.sh installs it).
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "node/core/task_table.h"
#include "node/runtime/prometheus.h"
#include "node/runtime/prometheus_catalogue.h"

namespace mesh {
namespace {

// Internal names written as literals in node/: count("x"), counters["x"],
// g["x"] and s.gauges["x"]. A trailing '_' marks a prefix (x_<code>).
std::set<std::string> names_in_sources(const std::regex& pattern) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(MESH_SOURCE_DIR "/node")) {
    if (entry.path().extension() != ".cc") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    for (std::sregex_iterator it(s.begin(), s.end(), pattern), end; it != end; ++it) names.insert((*it)[1].str());
  }
  return names;
}

TEST_CASE("prometheus: every counter and gauge named in the sources is catalogued") {
  auto counters = names_in_sources(std::regex(R"re((?:count|counters_?)\s*[\(\[]\s*"([a-z_]+)")re"));
  auto gauges = names_in_sources(std::regex(R"re((?:\bg|gauges)\["([a-z_]+)"\])re"));
  REQUIRE(counters.size() >= 40);
  REQUIRE(gauges.size() >= 8);
  std::string label;
  for (std::string name : counters) {
    if (name.ends_with('_')) name += "some_code";
    INFO("counter " << name);
    CHECK(find_metric_family(MetricType::kCounter, name, &label) != nullptr);
  }
  for (const std::string& name : gauges) {
    INFO("gauge " << name);
    CHECK(find_metric_family(MetricType::kGauge, name, &label) != nullptr);
  }
  for (uint8_t s = 0; s < kTaskStateCount; ++s) {
    std::string name = state_name(static_cast<TaskState>(s));
    for (char& c : name) c = static_cast<char>(std::tolower(c));
    INFO("gauge tasks_" << name);
    CHECK(find_metric_family(MetricType::kGauge, "tasks_" + name, &label) != nullptr);
    CHECK(label == name);
  }
}

TEST_CASE("prometheus: catalogue names follow the conventions") {
  std::map<std::string, MetricType> type_of_family;
  for (const MetricFamily& f : metric_catalogue()) {
    INFO(f.name);
    std::string name(f.name);
    CHECK(!f.help.empty());
    CHECK(name.ends_with("_total") == (f.type == MetricType::kCounter));
    CHECK(name.find("_ms") == std::string::npos);
    CHECK(name.find("_us") == std::string::npos);
    CHECK((f.type == MetricType::kHistogram) == !f.buckets.empty());
    for (size_t i = 1; i < f.buckets.size(); ++i) CHECK(f.buckets[i - 1] < f.buckets[i]);
    auto [it, inserted] = type_of_family.emplace(name, f.type);
    CHECK(it->second == f.type);  // a family shared by several names has one type
  }
}

PrometheusView sample_view(const Histogram& latency) {
  PrometheusView view;
  view.stats.node_id = "n\"1\\";
  view.stats.counters = {{"tasks_submitted", 7}, {"submit_rejected_unknown_handler", 2},
                         {"submit_rejected_overloaded", 1}, {"not_in_the_catalogue", 3}};
  view.stats.gauges = {{"tasks_pending", 4}, {"tasks_failed", 1}, {"uptime_ms", 2500}, {"slots_total", 4}};
  view.histograms = {{"task_latency_ms", &latency}};
  MemberInfo alive;
  alive.state = MemberState::kAlive;
  MemberInfo dead;
  dead.state = MemberState::kDead;
  view.members = {alive, alive, dead};
  GroupInfo group;
  group.partition = 3;
  group.role = "leader";
  group.term = 5;
  group.commit_index = 40;
  group.applied_index = 39;
  group.lag = {{"n2#ab", 2}};
  view.groups = {group};
  return view;
}

// Checks the exposition format's rules that matter to a scraper: HELP and
// TYPE once per family before its samples, histogram buckets cumulative and
// ending at +Inf = _count.
void check_exposition(const std::string& text) {
  std::istringstream in(text);
  std::string line, family;
  std::set<std::string> families_seen;
  uint64_t previous_bucket = 0, inf_bucket = 0;
  size_t samples = 0;
  while (std::getline(in, line)) {
    INFO(line);
    if (line.starts_with("# HELP ")) {
      family = line.substr(7, line.find(' ', 7) - 7);
      CHECK(families_seen.insert(family).second);
      previous_bucket = 0;
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      CHECK(line.starts_with("# TYPE " + family + " "));
      continue;
    }
    ++samples;
    REQUIRE(!family.empty());
    CHECK(line.starts_with(family));
    if (line.find("_bucket{") != std::string::npos) {
      uint64_t count = std::stoull(line.substr(line.rfind(' ') + 1));
      CHECK(count >= previous_bucket);
      previous_bucket = count;
      if (line.find("le=\"+Inf\"") != std::string::npos) inf_bucket = count;
    }
    if (line.starts_with(family + "_count")) CHECK(std::stoull(line.substr(line.rfind(' ') + 1)) == inf_bucket);
  }
  CHECK(samples >= 20);
}

TEST_CASE("prometheus: rendered text is well formed, in base units, with labels") {
  Histogram latency;
  for (uint64_t ms : std::initializer_list<uint64_t>{1, 3, 8, 40, 900, 70000}) latency.record(ms);
  std::string text = render_prometheus(sample_view(latency));
  INFO(text);
  check_exposition(text);
  CHECK(text.find("meshwork_submit_rejected_total{node=\"n\\\"1\\\\\",code=\"unknown_handler\"} 2\n") !=
        std::string::npos);
  CHECK(text.find("meshwork_tasks{node=\"n\\\"1\\\\\",state=\"pending\"} 4\n") != std::string::npos);
  CHECK(text.find("meshwork_uptime_seconds{node=\"n\\\"1\\\\\"} 2.5\n") != std::string::npos);
  CHECK(text.find("# HELP meshwork_not_in_the_catalogue_total ") != std::string::npos);
  CHECK(text.find("meshwork_members{node=\"n\\\"1\\\\\",state=\"alive\"} 2\n") != std::string::npos);
  CHECK(text.find("meshwork_raft_follower_lag_entries{node=\"n\\\"1\\\\\",partition=\"3\",replica=\"n2#ab\"} 2\n") !=
        std::string::npos);
  // 1, 3 and 8 ms are at most 0.01 s; 70 s is past the last bound.
  CHECK(text.find("meshwork_task_latency_seconds_bucket{node=\"n\\\"1\\\\\",le=\"0.01\"} 3\n") != std::string::npos);
  CHECK(text.find("meshwork_task_latency_seconds_bucket{node=\"n\\\"1\\\\\",le=\"60\"} 5\n") != std::string::npos);
  const std::string sum_prefix = "meshwork_task_latency_seconds_sum{node=\"n\\\"1\\\\\"} ";
  auto sum_at = text.find(sum_prefix);
  REQUIRE(sum_at != std::string::npos);
  CHECK(std::stod(text.substr(sum_at + sum_prefix.size())) == doctest::Approx(70.952));
}

TEST_CASE("prometheus: promtool accepts the exposition") {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    MESSAGE("promtool is not installed (Debian package prometheus): format checked by the test above only");
    return;
  }
  Histogram latency;
  latency.record(12);
  auto path = std::filesystem::temp_directory_path() / ("meshwork-metrics-" + std::to_string(::getpid()) + ".txt");
  {
    std::ofstream out(path);
    out << render_prometheus(sample_view(latency));
  }
  std::string command = "promtool check metrics < " + path.string() + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  int status = ::pclose(pipe);
  std::filesystem::remove(path);
  INFO(output);
  CHECK(status == 0);
}

TEST_CASE("prometheus: histogram buckets count values at or below their bound") {
  Histogram h;
  for (uint64_t v : std::initializer_list<uint64_t>{0, 1, 2, 3, 4, 5, 100, 1000, UINT64_MAX}) h.record(v);
  CHECK(h.count_at_most(0) == 1);
  CHECK(h.count_at_most(3) == 4);
  CHECK(h.count_at_most(1000) >= 6);
  CHECK(h.count_at_most(1000) <= 8);
  CHECK(h.count_at_most(UINT64_MAX) == h.count());
  uint64_t previous = 0;
  for (uint64_t v = 0; v < 5000; v += 7) {
    CHECK(h.count_at_most(v) >= previous);
    previous = h.count_at_most(v);
  }
}

}  // namespace
}  // namespace mesh
