// The invariants every task record must satisfy, as one function shared by
// the integration tests and meshchaos: attempts are numbered consecutively up
// to the newest (the history may have dropped the oldest), at most one
// attempt succeeded, and only a COMPLETED record has one; at most two run at
// once (an attempt and its backup), none once the record left LEASED; only
// the attempt that raced the successful one may follow it, ended.
#pragma once

#include <string>

#include "protocol/messages.h"

namespace mesh {

// Empty when the record is sound, else what is wrong with it.
std::string check_record(const TaskRecord& record);

}  // namespace mesh
