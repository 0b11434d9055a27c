// How meshctl shows replies: JSON (--json) or aligned text for people.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "protocol/messages.h"

namespace mesh::ctl {

nlohmann::json to_json(const TaskRecord& record);
nlohmann::json to_json(const StatsReply& stats);
nlohmann::json to_json(const MembersReply& members);
nlohmann::json to_json(const PartitionsReply& partitions);
nlohmann::json to_json(const StealsReply& steals);

// One line per task: id, state, attempts, and result or error.
std::string task_line(const TaskRecord& record);
std::string stats_text(const StatsReply& stats);
std::string task_detail(const TaskRecord& record);
std::string members_text(const MembersReply& members);
// The node's ring: each node's share of the key space and of the partitions.
std::string ring_text(const PartitionsReply& partitions);
// One line per partition with its replica set, after a header line.
std::string partitions_text(const PartitionsReply& partitions);
// The load view a node steals from: live members, most runnable work first.
std::string load_text(const MembersReply& members);
std::string steals_text(const StealsReply& steals);

}  // namespace mesh::ctl
