#include "node/sim/simulator.h"

#include "node/core/assert.h"
#include "protocol/codec.h"
#include "protocol/limits.h"

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <set>

namespace mesh {

struct Simulator::SimNode {
  NodeConfig config;
  std::unique_ptr<SimRandom> random;
  std::unique_ptr<NodeState> core;
  SimDisk disk;
  std::vector<AddressedReply> replies;
  std::vector<std::string> seeds;
  uint64_t generation = 0;
  uint64_t lives = 0;
  int group = 0;
  std::optional<uint64_t> wake_scheduled;
  // The executor: `slots` runs at a time, the rest wait in order.
  std::deque<RunTask> run_queue;
  uint32_t runs_busy = 0;
  std::set<RunRef> running;  // what the renewal timer reports
  // Runs the core aborted while they ran. As a cancelled handler returns
  // at once, each reports a failure now, freeing its slot; the finish it
  // was scheduled for is dropped (whichever of the two comes first counts).
  std::set<RunRef> aborted;           // the abort's report is on its way
  std::set<RunRef> aborted_reported;  // the other finish is to be dropped
  uint64_t run_factor = 1;   // its runs take this many times as long
  bool crash_before_write = false;  // see Simulator::crash_before_next_write
  NodeClock clock;
};

Simulator::Simulator(uint64_t seed, NetworkFaults faults)
    : faults_(faults), network_random_(derive_seed(seed, 0)), seed_(seed) {}

Simulator::~Simulator() = default;

size_t Simulator::add_node(NodeConfig config) {
  config.address = address_of(config.node_id);
  MESH_ASSERT(!by_address_.count(config.address), "duplicate node id in simulation");
  auto node = std::make_unique<SimNode>();
  node->config = std::move(config);
  size_t index = nodes_.size();
  node->random = std::make_unique<SimRandom>(derive_seed(seed_, 1000 + index));
  node->core = std::make_unique<NodeState>(node->config, *node->random);
  by_address_[node->config.address] = index;
  nodes_.push_back(std::move(node));
  arm_renewals(index);
  return index;
}

bool Simulator::alive(size_t node) const { return nodes_.at(node)->core != nullptr; }

const NodeState& Simulator::node(size_t i) const {
  MESH_ASSERT(nodes_.at(i)->core, "node is crashed");
  return *nodes_[i]->core;
}

const std::vector<AddressedReply>& Simulator::replies(size_t node) const { return nodes_.at(node)->replies; }

void Simulator::schedule(size_t node, uint64_t at_ms, InputEvent event) {
  push(node, std::max(at_ms, now_ms_), std::move(event));
}

void Simulator::join(size_t node, std::vector<std::string> seed_addresses, uint64_t at_ms) {
  nodes_.at(node)->seeds = seed_addresses;
  schedule(node, at_ms, in::Join{std::move(seed_addresses)});
}

void Simulator::crash(size_t node) {
  SimNode& n = *nodes_.at(node);
  n.core.reset();
  n.random.reset();
  n.crash_before_write = false;
  n.disk.crash();
  n.wake_scheduled.reset();
  n.run_queue.clear();
  n.runs_busy = 0;
  n.running.clear();
  n.aborted.clear();
  n.aborted_reported.clear();
  ++n.generation;
  trace(1, node, now_ms_);
}

void Simulator::crash_before_next_write(size_t node) { nodes_.at(node)->crash_before_write = true; }

void Simulator::restart(size_t node, bool wipe_disk) {
  SimNode& n = *nodes_.at(node);
  MESH_ASSERT(!n.core, "restart of a running node");
  ++n.lives;
  if (wipe_disk) {
    // A new disk is a new replica (docs/ARCHITECTURE.md, "Lost disks").
    n.disk.wipe();
    n.config.replica_id = n.config.node_id + "#" + std::to_string(n.lives);
  }
  n.random = std::make_unique<SimRandom>(derive_seed(seed_, 1000 + node + (n.lives << 32)));
  n.core = std::make_unique<NodeState>(n.config, *n.random);
  trace(2, node, now_ms_);
  push(node, now_ms_, in::Recover{n.disk.groups(n.config.ring.partitions), n.disk.known_peers()});
  push(node, now_ms_, in::Join{n.seeds});
  arm_renewals(node);
}

void Simulator::partition(const std::vector<std::vector<size_t>>& groups) {
  for (auto& n : nodes_) n->group = 0;
  int group = 1;
  for (const auto& members : groups) {
    for (size_t i : members) nodes_.at(i)->group = group;
    ++group;
  }
  trace(3, groups.size(), now_ms_);
}

void Simulator::heal() { partition({}); }

void Simulator::set_clock(size_t node, NodeClock clock) { nodes_.at(node)->clock = clock; }

bool skew_clocks_on_odd_seeds(Simulator& sim, uint64_t seed) {
  if (seed % 2 == 0) return false;
  SimRandom clocks(derive_seed(seed, 5));
  for (size_t i = 0; i < sim.size(); ++i) {
    sim.set_clock(i, NodeClock{static_cast<int64_t>(clocks.uniform(20001)),
                               static_cast<int64_t>(clocks.uniform(20001)) - 10000});
  }
  return true;
}

uint64_t Simulator::local_time(size_t node, uint64_t t_ms) const {
  const NodeClock& c = nodes_.at(node)->clock;
  int64_t t = static_cast<int64_t>(t_ms);
  int64_t local = t + c.offset_ms + t * c.drift_ppm / 1'000'000;
  return local > 0 ? static_cast<uint64_t>(local) : 0;
}

uint64_t Simulator::simulated_time(size_t node, uint64_t local_ms) const {
  const NodeClock& c = nodes_.at(node)->clock;
  // Invert the rate, then step to the first instant that reads local_ms.
  double estimate = static_cast<double>(static_cast<int64_t>(local_ms) - c.offset_ms) /
                    (1.0 + static_cast<double>(c.drift_ppm) / 1e6);
  uint64_t t = estimate > 2.0 ? static_cast<uint64_t>(estimate) - 2 : 0;
  while (local_time(node, t) < local_ms) ++t;
  return t;
}

void Simulator::push(size_t node, uint64_t at_ms, InputEvent input) {
  events_.push(Event{at_ms, seq_++, node, nodes_[node]->generation, std::move(input)});
}

void Simulator::run_until(uint64_t t_ms) {
  while (!events_.empty() && events_.top().at_ms <= t_ms) {
    Event event = events_.top();
    events_.pop();
    // Time must move: a core that keeps asking to be woken at the same
    // instant is a livelock, and a test should say so rather than hang.
    same_instant_events_ = event.at_ms == now_ms_ ? same_instant_events_ + 1 : 0;
    MESH_ASSERT(same_instant_events_ < max_events_per_instant, "simulated time stands still: a livelock");
    now_ms_ = event.at_ms;
    deliver(event);
  }
  now_ms_ = std::max(now_ms_, t_ms);
}

std::optional<uint64_t> Simulator::run_until(const std::function<bool()>& done, uint64_t deadline_ms,
                                             uint64_t check_every_ms) {
  while (now_ms_ < deadline_ms) {
    if (done()) return now_ms_;
    run_until(std::min(deadline_ms, now_ms_ + check_every_ms));
  }
  if (done()) return now_ms_;
  return std::nullopt;
}

void Simulator::deliver(const Event& event) {
  SimNode& n = *nodes_[event.node];
  if (!n.core || event.generation != n.generation) return;  // sent to an earlier life
  if (std::holds_alternative<in::Tick>(event.input)) {
    if (n.wake_scheduled != event.at_ms) return;  // superseded by an earlier wake-up
    n.wake_scheduled.reset();
  }
  InputEvent input = event.input;
  if (const auto* finished = std::get_if<in::TaskFinished>(&input)) {
    RunRef run{finished->partition, finished->id, finished->attempt};
    if (n.aborted_reported.erase(run)) return;
    if (n.aborted.erase(run)) n.aborted_reported.insert(run);
    --n.runs_busy;
    n.running.erase(RunRef{finished->partition, finished->id, finished->attempt});
    start_runs(event.node);
  }
  if (auto* renew = std::get_if<in::RenewLeases>(&input)) {
    // The renewal timer: it reports what runs now, as the driver's does, and
    // fires when nothing runs too (waiting attempts and results not yet
    // committed need their leases).
    arm_renewals(event.node);
    renew->running.assign(n.running.begin(), n.running.end());
  }
  ++stats_.events;
  trace(event.at_ms, event.node, event.input.index());
  Effects effects = n.core->step(Input{local_time(event.node, event.at_ms), std::move(input)});
  carry_out(event.node, std::move(effects));
}

void Simulator::carry_out(size_t from, Effects effects) {
  if (effects_hook) effects_hook(from, effects);
  SimNode& n = *nodes_[from];
  // As the driver does: what may leave before the write leaves first, and
  // a kill between those sends and the sync loses the write.
  auto waiting = std::stable_partition(effects.sends.begin(), effects.sends.end(),
                                       [](const OutgoingPeerMessage& send) { return may_leave_before_sync(send); });
  for (auto it = effects.sends.begin(); it != waiting; ++it) send(from, std::move(*it));
  effects.sends.erase(effects.sends.begin(), waiting);
  if (n.crash_before_write && effects.persists()) {
    n.crash_before_write = false;
    crash(from);
    return;
  }
  n.disk.persist(effects);
  for (auto& reply : effects.replies) n.replies.push_back(std::move(reply));
  for (auto& run : effects.runs) {
    // Queued runs count as running, as in the driver's executor.
    n.running.insert(RunRef{run.partition, run.id, run.attempt});
    n.run_queue.push_back(std::move(run));
  }
  for (const auto& abort : effects.aborts) stop_run(from, RunRef{abort.partition, abort.id, abort.attempt});
  start_runs(from);
  for (auto& message : effects.sends) send(from, std::move(message));
  if (!effects.wake_at_ms) return;
  uint64_t at = std::max(simulated_time(from, *effects.wake_at_ms), now_ms_);
  if (!n.wake_scheduled || at < *n.wake_scheduled) {
    n.wake_scheduled = at;
    push(from, at, in::Tick{});
  }
}

void Simulator::stop_run(size_t node, const RunRef& run) {
  SimNode& n = *nodes_[node];
  if (!n.running.count(run) || n.aborted.count(run)) return;
  auto queued = std::find_if(n.run_queue.begin(), n.run_queue.end(), [&](const RunTask& t) {
    return RunRef{t.partition, t.id, t.attempt} == run;
  });
  if (queued != n.run_queue.end()) {  // not started: it never runs
    n.run_queue.erase(queued);
    n.running.erase(run);
    return;
  }
  n.aborted.insert(run);
  push(node, now_ms_, in::TaskFinished{run.partition, run.id, run.attempt, false, "aborted"});
}

void Simulator::slow_down(size_t node, uint64_t factor) { nodes_.at(node)->run_factor = factor; }

void Simulator::start_runs(size_t node) {
  SimNode& n = *nodes_[node];
  while (n.runs_busy < n.config.slots && !n.run_queue.empty()) {
    RunTask run = std::move(n.run_queue.front());
    n.run_queue.pop_front();
    ++n.runs_busy;
    // "sleep" runs for its payload's milliseconds, anything else for run_ms;
    // "fail" always fails (dead letters), anything else succeeds. The output
    // names the task and the parents' results it was given.
    uint64_t duration = n.run_factor * (run.handler == "sleep" ? std::strtoull(run.payload.c_str(), nullptr, 10) : run_ms);
    std::string output = "sim:" + run.id;
    if (!run.inputs.empty()) {
      output += "<";
      for (const auto& input : run.inputs) output += input + "|";
      output += ">";
    }
    push(node, now_ms_ + duration, in::TaskFinished{run.partition, run.id, run.attempt, run.handler != "fail", output});
  }
}

void Simulator::arm_renewals(size_t node) {
  push(node, now_ms_ + std::max<uint64_t>(nodes_[node]->config.lease_ttl_ms / 3, 1), in::RenewLeases{});
}

void Simulator::send(size_t from, OutgoingPeerMessage message) {
  ++stats_.messages_sent;
  // Through the codec, as the driver sends and receives.
  uint16_t kind = static_cast<uint16_t>(peer_kind(message.message));
  std::string body = encode_peer(message.message);
  stats_.bytes_sent += body.size();
  auto decoded = body.size() > limits::kMaxFrameBytes ? Result<PeerMessage>(Status(ErrorCode::kTooLarge, "over the frame limit"))
                                                       : decode_peer(kind, body);
  if (!decoded.ok()) {
    if (wire_failure_.empty()) {
      wire_failure_ = "n" + std::to_string(from) + " sent a message of kind " + std::to_string(kind) + " (" +
                      std::to_string(body.size()) + " bytes) the codec cannot carry: " + decoded.status().message();
    }
    ++stats_.messages_dropped;
    return;
  }
  auto it = by_address_.find(message.to_address);
  if (it == by_address_.end()) {
    ++stats_.messages_dropped;
    return;
  }
  size_t to = it->second;
  // The network is decided at send time; the receiver's later state (crash,
  // restart) is checked at delivery by the generation.
  bool cut = nodes_[from]->group != nodes_[to]->group;
  if (cut || network_random_.chance(faults_.loss)) {
    ++stats_.messages_dropped;
    return;
  }
  int copies = network_random_.chance(faults_.duplicate) ? 2 : 1;
  for (int c = 0; c < copies; ++c) {
    uint64_t latency = faults_.min_latency_ms +
                       network_random_.uniform(faults_.max_latency_ms - faults_.min_latency_ms + 1);
    ++stats_.messages_delivered;
    push(to, now_ms_ + latency, in::FromPeer{decoded.value()});
  }
}

void Simulator::trace(uint64_t a, uint64_t b, uint64_t c) {
  for (uint64_t v : {a, b, c}) {
    trace_hash_ ^= v;
    trace_hash_ *= 0x100000001b3ULL;
  }
}

}  // namespace mesh
