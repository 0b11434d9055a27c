#include "tools/client/mapreduce.h"

#include <nlohmann/json.hpp>

namespace mesh {

namespace {

TaskSpec exec_task(const MapReduceJob& job, std::string id, const std::vector<std::string>& argv, const std::string& input) {
  TaskSpec t;
  t.id = std::move(id);
  t.handler = "exec";
  nlohmann::json payload = {{"argv", argv}};
  if (!input.empty()) payload["stdin"] = input;
  t.payload = payload.dump();
  t.max_attempts = job.max_attempts;
  t.timeout_ms = job.task_timeout_ms;
  return t;
}

std::string map_id(const MapReduceJob& job, size_t i) { return job.job + "-map-" + std::to_string(i); }
std::string reduce_id(const MapReduceJob& job, size_t j) { return job.job + "-reduce-" + std::to_string(j); }
std::string final_id(const MapReduceJob& job) { return job.job + "-final"; }

}  // namespace

Result<std::vector<std::string>> parse_argv_json(const std::string& text) {
  try {
    auto j = nlohmann::json::parse(text);
    if (!j.is_array() || j.empty()) throw std::invalid_argument("not a non-empty array");
    std::vector<std::string> argv;
    for (const auto& item : j) argv.push_back(item.get<std::string>());
    return argv;
  } catch (const std::exception& e) {
    return Status(ErrorCode::kInvalidArgument,
                  "a command is a JSON array of strings, like [\"/usr/bin/sort\"]: " + std::string(e.what()));
  }
}

std::vector<TaskSpec> mapreduce_tasks(const MapReduceJob& job) {
  std::vector<TaskSpec> tasks;
  std::vector<ParentRef> maps;
  for (size_t i = 0; i < job.inputs.size(); ++i) {
    tasks.push_back(exec_task(job, map_id(job, i), job.map_argv, job.inputs[i]));
    maps.push_back(ParentRef{tasks.back().id, ""});
  }
  std::vector<ParentRef> reducers;
  for (uint32_t j = 0; j < job.reducers; ++j) {
    TaskSpec reduce = exec_task(job, reduce_id(job, j), job.reduce_argv, "");
    reduce.after = maps;
    reduce.shard_index = j;
    reduce.shard_count = job.reducers;
    reducers.push_back(ParentRef{reduce.id, ""});
    tasks.push_back(std::move(reduce));
  }
  if (!job.final_argv.empty()) {
    TaskSpec last = exec_task(job, final_id(job), job.final_argv, "");
    last.after = reducers;
    tasks.push_back(std::move(last));
  }
  return tasks;
}

std::vector<std::string> mapreduce_answer_ids(const MapReduceJob& job) {
  if (!job.final_argv.empty()) return {final_id(job)};
  std::vector<std::string> ids;
  for (uint32_t j = 0; j < job.reducers; ++j) ids.push_back(reduce_id(job, j));
  return ids;
}

}  // namespace mesh
