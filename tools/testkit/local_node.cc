#include "tools/testkit/local_node.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

extern char** environ;

namespace mesh {

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(10);

bool has_flag(const std::vector<std::string>& args, const std::string& flag) {
  for (const auto& a : args) {
    if (a == flag || a.rfind(flag + "=", 0) == 0) return true;
  }
  return false;
}

}  // namespace

std::string make_temp_dir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base ? base : "/tmp") + "/" + prefix + "XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) return {};
  return std::string(buf.data());
}

LocalNode::LocalNode(std::string meshd_path, std::string data_dir, std::vector<std::string> extra_args)
    : meshd_path_(std::move(meshd_path)), data_dir_(std::move(data_dir)), extra_args_(std::move(extra_args)) {}

std::vector<ProcessEntry> list_processes() {
  std::vector<ProcessEntry> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;  // gone meanwhile
    // The command name may hold spaces; the fields after its ')' do not.
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    ProcessEntry p;
    p.pid = static_cast<pid_t>(std::stol(name));
    std::istringstream rest(line.substr(close + 1));
    rest >> p.state >> p.parent >> p.group;
    found.push_back(p);
  }
  return found;
}

std::vector<pid_t> descendants_of(pid_t root) {
  std::map<pid_t, std::vector<pid_t>> children;
  for (const auto& p : list_processes()) children[p.parent].push_back(p.pid);
  std::vector<pid_t> found;
  std::vector<pid_t> todo = {root};
  while (!todo.empty()) {
    pid_t p = todo.back();
    todo.pop_back();
    for (pid_t c : children[p]) {
      found.push_back(c);
      todo.push_back(c);
    }
  }
  return found;
}

LocalNode::~LocalNode() { kill_tree(); }

void kill_process_tree(pid_t root) {
  // Collected before the kill: once root is gone its children belong to init.
  std::vector<pid_t> descendants = descendants_of(root);
  ::kill(root, SIGKILL);
  for (pid_t p : descendants) {
    pid_t group = ::getpgid(p);
    if (group > 0 && group != ::getpgrp()) ::kill(-group, SIGKILL);
    ::kill(p, SIGKILL);
  }
}

void LocalNode::kill_tree() {
  if (pid_ <= 0) return;
  kill_process_tree(pid_);
  (void)wait_exit(60000);
}

Status LocalNode::start(uint64_t timeout_ms) {
  std::filesystem::create_directories(data_dir_);
  std::string endpoint_file = data_dir_ + "/meshd.endpoint";
  std::filesystem::remove(endpoint_file);

  std::vector<std::string> args = {meshd_path_, "--data-dir", data_dir_};
  if (!has_flag(extra_args_, "--listen")) {
    args.insert(args.end(), {"--listen", "tcp://127.0.0.1:0"});
  }
  // A node started without seeds founds a mesh (a restart on its own data
  // dir keeps the mesh it has). --new-mesh=false opts out.
  if (!has_flag(extra_args_, "--seeds") && !has_flag(extra_args_, "--new-mesh")) args.push_back("--new-mesh");
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  std::string log = log_path();
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  // The child starts with no signal blocked: a parent that waits for its
  // own SIGTERM with sigwait (meshchaos) blocks it, and the mask is inherited.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
  int rc = posix_spawn(&pid_, meshd_path_.c_str(), &actions, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    return Status(ErrorCode::kInvalidArgument, "cannot start " + meshd_path_ + ": " + std::strerror(rc));
  }

  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(endpoint_file);
    if (in >> endpoint_ && !endpoint_.empty()) return Status::Ok();
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Status(ErrorCode::kUnavailable, "meshd exited during start-up; log:\n" + log_tail());
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  return Status(ErrorCode::kUnavailable, "meshd did not bind within " + std::to_string(timeout_ms) + " ms; log:\n" + log_tail());
}

std::string LocalNode::log_tail(size_t bytes) const {
  std::ifstream in(log_path());
  std::stringstream text;
  text << in.rdbuf();
  std::string all = text.str();
  return all.size() <= bytes ? all : all.substr(all.size() - bytes);
}

void LocalNode::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

std::optional<int> LocalNode::wait_exit(uint64_t timeout_ms) {
  if (pid_ <= 0) return std::nullopt;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      endpoint_.clear();
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace mesh
