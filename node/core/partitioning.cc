#include "node/core/partitioning.h"

#include <xxhash.h>

namespace mesh {

uint32_t partition_of(std::string_view key, uint32_t partitions) {
  return static_cast<uint32_t>(XXH64(key.data(), key.size(), /*seed=*/0) % partitions);
}

}  // namespace mesh
