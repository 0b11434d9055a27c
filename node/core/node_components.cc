// NodeState's seam to its sans-IO components, Transactions and Dependencies
// (node/core/component_host.h): what they may see and do of their node, and
// where the node hands them submits, messages, applied ops and leadership.
#include <algorithm>

#include "node/core/dependencies.h"
#include "node/core/node_state.h"
#include "node/core/transactions.h"

namespace mesh {

class NodeComponentHost final : public ComponentHost {
 public:
  explicit NodeComponentHost(NodeState& node) : node_(node) {}

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
  void answer_client(RequestRef request, Reply reply) override {
    node_.out_.replies.push_back({request, std::move(reply)});
  }
  void ask(AskRef ref, Request query, uint64_t timeout_ms) override {
    node_.start_fanout(0, std::move(query), timeout_ms, ref);
  }
  void submit_atomic(RequestRef request, std::string txn, std::vector<TaskSpec> tasks) override {
    node_.txns_->submit(request, std::move(txn), std::move(tasks));
  }
  void count(const std::string& name) override { node_.count(name); }
  void record_in_doubt(uint64_t ms) override { node_.out_.txn_in_doubt_ms.push_back(ms); }
  void event(std::string kind, std::string subject, std::string detail) override {
    node_.event(std::move(kind), std::move(subject), std::move(detail));
  }

 private:
  NodeState& node_;
};

void NodeState::start_components() {
  component_host_ = std::make_unique<NodeComponentHost>(*this);
  txns_ = std::make_unique<Transactions>(config_.transactions, *component_host_);
  deps_ = std::make_unique<Dependencies>(config_.dependencies, *component_host_);
}

// An atomic submit, or one whose tasks name parents: stored all or none.
void NodeState::submit_atomic(RequestRef request, std::string txn, std::vector<TaskSpec> tasks) {
  assign_ids(tasks);
  if (txn.empty()) txn = random_id("x-");
  bool dependent = std::any_of(tasks.begin(), tasks.end(), [](const TaskSpec& t) { return !t.after.empty(); });
  if (dependent) return deps_->submit(request, std::move(txn), std::move(tasks));
  txns_->submit(request, std::move(txn), std::move(tasks));
}

void NodeState::on_peer(const TxnRequest& m) { txns_->on_request(m); }
void NodeState::on_peer(const TxnReply& m) { txns_->on_reply(m); }

// Ops naming no single task (a transaction's, OpParentsDone): the records
// they made are indexed like submits, and every record they made or moved
// is scheduled anew when this node leads the partition.
void NodeState::apply_multi_task_op(uint32_t partition, Replica& r, const TaskOp& op) {
  std::vector<std::string> touched;
  Status status = r.table.apply(op, &touched);
  bool transaction = !std::holds_alternative<OpParentsDone>(op);
  for (const auto& id : touched) {
    // New: a commit's submits. Others existed before: the tasks a job
    // cancel held, OpParentsDone's children.
    auto [begin, end] = task_partition_.equal_range(id);
    bool created = std::none_of(begin, end, [&](const auto& entry) { return entry.second == partition; });
    const TaskRecord& record = *r.table.find(id);
    if (created) {
      task_partition_.emplace(id, partition);
      jobs_.note(TaskKey{partition, id}, record.txn);
    }
    if (!r.leading) continue;
    if (created) count("tasks_submitted");
    if (record.state == TaskState::kFailed) count("tasks_failed_upstream");
    reindex(partition, record, false);
    if (is_terminal(record.state)) out_.finished.push_back(record);
  }
  if (transaction) txns_->on_applied(partition, op, status, r.leading);
  if (const auto* resolve = std::get_if<OpTxnResolve>(&op); resolve != nullptr && r.leading) {
    release_intent_reads(partition, &resolve->txn);
  }
}

TxnsReply NodeState::transactions_view() const { return TxnsReply{config_.node_id, txns_->view()}; }

}  // namespace mesh
