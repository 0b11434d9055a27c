// Durable key-value storage used by the driver. Keys sort bytewise.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/result.h"

namespace mesh {

// Writes applied in the order they were added (a range delete followed by a
// put of a key in that range keeps the put).
class WriteBatch {
 public:
  enum class Kind : uint8_t { kPut, kDelete, kDeleteRange };
  struct Op {
    Kind kind;
    std::string key;    // kDeleteRange: the first key deleted
    std::string value;  // kPut: the value; kDeleteRange: the first key kept
  };

  void put(std::string key, std::string value) { ops_.push_back({Kind::kPut, std::move(key), std::move(value)}); }
  void erase(std::string key) { ops_.push_back({Kind::kDelete, std::move(key), {}}); }
  // Deletes every key in [first, end).
  void erase_range(std::string first, std::string end) {
    ops_.push_back({Kind::kDeleteRange, std::move(first), std::move(end)});
  }
  const std::vector<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }

 private:
  std::vector<Op> ops_;
};

class Storage {
 public:
  virtual ~Storage() = default;
  // Applies all of `batch` atomically, in order. With sync=true it returns only after
  // the data is on stable storage (fsync), so a crash after it returns
  // loses nothing. On error nothing of the batch is applied.
  virtual Status write(const WriteBatch& batch, bool sync) = 0;
  // Calls visit(key, value) for every key that starts with `prefix`, in key
  // order. Returns the first read error.
  virtual Status scan(std::string_view prefix,
                      const std::function<void(std::string_view, std::string_view)>& visit) = 0;
};

}  // namespace mesh
