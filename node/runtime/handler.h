// The handler API: how a task's work is written. meshd registers the
// built-ins; your own binary can register more before starting the node
// (see node/runtime/node_main.h).
//
// A handler runs on an executor thread, never on the node's loop thread. It
// must return; long work should check `cancelled` now and then, which turns
// true when the attempt is cancelled or times out.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include "node/core/exec_policy.h"

namespace mesh {

struct TaskContext {
  std::string_view task_id;
  uint32_t attempt = 0;  // 1 for the first attempt
  std::string_view payload;
  uint64_t timeout_ms = 0;
  const std::atomic<bool>* cancelled = nullptr;
  // The results of the task's parents (TaskSpec::after), in that order.
  std::span<const std::string> inputs = {};

  bool is_cancelled() const { return cancelled != nullptr && cancelled->load(std::memory_order_relaxed); }
};

struct HandlerResult {
  bool ok = false;
  std::string output;  // the task's result when ok, the error text otherwise

  static HandlerResult success(std::string out) { return {true, std::move(out)}; }
  static HandlerResult failure(std::string error) { return {false, std::move(error)}; }
};

using Handler = std::function<HandlerResult(const TaskContext&)>;

class HandlerRegistry {
 public:
  // Adds or replaces the handler for `name`.
  void add(std::string name, Handler handler) { handlers_[std::move(name)] = std::move(handler); }
  const Handler* find(const std::string& name) const {
    auto it = handlers_.find(name);
    return it == handlers_.end() ? nullptr : &it->second;
  }
  std::set<std::string> names() const {
    std::set<std::string> out;
    for (const auto& [name, handler] : handlers_) out.insert(name);
    return out;
  }

 private:
  std::map<std::string, Handler> handlers_;
};

// How the exec handler runs a command: meshd's [handlers.exec] and
// runtime.exec_max_output_bytes (node/runtime/config.h).
struct ExecConfig {
  size_t max_output_bytes = 1 << 20;  // stdout beyond this is cut and the attempt fails
  // Checked again before every run, the node's own policy whatever the
  // leader's was: a refusal fails the attempt with "handler_not_allowed: ...".
  ExecPolicy policy;
  std::string workdir;  // empty: meshd's working directory
  // Set (soft and hard) in the child before exec; unset: inherited from meshd.
  std::optional<uint64_t> cpu_seconds, memory_bytes, open_files, processes;
  std::optional<uid_t> uid;  // the child's identity (meshd must run as root)
  std::optional<gid_t> gid;
};

// Registers noop, join, sleep, spin, hash, fail and exec.
// `sleep_scale`: the sleep handler sleeps that many times its payload.
void register_builtin_handlers(HandlerRegistry& registry, const ExecConfig& exec, uint64_t sleep_scale = 1);

// The exec handler alone (exposed for tests).
HandlerResult run_exec(const TaskContext& context, const ExecConfig& exec);

}  // namespace mesh
