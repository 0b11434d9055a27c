#include "node/runtime/web_api.h"

#include <charconv>

#include "node/core/node_state.h"
#include "node/runtime/web_page.h"
#include "protocol/json_views.h"

namespace mesh {

namespace {

constexpr size_t kMaxDeadLetters = 100;

HttpAnswer json_answer(const nlohmann::json& body) {
  // Results and payloads may hold bytes that are not UTF-8: replaced, not thrown on.
  return {200, "application/json", body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"};
}

nlohmann::json dead_letters(const NodeState& core) {
  nlohmann::json records = nlohmann::json::array();
  for (uint32_t p = 0; p < core.config().ring.partitions && records.size() < kMaxDeadLetters; ++p) {
    // Every replica this node holds, leader or not: a dead letter stays put
    // while leadership moves, and a dashboard shows it from any replica.
    const TaskTable* table = core.halted(p) ? nullptr : core.table(p);
    if (table == nullptr || table->count_in(TaskState::kFailed) == 0) continue;
    for (const auto& [id, record] : table->records()) {
      if (record.state != TaskState::kFailed) continue;
      records.push_back(to_json(record));
      if (records.size() == kMaxDeadLetters) break;
    }
  }
  return {{"node_id", core.config().node_id}, {"records", records}};
}

// Each member's load as this node's gossip view holds it: what a thief picks
// its victim by, and how placement weighs nodes.
nlohmann::json load_view(const NodeState& core) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const MemberInfo& m : core.members_view().members) {
    nodes.push_back({{"id", m.id},
                     {"state", member_state_name(m.state)},
                     {"pending", m.load.pending},
                     {"free_slots", m.load.free_slots},
                     {"slots", m.load.slots},
                     {"backlog_ms", m.load.backlog_ms},
                     {"run_us", m.load.run_us},
                     {"failure_permille", m.load.failure_permille},
                     {"digest_version", m.load.version}});
  }
  return {{"node_id", core.config().node_id}, {"nodes", nodes}};
}

}  // namespace

HttpAnswer task_answer(const std::string& id, const Reply& reply) {
  if (const auto* get = std::get_if<GetReply>(&reply)) {
    for (const auto& record : get->records) {
      if (record.spec.id == id) return json_answer(to_json(record));
    }
    return {404, "application/json", nlohmann::json{{"error", "not_found"}, {"id", id}}.dump() + "\n"};
  }
  if (const auto* error = std::get_if<ErrorReply>(&reply)) {
    int status = error->code == ErrorCode::kInvalidArgument ? 400 : 503;
    return {status, "application/json",
            nlohmann::json{{"error", std::string(error_name(error->code))}, {"message", error->message}}.dump(
                -1, ' ', false, nlohmann::json::error_handler_t::replace) +
                "\n"};
  }
  return {503, "application/json", "{\"error\":\"unavailable\"}\n"};
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

HttpTarget parse_http_target(const std::string& target) {
  HttpTarget t;
  size_t question = target.find('?');
  std::string raw = target.substr(0, question);
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '%') {
      t.path += raw[i];
      continue;
    }
    int high = i + 2 < raw.size() ? hex_value(raw[i + 1]) : -1;
    int low = high < 0 ? -1 : hex_value(raw[i + 2]);
    if (low < 0) return HttpTarget{};  // bad encoding: no path, a 404
    t.path += static_cast<char>(high * 16 + low);
    i += 2;
  }
  if (question == std::string::npos) return t;
  std::string query = target.substr(question + 1);
  for (size_t start = 0; start <= query.size();) {
    size_t end = std::min(query.find('&', start), query.size());
    std::string_view param(query.data() + start, end - start);
    if (param.starts_with("after=")) {
      uint64_t after = 0;
      auto digits = param.substr(6);
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), after);
      if (ec == std::errc() && ptr == digits.data() + digits.size()) t.after = after;
    }
    start = end + 1;
  }
  return t;
}

HttpAnswer events_answer(const EventsReply& events) { return json_answer(to_json(events)); }

std::optional<HttpAnswer> web_api_answer(const std::string& path, const NodeState& core, const StatsReply& stats) {
  if (path == "/" || path == "/index.html") {
    return HttpAnswer{200, "text/html; charset=utf-8", std::string(web_page_html())};
  }
  if (path == "/v1/members") return json_answer(to_json(core.members_view()));
  if (path == "/v1/partitions") return json_answer(to_json(core.partitions_view()));
  if (path == "/v1/steals") return json_answer(to_json(core.steals_view()));
  if (path == "/v1/stats") return json_answer(to_json(stats));
  if (path == "/v1/load") return json_answer(load_view(core));
  if (path == "/v1/dead-letters") return json_answer(dead_letters(core));
  return std::nullopt;
}

}  // namespace mesh
