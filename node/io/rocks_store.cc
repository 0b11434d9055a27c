#include "node/io/rocks_store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <filesystem>

namespace mesh {

Result<std::unique_ptr<RocksStore>> RocksStore::open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status(ErrorCode::kStorageError, "cannot create data dir " + dir + ": " + ec.message());
  rocksdb::Options options;
  options.create_if_missing = true;
  // Durability comes from synced WAL writes; the WAL must never be skipped.
  options.manual_wal_flush = false;
  // What fails its checksums stops the open with a Corruption error; it is
  // never skipped. A synced WAL can only end in a torn record (a crash in
  // mid-write of an unacknowledged batch): that tail alone is dropped. The
  // default recovery would also stop at a corrupt record in mid-log and
  // silently drop everything after it.
  options.paranoid_checks = true;
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir + "/store", &db);
  if (!s.ok()) return Status(ErrorCode::kStorageError, "cannot open store in " + dir + ": " + s.ToString());
  return std::unique_ptr<RocksStore>(new RocksStore(db));
}

RocksStore::RocksStore(rocksdb::DB* db) : db_(db) {}
RocksStore::~RocksStore() = default;

Status RocksStore::write(const WriteBatch& batch, bool sync) {
  rocksdb::WriteBatch rb;
  for (const auto& op : batch.ops()) {
    switch (op.kind) {
      case WriteBatch::Kind::kPut: rb.Put(op.key, op.value); break;
      case WriteBatch::Kind::kDelete: rb.Delete(op.key); break;
      case WriteBatch::Kind::kDeleteRange: rb.DeleteRange(op.key, op.value); break;
    }
  }
  rocksdb::WriteOptions options;
  options.sync = sync;
  rocksdb::Status s = db_->Write(options, &rb);
  if (!s.ok()) return Status(ErrorCode::kStorageError, "store write failed: " + s.ToString());
  return Status::Ok();
}

Status RocksStore::scan(std::string_view prefix,
                        const std::function<void(std::string_view, std::string_view)>& visit) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
    std::string_view key(it->key().data(), it->key().size());
    if (key.substr(0, prefix.size()) != prefix) break;
    visit(key, std::string_view(it->value().data(), it->value().size()));
  }
  if (!it->status().ok()) return Status(ErrorCode::kStorageError, "store scan failed: " + it->status().ToString());
  return Status::Ok();
}

}  // namespace mesh
