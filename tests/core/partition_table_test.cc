#include "node/core/partition_table.h"

#include <doctest/doctest.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "node/core/hash_ring.h"
#include "node_ids.h"

namespace mesh {
namespace {

using testing::node_ids;

RingConfig bounded(double load_factor = 1.25) {
  RingConfig config;
  config.bounded_load = true;
  config.load_factor = load_factor;
  return config;
}

// ceil(a / b) in integers, so the tests' caps do not share the code's floats.
uint32_t ceil_div(uint64_t a, uint64_t b) { return static_cast<uint32_t>((a + b - 1) / b); }

std::vector<std::string> without(std::vector<std::string> set, const std::string& node) {
  set.erase(std::remove(set.begin(), set.end(), node), set.end());
  return set;
}

bool holds(const std::vector<std::string>& set, const std::string& node) {
  return std::find(set.begin(), set.end(), node) != set.end();
}

void check_sets_are_distinct(const PartitionTable& table, size_t expected_size) {
  CHECK(table.replica_count() == expected_size);
  for (uint32_t p = 0; p < table.partitions(); ++p) {
    const auto& set = table.replicas(p);
    CHECK(set.size() == expected_size);
    CHECK(std::set<std::string>(set.begin(), set.end()).size() == set.size());
    for (const auto& node : set) CHECK(std::binary_search(table.nodes().begin(), table.nodes().end(), node));
  }
}

TEST_CASE("table: the same view gives the same table and digest, whatever the input order") {
  const RingConfig config;
  PartitionTable table = PartitionTable::compute(config, node_ids(6));
  PartitionTable again = PartitionTable::compute(config, node_ids(6));
  PartitionTable shuffled = PartitionTable::compute(config, {"n4", "n0", "n5", "n2", "n0", "n3", "n1", "n4"});
  CHECK(again.digest() == table.digest());
  CHECK(shuffled.digest() == table.digest());
  CHECK(shuffled.nodes() == table.nodes());
  CHECK(shuffled.summary() == table.summary());
  for (uint32_t p = 0; p < table.partitions(); ++p) CHECK(shuffled.replicas(p) == table.replicas(p));

  CHECK(PartitionTable::compute(config, node_ids(7)).digest() != table.digest());
  RingConfig fewer_replicas = config;
  fewer_replicas.replicas = 2;
  CHECK(PartitionTable::compute(fewer_replicas, node_ids(6)).digest() != table.digest());
}

TEST_CASE("table: replica sets are the first min(R, N) distinct nodes clockwise from the partition") {
  const RingConfig config;
  CHECK(PartitionTable::partition_position(17) == XXH64("partition:17", 12, 0));
  HashRing ring(node_ids(8), config.vnodes_per_node);
  PartitionTable table = PartitionTable::compute(config, node_ids(8));
  REQUIRE(table.partitions() == 128);
  for (uint32_t p = 0; p < table.partitions(); ++p) {
    CHECK(table.replicas(p) == ring.owners(PartitionTable::partition_position(p), 3));
    CHECK(*table.primary(p) == table.replicas(p).front());
  }
}

TEST_CASE("table: every set has R distinct nodes, or N when N < R") {
  for (size_t n = 1; n <= 12; ++n) {
    CAPTURE(n);
    check_sets_are_distinct(PartitionTable::compute(RingConfig{}, node_ids(n)), std::min<size_t>(n, 3));
  }
  RingConfig five;
  five.replicas = 5;
  five.partitions = 16;
  check_sets_are_distinct(PartitionTable::compute(five, node_ids(20)), 5);
}

TEST_CASE("table: an empty view gives partitions without replicas") {
  PartitionTable table = PartitionTable::compute(RingConfig{}, {});
  CHECK(table.partitions() == 128);
  CHECK(table.replica_count() == 0);
  CHECK(table.nodes().empty());
  CHECK(table.summary().empty());
  for (uint32_t p = 0; p < table.partitions(); ++p) {
    CHECK(table.replicas(p).empty());
    CHECK(table.primary(p) == nullptr);
  }
  CHECK(PartitionTable::compute(bounded(), {}).digest() == table.digest());
}

TEST_CASE("table: the summary counts leaders and replicas and carries key shares") {
  PartitionTable table = PartitionTable::compute(RingConfig{}, node_ids(10));
  REQUIRE(table.summary().size() == 10);
  std::map<std::string, NodeSummary> counted;
  for (uint32_t p = 0; p < table.partitions(); ++p) {
    ++counted[*table.primary(p)].partitions_led;
    for (const auto& node : table.replicas(p)) ++counted[node].replicas_held;
  }
  HashRing ring(node_ids(10), 64);
  uint32_t led = 0, held = 0, share = 0;
  for (const auto& [id, s] : table.summary()) {
    CHECK(s.partitions_led == counted[id].partitions_led);
    CHECK(s.replicas_held == counted[id].replicas_held);
    CHECK(s.key_share_ppm == ring.key_share_ppm(id));
    led += s.partitions_led;
    held += s.replicas_held;
    share += s.key_share_ppm;
  }
  CHECK(led == 128);
  CHECK(held == 128 * 3);
  CHECK(share <= 1'000'000);
  CHECK(share >= 1'000'000 - 10);
}

TEST_CASE("table: with 64 vnodes each of 10 nodes leads 0.4x to 2x its fair share of 128 partitions") {
  PartitionTable table = PartitionTable::compute(RingConfig{}, node_ids(10));
  uint32_t lowest = 128, highest = 0;
  for (const auto& [id, s] : table.summary()) {
    lowest = std::min(lowest, s.partitions_led);
    highest = std::max(highest, s.partitions_led);
  }
  MESSAGE("partitions led by 10 nodes: min " << lowest << ", max " << highest << " (fair 12.8)");
  CHECK(lowest >= 6);    // 0.4 x 12.8 = 5.12
  CHECK(highest <= 25);  // 2 x 12.8 = 25.6
}

TEST_CASE("table: a join moves about P/(N+1) primaries, all to the newcomer") {
  const RingConfig config;
  for (size_t n : {4u, 9u, 19u, 49u, 99u}) {
    CAPTURE(n);
    const std::string newcomer = "n" + std::to_string(n);
    PartitionTable before = PartitionTable::compute(config, node_ids(n));
    PartitionTable after = PartitionTable::compute(config, node_ids(n + 1));
    const uint32_t moved = PartitionTable::moved_primaries(before, after);
    uint32_t newcomer_replicas = 0;
    for (uint32_t p = 0; p < after.partitions(); ++p) {
      if (*after.primary(p) != *before.primary(p)) CHECK(*after.primary(p) == newcomer);
      // The newcomer slots in; the old order is kept and the last one drops.
      std::vector<std::string> kept = without(after.replicas(p), newcomer);
      std::vector<std::string> expected = before.replicas(p);
      if (kept.size() < expected.size()) expected.pop_back();
      CHECK(kept == expected);
      if (holds(after.replicas(p), newcomer)) ++newcomer_replicas;
    }
    const uint32_t fair = 128 / static_cast<uint32_t>(n + 1);
    MESSAGE("join to N=" << n << ": " << moved << " primaries moved (P/(N+1) = " << fair << "), "
                         << PartitionTable::moved_replicas(before, after) << " replica copies");
    CHECK(moved == after.summary().at(newcomer).partitions_led);
    CHECK(PartitionTable::moved_replicas(before, after) == newcomer_replicas);
    CHECK(moved <= 2 * fair + 2);
  }
}

TEST_CASE("table: a leave moves only the partitions the leaver held") {
  const RingConfig config;
  for (size_t n : {4u, 9u, 19u, 49u, 99u}) {
    CAPTURE(n);
    const std::vector<std::string> ids = node_ids(n + 1);
    PartitionTable before = PartitionTable::compute(config, ids);
    const std::string leaver = *before.primary(0);  // leads at least one partition
    PartitionTable after = PartitionTable::compute(config, without(ids, leaver));
    const NodeSummary held = before.summary().at(leaver);
    for (uint32_t p = 0; p < before.partitions(); ++p) {
      const auto& was = before.replicas(p);
      if (!holds(was, leaver)) {
        CHECK(after.replicas(p) == was);
        continue;
      }
      // The survivors keep their order; one node joins at the end.
      std::vector<std::string> survivors = without(was, leaver);
      CHECK(std::vector<std::string>(after.replicas(p).begin(), after.replicas(p).end() - 1) == survivors);
      if (was.front() == leaver) CHECK(*after.primary(p) == was[1]);
    }
    const uint32_t moved = PartitionTable::moved_primaries(before, after);
    MESSAGE("leave from N=" << n + 1 << ": " << moved << " primaries moved (the leaver led " << held.partitions_led
                            << "), " << PartitionTable::moved_replicas(before, after) << " replica copies (it held "
                            << held.replicas_held << ")");
    CHECK(moved == held.partitions_led);
    CHECK(PartitionTable::moved_replicas(before, after) == held.replicas_held);
  }
}

TEST_CASE("table: bounded load caps primaries and replicas and keeps R distinct nodes") {
  for (size_t n : {2u, 3u, 4u, 7u, 10u, 19u, 50u, 100u}) {
    CAPTURE(n);
    const uint32_t primary_cap = ceil_div(5 * 128, 4 * n);  // ceil(1.25 * P / N)
    const uint32_t replicas = static_cast<uint32_t>(std::min<size_t>(n, 3));
    const uint32_t replica_cap = std::min<uint32_t>(128, ceil_div(5 * 128 * replicas, 4 * n));
    PartitionTable plain = PartitionTable::compute(RingConfig{}, node_ids(n));
    PartitionTable table = PartitionTable::compute(bounded(), node_ids(n));
    check_sets_are_distinct(table, replicas);
    uint32_t plain_max = 0, table_max = 0, led = 0;
    for (const auto& [id, s] : table.summary()) {
      CHECK(s.partitions_led <= primary_cap);
      CHECK(s.replicas_held <= replica_cap);
      table_max = std::max(table_max, s.partitions_led);
      led += s.partitions_led;
    }
    CHECK(led == 128);
    for (const auto& [id, s] : plain.summary()) plain_max = std::max(plain_max, s.partitions_led);
    PartitionTable joined = PartitionTable::compute(bounded(), node_ids(n + 1));
    MESSAGE("bounded N=" << n << ": most primaries " << table_max << " (cap " << primary_cap << ", unbounded "
                         << plain_max << "); a join moves " << PartitionTable::moved_primaries(table, joined)
                         << " primaries");
  }
}

TEST_CASE("table: bounded load is deterministic and order-independent") {
  PartitionTable table = PartitionTable::compute(bounded(), node_ids(10));
  CHECK(PartitionTable::compute(bounded(), node_ids(10)).digest() == table.digest());
  CHECK(
      PartitionTable::compute(bounded(), {"n9", "n1", "n0", "n8", "n2", "n7", "n3", "n6", "n4", "n5", "n1"}).digest() ==
      table.digest());
}

TEST_CASE("table: bounded load with a loose cap is plain consistent hashing, a factor below 1 counts as 1") {
  CHECK(PartitionTable::compute(bounded(1e9), node_ids(10)).digest() ==
        PartitionTable::compute(RingConfig{}, node_ids(10)).digest());
  PartitionTable tight = PartitionTable::compute(bounded(1.0), node_ids(10));
  for (const auto& [id, s] : tight.summary()) CHECK(s.partitions_led <= 13);  // ceil(128 / 10)
  CHECK(PartitionTable::compute(bounded(0.5), node_ids(10)).digest() == tight.digest());
}

TEST_CASE("table: bounded load at factor 1 relaxes the replica cap, never the primary cap") {
  RingConfig config = bounded(1.0);
  config.partitions = 4;
  // Primary cap 1, replica cap 3: 12 slots fit 4 nodes only if packed
  // perfectly, which the walk misses at the last partition.
  PartitionTable packed = PartitionTable::compute(config, node_ids(4));
  check_sets_are_distinct(packed, 3);
  uint32_t most_held = 0;
  for (const auto& [id, s] : packed.summary()) {
    CHECK(s.partitions_led == 1);
    most_held = std::max(most_held, s.replicas_held);
  }
  CHECK(most_held == 4);

  // Primary cap 2, replica cap 6: some partitions find every node under the
  // primary cap already full of replicas, and take one of them anyway.
  config.partitions = 8;
  PartitionTable full = PartitionTable::compute(config, node_ids(4));
  check_sets_are_distinct(full, 3);
  for (const auto& [id, s] : full.summary()) CHECK(s.partitions_led == 2);
}

TEST_CASE("table: movement counters") {
  PartitionTable table = PartitionTable::compute(RingConfig{}, node_ids(5));
  PartitionTable empty = PartitionTable::compute(RingConfig{}, {});
  CHECK(PartitionTable::moved_primaries(table, table) == 0);
  CHECK(PartitionTable::moved_replicas(table, table) == 0);
  CHECK(PartitionTable::moved_primaries(empty, table) == 128);
  CHECK(PartitionTable::moved_replicas(empty, table) == 128 * 3);
  CHECK(PartitionTable::moved_primaries(table, empty) == 128);
  CHECK(PartitionTable::moved_replicas(table, empty) == 0);

  // Tables of different sizes: partitions only one side has count as moved.
  RingConfig small;
  small.partitions = 16;
  PartitionTable sixteen = PartitionTable::compute(small, node_ids(5));
  CHECK(PartitionTable::moved_primaries(sixteen, table) == 128 - 16);
  CHECK(PartitionTable::moved_replicas(sixteen, table) == (128 - 16) * 3);
  CHECK(PartitionTable::moved_primaries(table, sixteen) == 128 - 16);
  CHECK(PartitionTable::moved_replicas(table, sixteen) == 0);
}

}  // namespace
}  // namespace mesh
