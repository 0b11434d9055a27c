// A one-partition mesh whose partition outgrows any single frame, either by
// record count or by record size: every acknowledged task survives a restart
// of every node, a wiped replica catching up by (chunked) snapshot, and the
// leadership moving to that replica.
//
// MESH_LARGE_TASKS sets the small-task count (CI: 120,000, past the 100,000
// records one frame may hold; the long mode runs 300,000).
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

struct Workload {
  size_t tasks = 0;
  std::string handler;
  size_t payload_bytes = 0;
  size_t submit_batch = 0;  // tasks per submit and ids per read, within one frame
  uint64_t snapshot_every = 0;
};

class LargeMesh {
 public:
  LargeMesh(const Workload& w) : w_(w), temp_("meshlarge-") {
    REQUIRE(!temp_.path().empty());
    config_ = temp_.path() + "/mesh.toml";
    std::ofstream(config_) << "[tasks]\npartitions = 1\nreplicas = 3\nsnapshot_every = " << w.snapshot_every << "\n";
    for (int i = 0; i < 3; ++i) {
      ids_.push_back("big" + std::to_string(i));
      start(i, /*seeds=*/i == 0 ? std::vector<size_t>{} : std::vector<size_t>{0});
    }
  }

  // (Re)starts node i on its endpoint (the first start picks a free port).
  void start(size_t i, const std::vector<size_t>& seeds) {
    std::vector<std::string> args = {"--node-id", ids_[i], "--gossip-profile", "local", "--config", config_};
    if (i < endpoints_.size()) args.insert(args.end(), {"--listen", endpoints_[i]});
    std::string seed_list;
    for (size_t s : seeds) seed_list += (seed_list.empty() ? "" : ",") + endpoints_[s].substr(6);
    if (!seed_list.empty()) args.insert(args.end(), {"--seeds", seed_list});
    auto node = std::make_unique<TestNode>(args, temp_.path() + "/" + ids_[i]);
    node->start();
    if (i < nodes_.size()) {
      nodes_[i] = std::move(node);
    } else {
      endpoints_.push_back(node->process().endpoint());
      nodes_.push_back(std::move(node));
    }
  }

  void kill(size_t i) {
    nodes_[i]->process().signal(SIGKILL);
    REQUIRE(nodes_[i]->process().wait_exit(kDeadlineMs) == 128 + SIGKILL);
  }

  // Removes node i's store: it comes back as a new replica with nothing.
  void wipe(size_t i) {
    std::error_code ignored;
    std::filesystem::remove_all(nodes_[i]->process().data_dir(), ignored);
  }

  MeshClient& client() {
    if (!client_) client_ = std::make_unique<MeshClient>(endpoints_, ClientOptions{60000, "large-test"});
    return *client_;
  }

  // The node's view of partition 0's group, if it hosts a replica of it.
  std::optional<GroupInfo> group_on(size_t i) {
    MeshClient direct({endpoints_[i]}, ClientOptions{5000, "large-test"});
    auto reply = direct.call(PartitionsRequest{});
    if (!reply.ok()) return std::nullopt;
    for (const auto& g : std::get<PartitionsReply>(reply.value()).groups) {
      if (g.partition == 0) return g;
    }
    return std::nullopt;
  }

  // The ring's preferred leader of partition 0, as node 0 sees it.
  std::string preferred_leader() {
    MeshClient direct({endpoints_[0]}, ClientOptions{5000, "large-test"});
    auto reply = direct.call(PartitionsRequest{});
    if (!reply.ok()) return {};
    const auto& table = std::get<PartitionsReply>(reply.value()).table;
    return table.empty() || table[0].replicas.empty() ? std::string() : table[0].replicas[0];
  }

  std::string describe() {
    std::string out;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      auto g = group_on(i);
      out += ids_[i] + ": " +
             (g ? g->role + " term " + std::to_string(g->term) + " leader " + g->leader + " commit " +
                      std::to_string(g->commit_index) + " applied " + std::to_string(g->applied_index) +
                      " voters " + std::to_string(g->voters.size())
                : std::string("no group / no answer")) +
             "\n";
    }
    for (size_t i = 0; i < nodes_.size(); ++i) out += "log of " + ids_[i] + ":\n" + nodes_[i]->log() + "\n";
    return out;
  }

  size_t size() const { return nodes_.size(); }
  const std::string& id(size_t i) const { return ids_[i]; }
  uint64_t counter(size_t i, const std::string& name) {
    MeshClient direct({endpoints_[i]}, ClientOptions{5000, "large-test"});
    auto stats = direct.stats();
    if (!stats.ok()) return 0;
    auto it = stats.value().counters.find(name);
    return it == stats.value().counters.end() ? 0 : it->second;
  }

 private:
  Workload w_;
  TempDir temp_;
  std::string config_;
  std::vector<std::string> ids_;
  std::vector<std::string> endpoints_;
  std::vector<std::unique_ptr<TestNode>> nodes_;
  std::unique_ptr<MeshClient> client_;
};

std::string payload_of(const Workload& w, size_t i) { return std::string(w.payload_bytes, static_cast<char>('a' + i % 26)); }

// Submits every task, under one key, retrying what the mesh asks to retry.
std::vector<std::string> submit_all(LargeMesh& mesh, const Workload& w) {
  std::vector<std::string> ids;
  for (size_t i = 0; i < w.tasks; ++i) ids.push_back("L" + std::to_string(i));
  std::set<std::string> pending(ids.begin(), ids.end());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
  while (!pending.empty()) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, pending.size() << " never acknowledged\n"
                                                                               << mesh.describe());
    std::vector<TaskSpec> batch;
    for (auto it = pending.begin(); it != pending.end() && batch.size() < w.submit_batch; ++it) {
      size_t index = std::stoul(it->substr(1));
      TaskSpec t = task(*it, w.handler, payload_of(w, index));
      t.key = "one-hot-key";
      batch.push_back(std::move(t));
    }
    auto reply = mesh.client().submit(batch);
    if (!reply.ok()) continue;  // the client tries the next node
    for (const auto& o : reply.value().outcomes) {
      if (o.code == ErrorCode::kOk) pending.erase(o.id);
    }
  }
  return ids;
}

// Every id is COMPLETED with the result its handler gives, as the mesh
// answers now; waits for the ones still running.
void check_all(LargeMesh& mesh, const Workload& w, const std::vector<std::string>& ids, const char* when) {
  INFO("after " << std::string(when));
  size_t completed = 0;
  for (size_t i = 0; i < ids.size(); i += w.submit_batch) {
    std::vector<std::string> part(ids.begin() + static_cast<long>(i),
                                  ids.begin() + static_cast<long>(std::min(ids.size(), i + w.submit_batch)));
    Result<WaitReply> reply = Status(ErrorCode::kUnavailable, "not asked");
    REQUIRE_MESSAGE(wait_until([&] {
                      reply = mesh.client().wait(WaitRequest{part, false, 30000});
                      return reply.ok() && !reply.value().timed_out;
                    }),
                    (reply.ok() ? "timed out" : reply.status().message()) << "\n" << mesh.describe());
    REQUIRE_MESSAGE(reply.value().missing.empty(),
                    reply.value().missing.size() << " acknowledged tasks missing, e.g. " << reply.value().missing[0]
                                                 << "\n" << mesh.describe());
    REQUIRE(reply.value().records.size() == part.size());
    for (const auto& r : reply.value().records) {
      completed += r.state == TaskState::kCompleted;
      CHECK(r.result == payload_of(w, std::stoul(r.spec.id.substr(1))));  // noop answers its payload
    }
  }
  CHECK(completed == ids.size());
}

void run(const Workload& w) {
  LargeMesh mesh(w);
  REQUIRE_MESSAGE(wait_until([&] {
                    for (size_t i = 0; i < mesh.size(); ++i) {
                      auto g = mesh.group_on(i);
                      if (!g || g->voters.size() != 3) return false;
                    }
                    return true;
                  }),
                  mesh.describe());
  std::vector<std::string> ids = submit_all(mesh, w);
  check_all(mesh, w, ids, "submitting");

  // Every node dies at once and comes back from its store.
  for (size_t i = 0; i < mesh.size(); ++i) mesh.kill(i);
  for (size_t i = 0; i < mesh.size(); ++i) mesh.start(i, {(i + 1) % mesh.size(), (i + 2) % mesh.size()});
  check_all(mesh, w, ids, "a restart of every node");

  // The ring's preferred leader loses its disk: it rejoins as a new replica,
  // catches up by snapshot, and then leads.
  std::string preferred = mesh.preferred_leader();
  size_t wiped = 0;
  while (wiped < mesh.size() && preferred != mesh.id(wiped)) ++wiped;
  REQUIRE_MESSAGE(wiped < mesh.size(), "preferred leader '" << preferred << "'\n" << mesh.describe());
  mesh.kill(wiped);
  mesh.wipe(wiped);
  mesh.start(wiped, {(wiped + 1) % mesh.size(), (wiped + 2) % mesh.size()});
  REQUIRE_MESSAGE(wait_until([&] {
                    auto g = mesh.group_on(wiped);
                    return g && g->role == "leader" && g->applied_index >= g->commit_index;
                  }, 5 * kDeadlineMs),
                  "the wiped replica never led\n" << mesh.describe());
  CHECK(mesh.counter(wiped, "snapshots_installed") >= 1);
  CHECK(mesh.counter(wiped, "partitions_halted") == 0);
  check_all(mesh, w, ids, "a wiped replica caught up by snapshot and took the lead");
}

size_t small_task_count() {
  const char* env = std::getenv("MESH_LARGE_TASKS");
  return env != nullptr ? std::strtoul(env, nullptr, 10) : 120000;
}

TEST_CASE("one partition past a frame's record limit survives restarts and a wiped replica taking the lead") {
  run(Workload{small_task_count(), "noop", 0, 5000, 20000});
}

TEST_CASE("one partition of 40 one-megabyte tasks survives restarts and a wiped replica taking the lead") {
  run(Workload{40, "noop", 1000000, 4, 20});
}

}  // namespace
}  // namespace mesh::test
