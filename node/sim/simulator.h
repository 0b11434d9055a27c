// Simulator: many NodeState cores in one thread over a simulated network,
// clock and disk. Everything that happens is an event in one queue ordered by
// (time, sequence number); every random draw comes from streams derived from
// one seed. The same seed therefore replays the same run exactly, and
// trace_hash() proves it.
//
// Every message goes through the real codec: encoded to bytes, refused when
// over the frame limit a ZeroMQ socket enforces, decoded, and the decoded
// message is what arrives. A message the codec cannot carry is a bug of the
// core, reported by wire_failure() (and dropped, as the wire would).
//
// Faults: message loss, duplication and reordering (random latency), network
// partitions between groups of nodes, node crash and restart (with its disk,
// or with a wiped one). A crashed node loses everything but its disk (the
// Raft state its effects wrote, which the real driver syncs before anything
// depends on them: node/sim/sim_disk.h); its in-flight events
// are discarded; the replies it sent stay in replies() (the clients have
// them). Handlers are not run: each node has `slots` executor slots, and a
// RunTask completes successfully after its payload's milliseconds for
// "sleep", after `run_ms` otherwise (aborts are not modelled: an aborted run
// finishes anyway and its result is stale). Like the driver, the executor
// renews the leases of the attempts it runs every third of lease_ttl_ms.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "node/core/node_state.h"
#include "node/sim/sim_disk.h"
#include "node/sim/sim_random.h"

namespace mesh {

struct NetworkFaults {
  uint64_t min_latency_ms = 1;
  uint64_t max_latency_ms = 5;
  double loss = 0.0;       // probability a message is dropped
  double duplicate = 0.0;  // probability a message is delivered twice
};

// A node's monotonic clock against simulated time t:
//   local(t) = max(0, t + offset_ms + t * drift_ppm / 1e6).
// Hosts' monotonic clocks start at unrelated instants and run at slightly
// different rates; they never step (a wall-clock step does not reach them).
struct NodeClock {
  int64_t offset_ms = 0;
  int64_t drift_ppm = 0;  // +-10000 is +-1%
};

// For the seeded families: on odd seeds, each node's clock starts up to 20 s
// apart from the others' and runs up to 1% fast or slow (drawn from a stream
// of its own, so the rest of the seed's schedule is unchanged). Returns
// whether it skewed them.
class Simulator;
bool skew_clocks_on_odd_seeds(Simulator& sim, uint64_t seed);

struct SimStats {
  uint64_t events = 0;
  uint64_t messages_sent = 0;
  uint64_t messages_dropped = 0;
  uint64_t messages_delivered = 0;
  uint64_t bytes_sent = 0;  // encoded message bodies
};

class Simulator {
 public:
  Simulator(uint64_t seed, NetworkFaults faults);
  ~Simulator();

  // Adds a node; its address becomes "sim://<node_id>". Returns its index.
  size_t add_node(NodeConfig config);
  static std::string address_of(const std::string& node_id) { return "sim://" + node_id; }

  // Feeds an input to a node at time `at_ms` (>= now).
  void schedule(size_t node, uint64_t at_ms, InputEvent event);
  void join(size_t node, std::vector<std::string> seed_addresses, uint64_t at_ms);

  void crash(size_t node);
  // The node dies in its next turn that writes, after the messages that may
  // leave before the write went out and before the write: a kill between
  // the driver's early sends and its fsync.
  void crash_before_next_write(size_t node);
  // A fresh core with the same config, recovering from the node's disk, and
  // joining through the same seeds as before. With wipe_disk the disk comes
  // back empty and the node takes part in its groups under a new replica id.
  void restart(size_t node, bool wipe_disk = false);
  // Messages between nodes of different groups are dropped; nodes not named
  // form one more group.
  void partition(const std::vector<std::vector<size_t>>& groups);
  void heal();
  void set_faults(const NetworkFaults& faults) { faults_ = faults; }
  // The clock node `node` stamps its inputs with from now on.
  void set_clock(size_t node, NodeClock clock);
  // Runs on node `node` take `factor` times as long from now on (slower hardware).
  void slow_down(size_t node, uint64_t factor);
  // Node `node`'s clock reading at simulated time t.
  uint64_t local_time(size_t node, uint64_t t_ms) const;

  // Runs events up to and including time t.
  void run_until(uint64_t t_ms);
  // Runs until `done()` holds, checked every check_every_ms; returns the
  // time it first held, or nullopt at the deadline.
  std::optional<uint64_t> run_until(const std::function<bool()>& done, uint64_t deadline_ms,
                                    uint64_t check_every_ms);

  uint64_t now() const { return now_ms_; }
  size_t size() const { return nodes_.size(); }
  bool alive(size_t node) const;
  const NodeState& node(size_t i) const;
  const std::vector<AddressedReply>& replies(size_t node) const;
  uint64_t trace_hash() const { return trace_hash_; }
  const SimStats& stats() const { return stats_; }
  // The first message the codec could not carry (over the frame limit, or
  // not decoding back); empty when every message went through.
  const std::string& wire_failure() const { return wire_failure_; }

  uint64_t run_ms = 1;  // simulated duration of every task run
  // More events in a row at one instant than this is a livelock: the run aborts.
  uint64_t max_events_per_instant = 10'000'000;
  // Tests only: sees each core's effects before they are carried out, so a
  // test can make a core misbehave (e.g. ask to be woken at once, forever).
  std::function<void(size_t node, Effects& effects)> effects_hook;

 private:
  struct SimNode;
  struct Event {
    uint64_t at_ms;
    uint64_t seq;
    size_t node;
    uint64_t generation;  // events of an older life of the node are dropped
    InputEvent input;     // Tick for wake-ups
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.at_ms != b.at_ms ? a.at_ms > b.at_ms : a.seq > b.seq;
    }
  };

  void push(size_t node, uint64_t at_ms, InputEvent input);
  // The first simulated time at which node `node`'s clock reads local_ms.
  uint64_t simulated_time(size_t node, uint64_t local_ms) const;
  void deliver(const Event& event);
  void carry_out(size_t from, Effects effects);
  void start_runs(size_t node);
  // Carries out the core's abort of a run: as the driver's executor does.
  void stop_run(size_t node, const RunRef& run);
  void arm_renewals(size_t node);
  void send(size_t from, OutgoingPeerMessage message);
  void trace(uint64_t a, uint64_t b, uint64_t c);

  NetworkFaults faults_;
  SimRandom network_random_;
  uint64_t seed_;
  uint64_t now_ms_ = 0;
  uint64_t seq_ = 0;
  uint64_t same_instant_events_ = 0;  // events in a row at now_ms_
  uint64_t trace_hash_ = 0xcbf29ce484222325ULL;
  SimStats stats_;
  std::string wire_failure_;
  std::priority_queue<Event, std::vector<Event>, Later> events_;
  std::vector<std::unique_ptr<SimNode>> nodes_;
  std::map<std::string, size_t> by_address_;
};

}  // namespace mesh
