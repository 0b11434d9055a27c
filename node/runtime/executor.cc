#include "node/runtime/executor.h"

#include <chrono>

namespace mesh {

Executor::Executor(const HandlerRegistry& handlers, uint32_t threads, OnFinished on_finished)
    : handlers_(handlers), on_finished_(std::move(on_finished)) {
  for (uint32_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

Executor::~Executor() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [key, flag] : running_) flag->store(true);
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void Executor::start(RunTask run) {
  {
    std::lock_guard lock(mu_);
    auto flag = std::make_shared<std::atomic<bool>>(false);
    running_[RunRef{run.partition, run.id, run.attempt}] = flag;
    queue_.push_back(Job{std::move(run), flag});
  }
  cv_.notify_one();
}

void Executor::abort(const RunRef& run) {
  std::lock_guard lock(mu_);
  auto it = running_.find(run);
  if (it != running_.end()) it->second->store(true);
}

std::vector<RunRef> Executor::running() const {
  std::lock_guard lock(mu_);
  std::vector<RunRef> out;
  out.reserve(running_.size());
  for (const auto& [key, flag] : running_) out.push_back(key);
  return out;
}

void Executor::work() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    auto started = std::chrono::steady_clock::now();
    HandlerResult result;
    if (const Handler* handler = handlers_.find(job.run.handler)) {
      TaskContext context{job.run.id, job.run.attempt, job.run.payload, job.run.timeout_ms, job.cancelled.get(),
                          job.run.inputs};
      try {
        result = (*handler)(context);
      } catch (const std::exception& e) {
        result = HandlerResult::failure(std::string("handler threw: ") + e.what());
      } catch (...) {
        result = HandlerResult::failure("handler threw a non-standard exception");
      }
    } else {
      result = HandlerResult::failure("no handler '" + job.run.handler + "' on this node");
    }
    auto elapsed = std::chrono::steady_clock::now() - started;
    {
      std::lock_guard lock(mu_);
      running_.erase(RunRef{job.run.partition, job.run.id, job.run.attempt});
    }
    on_finished_(RunResult{job.run.partition, job.run.id, job.run.attempt, std::move(result),
                           static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count())});
  }
}

}  // namespace mesh
