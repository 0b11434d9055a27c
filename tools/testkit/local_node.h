// LocalNode: one meshd child process on this host, for tests, meshbench and
// the demo. Output goes to a log file; the node's chosen endpoint is read
// from <data_dir>/meshd.endpoint once it has bound. The destructor kills
// and reaps the child and the process groups of its children (meshd runs
// each exec task in a group of its own), so no test leaves a process behind.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "protocol/result.h"

namespace mesh {

class LocalNode {
 public:
  LocalNode(std::string meshd_path, std::string data_dir, std::vector<std::string> extra_args);
  ~LocalNode();
  LocalNode(const LocalNode&) = delete;
  LocalNode& operator=(const LocalNode&) = delete;

  // Starts meshd (listening on a free loopback port unless extra_args says
  // otherwise; founding a mesh with --new-mesh when extra_args names no
  // seeds) and waits until it serves. On failure the message includes
  // the end of its log.
  Status start(uint64_t timeout_ms = 60000);
  const std::string& endpoint() const { return endpoint_; }
  const std::string& data_dir() const { return data_dir_; }
  std::string log_path() const { return data_dir_ + ".log"; }
  std::string log_tail(size_t bytes = 4000) const;

  void signal(int sig);
  // Waits for the child to exit: its exit code, 128 + signal number when
  // killed, or nullopt if it still runs after timeout_ms.
  std::optional<int> wait_exit(uint64_t timeout_ms);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // SIGKILLs the child and every process group its descendants lead, then
  // reaps the child.
  void kill_tree();

 private:
  std::string meshd_path_;
  std::string data_dir_;
  std::vector<std::string> extra_args_;
  std::string endpoint_;
  pid_t pid_ = -1;
};

// One process as /proc shows it.
struct ProcessEntry {
  pid_t pid = 0;
  pid_t parent = 0;
  pid_t group = 0;
  char state = '?';  // 'Z': a zombie nobody reaped yet
};
std::vector<ProcessEntry> list_processes();

// Every process descended from `root` (children, grandchildren, ...).
std::vector<pid_t> descendants_of(pid_t root);

// SIGKILLs `root` and every process group its descendants lead. Does not
// reap: that is the parent's job.
void kill_process_tree(pid_t root);

// A fresh directory under $TMPDIR (or /tmp) whose name starts with `prefix`.
std::string make_temp_dir(const std::string& prefix);

}  // namespace mesh
