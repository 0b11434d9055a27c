// The exec handler's payload and the policy that decides which commands a
// node will run. Pure: the core checks a submit against the policy (so a
// refused command never enters a partition's log) and the exec handler
// checks each attempt again before it forks (docs/ARCHITECTURE.md, "exec").
//
// Payload: {"argv":[...],"stdin":"...","env":{...}} (JSON). argv is a
// non-empty array of strings without NUL; stdin a string; env an object of
// strings whose names are non-empty and hold neither '=' nor NUL. No other
// field.
//
// Policy (meshd's [handlers.exec]):
//   - no program allowed: exec is off; every exec task is refused.
//   - argv[0] must be an absolute path and equal, byte for byte, one of the
//     allowed programs. A bare name is refused rather than looked up in
//     PATH: what a name resolves to depends on the runner's environment,
//     and the check must mean the same on every node.
//   - every name in the payload's env must be an allowed variable.
// A refusal is kHandlerNotAllowed; a payload that does not parse is
// kInvalidArgument.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/result.h"

namespace mesh {

inline constexpr std::string_view kExecHandler = "exec";

struct ExecPayload {
  std::vector<std::string> argv;  // non-empty; argv[0] is the program
  std::string input;              // the command's stdin
  std::vector<std::pair<std::string, std::string>> env;  // in payload order
};

Result<ExecPayload> parse_exec_payload(std::string_view payload);

struct ExecPolicy {
  std::set<std::string> programs;  // absolute paths argv[0] may name; empty: exec is off
  std::set<std::string> env;       // variables a task may set, or inherit from the node

  bool enabled() const { return !programs.empty(); }
};

Status check_exec(const ExecPolicy& policy, const ExecPayload& payload);
// Parses, then checks; a disabled policy refuses before parsing.
Status check_exec(const ExecPolicy& policy, std::string_view payload);

}  // namespace mesh
