#include "node/io/record_store.h"

#include <cstdio>

#include "protocol/codec.h"

namespace mesh {

std::string record_key(const TaskRecord& record) {
  char partition[8];
  std::snprintf(partition, sizeof partition, "%04x", record.partition);
  return std::string("task/") + partition + "/" + record.spec.id;
}

void add_records(const std::vector<TaskRecord>& records, WriteBatch& batch) {
  for (const auto& r : records) batch.put(record_key(r), encode_record(r));
}

Result<std::vector<TaskRecord>> load_records(Storage& storage) {
  std::vector<TaskRecord> records;
  Status bad;
  Status s = storage.scan("task/", [&](std::string_view key, std::string_view value) {
    auto decoded = decode_record(value);
    if (!decoded.ok()) {
      if (bad.ok()) bad = Status(ErrorCode::kStorageError, "undecodable record at " + std::string(key) + ": " +
                                                               decoded.status().message());
      return;
    }
    records.push_back(std::move(decoded).value());
  });
  if (!s.ok()) return s;
  if (!bad.ok()) return bad;
  return records;
}

}  // namespace mesh
