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

LocalNode::~LocalNode() {
  if (pid_ > 0) {
    signal(SIGKILL);
    (void)wait_exit(60000);
  }
}

Status LocalNode::start(uint64_t timeout_ms) {
  std::filesystem::create_directories(data_dir_);
  std::string endpoint_file = data_dir_ + "/meshd.endpoint";
  std::filesystem::remove(endpoint_file);

  std::vector<std::string> args = {meshd_path_, "--data-dir", data_dir_};
  if (!has_flag(extra_args_, "--listen")) {
    args.insert(args.end(), {"--listen", "tcp://127.0.0.1:0"});
  }
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  std::string log = log_path();
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  int rc = posix_spawn(&pid_, meshd_path_.c_str(), &actions, nullptr, argv.data(), environ);
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
