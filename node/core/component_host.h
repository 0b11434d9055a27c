// ComponentHost: what a sans-IO component of a node (Transactions,
// Dependencies) may see and do of its node. NodeState implements it
// (node/core/node_components.cc); tests may implement it alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "node/core/input.h"
#include "node/core/task_table.h"
#include "protocol/peer_messages.h"

namespace mesh {

// Which component gets the answer to an ask, and its handle for it.
enum class Asker : uint8_t { kDependencies, kTransactions };
struct AskRef {
  Asker asker = Asker::kDependencies;
  uint64_t handle = 0;
};

class ComponentHost {
 public:
  virtual ~ComponentHost() = default;
  virtual uint64_t now_ms() const = 0;
  virtual const std::string& address() const = 0;
  virtual uint32_t partitions() const = 0;
  // This node's table of a partition it leads and can write to; else nullptr.
  virtual const TaskTable* led_table(uint32_t partition) const = 0;
  virtual bool propose(uint32_t partition, const TaskOp& op) = 0;
  // Where to ask for a partition's leader: the likeliest first, never this node.
  virtual std::vector<std::string> candidates(uint32_t partition) const = 0;
  virtual std::string leader_address(uint32_t partition) const = 0;
  virtual void send(const std::string& address, PeerMessage message) = 0;
  // Whether this node would store the task (handler, limits, backpressure).
  virtual Status admit(const TaskSpec& spec) const = 0;
  virtual void answer_client(RequestRef request, Reply reply) = 0;
  // Asks the mesh a get, wait or list as a client's request would be served
  // (routed to the partitions' leaders, linearizable); the answer comes back
  // to the asker's on_answer with the ref's handle.
  virtual void ask(AskRef ref, Request query, uint64_t timeout_ms) = 0;
  // Starts an atomic submit (Transactions) of tasks that all have ids.
  virtual void submit_atomic(RequestRef request, std::string txn, std::vector<TaskSpec> tasks) = 0;
  virtual void count(const std::string& name) = 0;
  // Intents on a led partition were resolved after waiting this long.
  virtual void record_in_doubt(uint64_t ms) = 0;
  virtual void event(std::string kind, std::string subject, std::string detail) = 0;
};

}  // namespace mesh
