#include "node/core/exec_policy.h"

#include <nlohmann/json.hpp>

namespace mesh {
namespace {

Status invalid(const std::string& message) { return Status(ErrorCode::kInvalidArgument, "exec: " + message); }
Status refused(const std::string& message) { return Status(ErrorCode::kHandlerNotAllowed, "exec: " + message); }
Status off() { return refused("exec is off on this node (no [handlers.exec] allow list)"); }

}  // namespace

Result<ExecPayload> parse_exec_payload(std::string_view payload) {
  auto json = nlohmann::json::parse(payload.begin(), payload.end(), nullptr, false);
  if (json.is_discarded()) return invalid("payload is not valid JSON");
  if (!json.is_object()) return invalid("payload must be a JSON object");
  for (const auto& [key, value] : json.items()) {
    if (key != "argv" && key != "stdin" && key != "env") return invalid("unknown field '" + key + "'");
  }
  ExecPayload out;
  auto argv = json.find("argv");
  if (argv == json.end() || !argv->is_array() || argv->empty()) {
    return invalid("argv must be a non-empty array of strings");
  }
  for (const auto& arg : *argv) {
    if (!arg.is_string()) return invalid("argv must be a non-empty array of strings");
    out.argv.push_back(arg.get<std::string>());
    if (out.argv.back().find('\0') != std::string::npos) return invalid("argv strings must not contain NUL");
  }
  if (out.argv[0].empty()) return invalid("argv[0] must not be empty");
  if (auto input = json.find("stdin"); input != json.end()) {
    if (!input->is_string()) return invalid("stdin must be a string");
    out.input = input->get<std::string>();
  }
  if (auto env = json.find("env"); env != json.end()) {
    if (!env->is_object()) return invalid("env must be an object of strings");
    for (const auto& [key, value] : env->items()) {
      if (!value.is_string()) return invalid("env must be an object of strings");
      std::string text = value.get<std::string>();
      if (key.empty() || key.find_first_of(std::string_view("=\0", 2)) != std::string::npos ||
          text.find('\0') != std::string::npos) {
        return invalid("bad env entry '" + key + "'");
      }
      out.env.emplace_back(key, std::move(text));
    }
  }
  return out;
}

Status check_exec(const ExecPolicy& policy, const ExecPayload& payload) {
  if (!policy.enabled()) return off();
  const std::string& program = payload.argv[0];
  if (program.front() != '/') return refused("argv[0] must be an absolute path, got '" + program + "'");
  if (!policy.programs.count(program)) return refused("'" + program + "' is not in the allow list");
  for (const auto& [name, value] : payload.env) {
    if (!policy.env.count(name)) return refused("env variable '" + name + "' is not in the env allow list");
  }
  return Status::Ok();
}

Status check_exec(const ExecPolicy& policy, std::string_view payload) {
  if (!policy.enabled()) return off();
  Result<ExecPayload> parsed = parse_exec_payload(payload);
  if (!parsed.ok()) return parsed.status();
  return check_exec(policy, parsed.value());
}

}  // namespace mesh
