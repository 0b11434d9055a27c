// NodeState's seam to its Transactions component (node/core/transactions.h):
// what the component may see and do of its node, and where the node hands
// it atomic submits, transaction messages, applied ops and leadership.
#include "node/core/node_state.h"
#include "node/core/transactions.h"

namespace mesh {

class NodeTxnHost final : public TxnHost {
 public:
  explicit NodeTxnHost(NodeState& node) : node_(node) {}

  uint64_t now_ms() const override { return node_.now_ms_; }
  const std::string& address() const override { return node_.config_.address; }
  uint32_t partitions() const override { return node_.config_.ring.partitions; }
  const TaskTable* led_table(uint32_t partition) const override {
    const NodeState::Replica* r = partition < partitions() ? node_.replica(partition) : nullptr;
    if (r == nullptr || !r->leading || r->halted || !r->raft->transfer_target().empty()) return nullptr;
    return &r->table;
  }
  bool propose(uint32_t partition, const TaskOp& op) override { return node_.propose(partition, op); }
  std::vector<std::string> candidates(uint32_t partition) const override { return node_.route_candidates(partition); }
  std::string leader_address(uint32_t partition) const override { return node_.leader_address(partition); }
  void send(const std::string& address, PeerMessage message) override { node_.send(address, std::move(message)); }
  Status admit(const TaskSpec& spec) const override {
    return node_.admit(spec, node_.unfinished() + node_.submits_in_flight_.size());
  }
  void answer_client(RequestRef request, SubmitReply reply) override {
    node_.out_.replies.push_back({request, std::move(reply)});
  }
  void count(const std::string& name) override { node_.count(name); }
  void event(std::string kind, std::string subject, std::string detail) override {
    node_.event(std::move(kind), std::move(subject), std::move(detail));
  }

 private:
  NodeState& node_;
};

void NodeState::start_transactions() {
  txn_host_ = std::make_unique<NodeTxnHost>(*this);
  txns_ = std::make_unique<Transactions>(config_.transactions, *txn_host_);
}

void NodeState::submit_atomic(RequestRef request, std::string txn, std::vector<TaskSpec> tasks) {
  assign_ids(tasks);
  if (txn.empty()) txn = random_id("x-");
  txns_->submit(request, std::move(txn), std::move(tasks));
}

void NodeState::on_peer(const TxnRequest& m) { txns_->on_request(m); }
void NodeState::on_peer(const TxnReply& m) { txns_->on_reply(m); }

// A resolve that commits makes records: indexed like submits, and runnable
// here when this node leads the partition.
void NodeState::apply_transaction_op(uint32_t partition, Replica& r, const TaskOp& op) {
  std::vector<std::string> created;
  Status status = r.table.apply(op, &created);
  for (const auto& id : created) {
    task_partition_.emplace(id, partition);
    if (!r.leading) continue;
    count("tasks_submitted");
    reindex(partition, *r.table.find(id), false);
  }
  txns_->on_applied(partition, op, status, r.leading);
}

TxnsReply NodeState::transactions_view() const { return TxnsReply{config_.node_id, txns_->view()}; }

}  // namespace mesh
