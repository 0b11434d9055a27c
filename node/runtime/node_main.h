// The meshd command line, reusable by your own binary: register your
// handlers, then hand over to run_meshd. For example:
//
//   int main(int argc, char** argv) {
//     mesh::HandlerRegistry handlers;
//     handlers.add("resize", [](const mesh::TaskContext& task) {
//       return mesh::HandlerResult::success(resize_image(task.payload));
//     });
//     return mesh::run_meshd(argc, argv, std::move(handlers));
//   }
//
// The built-in handlers are added too unless a handler of yours has the same
// name. Tasks of a handler named "exec", yours or the built-in, pass the
// node's exec policy at submit ([handlers.exec], node/core/exec_policy.h).
#pragma once

#include "node/runtime/handler.h"

namespace mesh {

int run_meshd(int argc, char** argv, HandlerRegistry handlers);

}  // namespace mesh
