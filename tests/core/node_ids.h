// Node ids n0..n(k-1), as the ring and partition table tests name nodes.
#pragma once

#include <string>
#include <vector>

namespace mesh::testing {

inline std::vector<std::string> node_ids(size_t n) {
  std::vector<std::string> ids;
  for (size_t i = 0; i < n; ++i) ids.push_back("n" + std::to_string(i));
  return ids;
}

}  // namespace mesh::testing
