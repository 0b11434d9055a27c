#include "node/runtime/config.h"

#include <toml.hpp>

#include <functional>
#include <map>

#include "protocol/limits.h"

namespace mesh {
namespace {

using Setter = std::function<void(const toml::value&, NodeOptions&)>;

template <typename T, typename Field>
Setter set(Field NodeOptions::*field) {
  return [field](const toml::value& v, NodeOptions& o) { o.*field = static_cast<Field>(toml::get<T>(v)); };
}

// section.key -> how to store it. One place lists every setting.
const std::map<std::string, Setter>& settings() {
  static const std::map<std::string, Setter> table = {
      {"node.id", set<std::string>(&NodeOptions::node_id)},
      {"node.listen", set<std::string>(&NodeOptions::listen)},
      {"node.data_dir", set<std::string>(&NodeOptions::data_dir)},
      {"executor.slots", set<int64_t>(&NodeOptions::slots)},
      {"tasks.partitions", set<int64_t>(&NodeOptions::partitions)},
      {"tasks.max_unfinished", set<int64_t>(&NodeOptions::max_unfinished)},
      {"tasks.lease_ttl_ms", set<int64_t>(&NodeOptions::lease_ttl_ms)},
      {"tasks.aging_interval_ms", set<int64_t>(&NodeOptions::aging_interval_ms)},
      {"runtime.drain_grace_ms", set<int64_t>(&NodeOptions::drain_grace_ms)},
      {"runtime.exec_max_output_bytes", set<int64_t>(&NodeOptions::exec_max_output_bytes)},
      {"runtime.metrics_listen", set<std::string>(&NodeOptions::metrics_listen)},
      {"runtime.log_level", set<std::string>(&NodeOptions::log_level)},
  };
  return table;
}

Status invalid(const std::string& message) { return Status(ErrorCode::kInvalidArgument, message); }

}  // namespace

Status load_config_file(const std::string& path, NodeOptions& options) {
  try {
    const toml::value root = toml::parse(path);
    for (const auto& [section, table] : root.as_table()) {
      if (!table.is_table()) return invalid(path + ": '" + section + "' must be a [section]");
      for (const auto& [key, value] : table.as_table()) {
        std::string name = section + "." + key;
        auto it = settings().find(name);
        if (it == settings().end()) return invalid(path + ": unknown setting '" + name + "'");
        try {
          if (value.is_integer() && value.as_integer() < 0) return invalid(path + ": '" + name + "' must not be negative");
          it->second(value, options);
        } catch (const toml::type_error&) {
          return invalid(path + ": '" + name + "' has the wrong type");
        }
      }
    }
  } catch (const toml::syntax_error& e) {
    return invalid(std::string("config syntax error: ") + e.what());
  } catch (const std::exception& e) {
    return invalid(path + ": " + e.what());
  }
  return Status::Ok();
}

Status validate(const NodeOptions& o) {
  if (o.node_id.empty() || o.node_id.size() > limits::kMaxNameBytes) return invalid("node id must be 1..64 bytes");
  if (o.listen.rfind("tcp://", 0) != 0 && o.listen.rfind("ipc://", 0) != 0) {
    return invalid("listen must be a tcp:// or ipc:// endpoint, got '" + o.listen + "'");
  }
  if (o.data_dir.empty()) return invalid("data_dir must not be empty");
  if (o.slots < 1 || o.slots > 1024) return invalid("executor slots must be 1..1024");
  if (o.partitions < 1 || o.partitions > 65536) return invalid("partitions must be 1..65536");
  if (o.max_unfinished < 1) return invalid("max_unfinished must be at least 1");
  if (o.lease_ttl_ms < 100) return invalid("lease_ttl_ms must be at least 100");
  if (o.aging_interval_ms < 1) return invalid("aging_interval_ms must be at least 1");
  if (o.exec_max_output_bytes < 1 || o.exec_max_output_bytes > limits::kMaxPayloadBytes) {
    return invalid("exec_max_output_bytes must be 1.." + std::to_string(limits::kMaxPayloadBytes));
  }
  static const char* levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  bool known_level = false;
  for (const char* level : levels) known_level = known_level || o.log_level == level;
  if (!known_level) return invalid("log_level must be one of trace, debug, info, warn, error, critical, off");
  if (!o.metrics_listen.empty() && o.metrics_listen.find(':') == std::string::npos) {
    return invalid("metrics_listen must be host:port, got '" + o.metrics_listen + "'");
  }
  return Status::Ok();
}

}  // namespace mesh
