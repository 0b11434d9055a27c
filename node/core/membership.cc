#include "node/core/membership.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "node/core/assert.h"

namespace mesh {
namespace {

bool is_live(MemberState s) { return s == MemberState::kAlive || s == MemberState::kSuspect; }
bool is_alive(MemberState s) { return s == MemberState::kAlive; }
bool is_dead(MemberState s) { return s == MemberState::kDead; }
bool is_down(MemberState s) { return s == MemberState::kDead || s == MemberState::kLeft; }

// At equal incarnation: DEAD/LEFT > SUSPECT > ALIVE.
int rank(MemberState s) {
  switch (s) {
    case MemberState::kAlive: return 0;
    case MemberState::kSuspect: return 1;
    case MemberState::kDead:
    case MemberState::kLeft: return 2;
  }
  return 0;
}

// True when `u` is a newer liveness fact than what is believed.
bool overrides(const MemberUpdate& u, uint64_t incarnation, MemberState state) {
  if (is_down(state)) return u.incarnation > incarnation && u.state != MemberState::kSuspect;
  if (u.incarnation != incarnation) return u.incarnation > incarnation;
  return rank(u.state) > rank(state);
}

uint64_t next_incarnation(uint64_t incarnation) {
  return incarnation < Membership::kMaxIncarnation ? incarnation + 1 : Membership::kMaxIncarnation;
}

}  // namespace

Membership::Membership(MembershipConfig config, std::string self_id, std::string self_address, Random& random,
                       std::string self_replica_id)
    : config_(config), self_id_(std::move(self_id)), self_address_(std::move(self_address)), random_(random) {
  MESH_ASSERT(config_.probe_interval_ms > 0 && config_.sync_interval_ms > 0 && config_.reap_after_ms > 0,
              "membership intervals must be > 0");
  if (self_replica_id.empty()) self_replica_id = self_id_;
  members_[self_id_] = Member{self_address_, 0, MemberState::kAlive, {}, 0, std::move(self_replica_id)};
  live_count_ = 1;
}

// --- public API ----------------------------------------------------------------

void Membership::join(uint64_t now_ms, const std::vector<std::string>& seed_addresses) {
  seeds_.clear();
  for (const auto& seed : seed_addresses) {
    if (seed != self_address_) seeds_.push_back(seed);
  }
  next_probe_ms_ = now_ms + config_.probe_interval_ms;
  next_sync_ms_ = now_ms + config_.sync_interval_ms;
  enqueue(self_id_, /*load_only=*/false);  // announce itself to whoever it talks to first
  for (const auto& seed : seeds_) send_sync(seed, /*reply=*/false);
}

void Membership::leave(uint64_t now_ms) {
  Member& me = member(self_id_);
  if (me.state == MemberState::kLeft) return;
  me.incarnation = next_incarnation(me.incarnation);
  set_state(now_ms, self_id_, me, MemberState::kLeft);
  enqueue(self_id_, /*load_only=*/false);
}

void Membership::receive(uint64_t now_ms, const PeerMessage& message) {
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        // Other peer messages (work stealing) are not membership's business.
        if constexpr (std::is_same_v<T, Ping> || std::is_same_v<T, PingReq> || std::is_same_v<T, Ack> ||
                      std::is_same_v<T, Sync>) {
          on(now_ms, m);
        }
      },
      message);
}

void Membership::tick(uint64_t now_ms) {
  expire_relays(now_ms);
  if (probe_ && !probe_->indirect_sent && now_ms >= probe_->indirect_at_ms) send_indirect_probes();
  if (next_probe_ms_ && now_ms >= *next_probe_ms_) {
    end_probe_period(now_ms);
    start_probe(now_ms);
    next_probe_ms_ = now_ms + config_.probe_interval_ms;
  }
  if (next_sync_ms_ && now_ms >= *next_sync_ms_) {
    sync_round();
    next_sync_ms_ = now_ms + config_.sync_interval_ms;
  }
  // The steps above may have confirmed a suspicion into the past.
  expire_suspicions(now_ms);
  reap(now_ms);
}

void Membership::set_local_load(const LoadDigest& load) {
  Member& me = member(self_id_);
  uint64_t version = me.load.version + 1;
  me.load = load;
  me.load.version = version;
  ++view_version_;
  enqueue(self_id_, /*load_only=*/true);
}

std::vector<OutgoingPeerMessage> Membership::take_outbox() { return std::exchange(outbox_, {}); }

std::vector<std::string> Membership::take_released_addresses() { return std::exchange(released_, {}); }

std::vector<Membership::Change> Membership::take_changes() { return std::exchange(changes_, {}); }

uint64_t Membership::reaped_total() const { return reaped_total_; }

std::optional<uint64_t> Membership::next_wake_ms() const {
  std::optional<uint64_t> wake;
  auto earliest = [&](uint64_t t) { wake = wake ? std::min(*wake, t) : t; };
  if (next_probe_ms_) earliest(*next_probe_ms_);
  if (next_sync_ms_) earliest(*next_sync_ms_);
  if (probe_ && !probe_->indirect_sent) earliest(probe_->indirect_at_ms);
  for (const auto& [seq, relay] : relays_) earliest(relay.nack_at_ms);
  for (const auto& [id, suspicion] : suspicions_) earliest(suspicion.deadline_ms);
  for (const auto& [id, m] : members_) {
    if (id != self_id_ && is_down(m.state)) earliest(m.state_since_ms + config_.reap_after_ms);
  }
  for (const auto& [id, tombstone] : tombstones_) earliest(tombstone.until_ms);
  return wake;
}

std::vector<MemberView> Membership::members() const {
  return members_where([](MemberState, const LoadDigest&) { return true; });
}

std::optional<MemberView> Membership::find(const std::string& id) const {
  auto it = members_.find(id);
  if (it == members_.end()) return std::nullopt;
  const Member& m = it->second;
  return MemberView{id, m.address, m.incarnation, m.state, m.load, m.state_since_ms, m.replica_id};
}

std::vector<MemberView> Membership::members_where(
    const std::function<bool(MemberState, const LoadDigest&)>& keep) const {
  std::vector<MemberView> views;
  for (const auto& [id, m] : members_) {
    if (keep(m.state, m.load)) {
      views.push_back(MemberView{id, m.address, m.incarnation, m.state, m.load, m.state_since_ms, m.replica_id});
    }
  }
  return views;
}

std::vector<std::string> Membership::live_ids() const {
  std::vector<std::string> ids;
  for (const auto& [id, m] : members_) {
    if (is_live(m.state)) ids.push_back(id);
  }
  return ids;
}

bool Membership::down(const std::string& id) const {
  auto it = members_.find(id);
  return it != members_.end() ? is_down(it->second.state) : tombstones_.count(id) > 0;
}

uint64_t Membership::live_version() const { return live_version_; }
uint64_t Membership::view_version() const { return view_version_; }
const std::string& Membership::self_id() const { return self_id_; }
const std::string& Membership::self_replica_id() const { return member(self_id_).replica_id; }
uint64_t Membership::incarnation() const { return member(self_id_).incarnation; }

// --- messages --------------------------------------------------------------------

void Membership::on(uint64_t now_ms, const Ping& ping) {
  // A Ping meant for another node reached this address (stale address reuse).
  if (ping.from_id == self_id_ || ping.target_id != self_id_) return;
  learn_sender(now_ms, ping.from_id, ping.from_address);
  merge_all(now_ms, ping.updates, ping.from_id);
  send(ping.from_address, Ack{ping.seq, self_id_, self_address_, false, piggyback(ping.from_id)});
}

void Membership::on(uint64_t now_ms, const PingReq& req) {
  if (req.from_id == self_id_) return;
  learn_sender(now_ms, req.from_id, req.from_address);
  merge_all(now_ms, req.updates, req.from_id);
  confirm_suspicion(req.target_id, req.from_id);  // its direct probe of the target failed
  uint64_t seq = ++seq_;
  relays_[seq] = Relay{req.from_id,       req.from_address,   req.seq,
                       req.target_id,     req.target_address, now_ms + config_.probe_timeout_ms};
  send(req.target_address, Ping{seq, self_id_, self_address_, req.target_id, piggyback(req.target_id)});
}

void Membership::on(uint64_t now_ms, const Ack& ack) {
  if (ack.from_id == self_id_) return;
  learn_sender(now_ms, ack.from_id, ack.from_address);
  merge_all(now_ms, ack.updates, ack.from_id);
  bool ours = probe_ && ack.seq == probe_->seq;
  if (ack.nack) {
    // The intermediary could not reach the target either; the probe still waits for an Ack.
    if (ours) confirm_suspicion(probe_->target_id, ack.from_id);
    return;
  }
  if (ours) {
    probe_.reset();
    return;
  }
  auto relay = relays_.find(ack.seq);
  if (relay == relays_.end()) return;
  const Relay& r = relay->second;
  send(r.requester_address, Ack{r.requester_seq, self_id_, self_address_, false, piggyback(r.requester_id)});
  release_address(r.target_address);  // unless a member uses it: a requester may name any address
  relays_.erase(relay);
}

void Membership::on(uint64_t now_ms, const Sync& sync) {
  if (sync.from_id == self_id_) return;
  learn_sender(now_ms, sync.from_id, sync.from_address);
  merge_all(now_ms, sync.members, sync.from_id);
  if (!sync.reply) send_sync(sync.from_address, /*reply=*/true);
}

// --- merging facts ---------------------------------------------------------------

void Membership::merge_all(uint64_t now_ms, const std::vector<MemberUpdate>& updates, const std::string& reporter) {
  for (const auto& u : updates) merge(now_ms, u, reporter);
}

void Membership::merge(uint64_t now_ms, const MemberUpdate& update, const std::string& reporter) {
  if (update.id.empty() || update.incarnation > kMaxIncarnation) return;
  if (update.id == self_id_) return hear_about_self(update);
  auto it = members_.find(update.id);
  if (it == members_.end()) {
    if (buried(update)) return;
    // The death of a member it never knew: remembered, never gossiped on.
    if (is_down(update.state)) return bury(now_ms, update.id, update.incarnation, update.state);
    tombstones_.erase(update.id);  // a new life
    return add_member(now_ms, update, reporter);
  }
  Member& m = it->second;
  if (overrides(update, m.incarnation, m.state)) return accept(now_ms, update, m, reporter);
  // Old news. It may still name the replica id of a member learnt as a sender.
  if (update.incarnation == m.incarnation && m.replica_id.empty() && !update.replica_id.empty()) {
    m.replica_id = update.replica_id;
    ++view_version_;
    enqueue(update.id, /*load_only=*/true);
  }
  // A repeated suspicion confirms nothing: it may only be relayed.
  if (update.incarnation != m.incarnation || rank(update.state) != rank(m.state)) return;
  if (update.load.version > m.load.version) {
    m.load = update.load;
    ++view_version_;
    enqueue(update.id, /*load_only=*/true);
  }
}

void Membership::learn_sender(uint64_t now_ms, const std::string& id, const std::string& address) {
  if (id.empty() || id == self_id_ || members_.count(id)) return;
  if (tombstones_.count(id)) return tell_reaped(id, address);
  // Its replica id is unknown until a fact about it arrives.
  add_member(now_ms, MemberUpdate{id, address, 0, MemberState::kAlive, {}, ""}, id);
}

void Membership::add_member(uint64_t now_ms, const MemberUpdate& update, const std::string& reporter) {
  members_[update.id] =
      Member{update.address, update.incarnation, update.state, update.load, now_ms, update.replica_id};
  ++view_version_;  // a new member is news to whoever scans the view
  if (is_live(update.state)) {
    ++live_count_;
    ++live_version_;
  }
  if (update.state == MemberState::kSuspect) start_suspicion(now_ms, update.id, reporter);
  enqueue(update.id, /*load_only=*/false);
  if (update.id != self_id_) changes_.push_back({update.id, update.state, true});
}

void Membership::accept(uint64_t now_ms, const MemberUpdate& update, Member& m, const std::string& reporter) {
  // Load versions restart with a new life; within one life the newest wins.
  if (update.incarnation > m.incarnation || update.load.version > m.load.version) m.load = update.load;
  ++view_version_;
  if (!update.address.empty() && update.address != m.address) {
    std::string old_address = std::exchange(m.address, update.address);
    release_address(old_address);
  }
  if (!update.replica_id.empty()) m.replica_id = update.replica_id;
  m.incarnation = update.incarnation;
  set_state(now_ms, update.id, m, update.state);
  // Also a suspicion at a higher incarnation: it starts over.
  if (update.state == MemberState::kSuspect) start_suspicion(now_ms, update.id, reporter);
  enqueue(update.id, /*load_only=*/false);
}

void Membership::hear_about_self(const MemberUpdate& update) {
  const Member& me = member(self_id_);
  if (me.state == MemberState::kLeft) return;  // it left for good: nothing to refute
  bool accused = update.state != MemberState::kAlive;
  bool previous_life =
      !accused && (update.incarnation > me.incarnation ||
                   (update.incarnation == me.incarnation &&
                    (update.load.version > me.load.version ||
                     (!update.replica_id.empty() && update.replica_id != me.replica_id) ||
                     (!update.address.empty() && update.address != me.address))));
  if (previous_life || (accused && update.incarnation >= me.incarnation)) return refute(update.incarnation);
  // An accusation it already refuted: the sender missed that, so say it again.
  if (accused) enqueue(self_id_, /*load_only=*/false);
}

void Membership::refute(uint64_t heard_incarnation) {
  member(self_id_).incarnation = next_incarnation(heard_incarnation);
  enqueue(self_id_, /*load_only=*/false);
}

void Membership::set_state(uint64_t now_ms, const std::string& id, Member& m, MemberState state) {
  if (m.state == state) return;
  ++view_version_;
  if (is_live(m.state) != is_live(state)) {
    if (is_live(state)) {
      ++live_count_;
    } else {
      --live_count_;
    }
    ++live_version_;
  }
  if (m.state == MemberState::kSuspect) suspicions_.erase(id);
  if (is_down(state) && probe_ && probe_->target_id == id) probe_.reset();  // nothing left to probe
  m.state = state;
  m.state_since_ms = now_ms;
  if (id != self_id_) changes_.push_back({id, state, false});
}

// --- reaping --------------------------------------------------------------------

void Membership::reap(uint64_t now_ms) {
  std::vector<std::string> due;
  for (const auto& [id, m] : members_) {
    if (id != self_id_ && is_down(m.state) && m.state_since_ms + config_.reap_after_ms <= now_ms) due.push_back(id);
  }
  for (const auto& id : due) {
    auto it = members_.find(id);
    const Member& m = it->second;
    bury(now_ms, id, m.incarnation, m.state);
    if (auto queued = broadcasts_.find(id); queued != broadcasts_.end()) {
      broadcast_order_.erase(queued->second);
      broadcasts_.erase(queued);
    }
    std::string address = m.address;
    members_.erase(it);
    release_address(address);
    ++reaped_total_;
  }
  std::erase_if(tombstones_, [&](const auto& entry) { return entry.second.until_ms <= now_ms; });
}

void Membership::bury(uint64_t now_ms, const std::string& id, uint64_t incarnation, MemberState state) {
  tombstones_[id] = Tombstone{incarnation, state, now_ms + config_.reap_after_ms};
  ++view_version_;  // down(id) changed
}

void Membership::release_address(const std::string& address) {
  if (address.empty() || address == self_address_) return;
  for (const auto& [id, m] : members_) {
    if (m.address == address) return;  // another member (a new node at a reused port) still uses it
  }
  released_.push_back(address);
}

bool Membership::buried(const MemberUpdate& update) const {
  auto it = tombstones_.find(update.id);
  return it != tombstones_.end() && !overrides(update, it->second.incarnation, it->second.state);
}

void Membership::tell_reaped(const std::string& id, const std::string& address) {
  const Tombstone& t = tombstones_.at(id);
  send(address, Sync{self_id_, self_address_, /*reply=*/true, {MemberUpdate{id, address, t.incarnation, t.state, {}, ""}}});
}

// --- suspicion -------------------------------------------------------------------

void Membership::suspect(uint64_t now_ms, const std::string& id) {
  auto it = members_.find(id);
  if (it == members_.end()) return;
  if (it->second.state == MemberState::kSuspect) return confirm_suspicion(id, self_id_);
  MemberUpdate suspicion = fact(id);
  suspicion.state = MemberState::kSuspect;
  merge(now_ms, suspicion, self_id_);  // ignored if it is dead or left
}

void Membership::start_suspicion(uint64_t now_ms, const std::string& id, const std::string& reporter) {
  size_t n = live_count_;
  Suspicion s;
  s.start_ms = now_ms;
  s.min_ms = config_.suspicion_mult * std::log10(static_cast<double>(std::max<size_t>(n, 1)) + 1) *
             static_cast<double>(config_.probe_interval_ms);
  s.max_ms = config_.suspicion_max_mult * s.min_ms;
  // Only the members other than this node and the suspect can confirm.
  s.expected = static_cast<uint32_t>(std::min<size_t>(config_.indirect_probes, n >= 2 ? n - 2 : 0));
  s.reporters.insert(reporter);
  s.deadline_ms = suspicion_deadline_ms(s);
  suspicions_[id] = std::move(s);
}

void Membership::confirm_suspicion(const std::string& id, const std::string& reporter) {
  auto it = suspicions_.find(id);
  if (it == suspicions_.end() || reporter == id) return;
  if (!it->second.reporters.insert(reporter).second) return;  // not independent: heard from it before
  it->second.deadline_ms = suspicion_deadline_ms(it->second);
}

uint64_t Membership::suspicion_deadline_ms(const Suspicion& s) {
  double confirmations = static_cast<double>(s.reporters.size() - 1);
  double timeout_ms = s.min_ms;
  if (s.expected > 0) {
    double shrink = std::log(confirmations + 1) / std::log(static_cast<double>(s.expected) + 1);
    timeout_ms = std::max(s.min_ms, s.max_ms - (s.max_ms - s.min_ms) * shrink);
  }
  return s.start_ms + static_cast<uint64_t>(timeout_ms);
}

void Membership::expire_suspicions(uint64_t now_ms) {
  std::vector<std::string> expired;
  for (const auto& [id, s] : suspicions_) {
    if (s.deadline_ms <= now_ms) expired.push_back(id);
  }
  for (const auto& id : expired) {
    set_state(now_ms, id, member(id), MemberState::kDead);
    enqueue(id, /*load_only=*/false);
  }
}

// --- probing ---------------------------------------------------------------------

void Membership::start_probe(uint64_t now_ms) {
  std::optional<std::string> target = next_probe_target();
  if (!target) return;
  probe_ = Probe{*target, ++seq_, now_ms + config_.probe_timeout_ms, false};
  send(member(*target).address, Ping{probe_->seq, self_id_, self_address_, *target, piggyback(*target)});
}

void Membership::end_probe_period(uint64_t now_ms) {
  if (!probe_) return;  // acked, or nobody to probe
  std::string target = std::move(probe_->target_id);
  probe_.reset();
  suspect(now_ms, target);
}

void Membership::send_indirect_probes() {
  probe_->indirect_sent = true;
  const std::string& target = probe_->target_id;
  std::vector<std::string> helpers = other_ids(is_alive, target);
  pick_random(helpers, config_.indirect_probes);
  for (const auto& helper : helpers) {
    send(member(helper).address,
         PingReq{probe_->seq, self_id_, self_address_, target, member(target).address, piggyback(helper)});
  }
}

std::optional<std::string> Membership::next_probe_target() {
  for (int pass = 0; pass < 2; ++pass) {
    while (probe_index_ < probe_order_.size()) {
      const std::string& id = probe_order_[probe_index_++];
      // Skip those that died, left or were reaped during the round.
      if (auto it = members_.find(id); it != members_.end() && is_live(it->second.state)) return id;
    }
    // A new order every round: fair (each member once per round) yet not predictable.
    probe_order_ = other_ids(is_live);
    pick_random(probe_order_, probe_order_.size());
    probe_index_ = 0;
  }
  return std::nullopt;
}

void Membership::expire_relays(uint64_t now_ms) {
  for (auto it = relays_.begin(); it != relays_.end();) {
    if (it->second.nack_at_ms > now_ms) {
      ++it;
      continue;
    }
    const Relay& r = it->second;
    confirm_suspicion(r.target_id, self_id_);  // this node cannot reach it either
    send(r.requester_address, Ack{r.requester_seq, self_id_, self_address_, true, piggyback(r.requester_id)});
    release_address(r.target_address);
    it = relays_.erase(it);
  }
}

// --- anti-entropy ----------------------------------------------------------------

void Membership::sync_round() {
  std::vector<std::string> live = other_ids(is_live);
  if (live.empty()) {
    // It never reached anyone (the seeds' answers were lost): try them again.
    for (const auto& seed : seeds_) send_sync(seed, /*reply=*/false);
  } else {
    pick_random(live, 1);
    send_sync(member(live.front()).address, /*reply=*/false);
  }
  // A member we think dead may be behind a healed partition; if so it refutes.
  std::vector<std::string> dead = other_ids(is_dead);
  if (!dead.empty()) {
    pick_random(dead, 1);
    send_sync(member(dead.front()).address, /*reply=*/false);
  }
  // Once the dead are reaped, a seed on the far side of a partition is the way back.
  if (live.empty()) return;  // it just Synced with every seed
  std::set<std::string> live_addresses;
  for (const auto& [id, m] : members_) {
    if (is_live(m.state)) live_addresses.insert(m.address);
  }
  std::vector<std::string> lost_seeds;
  for (const auto& seed : seeds_) {
    if (!live_addresses.count(seed)) lost_seeds.push_back(seed);
  }
  if (!lost_seeds.empty()) {
    pick_random(lost_seeds, 1);
    send_sync(lost_seeds.front(), /*reply=*/false);
  }
}

void Membership::send_sync(const std::string& address, bool reply) {
  send(address, Sync{self_id_, self_address_, reply, full_state()});
}

std::vector<MemberUpdate> Membership::full_state() const {
  std::vector<MemberUpdate> state;
  state.reserve(members_.size());
  for (const auto& [id, m] : members_) state.push_back(fact(id));
  return state;
}

// --- dissemination ---------------------------------------------------------------

void Membership::enqueue(const std::string& id, bool load_only) {
  auto it = broadcasts_.find(id);
  if (it != broadcasts_.end()) {
    // A queued liveness change sends the newest load too, and keeps its place.
    if (load_only && !it->second.load_only) return;
    broadcast_order_.erase(it->second);
  }
  BroadcastKey key{load_only, 0, std::numeric_limits<uint64_t>::max() - ++enqueued_, id};
  broadcast_order_.insert(key);
  broadcasts_[id] = std::move(key);
}

std::vector<MemberUpdate> Membership::piggyback(const std::string& to_id) {
  std::vector<MemberUpdate> updates;
  if (config_.max_updates_per_message == 0) return updates;
  auto to = members_.find(to_id);
  bool to_suspect = to != members_.end() && to->second.state == MemberState::kSuspect;
  if (to_suspect) updates.push_back(fact(to_id));  // so it can refute
  std::vector<BroadcastKey> keys =
      peek_broadcasts(config_.max_updates_per_message - updates.size(), to_suspect ? to_id : "");
  for (const auto& key : keys) updates.push_back(fact(key.id));
  // A suspect may be gone: what rides along to it does not use up a send.
  if (!to_suspect) count_sent(std::move(keys));
  return updates;
}

std::vector<Membership::BroadcastKey> Membership::peek_broadcasts(size_t max, const std::string& except) const {
  std::vector<BroadcastKey> keys;
  for (auto it = broadcast_order_.begin(); it != broadcast_order_.end() && keys.size() < max; ++it) {
    if (it->id != except) keys.push_back(*it);
  }
  return keys;
}

void Membership::count_sent(std::vector<BroadcastKey> keys) {
  uint32_t limit = retransmit_limit();
  for (auto& key : keys) {
    broadcast_order_.erase(key);
    if (++key.transmits >= limit) {
      broadcasts_.erase(key.id);
      continue;
    }
    broadcast_order_.insert(key);
    broadcasts_[key.id] = key;
  }
}

uint32_t Membership::retransmit_limit() const {
  double n = static_cast<double>(live_count_);
  return config_.retransmit_mult * static_cast<uint32_t>(std::ceil(std::log10(n + 1)));
}

// --- helpers ---------------------------------------------------------------------

void Membership::send(const std::string& address, PeerMessage message) {
  outbox_.push_back(OutgoingPeerMessage{address, std::move(message)});
}

MemberUpdate Membership::fact(const std::string& id) const {
  const Member& m = member(id);
  return MemberUpdate{id, m.address, m.incarnation, m.state, m.load, m.replica_id};
}

Membership::Member& Membership::member(const std::string& id) {
  auto it = members_.find(id);
  MESH_ASSERT(it != members_.end(), "member must be known");
  return it->second;
}

const Membership::Member& Membership::member(const std::string& id) const {
  auto it = members_.find(id);
  MESH_ASSERT(it != members_.end(), "member must be known");
  return it->second;
}

std::vector<std::string> Membership::other_ids(StatePredicate keep, const std::string& exclude) const {
  std::vector<std::string> ids;
  for (const auto& [id, m] : members_) {
    if (id != self_id_ && id != exclude && keep(m.state)) ids.push_back(id);
  }
  return ids;
}

void Membership::pick_random(std::vector<std::string>& ids, size_t k) {
  k = std::min(k, ids.size());
  for (size_t i = 0; i < k; ++i) {
    size_t j = i + static_cast<size_t>(random_.uniform(ids.size() - i));
    std::swap(ids[i], ids[j]);
  }
  ids.resize(k);
}

}  // namespace mesh
