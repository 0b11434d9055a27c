#include "node/runtime/web_api.h"

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

}  // namespace

std::optional<HttpAnswer> web_api_answer(const std::string& path, const NodeState& core, const StatsReply& stats) {
  if (path == "/" || path == "/index.html") {
    return HttpAnswer{200, "text/html; charset=utf-8", std::string(web_page_html())};
  }
  if (path == "/v1/members") return json_answer(to_json(core.members_view()));
  if (path == "/v1/partitions") return json_answer(to_json(core.partitions_view()));
  if (path == "/v1/steals") return json_answer(to_json(core.steals_view()));
  if (path == "/v1/stats") return json_answer(to_json(stats));
  if (path == "/v1/dead-letters") return json_answer(dead_letters(core));
  return std::nullopt;
}

}  // namespace mesh
