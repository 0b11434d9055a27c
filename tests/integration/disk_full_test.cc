// A full disk is a state, not a crash: one node of three runs on a small
// tmpfs that the test fills. It turns read-only (no abort, no crash loop on a
// restart while still full), the mesh keeps acknowledging and finishing
// tasks submitted through it, and once space returns it is a full replica
// again. Needs root to mount the tmpfs; reports "skipped" elsewhere.
#include <signal.h>

#include <fstream>
#include <set>

#include "tests/integration/small_disk.h"
#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

constexpr uint64_t kReserveBytes = 24ull << 20;

TEST_CASE("a node whose disk fills up turns read-only, the mesh carries on, and it recovers") {
  TempDir temp("meshfull-");
  REQUIRE(!temp.path().empty());
  SmallDisk disk(temp.path() + "/small");
  if (!disk.error().empty()) {
    MESSAGE("skipped: cannot mount a tmpfs here (root only): " << disk.error());
    return;
  }
  std::string config = temp.path() + "/reserve.toml";
  std::ofstream(config) << "[node]\nstorage_reserve_bytes = " << kReserveBytes << "\n[tasks]\npartitions = 16\n";
  std::vector<std::unique_ptr<TestNode>> nodes;
  auto args = [&](const std::string& id) {
    std::vector<std::string> a = {"--node-id", id, "--gossip-profile", "local", "--config", config};
    if (!nodes.empty()) a.insert(a.end(), {"--seeds", nodes[0]->process().endpoint()});
    return a;
  };
  nodes.push_back(std::make_unique<TestNode>(args("f0"), temp.path() + "/f0"));
  nodes.back()->start();
  nodes.push_back(std::make_unique<TestNode>(args("f1"), temp.path() + "/f1"));
  nodes.back()->start();
  nodes.push_back(std::make_unique<TestNode>(args("f2"), temp.path() + "/small/f2"));
  nodes.back()->start();
  std::string full_endpoint = nodes[2]->process().endpoint();
  auto full = nodes[2]->client(5000);
  REQUIRE(wait_until([&] { return alive_members(*full) == 3 && gauge(*full, "partitions_led") > 0; }));

  disk.fill(kReserveBytes / 2);
  REQUIRE_MESSAGE(wait_until([&] { return gauge(*full, "storage_full") == 1 && gauge(*full, "partitions_led") == 0; }),
                  "storage_full " << gauge(*full, "storage_full") << ", leads " << gauge(*full, "partitions_led") << "\n"
                                  << nodes[2]->log());
  // ... and says so: an event in its ring and its log.
  Exit events = run_command(std::string(MESHCTL_PATH) + " --addr " + full_endpoint + " events");
  CHECK_MESSAGE(events.output.find("storage_full") != std::string::npos, events.output);
  CHECK_MESSAGE(nodes[2]->log().find("event=storage_full") != std::string::npos, nodes[2]->log());

  // Restarted while still full, it comes up read-only instead of crashing.
  nodes[2]->process().signal(SIGKILL);
  REQUIRE(nodes[2]->process().wait_exit(kDeadlineMs) == 128 + SIGKILL);
  nodes[2] = std::make_unique<TestNode>(
      std::vector<std::string>{"--node-id", "f2", "--gossip-profile", "local", "--config", config, "--listen",
                               full_endpoint, "--seeds", nodes[0]->process().endpoint()},
      temp.path() + "/small/f2");
  nodes[2]->start();
  full = nodes[2]->client(30000);
  REQUIRE_MESSAGE(wait_until([&] { return gauge(*full, "storage_full") == 1; }), nodes[2]->log());

  // Work submitted through the full node is acknowledged and done elsewhere.
  std::vector<TaskSpec> tasks;
  std::vector<std::string> ids;
  for (int i = 0; i < 200; ++i) {
    ids.push_back("full-" + std::to_string(i));
    tasks.push_back(task(ids.back(), "noop", std::string(2000, 'p')));
  }
  std::set<std::string> pending(ids.begin(), ids.end());
  REQUIRE_MESSAGE(wait_until([&] {
                    std::vector<TaskSpec> left;
                    for (const auto& t : tasks) {
                      if (pending.count(t.id)) left.push_back(t);
                    }
                    auto reply = full->submit(left);
                    if (!reply.ok()) return false;
                    for (const auto& o : reply.value().outcomes) {
                      if (o.code == ErrorCode::kOk) pending.erase(o.id);
                    }
                    return pending.empty();
                  }),
                  pending.size() << " never acknowledged\n" << nodes[2]->log());
  auto done = nodes[0]->client()->wait(WaitRequest{ids, false, 120000});
  REQUIRE(done.ok());
  CHECK_FALSE(done.value().timed_out);
  CHECK(done.value().missing.empty());
  CHECK(nodes[2]->process().running());
  CHECK(gauge(*full, "partitions_led") == 0);

  // Space returns: it is a full replica again, and leads again.
  disk.unfill();
  REQUIRE_MESSAGE(wait_until([&] { return gauge(*full, "storage_full") == 0 && gauge(*full, "partitions_led") > 0; }),
                  nodes[2]->log());
  auto after = full->get(ids);
  REQUIRE(after.ok());
  CHECK(after.value().missing.empty());
  CHECK(after.value().records.size() == ids.size());
}

}  // namespace
}  // namespace mesh::test
