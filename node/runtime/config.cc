#include "node/runtime/config.h"

#include <toml.hpp>

#include <functional>
#include <map>

#include "node/core/node_state.h"
#include "protocol/limits.h"

namespace mesh {
namespace {

using Setter = std::function<void(const toml::value&, NodeOptions&)>;

template <typename T, typename Field>
Setter set(Field NodeOptions::*field) {
  return [field](const toml::value& v, NodeOptions& o) { o.*field = static_cast<Field>(toml::get<T>(v)); };
}

Setter set_string_list(std::vector<std::string> NodeOptions::*field) {
  return [field](const toml::value& v, NodeOptions& o) { o.*field = toml::get<std::vector<std::string>>(v); };
}

// section.key -> how to store it. One place lists every setting.
const std::map<std::string, Setter>& settings() {
  static const std::map<std::string, Setter> table = {
      {"node.id", set<std::string>(&NodeOptions::node_id)},
      {"node.listen", set<std::string>(&NodeOptions::listen)},
      {"node.data_dir", set<std::string>(&NodeOptions::data_dir)},
      {"node.advertise", set<std::string>(&NodeOptions::advertise)},
      {"node.seeds", set_string_list(&NodeOptions::seeds)},
      {"membership.profile", set<std::string>(&NodeOptions::gossip_profile)},
      {"membership.reap_after_ms", set<int64_t>(&NodeOptions::reap_after_ms)},
      {"executor.slots", set<int64_t>(&NodeOptions::slots)},
      {"tasks.partitions", set<int64_t>(&NodeOptions::partitions)},
      {"tasks.replicas", set<int64_t>(&NodeOptions::replicas)},
      {"tasks.vnodes", set<int64_t>(&NodeOptions::vnodes)},
      {"tasks.snapshot_every", set<int64_t>(&NodeOptions::snapshot_every)},
      {"tasks.max_unfinished", set<int64_t>(&NodeOptions::max_unfinished)},
      {"tasks.lease_ttl_ms", set<int64_t>(&NodeOptions::lease_ttl_ms)},
      {"tasks.aging_interval_ms", set<int64_t>(&NodeOptions::aging_interval_ms)},
      {"tasks.retention_ms", set<int64_t>(&NodeOptions::retention_ms)},
      {"tasks.dead_letter_retention_ms", set<int64_t>(&NodeOptions::dead_letter_retention_ms)},
      {"tasks.placement", set<std::string>(&NodeOptions::placement)},
      {"runtime.drain_grace_ms", set<int64_t>(&NodeOptions::drain_grace_ms)},
      {"steal.enabled", set<bool>(&NodeOptions::steal)},
      {"steal.batch_max", set<int64_t>(&NodeOptions::steal_batch_max)},
      {"steal.threshold", set<int64_t>(&NodeOptions::steal_threshold)},
      {"steal.interval_ms", set<int64_t>(&NodeOptions::steal_interval_ms)},
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

std::string to_endpoint(const std::string& address) {
  return address.find("://") == std::string::npos ? "tcp://" + address : address;
}

Status validate(const NodeOptions& o) {
  if (o.node_id.size() > kMaxNodeIdBytes) {
    return invalid("node id must be at most " + std::to_string(kMaxNodeIdBytes) + " bytes");
  }
  if (o.listen.rfind("tcp://", 0) != 0 && o.listen.rfind("ipc://", 0) != 0) {
    return invalid("listen must be a tcp:// or ipc:// endpoint, got '" + o.listen + "'");
  }
  if (o.data_dir.empty()) return invalid("data_dir must not be empty");
  if (o.slots < 1 || o.slots > 1024) return invalid("executor slots must be 1..1024");
  if (o.partitions < 1 || o.partitions > 65536) return invalid("partitions must be 1..65536");
  if (o.replicas < 1 || o.replicas > 7) return invalid("replicas must be 1..7");
  if (o.snapshot_every < 1) return invalid("snapshot_every must be at least 1");
  if (o.steal_batch_max < 1 || o.steal_batch_max > limits::kMaxStealBatch) {
    return invalid("steal batch_max must be 1.." + std::to_string(limits::kMaxStealBatch));
  }
  if (o.steal_threshold < 1) return invalid("steal threshold must be at least 1");
  if (o.steal_interval_ms < 1) return invalid("steal interval_ms must be at least 1");
  if (o.vnodes < 1 || o.vnodes > 1024) return invalid("vnodes must be 1..1024");
  if (o.gossip_profile != "lan" && o.gossip_profile != "local") return invalid("gossip profile must be lan or local");
  if (o.reap_after_ms < 1000) return invalid("reap_after_ms must be at least 1000");
  if (!parse_placement(o.placement)) {
    return invalid("placement must be key, round_robin, least_loaded or weighted, got '" + o.placement + "'");
  }
  if (!o.advertise.empty() && o.advertise.rfind("tcp://", 0) != 0) {
    return invalid("advertise must be a tcp:// endpoint, got '" + o.advertise + "'");
  }
  for (const auto& seed : o.seeds) {
    std::string endpoint = to_endpoint(seed);
    if (endpoint.rfind("tcp://", 0) != 0 || endpoint.rfind(':') <= 6) {
      return invalid("seed must be host:port, got '" + seed + "'");
    }
  }
  if (o.max_unfinished < 1) return invalid("max_unfinished must be at least 1");
  if (o.lease_ttl_ms < 100) return invalid("lease_ttl_ms must be at least 100");
  if (o.aging_interval_ms < 1) return invalid("aging_interval_ms must be at least 1");
  // A record must outlive the answer to the submit that made it.
  if (o.retention_ms < 1000) return invalid("retention_ms must be at least 1000");
  if (o.dead_letter_retention_ms < 1000) return invalid("dead_letter_retention_ms must be at least 1000");
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
