// Building TaskSpecs from meshctl's flags or from JSON lines.
#pragma once

#include <istream>
#include <string>
#include <vector>

#include "protocol/messages.h"
#include "protocol/result.h"

namespace mesh::ctl {

// A fresh random task id ("t-" and 24 hex digits): ids are chosen on the
// client so a resent submit is recognised as the same task.
std::string random_task_id();
// The same with another prefix (a transaction id: "x-").
std::string random_id(const char* prefix);

// Parses one JSON object per line: {"id", "handler", "payload", "priority",
// "max_attempts", "timeout_ms", "backoff_ms", "backoff_max_ms", "key",
// "stealable", "no_backup", "after", "shard"}; only "handler" is required. A payload that
// is a JSON object or array is passed on as its JSON text (what the exec
// handler expects). "after" lists parents as ids, or as {"id", "key"} when a
// parent was submitted under a key; "shard" is [index, count].
// Fields missing from a line take their values from `defaults`.
Result<std::vector<TaskSpec>> parse_json_lines(std::istream& in, const TaskSpec& defaults);

}  // namespace mesh::ctl
