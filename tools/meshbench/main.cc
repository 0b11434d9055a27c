// meshbench: standard workloads against a node, printed as figures.
//
//   throughput  N tasks of one handler, submitted in pipelined batches;
//               prints submit and completion throughput, the latency of a
//               submit acknowledgement (durable: after the synced write),
//               submit-to-result latency from the node's own timestamps,
//               and the node's memory per task record.
//
//   skew        all tasks submitted to one node of a mesh of --nodes, equal
//               or heavy-tailed durations; runs once with work stealing and
//               once without, and prints makespan, the ideal makespan (total
//               work / total slots) and efficiency = ideal / measured.
//
// --spawn starts private meshd processes (temporary data dirs, free ports) so
// the benchmark needs nothing running; skew always spawns its meshes.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

#include "protocol/limits.h"
#include "tools/client/mesh_client.h"
#include "tools/testkit/local_node.h"

namespace mesh::bench {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

template <typename T>
T percentile(std::vector<T> values, double q) {
  if (values.empty()) return T{};
  std::sort(values.begin(), values.end());
  size_t index = static_cast<size_t>(q * static_cast<double>(values.size() - 1));
  return values[index];
}

struct Options {
  std::string workload = "throughput";
  std::string addr;
  size_t nodes = 4;
  uint64_t task_ms = 50;
  bool heavy_tail = false;
  std::string spawn_meshd;
  uint32_t slots = 4;
  uint32_t tasks = 20000;
  uint32_t batch = 100;
  uint32_t window = 8;
  std::string handler = "noop";
  std::string payload;
};

int64_t gauge(MeshClient& client, const std::string& name) {
  auto stats = client.stats();
  if (!stats.ok()) return 0;
  auto it = stats.value().gauges.find(name);
  return it == stats.value().gauges.end() ? 0 : it->second;
}

int throughput(MeshClient& client, const Options& o) {
  int64_t rss_before = gauge(client, "rss_bytes");
  std::vector<std::string> ids;
  ids.reserve(o.tasks);
  char prefix[32];
  std::snprintf(prefix, sizeof prefix, "bench-%lx-", static_cast<long>(std::time(nullptr)));
  for (uint32_t i = 0; i < o.tasks; ++i) ids.push_back(prefix + std::to_string(i));

  std::map<uint64_t, Clock::time_point> in_flight;
  std::vector<double> ack_ms;
  size_t next = 0, rejected = 0;
  auto started = Clock::now();
  while (next < ids.size() || !in_flight.empty()) {
    while (next < ids.size() && in_flight.size() < o.window) {
      SubmitRequest request;
      for (size_t i = next; i < std::min(ids.size(), next + o.batch); ++i) {
        TaskSpec t;
        t.id = ids[i];
        t.handler = o.handler;
        t.payload = o.payload;
        request.tasks.push_back(std::move(t));
      }
      next += request.tasks.size();
      auto id = client.send(request);
      if (!id.ok()) {
        std::fprintf(stderr, "meshbench: %s\n", id.status().message().c_str());
        return 1;
      }
      in_flight[id.value()] = Clock::now();
    }
    auto reply = client.receive(60000);
    if (!reply.ok()) {
      std::fprintf(stderr, "meshbench: %s\n", reply.status().message().c_str());
      return 1;
    }
    auto it = in_flight.find(reply.value().first);
    if (it == in_flight.end()) continue;
    ack_ms.push_back(ms_since(it->second));
    in_flight.erase(it);
    if (auto* submit = std::get_if<SubmitReply>(&reply.value().second)) {
      for (const auto& outcome : submit->outcomes) rejected += outcome.code != ErrorCode::kOk;
    } else {
      ++rejected;
    }
  }
  double submit_ms = ms_since(started);
  int64_t rss_queued = gauge(client, "rss_bytes");

  std::vector<uint64_t> latency_ms;
  size_t completed = 0;
  for (size_t i = 0; i < ids.size(); i += limits::kMaxBatchTasks) {
    std::vector<std::string> part(ids.begin() + static_cast<long>(i),
                                  ids.begin() + static_cast<long>(std::min(ids.size(), i + limits::kMaxBatchTasks)));
    auto reply = client.wait(WaitRequest{part, false, 600000});
    if (!reply.ok()) {
      std::fprintf(stderr, "meshbench: %s\n", reply.status().message().c_str());
      return 1;
    }
    for (const auto& r : reply.value().records) {
      if (r.state != TaskState::kCompleted) continue;
      ++completed;
      latency_ms.push_back(r.finished_ms - r.submitted_ms);
    }
  }
  double total_ms = ms_since(started);

  std::printf("workload            throughput, handler=%s, %u tasks, batch %u, window %u, durable (fsync per group commit)\n",
              o.handler.c_str(), o.tasks, o.batch, o.window);
  std::printf("completed           %zu of %u (rejected %zu)\n", completed, o.tasks, rejected);
  std::printf("submit throughput   %.0f tasks/s (acknowledged after synced write)\n", ids.size() / (submit_ms / 1000));
  std::printf("end-to-end          %.0f tasks/s (submit to last result, %.0f ms)\n", completed / (total_ms / 1000), total_ms);
  std::printf("submit ack latency  p50 %.2f ms  p99 %.2f ms  (per batch of %u)\n", percentile(ack_ms, 0.50),
              percentile(ack_ms, 0.99), o.batch);
  std::printf("submit->result      p50 %llu ms  p99 %llu ms  (node timestamps)\n",
              static_cast<unsigned long long>(percentile(latency_ms, 0.50)),
              static_cast<unsigned long long>(percentile(latency_ms, 0.99)));
  std::printf("node memory         rss %.1f MiB, %.0f bytes per task record\n", rss_queued / 1048576.0,
              static_cast<double>(rss_queued - rss_before) / o.tasks);
  return completed == o.tasks ? 0 : 1;
}

// One mesh of o.nodes local processes, torn down with the object.
class LocalMesh {
 public:
  LocalMesh(const Options& o, bool steal) : dir_(make_temp_dir("meshbench-")) {
    for (size_t i = 0; i < o.nodes; ++i) {
      std::vector<std::string> args = {"--node-id", "bench-" + std::to_string(i + 1), "--gossip-profile", "local",
                                       "--slots", std::to_string(o.slots), "--log-level", "warn"};
      if (i > 0) args.insert(args.end(), {"--seeds", nodes_[0]->endpoint()});
      if (!steal) args.push_back("--no-steal");
      nodes_.push_back(std::make_unique<LocalNode>(o.spawn_meshd, dir_ + "/n" + std::to_string(i + 1), args));
      Status s = nodes_.back()->start();
      if (!s.ok()) throw std::runtime_error(s.message());
    }
  }
  ~LocalMesh() {
    for (auto& n : nodes_) n->signal(SIGTERM);
    for (auto& n : nodes_) (void)n->wait_exit(60000);
    nodes_.clear();
    std::filesystem::remove_all(dir_);
  }
  const std::string& endpoint(size_t i) const { return nodes_[i]->endpoint(); }
  // Waits until node 0 sees every node alive.
  bool converge() {
    MeshClient client({endpoint(0)}, ClientOptions{5000, "meshbench"});
    for (int i = 0; i < 3000; ++i) {
      auto reply = client.call(MembersRequest{});
      if (reply.ok()) {
        size_t alive = 0;
        for (const auto& m : std::get<MembersReply>(reply.value()).members) alive += m.state == MemberState::kAlive;
        if (alive == nodes_.size()) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

 private:
  std::string dir_;
  std::vector<std::unique_ptr<LocalNode>> nodes_;
};

struct SkewResult {
  double makespan_ms = 0;
  size_t elsewhere = 0;
};

// Task durations: equal, or Pareto (alpha 1.5) with the same mean, seeded.
std::vector<uint64_t> durations(const Options& o) {
  std::vector<uint64_t> out(o.tasks, o.task_ms);
  if (!o.heavy_tail) return out;
  std::mt19937_64 random(42);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const double alpha = 1.5, scale = static_cast<double>(o.task_ms) * (alpha - 1) / alpha;
  for (auto& d : out) d = static_cast<uint64_t>(scale / std::pow(1.0 - uniform(random), 1.0 / alpha));
  return out;
}

Result<SkewResult> run_skew_once(const Options& o, bool steal, const std::vector<uint64_t>& work) {
  LocalMesh mesh(o, steal);
  if (!mesh.converge()) return Status(ErrorCode::kUnavailable, "the mesh did not converge");
  MeshClient client({mesh.endpoint(0)}, ClientOptions{60000, "meshbench"});
  std::vector<std::string> ids;
  std::vector<TaskSpec> batch;
  for (size_t i = 0; i < work.size(); ++i) {
    TaskSpec t;
    t.id = "skew-" + std::to_string(i);
    t.handler = "sleep";
    t.payload = std::to_string(work[i]);
    ids.push_back(t.id);
    batch.push_back(std::move(t));
    if (batch.size() == 500 || i + 1 == work.size()) {
      auto reply = client.submit(std::move(batch));
      if (!reply.ok()) return reply.status();
      batch.clear();
    }
  }
  auto done = client.wait(WaitRequest{ids, false, 600000});
  if (!done.ok()) return done.status();
  uint64_t first = UINT64_MAX, last = 0;
  SkewResult result;
  for (const auto& r : done.value().records) {
    first = std::min(first, r.submitted_ms);
    last = std::max(last, r.finished_ms);
    result.elsewhere += !r.attempts.empty() && r.attempts.back().runner != "bench-1";
  }
  result.makespan_ms = static_cast<double>(last - first);
  return result;
}

int skew(const Options& o) {
  if (o.spawn_meshd.empty()) {
    std::fprintf(stderr, "meshbench: the skew workload needs --spawn PATH-TO-MESHD\n");
    return 2;
  }
  std::vector<uint64_t> work = durations(o);
  double total_ms = 0;
  for (uint64_t d : work) total_ms += static_cast<double>(d);
  double ideal = total_ms / static_cast<double>(o.nodes * o.slots);
  std::printf("workload            skew: %u tasks of sleep (%s, mean %llu ms), all submitted to one of %zu nodes x %u slots\n",
              o.tasks, o.heavy_tail ? "heavy-tailed" : "equal", static_cast<unsigned long long>(o.task_ms), o.nodes,
              o.slots);
  std::printf("ideal makespan      %.0f ms (total work %.0f ms / %zu slots)\n", ideal, total_ms, o.nodes * o.slots);
  for (bool steal : {true, false}) {
    auto r = run_skew_once(o, steal, work);
    if (!r.ok()) {
      std::fprintf(stderr, "meshbench: %s\n", r.status().message().c_str());
      return 1;
    }
    std::printf("stealing %-3s        makespan %.0f ms, efficiency %.2f, %zu tasks ran on other nodes\n",
                steal ? "on" : "off", r.value().makespan_ms, ideal / r.value().makespan_ms, r.value().elsewhere);
  }
  return 0;
}

int run(int argc, char** argv) {
  CLI::App app{"meshbench: throughput and latency figures for a meshwork node"};
  Options o;
  app.add_option("--workload", o.workload, "throughput or skew")->check(CLI::IsMember({"throughput", "skew"}));
  app.add_option("-a,--addr", o.addr, "node endpoint (or use --spawn)");
  app.add_option("--nodes", o.nodes, "skew: nodes in the mesh")->check(CLI::Range(2, 32));
  app.add_option("--task-ms", o.task_ms, "skew: mean task duration");
  app.add_flag("--heavy-tail", o.heavy_tail, "skew: Pareto-distributed durations instead of equal ones");
  app.add_option("--spawn", o.spawn_meshd, "path of a meshd to start privately for the run");
  app.add_option("--slots", o.slots, "executor slots of the spawned meshd");
  app.add_option("--tasks", o.tasks, "number of tasks");
  app.add_option("--batch", o.batch, "tasks per submit request")->check(CLI::Range(1u, 10000u));
  app.add_option("--window", o.window, "submit requests in flight")->check(CLI::Range(1u, 1000u));
  app.add_option("--handler", o.handler, "handler of every task");
  app.add_option("--payload", o.payload, "payload of every task");
  CLI11_PARSE(app, argc, argv);
  if (o.workload == "skew") return skew(o);

  std::unique_ptr<LocalNode> node;
  std::string dir;
  if (!o.spawn_meshd.empty()) {
    dir = make_temp_dir("meshbench-");
    node = std::make_unique<LocalNode>(o.spawn_meshd, dir + "/node",
                                       std::vector<std::string>{"--slots", std::to_string(o.slots),
                                                                "--log-level", "warn"});
    if (Status s = node->start(); !s.ok()) {
      std::fprintf(stderr, "meshbench: %s\n", s.message().c_str());
      return 1;
    }
    o.addr = node->endpoint();
  }
  if (o.addr.empty()) o.addr = "tcp://127.0.0.1:7700";
  int code;
  {
    MeshClient client({o.addr}, ClientOptions{60000, "meshbench"});
    code = throughput(client, o);
  }
  if (node) {
    node->signal(SIGTERM);
    (void)node->wait_exit(60000);
    std::filesystem::remove_all(dir);
  }
  return code;
}

}  // namespace
}  // namespace mesh::bench

int main(int argc, char** argv) { return mesh::bench::run(argc, argv); }
