// The work-stealing scenario: tasks keyed to one partition on each of two
// owners, 4 nodes with stealing on, and random crashes and restarts of
// thieves and victims, partitions, loss and duplication; then every fault is
// lifted, and every acknowledged task must be completed exactly once. The
// building blocks serve the hand-written stealing scenarios too.
#pragma once

#include <string>
#include <vector>

#include "node/sim/scenario.h"
#include "node/sim/simulator.h"

namespace mesh {

constexpr uint32_t kStealingPartitions = 16;

// n "sleep" tasks of ms each, ids prefix0..prefix<n-1>.
std::vector<TaskSpec> sleep_tasks(const std::string& prefix, size_t n, uint64_t ms);

NodeConfig stealing_config(size_t index, bool steal, Placement placement = Placement::kKey);

// Every partition is led by the ring's preferred replica, with the replica
// set the ring asks for.
bool stealing_settled(const Simulator& sim);

// The tasks, all with `key`.
std::vector<TaskSpec> keyed(std::vector<TaskSpec> tasks, const std::string& key);

// Leader changes under long stolen tasks: 5 nodes, tasks of several lease
// lengths keyed to one partition, and the seed crashes or cuts off whoever
// leads that partition, again and again, while thieves run its tasks. No
// stolen lease may expire while its thief is alive and running the task
// (renewals follow the partition's current leader; a grant that never
// arrived, a run its runner timed out itself and a release because a
// leader's membership held the runner dead are told apart), and no node may
// acknowledge a stolen result before its op is applied there. Then every
// acknowledged task must be completed exactly once.
// (run_stealing_failover_seed, declared in scenario.h.)

}  // namespace mesh
