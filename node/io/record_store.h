// Task records in a Storage: key "task/<partition, 4 hex digits>/<id>", so
// each partition is one contiguous key range (one keyspace per partition)
// that replication can later snapshot and move as a unit.
#pragma once

#include <vector>

#include "node/env/storage.h"
#include "protocol/messages.h"

namespace mesh {

std::string record_key(const TaskRecord& record);
void add_records(const std::vector<TaskRecord>& records, WriteBatch& batch);
// Reads every record back. A record that does not decode is an error: the
// node refuses to start rather than silently drop a task.
Result<std::vector<TaskRecord>> load_records(Storage& storage);

}  // namespace mesh
