// meshbench: standard workloads against a node or a mesh, printed as figures.
//
//   throughput  N tasks of one handler, submitted in pipelined batches;
//               prints submit and completion throughput, the latency of a
//               submit acknowledgement (durable: after the synced write, on
//               a majority of the partition's replicas), submit-to-result
//               latency from the nodes' own timestamps, and the nodes'
//               memory per task record. With --spawn --nodes N the batches
//               are spread over the N nodes (one client each).
//
//   skew        all tasks keyed to one partition (so they queue on its
//               leader) in a mesh of --nodes, equal or heavy-tailed
//               durations; runs once with work stealing and
//               once without, and prints makespan, the ideal makespan (total
//               work / total slots) and efficiency = ideal / measured.
//
//   slow-node   the skew workload with the last node --slow-factor times
//               slower (its sleep handler sleeps that much longer), stealing
//               off, once per placement policy (adaptive and round_robin
//               unless --placement names one), then the first policy with
//               stealing on; the ideal makespan counts each node's real speed.
//
//   straggler   an atomic job of --tasks sleep tasks spread over every
//               partition of --nodes, the last node --slow-factor times
//               slower: its tasks straggle. Runs with backup attempts on,
//               then with --no-backups, and prints the job's makespan
//               (client clock, submit to the last result) and how many
//               backups started and won.
//
//   failover    --rounds times: SIGKILL the node that leads the most
//               partitions while another node submits one task every 2 ms
//               with a key of a partition it led; prints the time from the
//               kill to the first acknowledged submit of that key (failover
//               time), to every partition having a leader again, to the
//               ring having moved past the dead node (leaderships follow it)
//               and to the key's last failed submit; then restarts the node
//               on its data dir and waits until the mesh is ready again.
//
//   catch-up    fills one partition with --fill-mib MiB of 1 MB noop tasks,
//               SIGKILLs a follower of it, wipes its data dir and starts it
//               again; prints the time until every group it belongs to has
//               brought the new replica up to date (a streamed snapshot for
//               the large one) and the mesh is ready again, with memory.
//
// --spawn [MESHD] starts private meshd processes (temporary data dirs, free
// ports, gossip profile local) so the benchmark needs nothing running; skew
// and failover always spawn their meshes. MESHD defaults to the meshd next
// to meshbench.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <unistd.h>

#include "node/core/partitioning.h"
#include "protocol/limits.h"
#include "tools/client/mesh_client.h"
#include "tools/testkit/local_node.h"

namespace mesh::bench {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

double ms_since(Clock::time_point t) { return ms_between(t, Clock::now()); }

template <typename T>
T percentile(std::vector<T> values, double q) {
  if (values.empty()) return T{};
  std::sort(values.begin(), values.end());
  size_t index = static_cast<size_t>(q * static_cast<double>(values.size() - 1));
  return values[index];
}

// Polls `done` every `every_ms` until it holds or `timeout_ms` passed.
template <typename Done>
bool poll_until(Done done, uint64_t timeout_ms, uint64_t every_ms = 20) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (done()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(every_ms));
  }
}

int fail(const std::string& message) {
  std::fprintf(stderr, "meshbench: %s\n", message.c_str());
  return 1;
}

struct Options {
  std::string workload = "throughput";
  std::string addr;
  size_t nodes = 0;  // 0: the workload's default
  uint64_t task_ms = 50;
  bool heavy_tail = false;
  bool spawn = false;
  std::string meshd;
  uint32_t slots = 4;
  uint32_t tasks = 20000;
  uint32_t batch = 100;
  uint32_t window = 8;
  uint32_t rounds = 5;
  std::string handler = "noop";
  std::string payload;
  bool curve = false;          // spawned meshes use keys: CURVE on every connection
  std::string client_key_file;  // --addr on a mesh with keys: this client's key pair
  std::string mesh_key_file;    // ... and the mesh's public key
  bool compare_curve = false;  // throughput: plaintext, then CURVE, in one run
  uint32_t soak_minutes = 0;    // soak: how long
  uint32_t rate = 300;          // soak: tasks submitted per second
  uint64_t report_s = 60;       // soak: seconds between two reports
  uint32_t fill_mib = 1024;     // catch-up: size of the partition a wiped replica is brought up to date from
  uint64_t slow_factor = 5;     // slow-node: how many times slower the last node runs
  std::vector<std::string> placements = {"adaptive", "round_robin"};  // slow-node: the policies compared
};

// Timings of the spawned meshes' Raft groups: gossip profile "local" (see
// node/runtime/driver.cc). They bound the failover time.
constexpr uint64_t kElectionTimeoutMs = 500;
constexpr uint64_t kHeartbeatMs = 50;
constexpr uint64_t kGossipProbeMs = 200;
constexpr uint64_t kReadyTimeoutMs = 60000;

// ---------------------------------------------------------------------------------------
// A mesh of local meshd processes.

// One partition's leader as the mesh reports it: the node whose replica says
// "leader" (the one of the highest term if two do).
struct GroupLeader {
  static constexpr size_t kNone = SIZE_MAX;
  size_t node = kNone;
  std::string node_id;
  uint64_t term = 0;
  size_t voters = 0;
  uint64_t max_lag = 0;  // entries the most lagging follower lacks
};

// The PartitionsReply of every node that answered, merged.
struct MeshView {
  uint32_t partitions = 0;
  uint32_t replicas = 0;  // configured R
  size_t answered = 0;
  std::set<uint64_t> digests;            // one when the nodes agree on the ring
  std::vector<GroupLeader> leaders;      // by partition
  std::vector<std::string> preferred;    // by partition: the node the ring wants to lead

  size_t led_by(size_t node) const {
    return std::count_if(leaders.begin(), leaders.end(), [&](const GroupLeader& l) { return l.node == node; });
  }
  bool all_led() const { return partitions > 0 && led_by(GroupLeader::kNone) == 0; }

  void merge(size_t node, const PartitionsReply& reply) {
    ++answered;
    digests.insert(reply.digest);
    partitions = reply.partitions;
    replicas = reply.replicas;
    leaders.resize(partitions);
    preferred.resize(partitions);
    for (const auto& row : reply.table) {
      if (row.partition < partitions && !row.replicas.empty()) preferred[row.partition] = row.replicas.front();
    }
    for (const auto& g : reply.groups) {
      if (g.role != "leader" || g.partition >= partitions) continue;
      GroupLeader& l = leaders[g.partition];
      if (l.node != GroupLeader::kNone && l.term >= g.term) continue;
      l = GroupLeader{node, reply.node_id, g.term, g.voters.size(), 0};
      for (const auto& f : g.lag) l.max_lag = std::max(l.max_lag, f.behind);
    }
  }

  // Empty when the nodes agree on the ring and every partition is led by the
  // node the ring prefers (so no leadership transfer is due) and, unless
  // voters is 0, has that many voters, all caught up (no reconfiguration or
  // catch-up under way). Otherwise what is missing, with a few examples.
  std::string gap(size_t voters = 0) const {
    if (partitions == 0) return "no node answered";
    if (digests.size() > 1) return "the nodes disagree on the ring";
    size_t count = 0;
    std::string examples;
    for (uint32_t p = 0; p < partitions; ++p) {
      std::string why = partition_gap(p, voters);
      if (why.empty()) continue;
      if (++count <= 3) examples += "; partition " + std::to_string(p) + ": " + why;
    }
    return count == 0 ? std::string() : std::to_string(count) + " partitions not settled" + examples;
  }

 private:
  std::string partition_gap(uint32_t p, size_t voters) const {
    const GroupLeader& l = leaders[p];
    std::string lag = l.max_lag > 0 ? " (a follower is " + std::to_string(l.max_lag) + " entries behind)" : "";
    if (l.node == GroupLeader::kNone) return "no leader";
    if (l.node_id != preferred[p]) return "led by " + l.node_id + ", the ring prefers " + preferred[p] + lag;
    if (voters == 0) return {};
    if (l.voters != voters) return std::to_string(l.voters) + " voters, not " + std::to_string(voters);
    return lag;
  }
};

// o.nodes local processes: the first founds the mesh, the others join
// through it. A node killed with kill() comes back with restart() on its data
// dir and endpoint. Everything is torn down with the object.
class LocalMesh {
 public:
  LocalMesh(const Options& o, std::vector<std::string> extra_args)
      : o_(o), extra_args_(std::move(extra_args)), dir_(make_temp_dir("meshbench-")) {
    for (size_t i = 0; i < o.nodes; ++i) {
      nodes_.push_back(Node{"bench-" + std::to_string(i + 1), dir_ + "/n" + std::to_string(i + 1), {}, {}, {}});
    }
  }

  // Keys for every node and an admin client, when the mesh runs with CURVE.
  Status make_keys() {
    if (!o_.curve) return Status::Ok();
    std::string keys = dir_ + "/keys";
    if (Status s = keygen_mesh(keys); !s.ok()) return s;
    for (const auto& n : nodes_) {
      if (Status s = keygen_node(keys, n.id); !s.ok()) return s;
    }
    if (Status s = keygen_client(keys, "meshbench", ClientRole::kAdmin); !s.ok()) return s;
    auto client = read_client_keys(keys + "/meshbench.key", keys + "/mesh.pub");
    if (!client.ok()) return client.status();
    curve_ = client.value();
    extra_args_.insert(extra_args_.end(), {"--keys", keys});
    return Status::Ok();
  }

  ClientOptions client_options(uint64_t timeout_ms, const std::string& name = "meshbench") const {
    return ClientOptions{timeout_ms, name, curve_};
  }
  ~LocalMesh() {
    for (auto& n : nodes_) {
      if (n.process) n.process->signal(SIGTERM);
    }
    for (auto& n : nodes_) {
      if (n.process) (void)n.process->wait_exit(60000);
    }
    nodes_.clear();
    std::filesystem::remove_all(dir_);
  }

  // Starts every node and waits until the mesh is ready.
  Status start() {
    if (Status s = make_keys(); !s.ok()) return s;
    for (size_t i = 0; i < size(); ++i) {
      if (Status s = start(i, i == 0 ? std::vector<std::string>{} : std::vector<std::string>{endpoint(0)}); !s.ok()) {
        return s;
      }
    }
    return wait_ready();
  }

  size_t size() const { return nodes_.size(); }
  const std::string& endpoint(size_t i) const { return nodes_[i].endpoint; }
  const std::string& id(size_t i) const { return nodes_[i].id; }
  const std::string& dir(size_t i) const { return nodes_[i].dir; }
  bool running(size_t i) const { return nodes_[i].process && nodes_[i].process->running(); }

  void kill(size_t i) {
    nodes_[i].process->signal(SIGKILL);
    (void)nodes_[i].process->wait_exit(60000);
  }

  // Removes a killed node's data dir: it comes back as a new replica.
  void wipe(size_t i) { std::filesystem::remove_all(nodes_[i].dir); }

  // Starts node i again on its data dir and endpoint, joining through the
  // nodes that run.
  Status restart(size_t i) {
    std::vector<std::string> seeds;
    for (size_t j = 0; j < size(); ++j) {
      if (j != i && running(j)) seeds.push_back(endpoint(j));
    }
    return start(i, seeds);
  }

  // Waits until every running node sees exactly the running nodes alive, the
  // nodes agree on the ring, every partition is led by its preferred node and
  // every group has min(R, nodes) voters, all caught up. The message says what
  // was missing at the deadline.
  Status wait_ready(uint64_t timeout_ms = kReadyTimeoutMs) {
    std::string gap;
    bool ready = poll_until(
        [&] {
          if (!membership_settled()) {
            gap = "the nodes do not all see the running nodes alive";
            return false;
          }
          MeshView v = view();
          gap = v.answered < running_count() ? "not every node answered" : v.gap(voters(v));
          return gap.empty();
        },
        timeout_ms);
    return ready ? Status::Ok() : Status(ErrorCode::kUnavailable, "mesh not ready: " + gap);
  }

  // Every running node sees exactly the running nodes alive.
  bool membership_settled() {
    for (size_t i = 0; i < size(); ++i) {
      if (!running(i)) continue;
      auto reply = nodes_[i].admin->call(MembersRequest{});
      if (!reply.ok()) return false;
      size_t alive = 0;
      for (const auto& m : std::get<MembersReply>(reply.value()).members) alive += m.state == MemberState::kAlive;
      if (alive != running_count()) return false;
    }
    return true;
  }

  // A counter of node i's core (StatsReply), 0 if it does not answer.
  uint64_t counter(size_t i, const std::string& name) {
    auto reply = nodes_[i].admin->stats();
    if (!reply.ok()) return 0;
    auto it = reply.value().counters.find(name);
    return it == reply.value().counters.end() ? 0 : it->second;
  }

  // A client of node i for status queries.
  MeshClient& admin(size_t i) { return *nodes_[i].admin; }

  // Merged partition view of the running nodes.
  MeshView view() {
    MeshView v;
    for (size_t i = 0; i < size(); ++i) {
      if (!running(i)) continue;
      auto reply = nodes_[i].admin->call(PartitionsRequest{});
      if (reply.ok()) v.merge(i, std::get<PartitionsReply>(reply.value()));
    }
    return v;
  }

  size_t voters(const MeshView& v) const { return std::min<size_t>(v.replicas, size()); }

 private:
  struct Node {
    std::string id;
    std::string dir;
    std::string endpoint;  // fixed after the first start, so restarts keep it
    std::unique_ptr<LocalNode> process;
    std::unique_ptr<MeshClient> admin;  // status queries
  };

  Status start(size_t i, const std::vector<std::string>& seeds) {
    Node& n = nodes_[i];
    std::vector<std::string> args = {"--node-id", n.id, "--gossip-profile", "local",
                                     "--slots", std::to_string(o_.slots), "--log-level", "warn"};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    if ((o_.workload == "slow-node" || o_.workload == "straggler") && i + 1 == size()) {
      args.insert(args.end(), {"--sleep-scale", std::to_string(o_.slow_factor)});
    }
    if (!n.endpoint.empty()) args.insert(args.end(), {"--listen", n.endpoint});
    if (!seeds.empty()) {
      std::string list;
      for (const auto& s : seeds) list += (list.empty() ? "" : ",") + s;
      args.insert(args.end(), {"--seeds", list});
    }
    n.process = std::make_unique<LocalNode>(o_.meshd, n.dir, args);
    if (Status s = n.process->start(); !s.ok()) return Status(s.code(), n.id + ": " + s.message());
    n.endpoint = n.process->endpoint();
    n.admin = std::make_unique<MeshClient>(std::vector<std::string>{n.endpoint}, client_options(1000));
    return Status::Ok();
  }

  size_t running_count() const {
    size_t count = 0;
    for (size_t i = 0; i < size(); ++i) count += running(i);
    return count;
  }

  const Options& o_;
  std::vector<std::string> extra_args_;
  std::string dir_;
  std::optional<CurveClientKeys> curve_;
  std::vector<Node> nodes_;
};

// Nodes and effective replicas of the mesh behind `client`.
std::pair<size_t, size_t> mesh_shape(MeshClient& client) {
  auto reply = client.call(PartitionsRequest{});
  if (!reply.ok()) return {1, 1};
  const auto& p = std::get<PartitionsReply>(reply.value());
  size_t nodes = std::max<size_t>(1, p.shares.size());
  return {nodes, std::min<size_t>(p.replicas, nodes)};
}

// ---------------------------------------------------------------------------------------
// throughput

int64_t gauge(MeshClient& client, const std::string& name) {
  auto stats = client.stats();
  if (!stats.ok()) return 0;
  auto it = stats.value().gauges.find(name);
  return it == stats.value().gauges.end() ? 0 : it->second;
}

int64_t total_gauge(const std::vector<MeshClient*>& clients, const std::string& name) {
  int64_t sum = 0;
  for (auto* c : clients) sum += gauge(*c, name);
  return sum;
}

std::vector<std::string> bench_ids(uint32_t count) {
  char prefix[32];
  std::snprintf(prefix, sizeof prefix, "bench-%lx-", static_cast<long>(std::time(nullptr)));
  std::vector<std::string> ids;
  ids.reserve(count);
  for (uint32_t i = 0; i < count; ++i) ids.push_back(prefix + std::to_string(i));
  return ids;
}

struct SubmitStats {
  Status status = Status::Ok();
  std::vector<double> ack_ms;
  size_t rejected = 0;
};

SubmitRequest batch_request(const std::vector<std::string>& ids, size_t first, const Options& o) {
  SubmitRequest request;
  for (size_t i = first; i < std::min(ids.size(), first + o.batch); ++i) {
    TaskSpec t;
    t.id = ids[i];
    t.handler = o.handler;
    t.payload = o.payload;
    request.tasks.push_back(std::move(t));
  }
  return request;
}

// Submits batches number `lane`, `lane + lanes`, ... of `ids` through one
// client with up to `window` requests in flight.
SubmitStats submit_lane(MeshClient& client, const std::vector<std::string>& ids, size_t lane, size_t lanes,
                        uint32_t window, const Options& o) {
  SubmitStats out;
  std::map<uint64_t, Clock::time_point> in_flight;
  size_t next = lane * o.batch;
  while (next < ids.size() || !in_flight.empty()) {
    while (next < ids.size() && in_flight.size() < window) {
      auto id = client.send(batch_request(ids, next, o));
      if (!id.ok()) return {id.status(), {}, 0};
      in_flight[id.value()] = Clock::now();
      next += lanes * o.batch;
    }
    auto reply = client.receive(60000);
    if (!reply.ok()) return {reply.status(), {}, 0};
    auto it = in_flight.find(reply.value().first);
    if (it == in_flight.end()) continue;
    out.ack_ms.push_back(ms_since(it->second));
    in_flight.erase(it);
    if (auto* submit = std::get_if<SubmitReply>(&reply.value().second)) {
      for (const auto& outcome : submit->outcomes) out.rejected += outcome.code != ErrorCode::kOk;
    } else {
      ++out.rejected;
    }
  }
  return out;
}

// Submits every id, the batches dealt round-robin over the clients (one
// thread each), o.window requests in flight in all.
SubmitStats submit_all(const std::vector<MeshClient*>& clients, const std::vector<std::string>& ids, const Options& o) {
  size_t lanes = clients.size();
  std::vector<SubmitStats> per_lane(lanes);
  std::vector<std::thread> threads;
  for (size_t lane = 0; lane < lanes; ++lane) {
    // The window split as evenly as it goes (8 over 3 lanes: 3, 3, 2), at least 1 each.
    auto window = static_cast<uint32_t>(std::max<size_t>(1, (o.window + lanes - 1 - lane) / lanes));
    threads.emplace_back(
        [&, lane, window] { per_lane[lane] = submit_lane(*clients[lane], ids, lane, lanes, window, o); });
  }
  for (auto& t : threads) t.join();
  SubmitStats all;
  for (auto& s : per_lane) {
    if (!s.status.ok()) return s;
    all.ack_ms.insert(all.ack_ms.end(), s.ack_ms.begin(), s.ack_ms.end());
    all.rejected += s.rejected;
  }
  return all;
}

struct Results {
  Status status = Status::Ok();
  size_t completed = 0;
  std::vector<uint64_t> latency_ms;  // submit to result, node timestamps
};

Results await_results(MeshClient& client, const std::vector<std::string>& ids) {
  Results out;
  for (size_t i = 0; i < ids.size(); i += limits::kMaxBatchTasks) {
    std::vector<std::string> part(ids.begin() + static_cast<long>(i),
                                  ids.begin() + static_cast<long>(std::min(ids.size(), i + limits::kMaxBatchTasks)));
    auto reply = client.wait(WaitRequest{part, false, 600000});
    if (!reply.ok()) return {reply.status(), 0, {}};
    for (const auto& r : reply.value().records) {
      if (r.state != TaskState::kCompleted) continue;
      ++out.completed;
      out.latency_ms.push_back(r.finished_ms - r.submitted_ms);
    }
  }
  return out;
}

// Figures of the nodes behind `clients` together. Memory per task record:
// each node holds about tasks * replicas / nodes of them.
int throughput(const std::vector<MeshClient*>& clients, const Options& o) {
  auto [nodes, replicas] = mesh_shape(*clients[0]);
  int64_t rss_before = total_gauge(clients, "rss_bytes");
  std::vector<std::string> ids = bench_ids(o.tasks);

  auto started = Clock::now();
  SubmitStats submitted = submit_all(clients, ids, o);
  if (!submitted.status.ok()) return fail(submitted.status.message());
  double submit_ms = ms_since(started);
  int64_t rss_queued = total_gauge(clients, "rss_bytes");

  Results results = await_results(*clients[0], ids);
  if (!results.status.ok()) return fail(results.status.message());
  double total_ms = ms_since(started);

  // Only accepted tasks hold a record: a refused submit (over max_unfinished) stores nothing.
  double accepted = static_cast<double>(o.tasks - submitted.rejected);
  double records = accepted * static_cast<double>(replicas) / static_cast<double>(nodes) *
                   static_cast<double>(clients.size());
  std::printf("workload            throughput, handler=%s, %u tasks, batch %u, window %u, nodes=%zu replicas=%zu, durable (fsync per group commit)\n",
              o.handler.c_str(), o.tasks, o.batch, o.window, nodes, replicas);
  if (clients.size() > 1) std::printf("clients             one per node, batches dealt round-robin, window shared\n");
  std::printf("completed           %zu of %u (rejected %zu)\n", results.completed, o.tasks, submitted.rejected);
  std::printf("submit throughput   %.0f tasks/s (acknowledged after synced write%s)\n", ids.size() / (submit_ms / 1000),
              replicas > 1 ? " on a majority of replicas" : "");
  std::printf("end-to-end          %.0f tasks/s (submit to last result, %.0f ms)\n", results.completed / (total_ms / 1000),
              total_ms);
  std::printf("submit ack latency  p50 %.2f ms  p99 %.2f ms  (per batch of %u)\n", percentile(submitted.ack_ms, 0.50),
              percentile(submitted.ack_ms, 0.99), o.batch);
  std::printf("submit->result      p50 %llu ms  p99 %llu ms  (node timestamps)\n",
              static_cast<unsigned long long>(percentile(results.latency_ms, 0.50)),
              static_cast<unsigned long long>(percentile(results.latency_ms, 0.99)));
  std::printf("node memory         rss %.1f MiB%s, %.0f bytes per task record%s\n",
              rss_queued / 1048576.0 / static_cast<double>(clients.size()), clients.size() > 1 ? " per node" : "",
              static_cast<double>(rss_queued - rss_before) / records, replicas > 1 ? " (per replica)" : "");
  return results.completed == o.tasks ? 0 : 1;
}

// One client per node of a spawned mesh.
struct MeshClients {
  explicit MeshClients(const LocalMesh& mesh) {
    for (size_t i = 0; i < mesh.size(); ++i) {
      owned.push_back(
          std::make_unique<MeshClient>(std::vector<std::string>{mesh.endpoint(i)}, mesh.client_options(60000)));
      clients.push_back(owned.back().get());
    }
  }
  std::vector<std::unique_ptr<MeshClient>> owned;
  std::vector<MeshClient*> clients;
};

int throughput_workload(const Options& o);

// The same throughput run on a plaintext mesh, then on a mesh with keys.
int compare_curve(const Options& o) {
  Options plain = o;
  plain.curve = false;
  plain.compare_curve = false;
  Options curve = plain;
  curve.curve = true;
  std::printf("== plaintext ==\n");
  int plain_code = throughput_workload(plain);
  std::printf("== CURVE (keys, allow-lists, encryption) ==\n");
  int curve_code = throughput_workload(curve);
  return plain_code != 0 ? plain_code : curve_code;
}

int throughput_workload(const Options& o) {
  if (o.compare_curve) return compare_curve(o);
  if (!o.spawn) {
    ClientOptions options{60000, "meshbench"};
    if (!o.client_key_file.empty() || !o.mesh_key_file.empty()) {
      auto keys = read_client_keys(o.client_key_file, o.mesh_key_file);
      if (!keys.ok()) return fail(keys.status().message());
      options.curve = keys.value();
    }
    MeshClient client({o.addr.empty() ? "tcp://127.0.0.1:7700" : o.addr}, options);
    return throughput({&client}, o);
  }
  LocalMesh mesh(o, {});
  if (Status s = mesh.start(); !s.ok()) return fail(s.message());
  MeshClients connected(mesh);
  const std::vector<MeshClient*>& clients = connected.clients;
  return throughput(clients, o);
}

// ---------------------------------------------------------------------------------------
// skew

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

Result<SkewResult> run_skew_once(const Options& o, std::vector<std::string> args, const std::vector<uint64_t>& work) {
  LocalMesh mesh(o, std::move(args));
  if (Status s = mesh.start(); !s.ok()) return s;
  MeshClient client({mesh.endpoint(0)}, mesh.client_options(60000));
  std::vector<std::string> ids;
  std::vector<TaskSpec> batch;
  for (size_t i = 0; i < work.size(); ++i) {
    TaskSpec t;
    t.id = "skew-" + std::to_string(i);
    t.key = "skew";  // one partition: everything queues on its leader
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
  // The partition's leader ran the most; the others ran what they stole.
  std::map<std::string, size_t> runs_by_node;
  for (const auto& r : done.value().records) {
    first = std::min(first, r.submitted_ms);
    last = std::max(last, r.finished_ms);
    if (!r.attempts.empty()) ++runs_by_node[r.attempts.back().runner];
  }
  size_t most = 0;
  for (const auto& [node, n] : runs_by_node) most = std::max(most, n);
  result.elsewhere = done.value().records.size() - most;
  result.makespan_ms = static_cast<double>(last - first);
  return result;
}

int skew(const Options& o) {
  if (o.nodes < 2) return fail("the skew workload needs --nodes 2 or more");
  std::vector<uint64_t> work = durations(o);
  double total_ms = 0;
  for (uint64_t d : work) total_ms += static_cast<double>(d);
  double ideal = total_ms / static_cast<double>(o.nodes * o.slots);
  std::printf("workload            skew: %u tasks of sleep (%s, mean %llu ms), all keyed to one partition, %zu nodes x %u slots\n",
              o.tasks, o.heavy_tail ? "heavy-tailed" : "equal", static_cast<unsigned long long>(o.task_ms), o.nodes,
              o.slots);
  std::printf("ideal makespan      %.0f ms (total work %.0f ms / %zu slots)\n", ideal, total_ms, o.nodes * o.slots);
  for (bool steal : {true, false}) {
    auto r = run_skew_once(o, steal ? std::vector<std::string>{} : std::vector<std::string>{"--no-steal"}, work);
    if (!r.ok()) return fail(r.status().message());
    std::printf("stealing %-3s        makespan %.0f ms, efficiency %.2f, %zu tasks ran on other nodes\n",
                steal ? "on" : "off", r.value().makespan_ms, ideal / r.value().makespan_ms, r.value().elsewhere);
  }
  return 0;
}

// The last node runs slow_factor times slower: placement alone (stealing
// off) must keep its long runs off the end of the job.
int slow_node(const Options& o) {
  if (o.nodes < 2) return fail("the slow-node workload needs --nodes 2 or more");
  std::vector<uint64_t> work = durations(o);
  double total_ms = 0;
  for (uint64_t d : work) total_ms += static_cast<double>(d);
  // Slots weighted by speed: the slow node's count 1/slow_factor each.
  double fast_slot_equivalents = static_cast<double>(o.slots) *
                                 (static_cast<double>(o.nodes - 1) + 1.0 / static_cast<double>(o.slow_factor));
  double ideal = total_ms / fast_slot_equivalents;
  std::printf("workload            slow-node: %u tasks of sleep (%s, mean %llu ms) on one partition, %zu nodes x %u "
              "slots, the last %llux slower, stealing off\n",
              o.tasks, o.heavy_tail ? "heavy-tailed" : "equal", static_cast<unsigned long long>(o.task_ms), o.nodes,
              o.slots, static_cast<unsigned long long>(o.slow_factor));
  std::printf("ideal makespan      %.0f ms (total work %.0f ms / %.1f slots at full speed)\n", ideal, total_ms,
              fast_slot_equivalents);
  for (const auto& placement : o.placements) {
    auto r = run_skew_once(o, {"--no-steal", "--placement", placement}, work);
    if (!r.ok()) return fail(r.status().message());
    std::printf("placement %-12s makespan %.0f ms, efficiency %.2f\n", placement.c_str(), r.value().makespan_ms,
                ideal / r.value().makespan_ms);
  }
  // Stealing must not undo it: the slow node, idle, leaves the tail alone.
  auto r = run_skew_once(o, {"--placement", o.placements.front()}, work);
  if (!r.ok()) return fail(r.status().message());
  std::printf("%s, stealing on    makespan %.0f ms, efficiency %.2f\n", o.placements.front().c_str(),
              r.value().makespan_ms, ideal / r.value().makespan_ms);
  return 0;
}

// The straggler workload: one atomic job over every partition, the last
// node slow_factor times slower; backup attempts on, then off.
struct JobResult {
  double makespan_ms = 0;
  size_t backups = 0;      // tasks that got a backup attempt
  size_t backups_won = 0;  // of those, the ones their backup completed
};

Result<JobResult> run_job_once(const Options& o, std::vector<std::string> args) {
  LocalMesh mesh(o, std::move(args));
  if (Status s = mesh.start(); !s.ok()) return s;
  MeshClient client({mesh.endpoint(0)}, mesh.client_options(60000));
  std::vector<TaskSpec> tasks;
  std::vector<std::string> ids;
  for (uint32_t i = 0; i < o.tasks; ++i) {
    TaskSpec t;
    t.id = "job-" + std::to_string(i);  // keyed by id: spread over the partitions
    t.handler = "sleep";
    t.payload = std::to_string(o.task_ms);
    ids.push_back(t.id);
    tasks.push_back(std::move(t));
  }
  auto started = Clock::now();
  auto submitted = client.submit_atomic(std::move(tasks), "bench-job");
  if (!submitted.ok()) return submitted.status();
  auto done = client.wait(WaitRequest{ids, false, 600000});
  if (!done.ok()) return done.status();
  JobResult result;
  // Leaders stamp records on their own clocks: the makespan is the client's.
  result.makespan_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  for (const auto& r : done.value().records) {
    bool backed_up = false, won = false;
    for (const auto& a : r.attempts) {
      backed_up |= a.backup;
      won |= a.backup && a.outcome == AttemptOutcome::kSucceeded;
    }
    result.backups += backed_up;
    result.backups_won += won;
  }
  return result;
}

int straggler(const Options& o) {
  if (o.nodes < 2) return fail("the straggler workload needs --nodes 2 or more");
  std::printf("workload            straggler: one atomic job of %u sleep tasks of %llu ms over every partition, %zu "
              "nodes x %u slots, the last %llux slower, stealing on\n",
              o.tasks, static_cast<unsigned long long>(o.task_ms), o.nodes, o.slots,
              static_cast<unsigned long long>(o.slow_factor));
  for (bool backups : {true, false}) {
    auto r = run_job_once(o, backups ? std::vector<std::string>{} : std::vector<std::string>{"--no-backups"});
    if (!r.ok()) return fail(r.status().message());
    std::printf("backup attempts %-3s makespan %.0f ms, %zu tasks got a backup, %zu completed by it\n",
                backups ? "on" : "off", r.value().makespan_ms, r.value().backups, r.value().backups_won);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------
// failover

constexpr auto kProbeInterval = std::chrono::milliseconds(2);
constexpr uint64_t kProbeTimeoutMs = 200;
constexpr uint64_t kFailoverTimeoutMs = 30000;

// Submits one noop task with `key` every 2 ms through one node, pipelined:
// each submit has its own 200 ms deadline, so a stuck one does not delay the
// next. A submit that times out or is refused counts as a failure.
class WriteProbe {
 public:
  struct Submit {
    Clock::time_point sent, answered;  // answered: acknowledged, refused or given up
    bool ok = false;
    bool timed_out = false;
  };

  WriteProbe(std::string endpoint, ClientOptions options, std::string key, std::string id_prefix)
      : endpoint_(std::move(endpoint)),
        options_(std::move(options)),
        key_(std::move(key)),
        prefix_(std::move(id_prefix)) {
    thread_ = std::thread([this] { loop(); });
  }
  ~WriteProbe() {
    stop_ = true;
    thread_.join();
  }

  // When the first submit sent at or after `since` was acknowledged, waiting
  // up to timeout_ms for it.
  std::optional<Clock::time_point> first_ack_after(Clock::time_point since, uint64_t timeout_ms) {
    std::unique_lock lock(mu_);
    std::optional<Clock::time_point> found;
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] {
      for (const auto& s : history_) {
        if (s.ok && s.sent >= since) found = std::min(found.value_or(s.answered), s.answered);
      }
      return found.has_value();
    });
    return found;
  }

  std::vector<Submit> history() {
    std::lock_guard lock(mu_);
    return history_;
  }

 private:
  void loop() {
    MeshClient client({endpoint_}, options_);
    std::map<uint64_t, Clock::time_point> in_flight;  // request id -> sent
    uint64_t seq = 0;
    auto next_send = Clock::now();
    while (!stop_) {
      if (Clock::now() >= next_send) {
        TaskSpec t;
        t.id = prefix_ + std::to_string(seq++);
        t.handler = "noop";
        t.key = key_;
        if (auto id = client.send(SubmitRequest{{std::move(t)}}); id.ok()) in_flight[id.value()] = Clock::now();
        next_send = std::max(next_send + kProbeInterval, Clock::now());
      }
      expire(in_flight);
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(next_send - Clock::now()).count();
      auto reply = client.receive(static_cast<uint64_t>(std::max<int64_t>(1, wait)));
      if (!reply.ok()) continue;
      auto it = in_flight.find(reply.value().first);
      if (it == in_flight.end()) continue;  // answered after its deadline: already a failure
      record({it->second, Clock::now(), accepted(reply.value().second), false});
      in_flight.erase(it);
    }
  }

  static bool accepted(const Reply& reply) {
    auto* submit = std::get_if<SubmitReply>(&reply);
    return submit && !submit->outcomes.empty() && submit->outcomes[0].code == ErrorCode::kOk;
  }

  void expire(std::map<uint64_t, Clock::time_point>& in_flight) {
    auto now = Clock::now();
    // Request ids grow with the send time: the oldest come first.
    while (!in_flight.empty() && in_flight.begin()->second + std::chrono::milliseconds(kProbeTimeoutMs) < now) {
      record({in_flight.begin()->second, now, false, true});
      in_flight.erase(in_flight.begin());
    }
  }

  void record(const Submit& s) {
    {
      std::lock_guard lock(mu_);
      history_.push_back(s);
    }
    cv_.notify_all();
  }

  std::string endpoint_;
  ClientOptions options_;
  std::string key_, prefix_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Submit> history_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// What the probe saw around a kill, in ms after it.
struct ProbeSummary {
  double writable_ms = -1;  // first acknowledgement of a submit sent once the process was gone
  double stable_ms = -1;    // first acknowledgement of a submit sent after the last failed one
  size_t failed_before = 0;  // failures sent before the first acknowledged submit
  size_t refused_after = 0, timed_out_after = 0;
};

ProbeSummary summarize(const std::vector<WriteProbe::Submit>& history, Clock::time_point killed,
                       Clock::time_point dead) {
  auto first_ack_sent_after = [&](Clock::time_point since) -> const WriteProbe::Submit* {
    const WriteProbe::Submit* first = nullptr;
    for (const auto& s : history) {
      if (s.ok && s.sent >= since && (!first || s.answered < first->answered)) first = &s;
    }
    return first;
  };
  ProbeSummary out;
  const WriteProbe::Submit* writable = first_ack_sent_after(dead);
  if (!writable) return out;
  out.writable_ms = ms_between(killed, writable->answered);
  Clock::time_point last_failure = dead;
  for (const auto& s : history) {
    if (s.ok) continue;
    last_failure = std::max(last_failure, s.sent + std::chrono::nanoseconds(1));
    if (s.sent < writable->sent) {
      ++out.failed_before;
    } else {
      ++(s.timed_out ? out.timed_out_after : out.refused_after);
    }
  }
  if (const auto* stable = first_ack_sent_after(last_failure)) out.stable_ms = ms_between(killed, stable->answered);
  return out;
}

// A key whose partition is `partition`.
std::string key_in_partition(uint32_t partition, uint32_t partitions) {
  for (uint64_t i = 0;; ++i) {
    std::string key = "failover-" + std::to_string(i);
    if (partition_of(key, partitions) == partition) return key;
  }
}

size_t busiest_leader(const MeshView& v, size_t nodes) {
  size_t best = 0;
  for (size_t i = 1; i < nodes; ++i) {
    if (v.led_by(i) > v.led_by(best)) best = i;
  }
  return best;
}

struct Round {
  std::string victim;
  size_t led = 0;
  uint32_t partition = 0;
  std::string entry;
  ProbeSummary probe;
  double all_led_ms = 0;      // kill -> every partition has a leader among the running nodes
  double settled_ms = 0;      // kill -> victim dead to all, every partition led by the ring's choice
  uint64_t transfers = 0;     // leadership transfers the survivors made meanwhile
  double ready_ms = 0;        // restart -> mesh ready again
};

uint64_t transfers(LocalMesh& mesh, const std::vector<size_t>& nodes) {
  uint64_t sum = 0;
  for (size_t i : nodes) sum += mesh.counter(i, "leadership_transfers");
  return sum;
}

// Kills `victim` while `probe` writes; fills the timings of `r`.
Status observe_kill(LocalMesh& mesh, size_t victim, WriteProbe& probe, Round& r) {
  if (!probe.first_ack_after(Clock::now(), kFailoverTimeoutMs)) {
    return Status(ErrorCode::kUnavailable, "the probe's key was not writable before the kill");
  }
  std::vector<size_t> survivors;
  for (size_t i = 0; i < mesh.size(); ++i) {
    if (i != victim) survivors.push_back(i);
  }
  uint64_t transfers_before = transfers(mesh, survivors);
  auto killed = Clock::now();
  mesh.kill(victim);
  auto dead = Clock::now();  // only submits sent from here on count: none can reach the old leader
  if (!poll_until([&] { return mesh.view().all_led(); }, kFailoverTimeoutMs, 10)) {
    return Status(ErrorCode::kUnavailable, "no leader for some partition " + std::to_string(kFailoverTimeoutMs) +
                                               " ms after the kill: " + mesh.view().gap());
  }
  r.all_led_ms = ms_since(killed);
  auto settled = [&] { return mesh.membership_settled() && mesh.view().gap().empty(); };
  if (!poll_until(settled, kFailoverTimeoutMs, 10)) {
    return Status(ErrorCode::kUnavailable, "leadership did not settle: " + mesh.view().gap());
  }
  r.settled_ms = ms_since(killed);
  r.transfers = transfers(mesh, survivors) - transfers_before;
  if (!probe.first_ack_after(Clock::now(), kFailoverTimeoutMs)) {
    return Status(ErrorCode::kUnavailable, "the key took no write once the mesh had settled");
  }
  r.probe = summarize(probe.history(), killed, dead);
  return Status::Ok();
}

Result<Round> failover_round(LocalMesh& mesh, uint32_t number) {
  MeshView before = mesh.view();
  size_t victim = busiest_leader(before, mesh.size());
  size_t entry = (victim + 1) % mesh.size();
  Round r;
  r.victim = mesh.id(victim);
  r.led = before.led_by(victim);
  r.entry = mesh.id(entry);
  std::vector<uint32_t> led;
  for (uint32_t p = 0; p < before.partitions; ++p) {
    if (before.leaders[p].node == victim) led.push_back(p);
  }
  if (led.empty()) return Status(ErrorCode::kUnavailable, "no node leads a partition");
  // A new partition each round: each round measures another group, and the
  // probe's tasks do not pile up in one partition (whose whole snapshot a
  // restarted node receives in one frame).
  r.partition = led[(number - 1) % led.size()];
  {
    WriteProbe probe(mesh.endpoint(entry), mesh.client_options(kProbeTimeoutMs, "meshbench-probe"), key_in_partition(r.partition, before.partitions),
                     "failover-" + std::to_string(getpid()) + "-" + std::to_string(number) + "-");
    if (Status s = observe_kill(mesh, victim, probe, r); !s.ok()) return s;
  }
  auto restarted = Clock::now();
  if (Status s = mesh.restart(victim); !s.ok()) return s;
  if (Status s = mesh.wait_ready(); !s.ok()) return s;
  r.ready_ms = ms_since(restarted);
  return r;
}

void print_round(uint32_t number, const Round& r, uint32_t partitions) {
  char label[32];
  std::snprintf(label, sizeof label, "round %u", number);
  std::printf("%-19s kill -9 %s (leader of %zu of %u partitions); probe key in partition %u, submitted via %s\n", label,
              r.victim.c_str(), r.led, partitions, r.partition, r.entry.c_str());
  std::printf("%-19s key writable again after %.0f ms (%zu submits failed before); every partition led after %.0f ms\n", "",
              r.probe.writable_ms, r.probe.failed_before, r.all_led_ms);
  std::printf("%-19s %s dead to all and every partition led by the ring's choice after %.0f ms (%llu leadership "
              "transfers); meanwhile %zu submits refused, %zu timed out; key writable for good after %.0f ms\n",
              "", r.victim.c_str(), r.settled_ms, static_cast<unsigned long long>(r.transfers), r.probe.refused_after,
              r.probe.timed_out_after, r.probe.stable_ms);
  std::printf("%-19s restarted on its data dir: mesh ready again after %.0f ms\n", "", r.ready_ms);
}

void print_spread(const char* label, const std::vector<double>& ms, const char* what) {
  std::printf("%-19s min %.0f ms  p50 %.0f ms  max %.0f ms  (%s)\n", label, *std::min_element(ms.begin(), ms.end()),
              percentile(ms, 0.50), *std::max_element(ms.begin(), ms.end()), what);
}

int failover(const Options& o) {
  if (o.nodes < 3) return fail("the failover workload needs --nodes 3 or more");
  LocalMesh mesh(o, {});
  auto started = Clock::now();
  if (Status s = mesh.start(); !s.ok()) return fail(s.message());
  MeshView view = mesh.view();
  std::printf("workload            failover, %u rounds, nodes=%zu replicas=%zu, %u partitions (mesh ready in %.0f ms)\n",
              o.rounds, mesh.size(), mesh.voters(view), view.partitions, ms_since(started));
  std::printf("probe               one noop task per submit every %lld ms through another node, key in a partition "
              "the victim leads, client timeout %llu ms\n",
              static_cast<long long>(kProbeInterval.count()), static_cast<unsigned long long>(kProbeTimeoutMs));
  std::vector<double> writable_ms, all_led_ms, stable_ms;
  for (uint32_t i = 1; i <= o.rounds; ++i) {
    auto r = failover_round(mesh, i);
    if (!r.ok()) return fail("round " + std::to_string(i) + ": " + r.status().message());
    print_round(i, r.value(), view.partitions);
    std::fflush(stdout);
    writable_ms.push_back(r.value().probe.writable_ms);
    all_led_ms.push_back(r.value().all_led_ms);
    stable_ms.push_back(r.value().probe.stable_ms);
  }
  print_spread("failover time", writable_ms, "SIGKILL -> first acknowledged submit of the key");
  print_spread("every partition led", all_led_ms, "SIGKILL -> a leader for every partition, polled every 10 ms");
  print_spread("writable for good", stable_ms, "SIGKILL -> first acknowledged submit after the last failed one");
  std::printf("bounds              election timeout drawn from [%llu, %llu) ms after the last heartbeat (every %llu ms), "
              "then a pre-vote and a vote round and the new leader's no-op commit (synced writes on a majority); "
              "the gossip profile local (probes every %llu ms) does not gate the election, but declaring the node "
              "dead moves the ring, and the leaderships that follow it refuse writes while they transfer\n",
              static_cast<unsigned long long>(kElectionTimeoutMs),
              static_cast<unsigned long long>(2 * kElectionTimeoutMs),
              static_cast<unsigned long long>(kHeartbeatMs), static_cast<unsigned long long>(kGossipProbeMs));
  return 0;
}

// ---------------------------------------------------------------------------------------
// soak

uint64_t directory_bytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  }
  return total;
}

// Steady load for a while on a spawned mesh whose finished tasks are kept a
// minute: memory and disk must level off once the first minutes' tasks are
// forgotten. Prints each node's RSS, data-dir size and records every report.
int soak(const Options& o) {
  LocalMesh mesh(o, {"--retention-ms", "60000", "--dead-letter-retention-ms", "60000"});
  if (Status s = mesh.start(); !s.ok()) return fail(s.message());
  std::vector<std::unique_ptr<MeshClient>> clients;
  for (size_t i = 0; i < mesh.size(); ++i) {
    clients.push_back(std::make_unique<MeshClient>(std::vector<std::string>{mesh.endpoint(i)}, mesh.client_options(60000)));
  }
  std::printf("workload            soak, %u tasks/s of %s for %u min, nodes=%zu, retention 60 s\n", o.rate,
              o.handler.c_str(), o.soak_minutes, mesh.size());
  std::printf("%8s %10s %10s  %-30s %-30s %s\n", "minute", "submitted", "refused", "rss MiB per node",
              "data dir MiB per node", "records led per node");
  const auto start = Clock::now();
  const auto end = start + std::chrono::minutes(o.soak_minutes);
  auto next_report = start + std::chrono::seconds(o.report_s);
  constexpr auto kTick = std::chrono::milliseconds(100);
  uint64_t submitted = 0, refused = 0, n = 0;
  for (auto tick = start; tick < end; tick += kTick) {
    std::this_thread::sleep_until(tick);
    std::vector<TaskSpec> batch;
    for (uint32_t i = 0; i < std::max<uint32_t>(1, o.rate / 10); ++i) {
      TaskSpec t;
      t.id = "soak-" + std::to_string(getpid()) + "-" + std::to_string(n++);
      t.handler = o.handler;
      t.payload = o.payload;
      batch.push_back(std::move(t));
    }
    auto reply = clients[n % clients.size()]->submit(batch);
    if (reply.ok()) {
      for (const auto& outcome : reply.value().outcomes) (outcome.code == ErrorCode::kOk ? submitted : refused) += 1;
    } else {
      refused += batch.size();
    }
    if (Clock::now() < next_report) continue;
    next_report += std::chrono::seconds(o.report_s);
    std::string rss, disk, records;
    for (size_t i = 0; i < clients.size(); ++i) {
      auto stats = clients[i]->stats();
      int64_t node_records = 0;
      if (stats.ok()) {
        for (const auto& [name, value] : stats.value().gauges) {
          if (name.rfind("tasks_", 0) == 0 && name != "tasks_ready" && name != "tasks_in_backoff" &&
              name != "tasks_borrowed") {
            node_records += value;
          }
        }
      }
      char cell[32];
      std::snprintf(cell, sizeof cell, "%s%.1f", i ? " / " : "", stats.ok() ? stats.value().gauges["rss_bytes"] / 1048576.0 : 0.0);
      rss += cell;
      std::snprintf(cell, sizeof cell, "%s%.1f", i ? " / " : "", directory_bytes(mesh.dir(i)) / 1048576.0);
      disk += cell;
      records += (i ? " / " : "") + std::to_string(node_records);
    }
    double minute = std::chrono::duration<double>(Clock::now() - start).count() / 60.0;
    std::printf("%8.1f %10llu %10llu  %-30s %-30s %s\n", minute, static_cast<unsigned long long>(submitted),
                static_cast<unsigned long long>(refused), rss.c_str(), disk.c_str(), records.c_str());
    std::fflush(stdout);
  }
  return refused == 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------
// atomic: transactions across partitions beside plain submits, same mesh, same run

// One kind of submit: `partitions` partitions touched by its tasks.
struct SubmitShape {
  const char* name;
  uint32_t partitions;
  bool atomic;
};

// One submit of `per_request` noop tasks spread over `shape.partitions`
// partitions, starting at partition `first`.
SubmitRequest shaped_request(const SubmitShape& shape, uint32_t per_request, uint32_t first,
                             const std::vector<std::string>& key_of_partition, const std::string& tag) {
  SubmitRequest request;
  request.atomic = shape.atomic;
  request.txn = shape.atomic ? "x-" + tag : std::string{};
  for (uint32_t i = 0; i < per_request; ++i) {
    TaskSpec t;
    t.id = tag + "-" + std::to_string(i);
    t.handler = "noop";
    t.key = key_of_partition[(first + i % shape.partitions) % key_of_partition.size()];
    request.tasks.push_back(std::move(t));
  }
  return request;
}

bool all_ok(const Reply& reply) {
  const auto* submit = std::get_if<SubmitReply>(&reply);
  return submit != nullptr && std::all_of(submit->outcomes.begin(), submit->outcomes.end(),
                                          [](const SubmitOutcome& o) { return o.code == ErrorCode::kOk; });
}

// Latency, one request at a time: on an idle mesh (each submit once the
// tasks of the one before have finished, which the clock does not count),
// then back to back (the tasks of the one before still run, and a
// transaction's resolves still commit). Returns false when a submit failed.
bool measure_latency(const std::vector<MeshClient*>& clients, const SubmitShape& shape, const Options& o,
                     const std::vector<std::string>& key_of_partition, const std::string& run, bool idle,
                     std::vector<double>& latency_ms) {
  const uint32_t per_request = 8;
  for (uint32_t r = 0; r < o.tasks; ++r) {
    SubmitRequest request = shaped_request(shape, per_request, r * shape.partitions, key_of_partition,
                                           run + (idle ? "-i" : "-l") + std::to_string(r));
    std::vector<std::string> ids;
    for (const auto& t : request.tasks) ids.push_back(t.id);
    auto at = Clock::now();
    auto reply = clients[r % clients.size()]->call(std::move(request));
    if (!reply.ok() || !all_ok(reply.value())) return false;
    latency_ms.push_back(ms_since(at));
    if (idle && !clients[r % clients.size()]->wait(WaitRequest{ids, false, 60000}).ok()) return false;
  }
  return true;
}

// Latency (idle and back to back), then throughput: `window` requests in
// flight, dealt over the nodes. Returns false when a submit was refused.
bool measure_shape(const std::vector<MeshClient*>& clients, const SubmitShape& shape, const Options& o,
                   const std::vector<std::string>& key_of_partition) {
  const uint32_t per_request = 8;
  std::string run = std::to_string(getpid()) + "-" + shape.name;
  std::vector<double> idle_ms, latency_ms;
  if (!measure_latency(clients, shape, o, key_of_partition, run, true, idle_ms) ||
      !measure_latency(clients, shape, o, key_of_partition, run, false, latency_ms)) {
    return false;
  }
  uint32_t requests = o.tasks * 4, sent = 0, answered = 0;
  std::vector<uint32_t> in_flight(clients.size(), 0);
  auto started = Clock::now();
  while (answered < requests) {
    for (size_t c = 0; c < clients.size() && sent < requests; ++c) {
      while (in_flight[c] < std::max<uint32_t>(1, o.window / clients.size()) && sent < requests) {
        auto request = shaped_request(shape, per_request, sent * shape.partitions, key_of_partition,
                                      run + "-t" + std::to_string(sent));
        if (!clients[c]->send(request).ok()) return false;
        ++in_flight[c];
        ++sent;
      }
    }
    for (size_t c = 0; c < clients.size(); ++c) {
      if (in_flight[c] == 0) continue;
      auto reply = clients[c]->receive(60000);
      if (!reply.ok() || !all_ok(reply.value().second)) return false;
      --in_flight[c];
      ++answered;
    }
  }
  double seconds = ms_since(started) / 1000;
  std::printf("%-22s %6.2f %6.2f   %6.2f %6.2f   %7.0f %8.0f\n", shape.name, percentile(idle_ms, 0.50),
              percentile(idle_ms, 0.99), percentile(latency_ms, 0.50), percentile(latency_ms, 0.99),
              requests / seconds, requests * per_request / seconds);
  return true;
}

int atomic_workload(const Options& o) {
  LocalMesh mesh(o, {});
  if (Status s = mesh.start(); !s.ok()) return fail(s.message());
  MeshClients connected(mesh);
  const std::vector<MeshClient*>& clients = connected.clients;
  auto view = clients[0]->call(PartitionsRequest{});
  if (!view.ok()) return fail(view.status().message());
  uint32_t partitions = std::get<PartitionsReply>(view.value()).partitions;
  std::vector<std::string> key_of_partition;
  for (uint32_t p = 0; p < partitions; ++p) key_of_partition.push_back(key_in_partition(p, partitions));
  auto [nodes, replicas] = mesh_shape(*clients[0]);
  std::printf("workload atomic: submits of 8 noop tasks, %u one at a time on an idle mesh and %u back to back "
              "(latency), then %u with %u in flight "
              "(throughput); nodes=%zu replicas=%zu, durable\n",
              o.tasks, o.tasks, o.tasks * 4, o.window, nodes, replicas);
  std::printf("%-22s %-15s  %-15s  %-7s %8s\n", "", "idle p50/p99 ms", "b2b p50/p99 ms", "subm/s", "tasks/s");
  for (const SubmitShape& shape : {SubmitShape{"plain, 1 partition", 1, false}, SubmitShape{"atomic, 2 partitions", 2, true},
                                   SubmitShape{"atomic, 8 partitions", 8, true}}) {
    if (!measure_shape(clients, shape, o, key_of_partition)) return fail(std::string("a submit failed: ") + shape.name);
  }
  return 0;
}

// ---------------------------------------------------------------------------------------
// catch-up: a wiped replica brought up to date from one large partition

constexpr size_t kFillPayloadBytes = 1000 * 1000;  // under the 1 MiB payload limit
constexpr uint64_t kCatchUpTimeoutMs = 30 * 60 * 1000;

// Why a submit was refused, in words.
std::string refusal(const Reply& reply) {
  if (const auto* error = std::get_if<ErrorReply>(&reply)) return std::string(error_name(error->code)) + ": " + error->message;
  if (const auto* submit = std::get_if<SubmitReply>(&reply)) {
    for (const auto& o : submit->outcomes) {
      if (o.code != ErrorCode::kOk) return std::string(error_name(o.code)) + ": " + o.message;
    }
  }
  return "an unexpected reply";
}

// Submits noop tasks with incompressible payloads of kFillPayloadBytes, all
// with `key`, until they hold `bytes`; `window` in flight.
Status fill_partition(MeshClient& client, const std::string& key, uint64_t bytes, uint32_t window) {
  std::mt19937_64 random(7);
  std::string payload(kFillPayloadBytes, ' ');
  for (char& c : payload) c = static_cast<char>('!' + random() % 90);
  std::string prefix = "fill-" + std::to_string(getpid()) + "-";
  uint64_t tasks = (bytes + kFillPayloadBytes - 1) / kFillPayloadBytes, sent = 0, answered = 0;
  while (answered < tasks) {
    for (; sent < tasks && sent - answered < window; ++sent) {
      TaskSpec t;
      t.id = prefix + std::to_string(sent);
      t.handler = "noop";
      t.key = key;
      t.payload = payload;
      if (auto id = client.send(SubmitRequest{{std::move(t)}}); !id.ok()) return id.status();
    }
    auto reply = client.receive(60000);
    if (!reply.ok()) return reply.status();
    if (!all_ok(reply.value().second)) {
      return Status(ErrorCode::kUnavailable, "task " + std::to_string(answered) + " refused: " + refusal(reply.value().second));
    }
    ++answered;
  }
  return Status::Ok();
}

double mib(uint64_t bytes) { return static_cast<double>(bytes) / (1u << 20); }

// Fills one partition, SIGKILLs a follower of it, wipes its data dir and
// starts it again: it returns as a new replica, which every group it belongs
// to must bring up to date (the large one by a streamed snapshot) before the
// mesh is ready again.
int catchup_workload(const Options& o) {
  LocalMesh mesh(o, {});
  if (Status s = mesh.start(); !s.ok()) return fail(s.message());
  MeshView view = mesh.view();
  const uint32_t partition = 0;
  size_t leader = view.leaders[partition].node, victim = (leader + 1) % mesh.size();
  uint64_t bytes = static_cast<uint64_t>(o.fill_mib) << 20;
  std::printf("workload            catch-up: %.0f MiB of 1 MB noop tasks in partition %u (led by %s), then %s is "
              "killed, wiped and started again; nodes=%zu replicas=%zu, durable\n",
              mib(bytes), partition, mesh.id(leader).c_str(), mesh.id(victim).c_str(), mesh.size(),
              mesh.voters(view));
  std::fflush(stdout);
  MeshClient client({mesh.endpoint(leader)}, mesh.client_options(60000));
  auto filling = Clock::now();
  if (Status s = fill_partition(client, key_in_partition(partition, view.partitions), bytes, o.window); !s.ok()) {
    return fail("fill: " + s.message());
  }
  double fill_s = ms_since(filling) / 1000;
  if (Status s = mesh.wait_ready(); !s.ok()) return fail("after the fill: " + s.message());
  std::printf("fill                %.0f MiB acknowledged in %.1f s (%.1f MiB/s); leader RSS %.0f MiB\n", mib(bytes),
              fill_s, mib(bytes) / fill_s, mib(static_cast<uint64_t>(gauge(client, "rss_bytes"))));
  std::fflush(stdout);
  uint64_t taken = mesh.counter(leader, "snapshots_taken");
  mesh.kill(victim);
  mesh.wipe(victim);
  auto restarted = Clock::now();
  if (Status s = mesh.restart(victim); !s.ok()) return fail(s.message());
  if (Status s = mesh.wait_ready(kCatchUpTimeoutMs); !s.ok()) return fail("catch-up: " + s.message());
  double catchup_s = ms_since(restarted) / 1000;
  std::printf("catch-up            %s up to date in every group after %.1f s (%.1f MiB/s of the large partition); "
              "%llu snapshots installed; leader took %llu snapshots meanwhile; RSS leader %.0f MiB, new replica %.0f "
              "MiB\n",
              mesh.id(victim).c_str(), catchup_s, mib(bytes) / catchup_s,
              static_cast<unsigned long long>(mesh.counter(victim, "snapshots_installed")),
              static_cast<unsigned long long>(mesh.counter(leader, "snapshots_taken") - taken),
              mib(static_cast<uint64_t>(gauge(client, "rss_bytes"))),
              mib(static_cast<uint64_t>(gauge(mesh.admin(victim), "rss_bytes"))));
  return 0;
}

// ---------------------------------------------------------------------------------------
// dependencies: how long a parent's completion takes to start its child

// Submits `tasks` (one dependent submit, stored atomically) and waits for
// `last`; the milliseconds from the submit to its completion.
Result<double> run_to_completion(MeshClient& client, std::vector<TaskSpec> tasks, const std::string& last) {
  auto at = Clock::now();
  auto submitted = client.submit(std::move(tasks));
  if (!submitted.ok()) return submitted.status();
  for (const auto& outcome : submitted.value().outcomes) {
    if (outcome.code != ErrorCode::kOk) return Status(outcome.code, outcome.id + ": " + outcome.message);
  }
  auto waited = client.wait(WaitRequest{{last}, false, 600000});
  if (!waited.ok()) return waited.status();
  if (waited.value().records.empty() || waited.value().records[0].state != TaskState::kCompleted) {
    return Status(ErrorCode::kUnavailable, last + " did not complete");
  }
  return ms_since(at);
}

TaskSpec noop_task(const std::string& id) {
  TaskSpec t;
  t.id = id;
  t.handler = "noop";
  return t;
}

// A chain (each task after the previous one, over as many partitions) and a
// fan-in (one task after all others), beside a lone task's round trip.
int dependencies_workload(const Options& o) {
  LocalMesh mesh(o, {});
  if (Status s = mesh.start(); !s.ok()) return fail(s.message());
  MeshClients connected(mesh);
  MeshClient& client = *connected.clients[0];
  auto [nodes, replicas] = mesh_shape(client);
  const std::string run = "dep-" + std::to_string(getpid());
  std::printf("workload dependencies: noop tasks, nodes=%zu replicas=%zu, durable\n", nodes, replicas);
  std::vector<double> lone;
  for (int i = 0; i < 20; ++i) {
    std::string id = run + "-lone-" + std::to_string(i);
    auto ms = run_to_completion(client, {noop_task(id)}, id);
    if (!ms.ok()) return fail(ms.status().message());
    lone.push_back(ms.value());
  }
  std::printf("%-34s p50 %7.2f ms\n", "one task, submit to completion", percentile(lone, 0.5));
  std::vector<TaskSpec> chain;
  for (uint32_t i = 0; i < o.tasks; ++i) {
    chain.push_back(noop_task(run + "-chain-" + std::to_string(i)));
    if (i > 0) chain.back().after.push_back(ParentRef{chain[i - 1].id, ""});
  }
  auto chained = run_to_completion(client, chain, chain.back().id);
  if (!chained.ok()) return fail(chained.status().message());
  std::printf("%-34s %7.0f ms in all, %6.2f ms per hand-off\n", ("chain of " + std::to_string(o.tasks)).c_str(),
              chained.value(), chained.value() / o.tasks);
  std::vector<TaskSpec> fan_in;
  TaskSpec child = noop_task(run + "-fan-child");
  for (uint32_t i = 0; i < o.tasks; ++i) {
    fan_in.push_back(noop_task(run + "-fan-" + std::to_string(i)));
    child.after.push_back(ParentRef{fan_in.back().id, ""});
  }
  fan_in.push_back(child);
  auto fanned = run_to_completion(client, fan_in, child.id);
  if (!fanned.ok()) return fail(fanned.status().message());
  std::printf("%-34s %7.0f ms from the submit to the child's completion\n",
              ("fan-in of " + std::to_string(o.tasks) + " parents").c_str(), fanned.value());
  return 0;
}

int run(int argc, char** argv) {
  CLI::App app{"meshbench: throughput, latency and failover figures for a meshwork node or mesh"};
  app.option_defaults()->always_capture_default();  // --help shows every default
  app.set_version_flag("--version", "meshbench " MESH_VERSION);
  Options o;
  std::string default_meshd = (std::filesystem::path(argv[0]).parent_path() / "meshd").string();
  app.add_option("--workload", o.workload,
                 "throughput, skew, slow-node, straggler, failover, soak, atomic, dependencies or catch-up")
      ->check(CLI::IsMember(
          {"throughput", "skew", "slow-node", "straggler", "failover", "soak", "atomic", "dependencies", "catch-up"}));
  app.add_option("--fill-mib", o.fill_mib, "catch-up: MiB of task records in the partition (default 1024)")
      ->check(CLI::Range(1u, 65536u));
  app.add_option("--slow-factor", o.slow_factor,
                 "slow-node, straggler: how many times slower the last node runs (default 5)")
      ->check(CLI::Range(2, 1000));
  app.add_option("--placement", o.placements, "slow-node: the placement policies to run (default adaptive round_robin)")
      ->check(CLI::IsMember({"key", "round_robin", "least_loaded", "weighted", "adaptive"}));
  app.add_option("--soak", o.soak_minutes, "soak: steady load for this many minutes, reporting memory and disk")
      ->check(CLI::Range(1u, 100000u));
  app.add_option("--rate", o.rate, "soak: tasks submitted per second")->check(CLI::Range(10u, 1000000u));
  app.add_option("--report-s", o.report_s, "soak: seconds between reports (default 60)")->check(CLI::Range(1u, 3600u));
  app.add_option("-a,--addr", o.addr, "node endpoint (or use --spawn)");
  app.add_option("--nodes", o.nodes, "nodes in a spawned mesh (throughput 1, skew 4, failover 3)")
      ->check(CLI::Range(1, 32));
  app.add_option("--task-ms", o.task_ms, "skew: mean task duration");
  app.add_flag("--heavy-tail", o.heavy_tail, "skew: Pareto-distributed durations instead of equal ones");
  auto* spawn = app.add_option("--spawn", o.meshd,
                               "start private meshd processes for the run (default: the meshd next to meshbench)")
                    ->expected(0, 1);
  app.add_option("--slots", o.slots, "executor slots of each spawned meshd");
  auto* tasks = app.add_option("--tasks", o.tasks, "number of tasks (atomic: submits one at a time, 4x that many with --window in flight)");
  app.add_option("--batch", o.batch, "tasks per submit request")->check(CLI::Range(1u, 10000u));
  app.add_option("--window", o.window, "submit requests in flight (in all)")->check(CLI::Range(1u, 1000u));
  app.add_option("--rounds", o.rounds, "failover: kills")->check(CLI::Range(1u, 1000u));
  app.add_option("--handler", o.handler, "handler of every task");
  app.add_option("--payload", o.payload, "payload of every task");
  const char* env_client_key = std::getenv("MESH_CLIENT_KEY");
  const char* env_mesh_key = std::getenv("MESH_MESH_KEY");
  o.client_key_file = env_client_key ? env_client_key : "";
  o.mesh_key_file = env_mesh_key ? env_mesh_key : "";
  app.add_option("--client-key", o.client_key_file, "--addr on a mesh with keys: this client's key pair (default $MESH_CLIENT_KEY)");
  app.add_option("--mesh-key", o.mesh_key_file, "--addr on a mesh with keys: the mesh's mesh.pub (default $MESH_MESH_KEY)");
  app.add_flag("--curve", o.curve, "spawned meshes run with keys: CURVE on every connection");
  app.add_flag("--compare-curve", o.compare_curve, "throughput: a plaintext mesh, then one with keys, same run");
  CLI11_PARSE(app, argc, argv);
  if (o.soak_minutes > 0) o.workload = "soak";
  if (o.workload == "atomic" && tasks->count() == 0) o.tasks = 500;
  if (o.workload == "dependencies" && tasks->count() == 0) o.tasks = 50;
  if (o.workload == "straggler" && tasks->count() == 0) o.tasks = 60;
  o.spawn = spawn->count() > 0 || o.workload != "throughput" || o.curve || o.compare_curve;
  if (o.meshd.empty()) o.meshd = default_meshd;
  if (o.nodes == 0) o.nodes = o.workload == "skew" || o.workload == "slow-node" ? 4 : o.workload == "throughput" ? 1 : 3;
  if (o.workload == "soak") {
    if (o.soak_minutes == 0) o.soak_minutes = 30;
    return soak(o);
  }
  if (o.workload == "skew") return skew(o);
  if (o.workload == "slow-node") return slow_node(o);
  if (o.workload == "straggler") return straggler(o);
  if (o.workload == "atomic") return atomic_workload(o);
  if (o.workload == "dependencies") return dependencies_workload(o);
  if (o.workload == "failover") return failover(o);
  if (o.workload == "catch-up") return catchup_workload(o);
  return throughput_workload(o);
}

}  // namespace
}  // namespace mesh::bench

int main(int argc, char** argv) { return mesh::bench::run(argc, argv); }
