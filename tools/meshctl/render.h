// How meshctl shows replies: JSON (--json) or aligned text for people.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "protocol/messages.h"

namespace mesh::ctl {

nlohmann::json to_json(const TaskRecord& record);
nlohmann::json to_json(const StatsReply& stats);

// One line per task: id, state, attempts, and result or error.
std::string task_line(const TaskRecord& record);
std::string stats_text(const StatsReply& stats);
std::string task_detail(const TaskRecord& record);

}  // namespace mesh::ctl
