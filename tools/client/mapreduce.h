// A map-reduce job as one atomic submit of dependent exec tasks (meshctl
// mapreduce, meshchaos --workload wordcount; docs/ARCHITECTURE.md,
// "Map-reduce"):
//   map i      runs the map command with input file i as its stdin;
//   reduce j   waits for every map and reads, on its stdin, the lines of
//              their outputs whose key (up to the first tab) falls in
//              shard j of R: each key reaches exactly one reducer;
//   final      (optional) waits for every reducer and reads their outputs.
// The job's answer is the final task's result, or the reducers' results in
// shard order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "protocol/messages.h"
#include "protocol/result.h"

namespace mesh {

struct MapReduceJob {
  std::string job;                  // the transaction id; task ids start with it
  std::vector<std::string> map_argv, reduce_argv, final_argv;  // final_argv empty: no final task
  uint32_t reducers = 4;
  std::vector<std::string> inputs;  // the map tasks' stdin, one per map task
  uint32_t max_attempts = 3;
  uint64_t task_timeout_ms = 60000;
};

// Parses a command given as a JSON array of strings.
Result<std::vector<std::string>> parse_argv_json(const std::string& text);
std::vector<TaskSpec> mapreduce_tasks(const MapReduceJob& job);
// The ids whose results make the answer: the final task, or the reducers.
std::vector<std::string> mapreduce_answer_ids(const MapReduceJob& job);

}  // namespace mesh
