#include "tools/meshctl/task_input.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <random>

namespace mesh::ctl {

std::string random_id(const char* prefix) {
  static std::mt19937_64 engine{std::random_device{}()};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s%016llx%08llx", prefix, static_cast<unsigned long long>(engine()),
                static_cast<unsigned long long>(engine() & 0xffffffffu));
  return buf;
}

std::string random_task_id() { return random_id("t-"); }

Result<std::vector<TaskSpec>> parse_json_lines(std::istream& in, const TaskSpec& defaults) {
  std::vector<TaskSpec> tasks;
  std::string line;
  size_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto where = [&] { return "line " + std::to_string(line_number) + ": "; };
    try {
      auto j = nlohmann::json::parse(line);
      if (!j.is_object()) return Status(ErrorCode::kInvalidArgument, where() + "expected a JSON object");
      TaskSpec t = defaults;
      t.id = j.value("id", std::string());
      if (t.id.empty()) t.id = random_task_id();
      t.handler = j.value("handler", defaults.handler);
      if (t.handler.empty()) return Status(ErrorCode::kInvalidArgument, where() + "\"handler\" is required");
      if (j.contains("payload")) t.payload = j["payload"].is_string() ? j["payload"].get<std::string>() : j["payload"].dump();
      t.priority = j.value("priority", defaults.priority);
      t.max_attempts = j.value("max_attempts", defaults.max_attempts);
      t.timeout_ms = j.value("timeout_ms", defaults.timeout_ms);
      t.backoff_base_ms = j.value("backoff_ms", defaults.backoff_base_ms);
      t.backoff_max_ms = j.value("backoff_max_ms", defaults.backoff_max_ms);
      t.key = j.value("key", defaults.key);
      t.stealable = j.value("stealable", defaults.stealable);
      t.no_backup = j.value("no_backup", defaults.no_backup);
      if (j.contains("after")) {
        if (!j["after"].is_array()) return Status(ErrorCode::kInvalidArgument, where() + "\"after\" must be an array");
        for (const auto& parent : j["after"]) {
          if (parent.is_string()) {
            t.after.push_back(ParentRef{parent.get<std::string>(), ""});
          } else {
            t.after.push_back(ParentRef{parent.at("id").get<std::string>(), parent.value("key", std::string())});
          }
        }
      }
      if (j.contains("shard")) {  // [index, count]
        t.shard_index = j["shard"].at(0).get<uint32_t>();
        t.shard_count = j["shard"].at(1).get<uint32_t>();
      }
      tasks.push_back(std::move(t));
    } catch (const nlohmann::json::exception& e) {
      return Status(ErrorCode::kInvalidArgument, where() + e.what());
    }
  }
  return tasks;
}

}  // namespace mesh::ctl
