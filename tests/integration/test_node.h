// Helpers for tests that drive real meshd processes: a node in a fresh temp
// dir, a client for it, and waiting for a condition with a deadline (never a
// fixed sleep). Failures print what was seen and the node's log.
#pragma once

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tools/client/mesh_client.h"
#include "tools/testkit/exec_programs.h"
#include "tools/testkit/local_node.h"
#include "tools/testkit/record_check.h"
#include "tools/testkit/temp_dir.h"

namespace mesh::test {

// Generous: CI machines are slow and shared.
constexpr uint64_t kDeadlineMs = 120000;

// Unless a test passes a --config of its own, its node gets exec.toml in its
// directory: the exec policy of the test programs (test_exec_toml).
class TestNode {
 public:
  explicit TestNode(std::vector<std::string> args = {}, std::string dir = {})
      : owns_dir_(dir.empty()), dir_(dir.empty() ? make_temp_dir("meshtest-") : std::move(dir)) {
    REQUIRE_MESSAGE(!dir_.empty(), "cannot create a temp dir");
    if (std::find(args.begin(), args.end(), "--config") == args.end()) {
      std::filesystem::create_directories(dir_);
      std::ofstream(dir_ + "/exec.toml") << test_exec_toml();
      args.insert(args.end(), {"--config", dir_ + "/exec.toml"});
    }
    node_ = std::make_unique<LocalNode>(MESHD_PATH, dir_ + "/node", std::move(args));
  }
  ~TestNode() {
    node_.reset();
    std::error_code ignored;
    if (owns_dir_) std::filesystem::remove_all(dir_, ignored);
  }

  void start() {
    Status s = node_->start();
    REQUIRE_MESSAGE(s.ok(), s.message());
  }
  LocalNode& process() { return *node_; }
  const std::string& dir() const { return dir_; }
  std::unique_ptr<MeshClient> client(uint64_t timeout_ms = 30000) {
    return std::make_unique<MeshClient>(std::vector<std::string>{node_->endpoint()},
                                        ClientOptions{timeout_ms, "test"});
  }
  std::string log() const { return node_->log_tail(256 * 1024); }

 private:
  bool owns_dir_;
  std::string dir_;
  std::unique_ptr<LocalNode> node_;
};

// Writes `request` to host:port over plain TCP and returns all it answers.
// A TCP socket connected to host:port, or -1.
inline int tcp_connect(const std::string& host_port) {
  auto colon = host_port.rfind(':');
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(host_port.substr(colon + 1))));
  ::inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
  ::close(fd);
  return -1;
}

inline std::string tcp_exchange(const std::string& host_port, const std::string& request) {
  std::string response;
  int fd = tcp_connect(host_port);
  if (fd >= 0) {
    (void)!::write(fd, request.data(), request.size());
    ::shutdown(fd, SHUT_WR);
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) response.append(buf, static_cast<size_t>(n));
    ::close(fd);
  }
  return response;
}

inline std::string http_get(const std::string& host_port, const std::string& path) {
  return tcp_exchange(host_port, "GET " + path + " HTTP/1.0\r\n\r\n");
}

// Polls `condition` every 20 ms until it holds or the deadline passes.
inline bool wait_until(const std::function<bool()>& condition, uint64_t deadline_ms = kDeadlineMs) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(deadline_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

// True once `pid` no longer runs: gone, or a zombie nobody reaped yet (in a
// container the reaper may be slow or absent).
inline bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_field, name, state;
  stat >> pid_field >> name >> state;
  return state == "Z" || state == "X";
}

inline TaskSpec task(std::string id, std::string handler, std::string payload = {}) {
  TaskSpec t;
  t.id = std::move(id);
  t.handler = std::move(handler);
  t.payload = std::move(payload);
  return t;
}

// Starts `count` meshd with the local gossip profile, named <prefix>0,
// <prefix>1, ... in subdirs of `dir`, the later ones joining through the
// first; `args` go to every node.
inline std::vector<std::unique_ptr<TestNode>> start_mesh(size_t count, const std::string& prefix,
                                                         const std::string& dir, const std::vector<std::string>& args) {
  std::vector<std::unique_ptr<TestNode>> nodes;
  for (size_t i = 0; i < count; ++i) {
    std::string id = prefix + std::to_string(i);
    std::vector<std::string> node_args = {"--node-id", id, "--gossip-profile", "local"};
    node_args.insert(node_args.end(), args.begin(), args.end());
    if (i > 0) node_args.insert(node_args.end(), {"--seeds", nodes[0]->process().endpoint()});
    nodes.push_back(std::make_unique<TestNode>(node_args, dir + "/" + id));
    nodes.back()->start();
  }
  return nodes;
}

// Members `client`'s node sees alive; 0 when it does not answer.
inline size_t alive_members(MeshClient& client) {
  auto reply = client.call(MembersRequest{});
  if (!reply.ok()) return 0;
  size_t alive = 0;
  for (const auto& m : std::get<MembersReply>(reply.value()).members) alive += m.state == MemberState::kAlive;
  return alive;
}

// Every partition is led by the first replica the ring names for it, as
// seen from every node: leadership has settled and stays put.
inline bool led_as_preferred(const std::vector<std::unique_ptr<TestNode>>& nodes) {
  size_t led = 0;
  uint32_t partitions = 0;
  for (const auto& node : nodes) {
    auto reply = node->client()->call(PartitionsRequest{});
    if (!reply.ok()) return false;
    const auto& view = std::get<PartitionsReply>(reply.value());
    partitions = view.partitions;
    for (const auto& g : view.groups) {
      led += g.role == "leader" && view.table.at(g.partition).replicas.front() == view.node_id;
    }
  }
  return partitions > 0 && led == partitions;
}

// Exec tasks that run until the test opens the gate: the test, not the
// machine's speed, decides whether a task is still running at a kill or a
// SIGTERM. Each task marks that it started; a closed gate holds it.
class Gate {
 public:
  Gate() : dir_("meshgate-") { REQUIRE_MESSAGE(!dir_.path().empty(), "cannot create a temp dir"); }
  TaskSpec task(const std::string& id) const {
    TaskSpec t = mesh::test::task(id, "exec",
                                  R"({"argv": [")" + program_path("sh") + R"(", "-c", "touch )" + started_path(id) +
                                      R"(; while [ ! -e )" + open_path() + R"( ]; do sleep 0.02; done; echo done"]})");
    t.timeout_ms = 600000;
    return t;
  }
  bool started(const std::string& id) const { return std::filesystem::exists(started_path(id)); }
  void open() const { std::ofstream(open_path()) << "open"; }
  void close() const { std::filesystem::remove(open_path()); }

 private:
  std::string started_path(const std::string& id) const { return dir_ / ("started-" + id); }
  std::string open_path() const { return dir_ / "open"; }
  TempDir dir_;
};

inline int64_t gauge(MeshClient& client, const std::string& name) {
  auto stats = client.stats();
  if (!stats.ok()) return -1;
  auto it = stats.value().gauges.find(name);
  return it == stats.value().gauges.end() ? -1 : it->second;
}

struct Exit {
  int code;  // exit status, or -1 when killed by a signal
  std::string output;  // stdout and stderr
};

// Runs a shell command to completion, bounded by timeout(1) so that a hang
// fails the test instead of blocking it, and captures what it printed.
inline Exit run_command(const std::string& command, int timeout_s = 60) {
  FILE* pipe = ::popen(("timeout " + std::to_string(timeout_s) + " " + command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// Every finished record must satisfy tools/testkit/record_check.h.
inline void check_attempt_history(const TaskRecord& r) {
  std::string problem = check_record(r);
  CHECK_MESSAGE(problem.empty(), problem);
  CHECK(r.attempts.size() == r.attempt);  // no test here runs past the history cap
}

}  // namespace mesh::test
