// Maps a task's partition key to one of the fixed P partitions.
#pragma once

#include <cstdint>
#include <string_view>

namespace mesh {

inline constexpr uint32_t kDefaultPartitions = 128;

// xxh64 (seed 0) of the key modulo P. Stable across builds and hosts.
uint32_t partition_of(std::string_view key, uint32_t partitions);

}  // namespace mesh
