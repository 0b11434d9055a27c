// The invariants every task record must satisfy, as one function shared by
// the integration tests and meshchaos: attempts are numbered consecutively up
// to `attempt` (the history may have dropped the oldest), at most one attempt
// succeeded, and only a COMPLETED record has one, as its last attempt.
#pragma once

#include <string>

#include "protocol/messages.h"

namespace mesh {

// Empty when the record is sound, else what is wrong with it.
std::string check_record(const TaskRecord& record);

}  // namespace mesh
