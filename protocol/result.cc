#include "protocol/result.h"

#include <cstdio>
#include <cstdlib>

namespace mesh {

void abort_on_missing_value(const Status& status) {
  std::fprintf(stderr, "Result::value() read on an error: %s: %s\n", std::string(error_name(status.code())).c_str(),
               status.message().c_str());
  std::abort();
}

}  // namespace mesh
