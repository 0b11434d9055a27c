#include "node/core/hash_ring.h"

#include <xxhash.h>

#include <algorithm>
#include <utility>

namespace mesh {
namespace {

constexpr uint64_t kPpm = 1'000'000;

// floor(arc * 10^6 / 2^64) without 128-bit arithmetic: the high word of the
// 64x20-bit product, assembled from two 32-bit halves that cannot overflow.
uint32_t ppm_of_arc(uint64_t arc) {
  uint64_t high = (arc >> 32) * kPpm;
  uint64_t low = (arc & 0xffffffffu) * kPpm;
  return static_cast<uint32_t>((high + (low >> 32)) >> 32);
}

}  // namespace

HashRing::HashRing(std::vector<std::string> node_ids, uint32_t vnodes_per_node) : nodes_(std::move(node_ids)) {
  std::sort(nodes_.begin(), nodes_.end());
  nodes_.erase(std::unique(nodes_.begin(), nodes_.end()), nodes_.end());
  const uint32_t vnodes = std::max<uint32_t>(vnodes_per_node, 1);

  tokens_.reserve(nodes_.size() * vnodes);
  for (uint32_t node = 0; node < nodes_.size(); ++node) {
    for (uint32_t i = 0; i < vnodes; ++i) tokens_.push_back({token_position(nodes_[node], i), node});
  }
  std::sort(tokens_.begin(), tokens_.end());

  share_ppm_.assign(nodes_.size(), 0);
  if (nodes_.size() == 1) {
    share_ppm_[0] = kPpm;  // the whole ring: 2^64 does not fit the arc sum below
    return;
  }
  std::vector<uint64_t> owned(nodes_.size(), 0);
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const uint64_t previous = tokens_[i == 0 ? tokens_.size() - 1 : i - 1].position;
    owned[tokens_[i].node] += tokens_[i].position - previous;  // mod 2^64: the first arc wraps
  }
  for (size_t node = 0; node < nodes_.size(); ++node) share_ppm_[node] = ppm_of_arc(owned[node]);
}

uint64_t HashRing::token_position(std::string_view node_id, uint32_t index) {
  const std::string name = std::string(node_id) + "#" + std::to_string(index);
  return XXH64(name.data(), name.size(), /*seed=*/0);
}

std::vector<uint32_t> HashRing::walk(uint64_t position, size_t count) const {
  std::vector<uint32_t> found;
  const size_t wanted = std::min(count, nodes_.size());
  if (wanted == 0) return found;
  found.reserve(wanted);
  std::vector<bool> seen(nodes_.size(), false);
  const size_t start = std::lower_bound(tokens_.begin(), tokens_.end(), Token{position, 0}) - tokens_.begin();
  for (size_t step = 0; step < tokens_.size() && found.size() < wanted; ++step) {
    const uint32_t node = tokens_[(start + step) % tokens_.size()].node;
    if (seen[node]) continue;
    seen[node] = true;
    found.push_back(node);
  }
  return found;
}

std::vector<std::string> HashRing::owners(uint64_t position, size_t count) const {
  std::vector<std::string> ids;
  for (uint32_t node : walk(position, count)) ids.push_back(nodes_[node]);
  return ids;
}

uint32_t HashRing::key_share_ppm(std::string_view node_id) const {
  auto it = std::lower_bound(nodes_.begin(), nodes_.end(), node_id);
  if (it == nodes_.end() || *it != node_id) return 0;
  return share_ppm_[it - nodes_.begin()];
}

}  // namespace mesh
