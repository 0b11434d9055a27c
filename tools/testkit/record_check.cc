#include "tools/testkit/record_check.h"

#include <algorithm>

namespace mesh {

std::string check_record(const TaskRecord& r) {
  const std::string who = "task " + r.spec.id + ": ";
  // A backup that ended before the attempt it raced leaves the newest number
  // in the history only.
  uint32_t latest = std::max(r.attempt, r.backup.attempt);
  if (!r.attempts.empty()) latest = std::max(latest, r.attempts.back().attempt);
  if (r.attempts.size() > latest) return who + "more attempts recorded than numbered";
  uint32_t first = latest - static_cast<uint32_t>(r.attempts.size()) + 1;
  int successes = 0;
  int running = 0;
  size_t success_at = 0;
  for (size_t i = 0; i < r.attempts.size(); ++i) {
    if (r.attempts[i].attempt != first + i) return who + "attempts are not numbered consecutively";
    if (r.attempts[i].outcome == AttemptOutcome::kSucceeded) {
      ++successes;
      success_at = i;
    }
    running += r.attempts[i].outcome == AttemptOutcome::kRunning;
  }
  if (successes > 1) return who + "committed " + std::to_string(successes) + " results";
  if (running > (r.state == TaskState::kLeased ? 2 : 0)) {
    return who + std::to_string(running) + " attempts running while " + state_name(r.state);
  }
  if (r.state == TaskState::kCompleted) {
    if (successes != 1) return who + "COMPLETED without an attempt succeeding";
    // Only an attempt that raced the successful one (one of the two a
    // backup) may follow it, and it has ended.
    const AttemptInfo& success = r.attempts[success_at];
    for (size_t i = success_at + 1; i < r.attempts.size(); ++i) {
      const AttemptInfo& later = r.attempts[i];
      if (later.outcome == AttemptOutcome::kRunning || !(later.backup || success.backup)) {
        return who + "COMPLETED by attempt " + std::to_string(success.attempt) + ", yet attempt " +
               std::to_string(later.attempt) + " ran after it (" + outcome_name(later.outcome) + " on " +
               later.runner + (later.backup ? ", a backup" : "") + ")";
      }
    }
  } else if (successes != 0) {
    return who + "has a successful attempt but is " + state_name(r.state);
  }
  return {};
}

}  // namespace mesh
