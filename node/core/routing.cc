// NodeState's routing of client requests (the rules are in node_state.h):
// submits go to the leader of each partition they touch; reads, waits and
// cancels by id go to the leaders of their ids' partitions first, then to
// every live node; the origin gathers the answers and replies to its client
// once.
#include <algorithm>

#include "node/core/node_state.h"
#include "node/core/partitioning.h"
#include "protocol/codec.h"
#include "protocol/limits.h"

namespace mesh {

namespace {
// Pause before asking again when a round found a partition without a leader:
// an election takes about an election timeout, so spinning gains nothing.
constexpr uint64_t kRetryPauseMs = 50;
// A wait is served as long-polls of at most this long: a leader that dies
// or is deposed while holding one costs at most a round, not the whole wait.
constexpr uint64_t kWaitRoundMs = 5000;

// The payloads and results a read's answer carries: most of its size.
size_t payload_bytes(const Reply& reply) {
  const std::vector<TaskRecord>* records = std::visit(
      [](const auto& r) -> const std::vector<TaskRecord>* {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, GetReply> || std::is_same_v<T, WaitReply> || std::is_same_v<T, ListReply>) {
          return &r.records;
        } else {
          return nullptr;
        }
      },
      reply);
  size_t bytes = 0;
  if (records != nullptr) {
    for (const auto& r : *records) bytes += r.spec.payload.size() + r.result.size();
  }
  return bytes;
}
}  // namespace

// --- submits -------------------------------------------------------------------------

void NodeState::route_submit(RequestRef request, std::vector<TaskSpec> tasks) {
  uint64_t client_id = next_handle_++;
  ClientSubmit& client = client_submits_[client_id];
  client.request = request;
  client.reply.outcomes.resize(tasks.size());
  client.deadline_ms = now_ms_ + config_.replication.request_deadline_ms;
  std::map<uint32_t, uint64_t> route_of_partition;
  assign_ids(tasks);
  for (size_t i = 0; i < tasks.size(); ++i) {
    TaskSpec& spec = tasks[i];
    SubmitOutcome& outcome = client.reply.outcomes[i];
    outcome.id = spec.id;
    // Refused here already, without a round trip: the leader would refuse it
    // too when every node shares the policy (and checks again when not).
    if (spec.handler == kExecHandler) {
      if (Status s = check_exec(config_.exec, spec.payload); !s.ok()) {
        outcome.code = s.code();
        outcome.message = s.message();
        count("submit_rejected_" + std::string(error_name(s.code())));
        continue;
      }
    }
    uint32_t partition = partition_of(spec.key.empty() ? spec.id : spec.key, config_.ring.partitions);
    auto [it, created] = route_of_partition.emplace(partition, 0);
    if (created) {
      it->second = next_handle_++;
      routes_[it->second] = Route{client_id, partition, {}, {}, {}, 0, 0, false};
    }
    Route& route = routes_.at(it->second);
    route.slots.push_back(i);
    route.tasks.push_back(std::move(spec));
  }
  client.parts_left = route_of_partition.size();
  if (client.parts_left == 0) return finish_client_submit(client_id);
  for (const auto& [partition, route_id] : route_of_partition) {
    if (auto it = routes_.find(route_id); it != routes_.end()) send_route(route_id, it->second);
  }
}

// Ids drawn from the node's random source: unique in practice, and
// reproducible under the simulator.
std::string NodeState::random_id(const char* prefix) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s%016llx%08llx", prefix, static_cast<unsigned long long>(random_.next_u64()),
                static_cast<unsigned long long>(random_.next_u64() & 0xffffffffu));
  return buf;
}

void NodeState::assign_ids(std::vector<TaskSpec>& tasks) {
  for (auto& spec : tasks) {
    if (spec.id.empty()) spec.id = random_id("t-");
  }
}

std::vector<std::string> NodeState::route_candidates(uint32_t partition) const {
  std::vector<std::string> out;
  auto add = [&](const std::string& address) {
    if (!address.empty() && address != config_.address && std::find(out.begin(), out.end(), address) == out.end()) {
      out.push_back(address);
    }
  };
  add(leader_address(partition));
  const PartitionTable& table = partition_table();
  if (partition < table.partitions()) {
    for (const auto& node : table.replicas(partition)) add(address_of_replica(node));
  }
  return out;
}

void NodeState::send_route(uint64_t route_id, Route& route) {
  ++route.tries;
  route.answered = false;
  route.resend_at_ms = now_ms_ + config_.replication.route_timeout_ms;
  std::string target = route.target;
  bool hinted_elsewhere = !target.empty() && target != config_.address;
  if (leads(route.partition) && !hinted_elsewhere) {
    // May answer at once, which ends the route: nothing touches it after.
    return serve_submit(ReplyTo{{}, route_id}, route.partition, route.tasks);
  }
  if (target.empty() || target == config_.address) {
    std::vector<std::string> candidates = route_candidates(route.partition);
    if (candidates.empty()) {
      // Nobody to ask yet (the view is empty or this node should lead):
      // wait for an election or for gossip.
      route.resend_at_ms = now_ms_ + kRetryPauseMs;
      return;
    }
    target = candidates[(route.tries - 1) % candidates.size()];
  }
  route.target = target;
  if (route.tries > 1) count("routes_retried");
  send(target, RouteSubmit{route_id, config_.address, route.partition, route.tasks});
}

void NodeState::on_route_answer(uint64_t route_id, const RouteSubmitReply& reply) {
  auto it = routes_.find(route_id);
  if (it == routes_.end()) return;  // a late answer to a route already served
  Route& route = it->second;
  if (reply.code != ErrorCode::kOk) {
    // Not the leader (any more): ask the one it names, soon.
    route.answered = true;
    route.target = reply.leader_address;
    // At once when it names another node; asking here again (or nobody)
    // waits for the election or hand-over to move on.
    bool elsewhere = !route.target.empty() && route.target != config_.address;
    route.resend_at_ms = now_ms_ + (elsewhere ? 0 : kRetryPauseMs);
    return;
  }
  ClientSubmit& client = client_submits_.at(route.client);
  for (size_t i = 0; i < route.slots.size() && i < reply.outcomes.size(); ++i) {
    client.reply.outcomes[route.slots[i]] = reply.outcomes[i];
  }
  uint64_t client_id = route.client;
  routes_.erase(it);
  if (--client.parts_left == 0) finish_client_submit(client_id);
}

void NodeState::finish_client_submit(uint64_t client_id) {
  auto it = client_submits_.find(client_id);
  out_.replies.push_back({it->second.request, std::move(it->second.reply)});
  client_submits_.erase(it);
}

void NodeState::on_peer(const RouteSubmit& m) {
  serve_submit(ReplyTo{m.origin_address, m.route_id}, m.partition, m.tasks);
}

void NodeState::on_peer(const RouteSubmitReply& m) { on_route_answer(m.route_id, m); }

void NodeState::answer_route(const ReplyTo& to, RouteSubmitReply reply) {
  reply.route_id = to.handle;
  if (to.origin_address.empty()) return on_route_answer(to.handle, reply);
  send(to.origin_address, std::move(reply));
}

void NodeState::expire_routes() {
  std::vector<uint64_t> due;
  for (const auto& [id, route] : routes_) {
    if (now_ms_ >= route.resend_at_ms) due.push_back(id);
  }
  for (uint64_t id : due) {
    auto it = routes_.find(id);
    if (it == routes_.end()) continue;
    Route& route = it->second;
    ClientSubmit& client = client_submits_.at(route.client);
    if (now_ms_ >= client.deadline_ms) {
      for (size_t slot : route.slots) {
        SubmitOutcome& outcome = client.reply.outcomes[slot];
        outcome.code = ErrorCode::kUnavailable;
        outcome.message = unavailable_reason(route.partition);
      }
      count("routes_abandoned");
      uint64_t client_id = route.client;
      routes_.erase(it);
      if (--client.parts_left == 0) finish_client_submit(client_id);
      continue;
    }
    if (!route.answered) route.target.clear();  // silent: try the next candidate
    send_route(id, route);
  }
  std::vector<uint64_t> rounds;
  for (const auto& [id, f] : fanouts_) {
    if (now_ms_ >= f.round_deadline_ms) rounds.push_back(id);
  }
  for (uint64_t id : rounds) {
    auto it = fanouts_.find(id);
    if (it == fanouts_.end()) continue;
    if (it->second.between_rounds) {
      FanoutState f = std::move(it->second);
      fanouts_.erase(it);
      uint64_t next = next_handle_++;
      auto& moved = fanouts_[next] = std::move(f);
      send_fanout_round(next, moved);
    } else {
      finish_fanout_round(id);
    }
  }
}

// --- fan-out: get, wait, cancel, retry, list ------------------------------------------------

void NodeState::start_fanout(RequestRef request, Request query, uint64_t timeout_ms, std::optional<AskRef> ask) {
  uint64_t id = next_handle_++;
  FanoutState& f = fanouts_[id];
  f.request = request;
  f.ask = ask;
  f.query = std::move(query);
  f.deadline_ms = timeout_ms > UINT64_MAX - now_ms_ ? UINT64_MAX : now_ms_ + timeout_ms;
  send_fanout_round(id, f);
}

Request NodeState::fanout_query(const FanoutState& f) const {
  // Later rounds ask only about what is still open.
  return std::visit(
      [&](const auto& q) -> Request {
        using T = std::decay_t<decltype(q)>;
        if constexpr (std::is_same_v<T, GetRequest>) {
          GetRequest open;
          for (size_t i = 0; i < q.ids.size(); ++i) {
            if (f.found.count(q.ids[i])) continue;
            open.ids.push_back(q.ids[i]);
            if (!q.keys.empty()) open.keys.push_back(q.keys[i]);
          }
          return open;
        } else if constexpr (std::is_same_v<T, CancelRequest> || std::is_same_v<T, RetryRequest>) {
          T open = q;
          open.ids.clear();
          for (const auto& id : q.ids) {
            if (!f.settled.count(id)) open.ids.push_back(id);
          }
          return open;
        } else if constexpr (std::is_same_v<T, WaitRequest>) {
          WaitRequest open = q;
          open.timeout_ms = std::min(f.deadline_ms > now_ms_ ? f.deadline_ms - now_ms_ : 0, kWaitRoundMs);
          return open;
        } else {
          return q;
        }
      },
      f.query);
}

void NodeState::send_fanout_round(uint64_t fanout_id, FanoutState& f) {
  ++f.round;
  f.between_rounds = false;
  f.covered.clear();
  f.listed.clear();
  f.list_more = false;
  f.unfinished = 0;
  f.awaiting.clear();
  // A wait asks again about every id each round: what an earlier round found
  // (not final then) must not end this one before the leaders answer.
  if (std::holds_alternative<WaitRequest>(f.query)) f.found.clear();
  Request query = fanout_query(f);
  uint64_t wait_ms = 0;
  if (const auto* w = std::get_if<WaitRequest>(&query)) wait_ms = w->timeout_ms;
  // Saturating: a wait "for ever" must not wrap into the past.
  uint64_t round_ms = wait_ms + config_.replication.route_timeout_ms;
  f.round_deadline_ms = round_ms < wait_ms || round_ms > UINT64_MAX - now_ms_ ? UINT64_MAX : now_ms_ + round_ms;
  auto live = membership_.members_where([](MemberState s, const LoadDigest&) {
    return s == MemberState::kAlive || s == MemberState::kSuspect;
  });
  // The first round asks only the leaders of the ids' own partitions: a task
  // without a key is there, found with O(1) messages whatever the mesh's
  // size. What it does not find (a task submitted under a key) widens the
  // next round to every live node.
  auto targets = f.round == 1 ? targeted_addresses(query) : std::nullopt;
  f.targeted = targets && std::all_of(targets->begin(), targets->end(), [&](const std::string& address) {
    return std::any_of(live.begin(), live.end(), [&](const auto& m) { return m.address == address; });
  });
  f.awaiting.insert(config_.node_id);
  for (const auto& m : live) {
    if (m.id == config_.node_id || (f.targeted && !targets->count(m.address))) continue;
    f.awaiting.insert(m.id);
    send(m.address, Fanout{fanout_id, config_.address, query});
  }
  // Served last: its answer may end the round and erase `f`.
  serve_fanout(ReplyTo{{}, fanout_id}, query);
}

void NodeState::on_peer(const Fanout& m) { serve_fanout(ReplyTo{m.origin_address, m.fanout_id}, m.request); }

void NodeState::serve_fanout(const ReplyTo& to, const Request& query) {
  std::visit(
      [&](const auto& q) {
        using T = std::decay_t<decltype(q)>;
        if constexpr (std::is_same_v<T, GetRequest>) {
          if (!hold_for_intents(to, query, q.ids)) answer(to, serve_get(q));
        } else if constexpr (std::is_same_v<T, ListRequest>) {
          answer(to, serve_list(q));
        } else if constexpr (std::is_same_v<T, WaitRequest>) {
          if (q.all || !hold_for_intents(to, query, q.ids)) serve_wait(to, q);
        } else if constexpr (std::is_same_v<T, CancelRequest>) {
          serve_cancel(to, q);
        } else if constexpr (std::is_same_v<T, RetryRequest>) {
          serve_retry(to, q);
        } else {
          answer(to, FanoutReply{0, config_.node_id, {}, ErrorReply{ErrorCode::kInvalidArgument, "not a fan-out request"}});
        }
      },
      query);
}

void NodeState::answer(const ReplyTo& to, FanoutReply reply) { hold_until_confirmed(to, std::move(reply)); }

void NodeState::deliver(const ReplyTo& to, FanoutReply reply) {
  reply.fanout_id = to.handle;
  if (to.origin_address.empty()) return on_fanout_answer(reply);
  // An answer over a frame would be dropped by the wire, and the origin
  // would wait out its deadline: it gets a clear refusal instead. Measured
  // exactly only when its payloads and results make it plausible.
  if (size_t bytes = payload_bytes(reply.reply) > limits::kMaxFrameBytes / 2 ? encode_peer(reply).size() : 0;
      bytes > limits::kMaxFrameBytes) {
    count("fanout_replies_too_large");
    reply.reply = ErrorReply{ErrorCode::kTooLarge, "the answer of " + config_.node_id + " is " + std::to_string(bytes) +
                                                       " bytes, over the frame limit: ask for fewer tasks at a time"};
  }
  send(to.origin_address, std::move(reply));
}

void NodeState::on_peer(const FanoutReply& m) { on_fanout_answer(m); }

void NodeState::on_fanout_answer(const FanoutReply& reply) {
  auto it = fanouts_.find(reply.fanout_id);
  if (it == fanouts_.end() || it->second.between_rounds) return;  // an earlier round's answer
  FanoutState& f = it->second;
  if (!f.awaiting.erase(reply.from_id)) return;
  if (const auto* refused = std::get_if<ErrorReply>(&reply.reply); refused && refused->code == ErrorCode::kTooLarge) {
    return finish_fanout(reply.fanout_id, *refused);
  }
  f.covered.insert(reply.covered.begin(), reply.covered.end());
  std::visit(
      [&](const auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, GetReply>) {
          for (const auto& record : r.records) f.found[record.spec.id] = record;
        } else if constexpr (std::is_same_v<T, WaitReply>) {
          for (const auto& record : r.records) f.found[record.spec.id] = record;
          f.unfinished += r.unfinished;
        } else if constexpr (std::is_same_v<T, CancelReply> || std::is_same_v<T, RetryReply>) {
          for (const auto& outcome : r.outcomes) {
            if (outcome.code == ErrorCode::kOk || outcome.code == ErrorCode::kAlreadyTerminal ||
                outcome.code == ErrorCode::kConflict) {
              f.settled[outcome.id] = outcome;
            }
          }
        } else if constexpr (std::is_same_v<T, ListReply>) {
          f.listed.insert(f.listed.end(), r.records.begin(), r.records.end());
          f.list_more = f.list_more || r.more;
        }
      },
      reply.reply);
  // Once every named id is answered for, or every partition, a silent
  // member cannot change the answer: the round ends without waiting for it.
  if (f.awaiting.empty() || named_ids_resolved(f) || f.covered.size() >= config_.ring.partitions) {
    finish_fanout_round(reply.fanout_id);
  }
}

std::optional<std::set<std::string>> NodeState::targeted_addresses(const Request& query) const {
  // The ids, and the keys they were submitted under when the request says.
  using Named = std::pair<const std::vector<std::string>*, const std::vector<std::string>*>;
  Named named = std::visit(
      [](const auto& q) -> Named {
        using T = std::decay_t<decltype(q)>;
        if constexpr (std::is_same_v<T, GetRequest>) {
          return {&q.ids, &q.keys};
        } else if constexpr (std::is_same_v<T, CancelRequest>) {
          return {&q.ids, nullptr};
        } else if constexpr (std::is_same_v<T, WaitRequest>) {
          return {q.all ? nullptr : &q.ids, &q.keys};
        } else if constexpr (std::is_same_v<T, RetryRequest>) {
          return {q.all_failed ? nullptr : &q.ids, nullptr};
        } else {
          return {nullptr, nullptr};
        }
      },
      query);
  const auto* ids = named.first;
  if (ids == nullptr || ids->empty()) return std::nullopt;
  const auto* keys = named.second != nullptr && named.second->size() == ids->size() ? named.second : nullptr;
  std::set<std::string> addresses;
  const PartitionTable& table = partition_table();
  for (size_t i = 0; i < ids->size(); ++i) {
    const std::string& key = keys != nullptr && !(*keys)[i].empty() ? (*keys)[i] : (*ids)[i];
    uint32_t partition = partition_of(key, config_.ring.partitions);
    if (leads(partition)) continue;  // served here, as every round is
    if (std::string leader = leader_address(partition); !leader.empty()) {
      addresses.insert(leader);
    } else if (partition < table.partitions()) {
      for (const auto& node : table.replicas(partition)) {
        if (std::string address = address_of_replica(node); !address.empty()) addresses.insert(address);
      }
    }
  }
  addresses.erase(config_.address);
  return addresses;
}

bool NodeState::named_ids_resolved(const FanoutState& f) const {
  auto all_in = [](const std::vector<std::string>& ids, const auto& seen) {
    return !ids.empty() && std::all_of(ids.begin(), ids.end(), [&](const std::string& id) { return seen.count(id) > 0; });
  };
  return std::visit(
      [&](const auto& q) {
        using T = std::decay_t<decltype(q)>;
        if constexpr (std::is_same_v<T, GetRequest>) {
          return all_in(q.ids, f.found);
        } else if constexpr (std::is_same_v<T, WaitRequest>) {
          return !q.all && all_in(q.ids, f.found);
        } else if constexpr (std::is_same_v<T, CancelRequest>) {
          return all_in(q.ids, f.settled);
        } else if constexpr (std::is_same_v<T, RetryRequest>) {
          return !q.all_failed && all_in(q.ids, f.settled);
        } else {
          return false;
        }
      },
      f.query);
}

void NodeState::finish_fanout_round(uint64_t fanout_id) {
  FanoutState& f = fanouts_.at(fanout_id);
  // Every id answered for counts as covered: the partitions not heard from
  // hold none of them.
  bool covered = f.covered.size() >= config_.ring.partitions || named_ids_resolved(f);
  bool time_left = now_ms_ < f.deadline_ms;
  if (f.targeted && !covered && time_left) {
    // Some id is not in its own partition (submitted under a key): ask
    // everyone, at once.
    f.between_rounds = true;
    f.round_deadline_ms = now_ms_;
    count("fanout_rounds_widened");
    return;
  }
  auto again = [&] {
    f.between_rounds = true;
    f.round_deadline_ms = now_ms_ + kRetryPauseMs;
    count("fanout_rounds_retried");
  };
  std::string uncovered = std::to_string(config_.ring.partitions - std::min<size_t>(f.covered.size(), config_.ring.partitions)) +
                          " partitions had no reachable leader";
  std::visit(
      [&](const auto& q) {
        using T = std::decay_t<decltype(q)>;
        if constexpr (std::is_same_v<T, GetRequest>) {
          GetReply reply;
          for (const auto& id : q.ids) {
            auto it = f.found.find(id);
            if (it != f.found.end()) {
              reply.records.push_back(it->second);
            } else {
              reply.missing.push_back(id);
            }
          }
          if (!reply.missing.empty() && !covered) {
            if (time_left) return again();
            return finish_fanout(fanout_id, ErrorReply{ErrorCode::kUnavailable, uncovered});
          }
          finish_fanout(fanout_id, std::move(reply));
        } else if constexpr (std::is_same_v<T, CancelRequest> || std::is_same_v<T, RetryRequest>) {
          constexpr bool kRetry = std::is_same_v<T, RetryRequest>;
          std::vector<CancelOutcome> outcomes;
          bool open = false;
          if constexpr (kRetry) {
            // Every dead letter: whatever the leaders re-queued, once all answered.
            if (q.all_failed) {
              for (const auto& [id, outcome] : f.settled) outcomes.push_back(outcome);
              open = !covered;
            }
          }
          for (const auto& id : q.ids) {
            auto it = f.settled.find(id);
            if (it != f.settled.end()) {
              outcomes.push_back(it->second);
            } else {
              outcomes.push_back({id, covered ? ErrorCode::kNotFound : ErrorCode::kUnavailable,
                                  kRetry ? TaskState::kFailed : TaskState::kCancelled});
              open = open || !covered;
            }
          }
          if (open && time_left) return again();
          if constexpr (kRetry) {
            finish_fanout(fanout_id, RetryReply{std::move(outcomes)});
          } else {
            finish_fanout(fanout_id, CancelReply{std::move(outcomes)});
          }
        } else if constexpr (std::is_same_v<T, WaitRequest>) {
          WaitReply reply;
          bool done = covered;
          for (const auto& id : q.ids) {
            auto it = f.found.find(id);
            if (it != f.found.end()) {
              reply.records.push_back(it->second);
              if (!q.all && !is_terminal(it->second.state)) done = false;
            } else {
              reply.missing.push_back(id);
            }
          }
          reply.unfinished = f.unfinished;
          if (q.all && f.unfinished > 0) done = false;
          if (!done && time_left) return again();
          reply.timed_out = !done;
          finish_fanout(fanout_id, std::move(reply));
        } else if constexpr (std::is_same_v<T, ListRequest>) {
          if (!covered && time_left) return again();
          if (!covered) return finish_fanout(fanout_id, ErrorReply{ErrorCode::kUnavailable, uncovered});
          ListReply reply;
          std::map<std::string, TaskRecord> merged;
          for (auto& record : f.listed) merged.emplace(record.spec.id, std::move(record));
          for (auto& [id, record] : merged) {
            if (reply.records.size() == q.limit) {
              reply.more = true;
              break;
            }
            reply.records.push_back(std::move(record));
          }
          reply.more = reply.more || f.list_more;
          finish_fanout(fanout_id, std::move(reply));
        } else {
          finish_fanout(fanout_id, ErrorReply{ErrorCode::kInvalidArgument, "not a fan-out request"});
        }
      },
      f.query);
}

void NodeState::finish_fanout(uint64_t fanout_id, Reply reply) {
  auto it = fanouts_.find(fanout_id);
  RequestRef request = it->second.request;
  std::optional<AskRef> ask = it->second.ask;
  fanouts_.erase(it);
  if (!ask) return out_.replies.push_back({request, std::move(reply)});
  switch (ask->asker) {
    case Asker::kDependencies: return deps_->on_answer(ask->handle, reply);
    case Asker::kTransactions: return txns_->on_answer(ask->handle, reply);
  }
}

}  // namespace mesh
