#include "tools/testkit/record_check.h"

namespace mesh {

std::string check_record(const TaskRecord& r) {
  const std::string who = "task " + r.spec.id + ": ";
  if (r.attempts.size() > r.attempt) return who + "more attempts recorded than numbered";
  uint32_t first = r.attempt - static_cast<uint32_t>(r.attempts.size()) + 1;
  int successes = 0;
  for (size_t i = 0; i < r.attempts.size(); ++i) {
    if (r.attempts[i].attempt != first + i) return who + "attempts are not numbered consecutively";
    successes += r.attempts[i].outcome == AttemptOutcome::kSucceeded;
  }
  if (successes > 1) return who + "committed " + std::to_string(successes) + " results";
  if (r.state == TaskState::kCompleted) {
    if (successes != 1 || r.attempts.back().outcome != AttemptOutcome::kSucceeded) {
      return who + "COMPLETED without its last attempt succeeding";
    }
  } else if (successes != 0) {
    return who + "has a successful attempt but is " + state_name(r.state);
  }
  return {};
}

}  // namespace mesh
