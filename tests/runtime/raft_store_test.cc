// A Raft replica's state survives a restart through RocksDB: what the
// Readies asked to persist (entries, truncations, hard state, snapshots and
// compactions) is exactly what load_raft_disk reads back.
#include <doctest/doctest.h>

#include <filesystem>

#include "node/core/raft.h"
#include "node/io/raft_store.h"
#include "node/io/rocks_store.h"
#include "tests/core/test_random.h"
#include "tools/testkit/local_node.h"

namespace mesh {
namespace {

struct TempStore {
  TempStore() : dir(make_temp_dir("raftstore-")) { reopen(); }
  ~TempStore() {
    store.reset();
    std::filesystem::remove_all(dir);
  }
  void reopen() {
    store.reset();
    auto opened = RocksStore::open(dir);
    REQUIRE_MESSAGE(opened.ok(), opened.status().message());
    store = std::move(opened).value();
  }
  void write(const WriteBatch& batch) { REQUIRE(store->write(batch, /*sync=*/true).ok()); }
  std::string dir;
  std::unique_ptr<RocksStore> store;
};

LogEntry entry(uint64_t index, uint64_t term, std::string data = "op") {
  return LogEntry{index, term, EntryType::kNormal, std::move(data), {}};
}

TEST_CASE("raft store: entries, truncation and hard state read back as written") {
  TempStore t;
  Ready first;
  for (uint64_t i = 1; i <= 10; ++i) first.entries.push_back(entry(i, 1, "v" + std::to_string(i)));
  first.hard_state = HardState{1, "a", 4};
  WriteBatch batch;
  add_raft_ready(3, first, batch);
  t.write(batch);

  Ready repair;  // a new leader overwrote 6.. with its own entries
  repair.truncate_from = 6;
  repair.entries = {entry(6, 2, "w6"), entry(7, 2, "w7")};
  repair.hard_state = HardState{2, "b", 5};
  WriteBatch second;
  add_raft_ready(3, repair, second);
  t.write(second);

  t.reopen();
  auto disk = load_raft_disk(*t.store, 3);
  REQUIRE_MESSAGE(disk.ok(), disk.status().message());
  CHECK(disk.value().hard_state == HardState{2, "b", 5});
  REQUIRE(disk.value().entries.size() == 7);
  CHECK(disk.value().entries[4] == entry(5, 1, "v5"));
  CHECK(disk.value().entries[5] == entry(6, 2, "w6"));
  CHECK(disk.value().entries[6] == entry(7, 2, "w7"));
  // Another group's keys are untouched and separate.
  auto other = load_raft_disk(*t.store, 4);
  REQUIRE(other.ok());
  CHECK(other.value().entries.empty());
  CHECK(other.value().hard_state == HardState{});
}

TEST_CASE("raft store: the peers' addresses read back as last kept, and none on a new disk") {
  TempStore t;
  auto fresh = load_known_peers(*t.store);
  REQUIRE(fresh.ok());
  CHECK(fresh.value().empty());
  WriteBatch first;
  add_known_peers({"tcp://10.0.0.1:7000", "tcp://10.0.0.2:7000"}, first);
  t.write(first);
  WriteBatch second;
  add_known_peers({"tcp://10.0.0.3:7000"}, second);
  t.write(second);
  t.reopen();
  auto kept = load_known_peers(*t.store);
  REQUIRE_MESSAGE(kept.ok(), kept.status().message());
  CHECK(kept.value() == std::vector<std::string>{"tcp://10.0.0.3:7000"});
}

TEST_CASE("raft store: compaction and an installed snapshot replace the entries they cover") {
  TempStore t;
  Ready ready;
  for (uint64_t i = 1; i <= 8; ++i) ready.entries.push_back(entry(i, 1));
  WriteBatch batch;
  add_raft_ready(0, ready, batch);
  add_raft_compaction(0, Snapshot{SnapshotMeta{5, 1, {"a", "b", "c"}}, std::string(3 << 20, 's')}, batch);
  t.write(batch);
  auto disk = load_raft_disk(*t.store, 0);
  REQUIRE(disk.ok());
  CHECK(disk.value().snapshot.meta == SnapshotMeta{5, 1, {"a", "b", "c"}});
  CHECK(disk.value().snapshot.data.size() == (3u << 20));  // raw: no frame limit
  REQUIRE(disk.value().entries.size() == 3);
  CHECK(disk.value().entries.front().index == 6);
  CHECK(disk.value().applied_index == 5);

  Ready install;  // a leader's snapshot replaces the whole log
  install.snapshot = Snapshot{SnapshotMeta{20, 3, {"a", "b"}}, "state"};
  WriteBatch replace;
  add_raft_ready(0, install, replace);
  t.write(replace);
  auto after = load_raft_disk(*t.store, 0);
  REQUIRE(after.ok());
  CHECK(after.value().entries.empty());
  CHECK(after.value().snapshot.meta.index == 20);
  CHECK(after.value().snapshot.data == "state");
}

TEST_CASE("raft store: a group restarted from its disk is where it left off") {
  TempStore t;
  testing::SplitMix64 random(5);
  RaftConfig config;
  config.group = 9;
  uint64_t now = 0;
  auto group = std::make_unique<RaftGroup>(config, "solo", random, RaftDisk::founding({"solo"}), now);
  auto drain = [&](RaftGroup& g) {
    while (g.has_ready()) {
      Ready r = g.take_ready();
      WriteBatch batch;
      add_raft_ready(config.group, r, batch);
      t.write(batch);
    }
  };
  for (int i = 0; i < 50 && group->role() != RaftRole::kLeader; ++i) {
    now += 100;
    group->tick(now);
    drain(*group);
  }
  REQUIRE(group->role() == RaftRole::kLeader);
  for (int i = 0; i < 20; ++i) {
    REQUIRE(group->propose("entry-" + std::to_string(i)).ok());
    drain(*group);
  }
  auto compacted = group->compact(group->applied_index() - 5, "sm-state");
  REQUIRE(compacted.ok());
  WriteBatch batch;
  add_raft_compaction(config.group, Snapshot{compacted.value(), "sm-state"}, batch);
  t.write(batch);
  RaftStatus before = group->status();

  t.reopen();
  auto disk = load_raft_disk(*t.store, config.group);
  REQUIRE_MESSAGE(disk.ok(), disk.status().message());
  RaftGroup restarted(config, "solo", random, std::move(disk).value(), now);
  RaftStatus after = restarted.status();
  CHECK(after.term == before.term);
  CHECK(after.commit_index == before.commit_index);
  CHECK(after.last_index == before.last_index);
  CHECK(after.first_index == before.first_index);
  CHECK(after.voters == before.voters);
}

}  // namespace
}  // namespace mesh
