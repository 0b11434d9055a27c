// A linearizability check of reads by id in a simulated mesh. Clients read
// acknowledged tasks through random live nodes while faults happen; every
// answer must
//  - report none of them missing (each was acknowledged before the read
//    started), and
//  - show each task at least as far along as any answer a client had
//    already received before this read started (reads never go backwards).
// A read counts as received when the checker sees its reply, no earlier,
// which only makes the second rule weaker, never wrong.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "node/sim/sim_random.h"
#include "node/sim/simulator.h"

namespace mesh {

class ReadChecker {
 public:
  // Request refs from `first_request` on are this checker's: keep them
  // apart from the clients' other requests.
  explicit ReadChecker(RequestRef first_request) : next_request_(first_request) {}

  // Starts a get of `ids` (acknowledged before now) through node `node`.
  void read(Simulator& sim, size_t node, std::vector<std::string> ids);
  // The same, of up to 8 ids drawn from `acknowledged` (none if it is empty).
  void read_some(Simulator& sim, size_t node, const std::set<std::string>& acknowledged, SimRandom& random);
  // Checks the answers that arrived since the last call: empty, or the first
  // violation.
  std::string observe(const Simulator& sim);

  uint64_t reads_answered() const { return answered_; }

 private:
  // How far a task has gone; grows over its life, whatever the outcome of
  // each attempt: attempts started, attempts ended, terminal.
  using Progress = std::tuple<size_t, size_t, bool>;
  static Progress progress_of(const TaskRecord& r);

  struct PendingRead {
    size_t node = 0;
    std::map<std::string, Progress> floor;  // what clients had seen when it started
  };

  RequestRef next_request_;
  std::map<RequestRef, PendingRead> pending_;
  std::map<std::string, Progress> seen_;  // the furthest answer received, per task
  std::vector<size_t> replies_checked_;  // per node: replies already looked at
  uint64_t answered_ = 0;
};

}  // namespace mesh
