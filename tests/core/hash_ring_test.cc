#include "node/core/hash_ring.h"
#include "node_ids.h"

#include <doctest/doctest.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

namespace mesh {
namespace {

using testing::node_ids;

// An independent statement of the walk: order every token by its clockwise
// distance from the position (equal positions by node index) and keep each
// node the first time it appears.
std::vector<uint32_t> reference_walk(const HashRing& ring, uint64_t position, size_t count) {
  std::vector<HashRing::Token> by_distance = ring.tokens();
  std::stable_sort(by_distance.begin(), by_distance.end(), [&](const auto& a, const auto& b) {
    return a.position - position < b.position - position;  // unsigned: wraps clockwise
  });
  std::vector<uint32_t> found;
  for (const auto& token : by_distance) {
    if (found.size() == count) break;
    if (std::find(found.begin(), found.end(), token.node) == found.end()) found.push_back(token.node);
  }
  return found;
}

uint64_t splitmix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

TEST_CASE("ring: each node gets vnodes tokens at XXH64(id#i), sorted by position") {
  HashRing ring(node_ids(5), 16);
  REQUIRE(ring.tokens().size() == 5 * 16);
  CHECK(std::is_sorted(ring.tokens().begin(), ring.tokens().end()));
  const std::string name = "n3#7";
  CHECK(HashRing::token_position("n3", 7) == XXH64(name.data(), name.size(), 0));
  std::vector<uint32_t> per_node(5, 0);
  for (const auto& token : ring.tokens()) {
    ++per_node[token.node];
    CHECK(std::count_if(ring.tokens().begin(), ring.tokens().end(),
                        [&](const auto& t) { return t.node == token.node && t.position == token.position; }) == 1);
  }
  CHECK(per_node == std::vector<uint32_t>(5, 16));
  std::set<uint64_t> expected;
  for (uint32_t i = 0; i < 16; ++i) expected.insert(HashRing::token_position("n2", i));
  std::set<uint64_t> got;
  for (const auto& token : ring.tokens()) {
    if (ring.nodes()[token.node] == "n2") got.insert(token.position);
  }
  CHECK(got == expected);
}

TEST_CASE("ring: input order and duplicates do not change the ring") {
  HashRing sorted({"a", "b", "c"}, 8);
  HashRing shuffled({"c", "a", "b", "a", "c"}, 8);
  CHECK(shuffled.nodes() == std::vector<std::string>{"a", "b", "c"});
  CHECK(shuffled.tokens() == sorted.tokens());
}

TEST_CASE("ring: zero vnodes still puts every node on the ring, once") {
  HashRing ring({"a", "b"}, 0);
  CHECK(ring.tokens().size() == 2);
  CHECK(ring.walk(0, 2).size() == 2);
}

TEST_CASE("ring: a position belongs to the first token at or after it, wrapping at the top") {
  HashRing ring(node_ids(4), 8);
  const auto& tokens = ring.tokens();
  for (size_t k = 0; k + 1 < tokens.size(); ++k) {
    CHECK(ring.walk(tokens[k].position, 1) == std::vector<uint32_t>{tokens[k].node});
    if (tokens[k].position + 1 < tokens[k + 1].position) {
      CHECK(ring.walk(tokens[k].position + 1, 1) == std::vector<uint32_t>{tokens[k + 1].node});
    }
  }
  CHECK(ring.walk(0, 1) == std::vector<uint32_t>{tokens.front().node});
  REQUIRE(tokens.back().position < std::numeric_limits<uint64_t>::max());
  CHECK(ring.walk(tokens.back().position + 1, 1) == std::vector<uint32_t>{tokens.front().node});
  CHECK(ring.walk(std::numeric_limits<uint64_t>::max(), 1) == std::vector<uint32_t>{tokens.front().node});
}

TEST_CASE("ring: a walk yields min(count, N) distinct nodes in clockwise order") {
  HashRing ring(node_ids(7), 32);
  uint64_t state = 11;
  for (int i = 0; i < 300; ++i) {
    const uint64_t position = splitmix(state);
    for (size_t count : {1u, 3u, 7u, 20u}) {
      std::vector<uint32_t> walked = ring.walk(position, count);
      CHECK(walked.size() == std::min<size_t>(count, 7));
      CHECK(std::set<uint32_t>(walked.begin(), walked.end()).size() == walked.size());
      CHECK(walked == reference_walk(ring, position, count));
    }
  }
  std::vector<std::string> owners = ring.owners(12345, 3);
  std::vector<uint32_t> walked = ring.walk(12345, 3);
  REQUIRE(owners.size() == 3);
  for (size_t i = 0; i < 3; ++i) CHECK(owners[i] == ring.nodes()[walked[i]]);
}

TEST_CASE("ring: an empty ring owns nothing") {
  HashRing ring({}, 64);
  CHECK(ring.tokens().empty());
  CHECK(ring.walk(42, 3).empty());
  CHECK(ring.owners(42, 3).empty());
  CHECK(ring.key_share_ppm("n0") == 0);
}

TEST_CASE("ring: key shares are the owned arcs and sum to about 1,000,000 ppm") {
  CHECK(HashRing({"solo"}, 64).key_share_ppm("solo") == 1'000'000);

  // One token each: the later token owns (earlier, later], the other the rest.
  HashRing pair({"a", "b"}, 1);
  const auto& t = pair.tokens();
  const long double later_arc = static_cast<long double>(t[1].position - t[0].position);
  const long double expected_ppm = later_arc / 18446744073709551616.0L * 1'000'000.0L;
  const auto later_share = static_cast<long double>(pair.key_share_ppm(pair.nodes()[t[1].node]));
  const auto earlier_share = static_cast<long double>(pair.key_share_ppm(pair.nodes()[t[0].node]));
  CHECK(later_share <= expected_ppm);
  CHECK(later_share > expected_ppm - 1);
  CHECK(earlier_share + later_share >= 999'999);

  for (size_t n : {2u, 10u, 100u}) {
    HashRing ring(node_ids(n), 64);
    uint64_t total = 0;
    for (const auto& id : ring.nodes()) total += ring.key_share_ppm(id);
    CHECK(total <= 1'000'000);
    CHECK(total >= 1'000'000 - n);  // each share rounds down by less than 1 ppm
  }
  CHECK(HashRing(node_ids(3), 64).key_share_ppm("stranger") == 0);
}

TEST_CASE("ring: with 64 vnodes each of 10 nodes owns 0.7x to 1.3x of a fair key share") {
  HashRing ring(node_ids(10), 64);
  uint32_t lowest = 1'000'000;
  uint32_t highest = 0;
  for (const auto& id : ring.nodes()) {
    lowest = std::min(lowest, ring.key_share_ppm(id));
    highest = std::max(highest, ring.key_share_ppm(id));
  }
  MESSAGE("key share of 10 nodes x 64 vnodes: min " << lowest << " ppm, max " << highest << " ppm (fair 100000)");
  CHECK(lowest >= 70'000);
  CHECK(highest <= 130'000);
}

}  // namespace
}  // namespace mesh
