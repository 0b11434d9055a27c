#include "protocol/task_ops.h"

#include <type_traits>

namespace mesh {

const std::string& op_task_id(const TaskOp& op) {
  static const std::string kNone;
  return std::visit(
      [](const auto& o) -> const std::string& {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, OpSubmit>) {
          return o.spec.id;
        } else if constexpr (std::is_same_v<T, OpPurge> || std::is_same_v<T, OpTxnPrepare> ||
                             std::is_same_v<T, OpTxnResolve> || std::is_same_v<T, OpTxnDecide> ||
                             std::is_same_v<T, OpTxnForget> || std::is_same_v<T, OpParentsDone>) {
          return kNone;
        } else {
          return o.id;
        }
      },
      op);
}

}  // namespace mesh
