#include "protocol/messages.h"

#include <algorithm>
#include <cctype>

namespace mesh {

const char* state_name(TaskState s) {
  switch (s) {
    case TaskState::kPending: return "PENDING";
    case TaskState::kLeased: return "LEASED";
    case TaskState::kCompleted: return "COMPLETED";
    case TaskState::kFailed: return "FAILED";
    case TaskState::kCancelled: return "CANCELLED";
    case TaskState::kBlocked: return "BLOCKED";
  }
  return "UNKNOWN";
}

bool parse_state(const std::string& text, TaskState* out) {
  for (uint8_t i = 0; i < kTaskStateCount; ++i) {
    auto s = static_cast<TaskState>(i);
    std::string name = state_name(s);
    if (text.size() == name.size() &&
        std::equal(text.begin(), text.end(), name.begin(), [](char a, char b) { return std::toupper(a) == b; })) {
      *out = s;
      return true;
    }
  }
  return false;
}

const char* outcome_name(AttemptOutcome o) {
  switch (o) {
    case AttemptOutcome::kRunning: return "running";
    case AttemptOutcome::kSucceeded: return "succeeded";
    case AttemptOutcome::kFailed: return "failed";
    case AttemptOutcome::kTimedOut: return "timed_out";
    case AttemptOutcome::kLost: return "lost";
    case AttemptOutcome::kCancelled: return "cancelled";
  }
  return "unknown";
}

}  // namespace mesh
