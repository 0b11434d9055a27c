// Durable key-value storage used by the driver. Keys sort bytewise.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/result.h"

namespace mesh {

struct WriteBatch {
  std::vector<std::pair<std::string, std::string>> puts;
  std::vector<std::string> deletes;
  bool empty() const { return puts.empty() && deletes.empty(); }
};

class Storage {
 public:
  virtual ~Storage() = default;
  // Applies all of `batch` atomically. With sync=true it returns only after
  // the data is on stable storage (fsync), so a crash after it returns
  // loses nothing. On error nothing of the batch is applied.
  virtual Status write(const WriteBatch& batch, bool sync) = 0;
  // Calls visit(key, value) for every key that starts with `prefix`, in key
  // order. Returns the first read error.
  virtual Status scan(std::string_view prefix,
                      const std::function<void(std::string_view, std::string_view)>& visit) = 0;
};

}  // namespace mesh
