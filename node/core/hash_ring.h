// HashRing: the consistent-hash ring that places nodes on the 64-bit hash
// space, from which the partition table picks replica sets.
//
// Each node owns vnodes_per_node tokens at XXH64("<id>#<i>", seed 0),
// i = 0..vnodes_per_node-1. A position is owned by the first token at or
// after it, wrapping past 2^64 - 1 to the lowest token, so a token owns the
// arc (previous token, token]. Walking clockwise from a position and keeping
// each node the first time it appears gives that position's preference list.
// Invariants: nodes() is sorted and unique; tokens() is sorted by (position,
// node index), so equal positions resolve to the smaller node id; the ring is
// a pure function of (node set, vnodes_per_node), whatever the input order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mesh {

class HashRing {
 public:
  struct Token {
    uint64_t position;
    uint32_t node;  // index into nodes()
    auto operator<=>(const Token&) const = default;
  };

  // Sorts and deduplicates node_ids. A vnodes_per_node of 0 is taken as 1 so
  // that every node is on the ring.
  HashRing(std::vector<std::string> node_ids, uint32_t vnodes_per_node);

  // Where token `index` of `node_id` sits on the ring.
  static uint64_t token_position(std::string_view node_id, uint32_t index);

  const std::vector<std::string>& nodes() const { return nodes_; }
  const std::vector<Token>& tokens() const { return tokens_; }

  // Indices into nodes() of the first min(count, nodes().size()) distinct
  // nodes met walking clockwise from `position`, in that order.
  std::vector<uint32_t> walk(uint64_t position, size_t count) const;
  // The same walk, as node ids.
  std::vector<std::string> owners(uint64_t position, size_t count) const;

  // The fraction of the hash space `node_id` owns, in parts per million,
  // rounded down (so the shares of all nodes sum to between 1,000,000 - N
  // and 1,000,000). 0 for a node not on the ring.
  uint32_t key_share_ppm(std::string_view node_id) const;

 private:
  std::vector<std::string> nodes_;
  std::vector<Token> tokens_;
  std::vector<uint32_t> share_ppm_;  // parallel to nodes_
};

}  // namespace mesh
