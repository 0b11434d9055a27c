// Executor: a fixed pool of threads, one per slot, that runs handlers off the
// loop thread. The core never asks for more runs than there are slots, so a
// run never waits for a thread. Results come back through `on_finished`,
// called on the executor thread; the driver posts them to its loop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "node/core/effects.h"
#include "node/runtime/handler.h"

#include "node/runtime/outlets.h"

namespace mesh {

struct RunResult {
  uint32_t partition = 0;
  std::string id;
  uint32_t attempt = 0;
  HandlerResult result;
  uint64_t run_ms = 0;  // wall time the handler took
};

class Executor final : public RunOutlet {
 public:
  using OnFinished = std::function<void(RunResult)>;

  Executor(const HandlerRegistry& handlers, uint32_t threads, OnFinished on_finished);
  // Cancels whatever still runs and joins every thread.
  ~Executor() override;

  void start(RunTask run) override;
  // Asks a running attempt to stop; its result will be reported but the
  // core will treat it as stale.
  void abort(const RunRef& run) override;
  // Attempts currently running, for lease renewal.
  std::vector<RunRef> running() const;

 private:
  struct Job {
    RunTask run;
    std::shared_ptr<std::atomic<bool>> cancelled;
  };
  void work();

  const HandlerRegistry& handlers_;
  OnFinished on_finished_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  std::map<RunRef, std::shared_ptr<std::atomic<bool>>> running_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace mesh
