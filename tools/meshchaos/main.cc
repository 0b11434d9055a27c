// meshchaos: launches a local mesh of meshd processes, runs a workload
// through the client library while it SIGKILLs a random node every few
// seconds and restarts it on the same data dir and endpoint, then restarts
// everything that is down and checks that nothing acknowledged was lost and
// no task committed two results. Prints a report; exits 1 on any violation.
//
// Today each task lives on the node that acknowledged it (replication is the
// next step), so the check is per owning node: every acknowledged task is
// found there, terminal, with sound attempt history.
#include <CLI/CLI.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <thread>

#include "protocol/limits.h"
#include "tools/client/mesh_client.h"
#include "tools/testkit/local_node.h"
#include "tools/testkit/record_check.h"

namespace mesh::chaos {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string meshd;
  size_t nodes = 3;
  uint32_t tasks = 3000;
  uint32_t batch = 50;
  uint64_t kill_every_ms = 3000;
  uint64_t down_ms = 1000;
  uint64_t duration_ms = 15000;  // submissions are spread over this
  uint64_t seed = 1;
  std::string handler = "sleep";
  std::string payload = "20";
  bool keep = false;
  bool skew = false;
};

struct Node {
  std::string id;
  std::string dir;
  std::string endpoint;  // fixed after the first start, so restarts keep it
  std::unique_ptr<LocalNode> process;
  std::unique_ptr<MeshClient> client;
  Clock::time_point down_since;
  std::vector<std::vector<TaskSpec>> in_doubt;  // batches sent without an answer
};

class Chaos {
 public:
  explicit Chaos(Options o) : o_(std::move(o)), random_(o_.seed), root_(make_temp_dir("meshchaos-")) {}
  ~Chaos() {
    nodes_.clear();
    if (!o_.keep) std::filesystem::remove_all(root_);
  }

  int run() {
    for (size_t i = 0; i < o_.nodes; ++i) {
      if (!start(i)) return 2;
    }
    std::printf("mesh of %zu nodes up in %s\n", o_.nodes, root_.c_str());
    auto started = Clock::now();
    auto next_kill = started + std::chrono::milliseconds(o_.kill_every_ms);
    uint32_t next_task = 0;
    while (next_task < o_.tasks) {
      if (Clock::now() >= next_kill) {
        next_task = chaos_step(next_task);
        next_kill = Clock::now() + std::chrono::milliseconds(o_.kill_every_ms);
      }
      restart_due();
      // Pace the workload over the whole run so kills land while tasks run.
      double elapsed = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
      double due = static_cast<double>(o_.tasks) * std::min(1.0, elapsed / static_cast<double>(o_.duration_ms));
      if (next_task < due) {
        // --skew piles everything on the first node, so the others must steal.
        size_t target = o_.skew ? 0 : random_() % nodes_.size();
        if (nodes_[target].process->running()) next_task = submit_batch(target, next_task);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i].process->running()) {
        if (!start(i)) return 2;
        std::printf("  restarted %s for the final check\n", nodes_[i].id.c_str());
      }
      resend_in_doubt(i);
    }
    return check();
  }

 private:
  bool start(size_t i) {
    if (nodes_.size() <= i) nodes_.resize(i + 1);
    Node& n = nodes_[i];
    n.id = "chaos-" + std::to_string(i + 1);
    n.dir = root_ + "/" + n.id;
    std::vector<std::string> args = {"--node-id", n.id, "--gossip-profile", "local", "--log-level", "warn"};
    if (!n.endpoint.empty()) args.insert(args.end(), {"--listen", n.endpoint});
    if (i > 0) args.insert(args.end(), {"--seeds", nodes_[0].endpoint});
    n.process = std::make_unique<LocalNode>(o_.meshd, n.dir, args);
    Status s = n.process->start();
    if (!s.ok()) {
      std::fprintf(stderr, "meshchaos: %s did not start: %s\n", n.id.c_str(), s.message().c_str());
      return false;
    }
    n.endpoint = n.process->endpoint();
    n.client = std::make_unique<MeshClient>(std::vector<std::string>{n.endpoint}, ClientOptions{2000, "meshchaos"});
    return true;
  }

  // Kills a random node. Half the time a batch is sent to it first and the
  // kill follows at once: whether that batch was stored is in doubt until the
  // node is back and the same ids are resent to it. Returns the next task.
  uint32_t chaos_step(uint32_t next) {
    size_t victim = random_() % nodes_.size();
    Node& n = nodes_[victim];
    if (!n.process->running()) return next;
    if (next < o_.tasks && random_() % 2 == 0) {
      std::vector<TaskSpec> tasks = make_batch(next);
      next += static_cast<uint32_t>(tasks.size());
      (void)n.client->send(SubmitRequest{tasks});
      n.in_doubt.push_back(std::move(tasks));
    }
    n.process->signal(SIGKILL);
    (void)n.process->wait_exit(60000);
    n.down_since = Clock::now();
    ++kills_;
    std::printf("  kill -9 %s (kill %llu)\n", n.id.c_str(), static_cast<unsigned long long>(kills_));
    return next;
  }

  void restart_due() {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      Node& n = nodes_[i];
      if (n.process->running() || Clock::now() - n.down_since < std::chrono::milliseconds(o_.down_ms)) continue;
      if (!start(i)) continue;
      std::printf("  restarted %s\n", n.id.c_str());
      resend_in_doubt(i);
    }
  }

  std::vector<TaskSpec> make_batch(uint32_t next) const {
    std::vector<TaskSpec> tasks;
    for (uint32_t i = next; i < std::min(o_.tasks, next + o_.batch); ++i) {
      TaskSpec t;
      t.id = "chaos-task-" + std::to_string(i);
      t.handler = o_.handler;
      t.payload = o_.payload;
      tasks.push_back(std::move(t));
    }
    return tasks;
  }

  // Submits one batch to `target`; returns the next task number. A batch
  // without an answer stays in doubt and is resent to the same node (ids are
  // idempotency keys, so a copy it already stored answers "duplicate").
  uint32_t submit_batch(size_t target, uint32_t next) {
    std::vector<TaskSpec> tasks = make_batch(next);
    next += static_cast<uint32_t>(tasks.size());
    if (!deliver(target, tasks)) nodes_[target].in_doubt.push_back(std::move(tasks));
    return next;
  }

  bool deliver(size_t target, const std::vector<TaskSpec>& tasks) {
    auto reply = nodes_[target].client->submit(tasks);
    if (!reply.ok()) return false;
    for (const auto& outcome : reply.value().outcomes) {
      if (outcome.code == ErrorCode::kOk) {
        owner_[outcome.id] = target;
        duplicates_ += outcome.duplicate;
      } else {
        ++rejected_;
      }
    }
    return true;
  }

  void resend_in_doubt(size_t i) {
    Node& n = nodes_[i];
    std::vector<std::vector<TaskSpec>> batches = std::move(n.in_doubt);
    n.in_doubt.clear();
    for (auto& tasks : batches) {
      in_doubt_resent_ += tasks.size();
      if (!deliver(i, tasks)) n.in_doubt.push_back(std::move(tasks));
    }
  }

  int check() {
    std::map<size_t, std::vector<std::string>> by_node;
    for (const auto& [id, node] : owner_) by_node[node].push_back(id);
    uint64_t completed = 0, failed = 0, attempts = 0, lost_attempts = 0, missing = 0, violations = 0;
    for (auto& [node, ids] : by_node) {
      for (size_t i = 0; i < ids.size(); i += limits::kMaxBatchTasks) {
        std::vector<std::string> part(ids.begin() + static_cast<long>(i),
                                      ids.begin() + static_cast<long>(std::min(ids.size(), i + limits::kMaxBatchTasks)));
        MeshClient client({nodes_[node].endpoint}, ClientOptions{30000, "meshchaos"});
        auto reply = client.wait(WaitRequest{part, false, 600000});
        if (!reply.ok() || reply.value().timed_out) {
          std::printf("VIOLATION: tasks on %s did not finish: %s\n", nodes_[node].id.c_str(),
                      reply.ok() ? "timed out" : reply.status().message().c_str());
          ++violations;
          continue;
        }
        missing += reply.value().missing.size();
        for (const auto& id : reply.value().missing) std::printf("VIOLATION: acknowledged task %s lost\n", id.c_str());
        for (const auto& r : reply.value().records) {
          completed += r.state == TaskState::kCompleted;
          failed += r.state == TaskState::kFailed;
          attempts += r.attempt;
          for (const auto& a : r.attempts) lost_attempts += a.outcome == AttemptOutcome::kLost;
          std::string problem = check_record(r);
          if (!problem.empty()) {
            std::printf("VIOLATION: %s\n", problem.c_str());
            ++violations;
          }
        }
      }
    }
    std::printf("\nmeshchaos report (seed %llu)\n", static_cast<unsigned long long>(o_.seed));
    std::printf("  nodes %zu, kills %llu\n", o_.nodes, static_cast<unsigned long long>(kills_));
    std::printf("  submitted %u, acknowledged %zu, rejected %llu, in doubt at a kill and resent %llu "
                "(already stored: %llu)\n",
                o_.tasks, owner_.size(), static_cast<unsigned long long>(rejected_),
                static_cast<unsigned long long>(in_doubt_resent_), static_cast<unsigned long long>(duplicates_));
    std::printf("  completed %llu, failed %llu, attempts %llu (lost to kills %llu)\n",
                static_cast<unsigned long long>(completed), static_cast<unsigned long long>(failed),
                static_cast<unsigned long long>(attempts), static_cast<unsigned long long>(lost_attempts));
    uint64_t stolen = 0, stale = 0;
    for (const auto& n : nodes_) {
      MeshClient client({n.endpoint}, ClientOptions{5000, "meshchaos"});
      auto steals = client.call(StealsRequest{});
      if (!steals.ok()) continue;
      const auto& counters = std::get<StealsReply>(steals.value()).counters;
      stolen += counters.at("tasks_stolen");
      stale += counters.at("stale_completions_rejected");
    }
    std::printf("  stolen %llu, stale results rejected %llu (counters since each node's last start)\n",
                static_cast<unsigned long long>(stolen), static_cast<unsigned long long>(stale));
    std::printf("  lost %llu, double commits or bad histories %llu\n", static_cast<unsigned long long>(missing),
                static_cast<unsigned long long>(violations));
    bool ok = missing == 0 && violations == 0 && completed + failed == owner_.size();
    std::printf("%s\n", ok ? "OK: nothing lost, nothing committed twice" : "FAILED");
    return ok ? 0 : 1;
  }

  Options o_;
  std::mt19937_64 random_;
  std::string root_;
  std::vector<Node> nodes_;
  std::map<std::string, size_t> owner_;  // acknowledged task -> node that holds it
  uint64_t rejected_ = 0, in_doubt_resent_ = 0, duplicates_ = 0, kills_ = 0;
};

int run(int argc, char** argv) {
  CLI::App app{"meshchaos: kill and restart meshd nodes under load, then check nothing was lost"};
  Options o;
  o.meshd = (std::filesystem::path(argv[0]).parent_path() / "meshd").string();
  app.add_option("--meshd", o.meshd, "path of meshd (default: next to meshchaos)");
  app.add_option("--nodes", o.nodes, "nodes in the mesh")->check(CLI::Range(1, 50));
  app.add_option("--tasks", o.tasks, "tasks to submit");
  app.add_option("--batch", o.batch, "tasks per submit")->check(CLI::Range(1u, 10000u));
  app.add_option("--kill-every-ms", o.kill_every_ms, "SIGKILL a random node this often");
  app.add_option("--down-ms", o.down_ms, "how long a killed node stays down");
  app.add_option("--duration-ms", o.duration_ms, "spread the submissions over this long");
  app.add_option("--seed", o.seed, "seed of the kill schedule and placement");
  app.add_option("--handler", o.handler, "handler of every task");
  app.add_option("--payload", o.payload, "payload of every task");
  app.add_flag("--keep", o.keep, "keep the data dirs and logs");
  app.add_flag("--skew", o.skew, "submit everything to one node: the others steal while nodes die");
  CLI11_PARSE(app, argc, argv);
  return Chaos(std::move(o)).run();
}

}  // namespace
}  // namespace mesh::chaos

int main(int argc, char** argv) { return mesh::chaos::run(argc, argv); }
