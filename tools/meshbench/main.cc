// meshbench: standard workloads against a node, printed as figures.
//
//   throughput  N tasks of one handler, submitted in pipelined batches;
//               prints submit and completion throughput, the latency of a
//               submit acknowledgement (durable: after the synced write),
//               submit-to-result latency from the node's own timestamps,
//               and the node's memory per task record.
//
// --spawn starts a private meshd (temporary data dir, free port) so the
// benchmark needs nothing running.
#include <CLI/CLI.hpp>

#include <algorithm>
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
  std::string addr;
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

int run(int argc, char** argv) {
  CLI::App app{"meshbench: throughput and latency figures for a meshwork node"};
  Options o;
  app.add_option("-a,--addr", o.addr, "node endpoint (or use --spawn)");
  app.add_option("--spawn", o.spawn_meshd, "path of a meshd to start privately for the run");
  app.add_option("--slots", o.slots, "executor slots of the spawned meshd");
  app.add_option("--tasks", o.tasks, "number of tasks");
  app.add_option("--batch", o.batch, "tasks per submit request")->check(CLI::Range(1u, 10000u));
  app.add_option("--window", o.window, "submit requests in flight")->check(CLI::Range(1u, 1000u));
  app.add_option("--handler", o.handler, "handler of every task");
  app.add_option("--payload", o.payload, "payload of every task");
  CLI11_PARSE(app, argc, argv);

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
