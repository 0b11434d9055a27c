// Storage in memory, for the simulator: what a synced write returns from is
// kept through a crash; writes made without sync since the last synced one
// are lost by crash(), as a page cache is.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "node/env/storage.h"

namespace mesh {

class MemoryStorage final : public Storage {
 public:
  Status write(const WriteBatch& batch, bool sync) override;
  Status scan(std::string_view prefix,
              const std::function<void(std::string_view, std::string_view)>& visit) override;
  // The process dies: unsynced writes are gone.
  void crash() { unsynced_.clear(); }

 private:
  static void apply(const WriteBatch& batch, std::map<std::string, std::string>& into);

  std::map<std::string, std::string> synced_;
  std::vector<WriteBatch> unsynced_;  // applied over synced_ by reads, in order
};

}  // namespace mesh
