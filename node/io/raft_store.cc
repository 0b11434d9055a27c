#include "node/io/raft_store.h"

#include <cstdio>

#include "protocol/codec.h"

namespace mesh {
namespace {

std::string group_prefix(uint32_t group) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "raft/%04x/", group);
  return buf;
}

std::string log_key(uint32_t group, uint64_t index) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(index));
  return group_prefix(group) + "log/" + buf;
}

// Deletes the log entries with index in [first, end).
void delete_entries(uint32_t group, uint64_t first, uint64_t end, WriteBatch& batch) {
  batch.erase_range(log_key(group, first), log_key(group, end));
}

void put_snapshot(uint32_t group, const Snapshot& snapshot, WriteBatch& batch) {
  batch.put(group_prefix(group) + "snap/meta", encode_snapshot_meta(snapshot.meta));
  batch.put(group_prefix(group) + "snap/data", snapshot.data);
}

}  // namespace

void add_raft_ready(uint32_t group, const Ready& ready, WriteBatch& batch) {
  if (ready.snapshot) {
    put_snapshot(group, *ready.snapshot, batch);
    delete_entries(group, 0, UINT64_MAX, batch);
  }
  if (ready.truncate_from) delete_entries(group, *ready.truncate_from, UINT64_MAX, batch);
  for (const auto& entry : ready.entries) batch.put(log_key(group, entry.index), encode_log_entry(entry));
  if (ready.hard_state) batch.put(group_prefix(group) + "hard", encode_hard_state(*ready.hard_state));
}

void add_raft_compaction(uint32_t group, const Snapshot& snapshot, WriteBatch& batch) {
  put_snapshot(group, snapshot, batch);
  delete_entries(group, 0, snapshot.meta.index + 1, batch);
}

Result<RaftDisk> load_raft_disk(Storage& storage, uint32_t group) {
  RaftDisk disk;
  const std::string prefix = group_prefix(group);
  Status bad;  // the first record that does not decode
  Status scanned = storage.scan(prefix, [&](std::string_view key, std::string_view value) {
    std::string_view rest = key.substr(prefix.size());
    Status s;
    if (rest == "hard") {
      auto hard = decode_hard_state(value);
      if (hard.ok()) disk.hard_state = std::move(hard).value();
      s = hard.status();
    } else if (rest == "snap/meta") {
      auto meta = decode_snapshot_meta(value);
      if (meta.ok()) disk.snapshot.meta = std::move(meta).value();
      s = meta.status();
    } else if (rest == "snap/data") {
      disk.snapshot.data = std::string(value);
    } else if (rest.substr(0, 4) == "log/") {
      auto entry = decode_log_entry(value);
      if (entry.ok()) disk.entries.push_back(std::move(entry).value());
      s = entry.status();
    }
    if (bad.ok() && !s.ok()) bad = s;
  });
  if (!scanned.ok()) return scanned;
  if (!bad.ok()) return Status(ErrorCode::kStorageError, "raft group " + std::to_string(group) + ": " + bad.message());
  // Keys sort by index, so entries are in order; they must follow the snapshot without gaps.
  uint64_t expected = disk.snapshot.meta.index + 1;
  for (const auto& entry : disk.entries) {
    if (entry.index != expected++) {
      return Status(ErrorCode::kStorageError, "raft group " + std::to_string(group) + ": log has a gap at entry " +
                                                  std::to_string(entry.index));
    }
  }
  disk.applied_index = disk.snapshot.meta.index;
  return disk;
}

Result<std::map<uint32_t, RaftDisk>> load_raft_disks(Storage& storage, uint32_t partitions) {
  std::map<uint32_t, RaftDisk> groups;
  for (uint32_t group = 0; group < partitions; ++group) {
    auto disk = load_raft_disk(storage, group);
    if (!disk.ok()) return disk.status();
    const RaftDisk& d = disk.value();
    bool blank = d.hard_state.term == 0 && d.entries.empty() && d.snapshot.meta.index == 0 && d.snapshot.data.empty() &&
                 d.snapshot.meta.voters.empty();
    if (!blank) groups.emplace(group, std::move(disk).value());
  }
  return groups;
}

namespace {

// The value under `key`, or empty when there is none.
Result<std::string> read_meta(Storage& storage, const std::string& key) {
  std::string found;
  Status scanned = storage.scan(key, [&](std::string_view k, std::string_view value) {
    if (k == key) found = std::string(value);
  });
  if (!scanned.ok()) return scanned;
  return found;
}

Status write_meta(Storage& storage, const std::string& key, const std::string& value) {
  WriteBatch batch;
  batch.put(key, value);
  return storage.write(batch, /*sync=*/true);
}

}  // namespace

Result<std::string> load_or_create_disk_id(Storage& storage, uint64_t fresh) {
  const std::string key = "meta/disk_id";
  auto found = read_meta(storage, key);
  if (!found.ok() || !found.value().empty()) return found;
  char buf[20];
  std::snprintf(buf, sizeof buf, "%08llx", static_cast<unsigned long long>(fresh & 0xffffffffu));
  if (Status s = write_meta(storage, key, buf); !s.ok()) return s;
  return std::string(buf);
}

void add_known_peers(const std::vector<std::string>& addresses, WriteBatch& batch) {
  std::string lines;
  for (const auto& address : addresses) lines += address + "\n";
  batch.put("meta/peers", lines);
}

Result<std::vector<std::string>> load_known_peers(Storage& storage) {
  auto stored = read_meta(storage, "meta/peers");
  if (!stored.ok()) return stored.status();
  std::vector<std::string> addresses;
  std::string_view rest = stored.value();
  while (!rest.empty()) {
    size_t end = rest.find('\n');
    if (end == std::string_view::npos) end = rest.size();
    if (end > 0) addresses.emplace_back(rest.substr(0, end));
    rest.remove_prefix(std::min(end + 1, rest.size()));
  }
  return addresses;
}

Result<std::string> load_mesh_id(Storage& storage) { return read_meta(storage, "meta/mesh_id"); }

Status store_mesh_id(Storage& storage, const std::string& mesh_id) {
  return write_meta(storage, "meta/mesh_id", mesh_id);
}

Result<std::string> bind_node_id(Storage& storage, const std::string& wanted, const std::string& fallback) {
  const std::string key = "meta/node_id";
  auto found = read_meta(storage, key);
  if (!found.ok()) return found;
  const std::string& stored = found.value();
  if (!stored.empty()) {
    if (wanted.empty() || wanted == stored) return stored;
    return Status(ErrorCode::kInvalidArgument, "the data dir belongs to node '" + stored + "', not '" + wanted +
                                                   "': start with --node-id " + stored + " or an empty data dir");
  }
  std::string id = wanted.empty() ? fallback : wanted;
  if (Status s = write_meta(storage, key, id); !s.ok()) return s;
  return id;
}

}  // namespace mesh
