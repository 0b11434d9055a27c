// Storage on RocksDB: one database per node in its data dir; every write
// batch is one atomic RocksDB WriteBatch, synced when asked.
#pragma once

#include <memory>
#include <string>

#include "node/env/storage.h"

namespace rocksdb {
class DB;
}

namespace mesh {

class RocksStore final : public Storage {
 public:
  // Opens (creating if needed) the database under `dir`. Fails with
  // kStorageError and RocksDB's message when the dir is unusable or another
  // process holds it.
  static Result<std::unique_ptr<RocksStore>> open(const std::string& dir);
  ~RocksStore() override;

  Status write(const WriteBatch& batch, bool sync) override;
  Status scan(std::string_view prefix,
              const std::function<void(std::string_view, std::string_view)>& visit) override;

 private:
  explicit RocksStore(rocksdb::DB* db);
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace mesh
