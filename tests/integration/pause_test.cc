// A leader that stops without dying: SIGSTOP the node leading the most
// partitions for three election timeouts under load, then SIGCONT. The rest
// of the mesh takes its partitions over, and the stopped node, once it runs
// again, must not answer from its stale tables: no read from any node misses
// an acknowledged task, and no task commits two results.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "node/core/partitioning.h"
#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t ms_since(Clock::time_point start) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
}

// Submits small batches without pause through one node, recording what is
// acknowledged.
class Load {
 public:
  Load(const std::string& endpoint, uint32_t partitions) : partitions_(partitions) {
    thread_ = std::thread([this, endpoint] { run(endpoint); });
  }
  ~Load() { stop(); }
  void stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<std::string> acknowledged_in(const std::set<uint32_t>& partitions) const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> ids;
    for (const auto& [id, partition] : acknowledged_) {
      if (partitions.empty() || partitions.count(partition)) ids.push_back(id);
    }
    return ids;
  }
  size_t refused() const { return refused_; }

 private:
  void run(const std::string& endpoint) {
    MeshClient client({endpoint}, ClientOptions{2000, "load"});
    for (int batch = 0; !stopping_; ++batch) {
      std::vector<TaskSpec> tasks;
      for (int i = 0; i < 20; ++i) {
        std::string id = "z-" + std::to_string(batch) + "-" + std::to_string(i);
        tasks.push_back(i % 4 ? task(id, "hash", "100:" + id) : task(id, "sleep", "20"));
      }
      auto reply = client.submit(tasks);
      if (!reply.ok()) {
        ++refused_;
        continue;
      }
      std::lock_guard lock(mutex_);
      for (size_t i = 0; i < tasks.size(); ++i) {
        if (reply.value().outcomes[i].code == ErrorCode::kOk) {
          acknowledged_[tasks[i].id] = partition_of(tasks[i].key.empty() ? tasks[i].id : tasks[i].key, partitions_);
        } else {
          ++refused_;
        }
      }
    }
  }

  uint32_t partitions_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> refused_{0};
  mutable std::mutex mutex_;
  std::map<std::string, uint32_t> acknowledged_;
};

// A get of every id through `client`: the ids it reports missing (none, if
// it does not answer in time: a silent node misleads nobody).
std::vector<std::string> missing_ids(MeshClient& client, const std::vector<std::string>& ids) {
  auto reply = client.get(ids);
  return reply.ok() ? reply.value().missing : std::vector<std::string>{};
}

TEST_CASE("a leader stopped for three election timeouts under load: no stale read, no double commit") {
  TempDir temp("meshpause-");
  REQUIRE(!temp.path().empty());
  auto nodes = start_mesh(3, "z", temp.path(), {"--slots", "2"});
  REQUIRE(wait_until([&] { return alive_members(*nodes[0]->client()) == 3; }));
  REQUIRE(wait_until([&] { return led_as_preferred(nodes); }));

  // The node leading the most partitions, and which ones it leads.
  size_t paused = 0;
  std::set<uint32_t> its_partitions;
  uint32_t partitions = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto reply = nodes[i]->client()->call(PartitionsRequest{});
    REQUIRE(reply.ok());
    const auto& view = std::get<PartitionsReply>(reply.value());
    partitions = view.partitions;
    std::set<uint32_t> led;
    for (const auto& g : view.groups) {
      if (g.role == "leader") led.insert(g.partition);
    }
    if (led.size() > its_partitions.size()) {
      paused = i;
      its_partitions = led;
    }
  }
  REQUIRE_FALSE(its_partitions.empty());
  const size_t entry = (paused + 1) % nodes.size();  // the load and the checks go through a node that runs
  Load load(nodes[entry]->process().endpoint(), partitions);
  REQUIRE(wait_until([&] { return load.acknowledged_in(its_partitions).size() >= 100; }));

  const uint64_t election_timeout_ms = 500;  // the local profile's
  nodes[paused]->process().signal(SIGSTOP);
  // Resumed whatever happens, or its teardown's SIGTERM would wait on it.
  std::unique_ptr<TestNode, void (*)(TestNode*)> resume_guard(nodes[paused].get(),
                                                             [](TestNode* n) { n->process().signal(SIGCONT); });
  auto stopped_at = Clock::now();
  size_t before = load.acknowledged_in(its_partitions).size();
  // Writes to its partitions resume through the others while it is stopped.
  REQUIRE_MESSAGE(wait_until([&] { return load.acknowledged_in(its_partitions).size() > before + 100; }),
                  "writes to the stopped leader's partitions never resumed");
  uint64_t resumed_ms = ms_since(stopped_at);
  REQUIRE(wait_until([&] { return ms_since(stopped_at) >= 3 * election_timeout_ms; }));
  // Written while it was stopped: a stale table would not hold them.
  std::vector<std::string> written_meanwhile = load.acknowledged_in(its_partitions);
  resume_guard.reset();

  // Read at once, and again until it has caught up, through the node that
  // was stopped: it must never call an acknowledged task missing.
  auto via_paused = nodes[paused]->client(2000);
  size_t reads = 0;
  for (auto start = Clock::now(); ms_since(start) < 4 * election_timeout_ms; ++reads) {
    auto missing = missing_ids(*via_paused, written_meanwhile);
    REQUIRE_MESSAGE(missing.empty(), missing.size() << " acknowledged tasks reported missing, e.g. " << missing[0]
                                                    << "\n" << nodes[paused]->log());
  }
  load.stop();
  std::vector<std::string> all = load.acknowledged_in({});
  MESSAGE("writes to the stopped leader's " << its_partitions.size() << " partitions resumed " << resumed_ms
                                           << " ms after SIGSTOP; " << reads << " reads through it after SIGCONT; "
                                           << all.size() << " tasks acknowledged, " << load.refused()
                                           << " submits refused or unanswered");

  for (auto& node : nodes) {
    auto missing = missing_ids(*node->client(), all);
    CHECK_MESSAGE(missing.empty(), missing.size() << " acknowledged tasks missing via " << node->dir());
  }
  auto done = nodes[entry]->client()->wait(WaitRequest{all, false, 600000});
  REQUIRE(done.ok());
  REQUIRE_FALSE(done.value().timed_out);
  REQUIRE(done.value().records.size() == all.size());
  size_t rerun = 0;
  for (const auto& r : done.value().records) {
    INFO("task " << r.spec.id);
    CHECK(r.state == TaskState::kCompleted);
    check_attempt_history(r);  // one committed result, earlier attempts ended
    rerun += r.attempts.size() > 1;
  }
  MESSAGE(rerun << " tasks ran more than once (their runner was stopped past its lease or declared dead)");
  nodes.clear();
}

}  // namespace
}  // namespace mesh::test
