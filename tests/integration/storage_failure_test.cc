// meshd and a store it cannot trust: an undecodable Raft log entry, or a
// store file whose checksums fail, stops the start-up (it never serves a
// partition with part of its log missing), and a synced write that fails
// makes it exit 1 rather than answer for data the disk does not hold.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "node/io/rocks_store.h"
#include "tests/integration/small_disk.h"
#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

// Overwrites the value of the last Raft log entry in the store at `data_dir`
// with bytes no decoder accepts; returns the key it corrupted.
std::string corrupt_last_log_entry(const std::string& data_dir) {
  auto store = RocksStore::open(data_dir);
  REQUIRE_MESSAGE(store.ok(), store.status().message());
  std::string last_key;
  Status scanned = store.value()->scan("raft/", [&](std::string_view key, std::string_view) {
    if (key.find("/log/") != std::string_view::npos) last_key = std::string(key);
  });
  REQUIRE_MESSAGE(scanned.ok(), scanned.message());
  REQUIRE_MESSAGE(!last_key.empty(), "no Raft log entry in " << data_dir);
  WriteBatch batch;
  batch.put(last_key, std::string("\xc1\xc1 not msgpack", 14));
  Status written = store.value()->write(batch, /*sync=*/true);
  REQUIRE_MESSAGE(written.ok(), written.message());
  return last_key;
}

TEST_CASE("an undecodable Raft log entry stops the start-up with a message") {
  TempDir temp("meshcorrupt-");
  REQUIRE(!temp.path().empty());
  const std::string data_dir = temp / "node";
  {
    TestNode node({"--node-id", "c1"}, data_dir);
    node.start();
    auto client = node.client();
    REQUIRE(client->submit({task("before", "noop", "kept")}).ok());
    REQUIRE(client->wait(WaitRequest{{"before"}, false, 60000}).ok());
    node.process().signal(SIGTERM);
    REQUIRE_MESSAGE(node.process().wait_exit(kDeadlineMs) == 0, node.log());
  }
  const std::string key = corrupt_last_log_entry(data_dir + "/node");
  INFO("corrupted " << key);

  Exit e = run_command(std::string(MESHD_PATH) + " --node-id c1 --listen tcp://127.0.0.1:0 --data-dir " + data_dir +
                       "/node");
  INFO("meshd said: " << e.output);
  CHECK(e.code != 0);
  CHECK(e.code != -1);  // exited by itself, not killed by the timeout
  CHECK(e.output.find("cannot start") != std::string::npos);
  CHECK(e.output.find("raft group") != std::string::npos);
}

// Flips bytes in the middle of the largest write-ahead log file of the store.
std::string corrupt_write_ahead_log(const std::string& store_dir) {
  std::string largest;
  uintmax_t largest_size = 0;
  for (const auto& entry : std::filesystem::directory_iterator(store_dir)) {
    if (entry.path().extension() == ".log" && entry.file_size() > largest_size) {
      largest = entry.path().string();
      largest_size = entry.file_size();
    }
  }
  REQUIRE_MESSAGE(largest_size > 4096, "no write-ahead log of some size in " << store_dir);
  std::fstream file(largest, std::ios::in | std::ios::out | std::ios::binary);
  file.seekp(static_cast<std::streamoff>(largest_size / 2));
  file.write("\xde\xad\xbe\xef\xde\xad\xbe\xef", 8);
  REQUIRE(file.good());
  return largest;
}

TEST_CASE("a store file whose checksum fails stops the start-up with a message naming the store") {
  TempDir temp("meshwal-");
  REQUIRE(!temp.path().empty());
  const std::string data_dir = temp / "node";
  {
    TestNode node({"--node-id", "w1"}, data_dir);
    node.start();
    auto client = node.client();
    std::vector<TaskSpec> tasks;
    for (int i = 0; i < 200; ++i) tasks.push_back(task("w-" + std::to_string(i), "noop", std::string(100, 'x')));
    REQUIRE(client->submit(tasks).ok());
    // Killed: what it wrote is only in the write-ahead log.
    node.process().signal(SIGKILL);
    node.process().wait_exit(kDeadlineMs);
  }
  const std::string file = corrupt_write_ahead_log(data_dir + "/node/store");
  INFO("corrupted " << file);

  Exit e = run_command(std::string(MESHD_PATH) + " --node-id w1 --listen tcp://127.0.0.1:0 --data-dir " + data_dir +
                       "/node");
  INFO("meshd said: " << e.output);
  CHECK(e.code == 3);
  CHECK(e.output.find("cannot open store in") != std::string::npos);
  CHECK(e.output.find("Corruption") != std::string::npos);
}

TEST_CASE("a failed synced write makes meshd exit 1") {
  TempDir temp("meshfull-");
  REQUIRE(!temp.path().empty());
  if (::geteuid() != 0) {
    MESSAGE("skipped: mounting a small tmpfs needs root");
    return;
  }
  // The data dir is the mount point; the node's log stays outside it.
  SmallDisk disk(temp / "node");
  if (!disk.error().empty()) {
    MESSAGE("skipped: cannot mount a tmpfs here: " << disk.error());
    return;
  }
  // No reserve: the write itself must fail (with one, the node turns
  // read-only first; disk_full_test.cc covers that).
  const std::string config = temp / "no-reserve.toml";
  std::ofstream(config) << "[node]\nstorage_reserve_bytes = 0\n";
  TestNode node({"--node-id", "f1", "--config", config}, temp.path());
  node.start();
  auto client = node.client(5000);
  REQUIRE(client->submit({task("fits", "noop", "yes")}).ok());
  disk.fill();

  // Writes now fail (RocksDB may have room left in a preallocated log file,
  // so keep writing): the node must stop instead of acknowledging them.
  const std::string payload(256 << 10, 'p');
  int submitted = 0;
  std::optional<int> code;
  bool exited = wait_until([&] {
    code = node.process().wait_exit(0);
    if (code) return true;
    (void)client->submit({task("big-" + std::to_string(submitted++), "noop", payload)});
    return false;
  });
  const std::string log = node.log();
  INFO("submits sent: " << submitted << "\n" << log);
  REQUIRE(exited);  // by itself: it did not go on serving
  if (log.find("AssertFalseAndGetStatusForPrevError") != std::string::npos) {
    // A librocksdb built with assertions aborts inside the failed write
    // instead of returning its error, so meshd never sees it.
    MESSAGE("this librocksdb aborts on a failed write; meshd's exit 1 cannot be observed here");
    CHECK(code == 128 + SIGABRT);
    return;
  }
  CHECK(code == 1);
  CHECK(log.find("event=store_error subject=\"log write\"") != std::string::npos);
}

}  // namespace
}  // namespace mesh::test
