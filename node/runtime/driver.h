// Node: the driver that runs one NodeState for real. One Asio loop thread
// owns the core; client requests arrive on a ZeroMQ ROUTER, handlers run on
// the executor, and every input is fed to NodeState::step.
//
// Group commit: effects of all inputs handled in one loop turn are gathered,
// then flushed together (node/runtime/turn_output.h): one synced RocksDB
// write of every changed record, then the replies, the peer messages, aborts
// and new runs. A reply never leaves before the state it acknowledges is on
// disk. If the store refuses a write the node
// stops at once (exit 1) rather than answer from state it could not persist.
#pragma once

#include <functional>
#include <memory>

#include "node/runtime/config.h"
#include "node/runtime/handler.h"
#include "protocol/result.h"

namespace mesh {

class Node {
 public:
  Node(NodeOptions options, HandlerRegistry handlers);
  ~Node();

  // Opens the store, recovers its tasks, binds the sockets and writes
  // <data_dir>/meshd.endpoint (and metrics.endpoint). Errors are start-up
  // errors with a message for the operator.
  Status start();
  // Serves until SIGTERM or SIGINT, then drains: no new submits, running
  // attempts get drain_grace_ms to finish, state is persisted. Returns the
  // process exit code.
  int run();
  // Called on the loop at each SIGHUP (before run(): from then on).
  void on_reload(std::function<void()> reload);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mesh
