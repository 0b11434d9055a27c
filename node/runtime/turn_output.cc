#include "node/runtime/turn_output.h"

#include <algorithm>
#include <chrono>

#include "node/io/raft_store.h"
#include "protocol/codec.h"
#include "protocol/limits.h"

namespace mesh {

TurnOutput::TurnOutput(Storage& store, PeerOutlet& peers, std::string node_id)
    : store_(store), peers_(peers), node_id_(std::move(node_id)) {}

void TurnOutput::attach(ReplyOutlet* replies, RunOutlet* runs) {
  replies_ = replies;
  runs_ = runs;
}

void TurnOutput::reply_now(const Client& client, Reply reply) {
  outgoing_.push_back({client, std::move(reply)});
}

size_t TurnOutput::requests_awaiting_reply() const {
  return std::count_if(clients_.begin(), clients_.end(), [](const auto& c) { return !c.second.wait; });
}

void TurnOutput::add(Effects& effects) {
  // A compaction covers entries this very step may have appended: after them.
  for (const auto& w : effects.raft_writes) {
    add_raft_ready(w.group, w.ready, batch_);
    batch_must_sync_ = batch_must_sync_ || w.ready.must_sync;
  }
  for (const auto& c : effects.compactions) add_raft_compaction(c.group, c.snapshot, batch_);
  if (effects.known_peers) add_known_peers(*effects.known_peers, batch_);
  for (auto& addressed : effects.replies) {
    auto it = clients_.find(addressed.request);
    if (it == clients_.end()) continue;
    if (answered_ && !it->second.deliver) answered_(it->second);
    outgoing_.push_back({std::move(it->second), std::move(addressed.reply)});
    clients_.erase(it);
  }
  for (auto& send : effects.sends) sends_.push_back(std::move(send));
  for (auto& address : effects.disconnects) disconnects_.push_back(std::move(address));
  for (auto& abort : effects.aborts) aborts_.push_back(std::move(abort));
  for (auto& run : effects.runs) new_runs_.push_back(std::move(run));
}

void TurnOutput::send_to_peer(const OutgoingPeerMessage& send) {
  Envelope env{kProtocolVersion, static_cast<uint16_t>(peer_kind(send.message)), 0, node_id_, mesh_id_};
  if (!peers_.send(send.to_address, encode_envelope(env), encode_peer(send.message))) {
    ++counters_["peer_sends_dropped"];
  }
}

Status TurnOutput::flush() {
  if (failed_) return Status(ErrorCode::kStorageError, "an earlier write failed");
  // Requests that depend on nothing written go out first: their round trip
  // overlaps the sync.
  auto waiting = std::stable_partition(sends_.begin(), sends_.end(),
                                       [](const OutgoingPeerMessage& send) { return may_leave_before_sync(send); });
  std::vector<OutgoingPeerMessage> early(std::make_move_iterator(sends_.begin()), std::make_move_iterator(waiting));
  sends_.erase(sends_.begin(), waiting);
  merge_raft_batches(early);
  for (const auto& send : early) send_to_peer(send);
  if (!batch_.empty()) {
    auto started = std::chrono::steady_clock::now();
    Status s = store_.write(batch_, batch_must_sync_);
    if (batch_must_sync_) {
      sync_us_.record(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count()));
    }
    batch_writes_.record(batch_.ops().size());
    batch_ = WriteBatch{};
    batch_must_sync_ = false;
    if (!s.ok()) {
      failed_ = true;
      return s;
    }
  }
  if (replies_ != nullptr) {
    for (const auto& o : outgoing_) send_reply(o);
    outgoing_.clear();
  }
  merge_raft_batches(sends_);
  for (const auto& send : sends_) send_to_peer(send);
  sends_.clear();
  // After the sends: a send gathered earlier in this turn must not dial a released address again.
  for (const auto& address : disconnects_) counters_["peer_connections_closed"] += peers_.disconnect(address);
  disconnects_.clear();
  if (runs_ != nullptr) {
    // Runs first: a turn gathers several steps, and an abort may name a run
    // an earlier step of the same turn started.
    for (auto& run : new_runs_) runs_->start(std::move(run));
    for (const auto& a : aborts_) runs_->abort(RunRef{a.partition, a.id, a.attempt});
    aborts_.clear();
    new_runs_.clear();
  }
  return Status::Ok();
}

void TurnOutput::send_reply(const Outgoing& o) {
  if (o.client.deliver) return o.client.deliver(o.reply);
  uint16_t kind = static_cast<uint16_t>(reply_kind(o.reply));
  std::string body = encode_reply(o.reply);
  if (body.size() > limits::kMaxFrameBytes) {
    // The client would drop the frame and see no answer at all.
    ++counters_["replies_too_large"];
    kind = static_cast<uint16_t>(MessageKind::kErrorReply);
    body = encode_reply(ErrorReply{ErrorCode::kTooLarge, "reply of " + std::to_string(body.size()) +
                                                             " bytes is over the frame limit: ask for fewer tasks"});
  }
  replies_->send(o.client.peer, encode_envelope(Envelope{kProtocolVersion, kind, o.client.request_id, node_id_}),
                 body);
}

}  // namespace mesh
