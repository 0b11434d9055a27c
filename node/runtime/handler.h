// The handler API: how a task's work is written. meshd registers the
// built-ins; your own binary can register more before starting the node
// (see node/runtime/node_main.h).
//
// A handler runs on an executor thread, never on the node's loop thread. It
// must return; long work should check `cancelled` now and then, which turns
// true when the attempt is cancelled or times out.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>

namespace mesh {

struct TaskContext {
  std::string_view task_id;
  uint32_t attempt = 0;  // 1 for the first attempt
  std::string_view payload;
  uint64_t timeout_ms = 0;
  const std::atomic<bool>* cancelled = nullptr;

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

struct ExecLimits {
  size_t max_output_bytes = 1 << 20;  // stdout beyond this is cut and the attempt fails
};

// Registers noop, sleep, spin, hash, fail and exec.
void register_builtin_handlers(HandlerRegistry& registry, const ExecLimits& exec_limits);

// The exec handler alone (exposed for tests).
HandlerResult run_exec(const TaskContext& context, const ExecLimits& limits);

}  // namespace mesh
