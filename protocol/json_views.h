// Replies as JSON, the same for `meshctl --json` and meshd's HTTP API
// (/v1/...): field names as in protocol/messages.h, enums by name, digests
// as 16 hex digits.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "protocol/messages.h"

namespace mesh {

std::string hex_digest(uint64_t digest);
nlohmann::json to_json(const GroupInfo& group);
nlohmann::json to_json(const TaskRecord& record);
nlohmann::json to_json(const StatsReply& stats);
nlohmann::json to_json(const MembersReply& members);
nlohmann::json to_json(const PartitionsReply& partitions);
nlohmann::json to_json(const StealsReply& steals);
nlohmann::json to_json(const TxnsReply& txns);
nlohmann::json to_json(const MeshEvent& event);
nlohmann::json to_json(const EventsReply& events);
nlohmann::json to_json(const DrainReply& drain);

}  // namespace mesh
