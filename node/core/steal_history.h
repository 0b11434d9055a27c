// The steals a node took part in, as thief or as victim: the most recent
// ones one by one, and per victim and thief totals since the node started.
// Both are bounded, so a long-lived node keeps the whole picture in fixed
// memory; `meshctl events --kind steal --follow` streams every steal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "protocol/messages.h"

namespace mesh {

class StealHistory {
 public:
  static constexpr size_t kRecent = 1000;
  // Pairs of nodes that stole from each other; past this the pair that
  // stole least recently is forgotten (nodes that left long ago).
  static constexpr size_t kMaxPairs = 1024;

  void note(uint64_t now_ms, const std::string& victim, const std::string& thief, size_t tasks);
  const std::deque<StealEvent>& recent() const { return recent_; }
  // By victim, then thief.
  std::vector<StealTotal> totals() const;

 private:
  std::deque<StealEvent> recent_;
  std::map<std::pair<std::string, std::string>, StealTotal> totals_;
};

}  // namespace mesh
