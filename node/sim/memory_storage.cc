#include "node/sim/memory_storage.h"

namespace mesh {

void MemoryStorage::apply(const WriteBatch& batch, std::map<std::string, std::string>& into) {
  for (const auto& op : batch.ops()) {
    switch (op.kind) {
      case WriteBatch::Kind::kPut:
        into[op.key] = op.value;
        break;
      case WriteBatch::Kind::kDelete:
        into.erase(op.key);
        break;
      case WriteBatch::Kind::kDeleteRange:
        into.erase(into.lower_bound(op.key), into.lower_bound(op.value));
        break;
    }
  }
}

Status MemoryStorage::write(const WriteBatch& batch, bool sync) {
  if (!sync) {
    unsynced_.push_back(batch);
    return Status::Ok();
  }
  // A synced write makes everything before it durable too.
  for (const auto& earlier : unsynced_) apply(earlier, synced_);
  unsynced_.clear();
  apply(batch, synced_);
  return Status::Ok();
}

Status MemoryStorage::scan(std::string_view prefix,
                           const std::function<void(std::string_view, std::string_view)>& visit) {
  const std::map<std::string, std::string>* view = &synced_;
  std::map<std::string, std::string> merged;
  if (!unsynced_.empty()) {
    merged = synced_;
    for (const auto& batch : unsynced_) apply(batch, merged);
    view = &merged;
  }
  for (auto it = view->lower_bound(std::string(prefix)); it != view->end() && it->first.starts_with(prefix); ++it) {
    visit(it->first, it->second);
  }
  return Status::Ok();
}

}  // namespace mesh
