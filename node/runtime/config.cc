#include "node/runtime/config.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <toml.hpp>

#include <charconv>
#include <functional>
#include <map>

#include "node/core/node_state.h"
#include "node/runtime/log_format.h"
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
      {"node.storage_reserve_bytes", set<int64_t>(&NodeOptions::storage_reserve_bytes)},
      {"membership.profile", set<std::string>(&NodeOptions::gossip_profile)},
      {"membership.reap_after_ms", set<int64_t>(&NodeOptions::reap_after_ms)},
      {"executor.slots", set<int64_t>(&NodeOptions::slots)},
      {"tasks.partitions", set<int64_t>(&NodeOptions::partitions)},
      {"tasks.replicas", set<int64_t>(&NodeOptions::replicas)},
      {"tasks.vnodes", set<int64_t>(&NodeOptions::vnodes)},
      {"tasks.snapshot_every", set<int64_t>(&NodeOptions::snapshot_every)},
      {"tasks.max_unfinished", set<int64_t>(&NodeOptions::max_unfinished)},
      {"tasks.lease_ttl_ms", set<int64_t>(&NodeOptions::lease_ttl_ms)},
      {"tasks.max_lost_attempts", set<int64_t>(&NodeOptions::max_lost_attempts)},
      {"tasks.lease_ahead_max", set<int64_t>(&NodeOptions::lease_ahead_max)},
      {"tasks.aging_interval_ms", set<int64_t>(&NodeOptions::aging_interval_ms)},
      {"tasks.retention_ms", set<int64_t>(&NodeOptions::retention_ms)},
      {"tasks.dead_letter_retention_ms", set<int64_t>(&NodeOptions::dead_letter_retention_ms)},
      {"tasks.placement", set<std::string>(&NodeOptions::placement)},
      {"tasks.backup_attempts", set<bool>(&NodeOptions::backup_attempts)},
      {"tasks.batch_ops", set<bool>(&NodeOptions::batch_ops)},
      {"runtime.drain_grace_ms", set<int64_t>(&NodeOptions::drain_grace_ms)},
      {"steal.enabled", set<bool>(&NodeOptions::steal)},
      {"steal.batch_max", set<int64_t>(&NodeOptions::steal_batch_max)},
      {"steal.threshold", set<int64_t>(&NodeOptions::steal_threshold)},
      {"steal.interval_ms", set<int64_t>(&NodeOptions::steal_interval_ms)},
      {"runtime.exec_max_output_bytes", set<int64_t>(&NodeOptions::exec_max_output_bytes)},
      {"handlers.sleep_scale", set<int64_t>(&NodeOptions::sleep_scale)},
      {"runtime.metrics_listen", set<std::string>(&NodeOptions::metrics_listen)},
      {"runtime.log_level", set<std::string>(&NodeOptions::log_level)},
      {"runtime.log_format", set<std::string>(&NodeOptions::log_format)},
      {"security.keys_dir", set<std::string>(&NodeOptions::keys_dir)},
      {"limits.requests_per_connection", set<int64_t>(&NodeOptions::requests_per_connection)},
      {"limits.waits_per_connection", set<int64_t>(&NodeOptions::waits_per_connection)},
      {"handlers.exec.allow", set_string_list(&NodeOptions::exec_allow)},
      {"handlers.exec.env", set_string_list(&NodeOptions::exec_env)},
      {"handlers.exec.workdir", set<std::string>(&NodeOptions::exec_workdir)},
      {"handlers.exec.cpu_seconds", set<int64_t>(&NodeOptions::exec_cpu_seconds)},
      {"handlers.exec.memory_bytes", set<int64_t>(&NodeOptions::exec_memory_bytes)},
      {"handlers.exec.open_files", set<int64_t>(&NodeOptions::exec_open_files)},
      {"handlers.exec.processes", set<int64_t>(&NodeOptions::exec_processes)},
      {"handlers.exec.user", set<std::string>(&NodeOptions::exec_user)},
      {"handlers.exec.group", set<std::string>(&NodeOptions::exec_group)},
  };
  return table;
}

Status invalid(const std::string& message) { return Status(ErrorCode::kInvalidArgument, message); }

// Stores every key of `table` (a [section] or a [section.sub] table) named
// `prefix` + key.
Status load_table(const std::string& path, const std::string& prefix, const toml::value& table, NodeOptions& options) {
  for (const auto& [key, value] : table.as_table()) {
    std::string name = prefix + key;
    if (value.is_table()) {
      if (Status s = load_table(path, name + ".", value, options); !s.ok()) return s;
      continue;
    }
    auto it = settings().find(name);
    if (it == settings().end()) return invalid(path + ": unknown setting '" + name + "'");
    try {
      if (value.is_integer() && value.as_integer() < 0) return invalid(path + ": '" + name + "' must not be negative");
      it->second(value, options);
    } catch (const toml::type_error&) {
      return invalid(path + ": '" + name + "' has the wrong type");
    }
  }
  return Status::Ok();
}

// "/usr/bin/sh", not "bin/sh", "/usr//bin/sh", "/usr/bin/../bin/sh" or "/usr/bin/": the
// policy compares argv[0] with it byte for byte, so only one spelling may exist.
bool normal_absolute_path(const std::string& path) {
  if (path.size() < 2 || path.front() != '/' || path.back() == '/') return false;
  size_t begin = 1;
  for (;;) {
    size_t end = path.find('/', begin);
    std::string_view part =
        std::string_view(path).substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    if (part.empty() || part == "." || part == "..") return false;
    if (end == std::string::npos) return true;
    begin = end + 1;
  }
}

Status validate_exec(const NodeOptions& o, bool as_root) {
  for (const auto& program : o.exec_allow) {
    if (!normal_absolute_path(program)) {
      return invalid("handlers.exec.allow: '" + program + "' must be an absolute path without '.', '..' or '//'");
    }
  }
  for (const auto& name : o.exec_env) {
    if (name.empty() || name.find_first_of(std::string_view("=\0", 2)) != std::string::npos) {
      return invalid("handlers.exec.env: '" + name + "' is not a variable name");
    }
  }
  if (!o.exec_workdir.empty() && o.exec_workdir.front() != '/') {
    return invalid("handlers.exec.workdir must be an absolute path, got '" + o.exec_workdir + "'");
  }
  const std::pair<const char*, const std::optional<uint64_t>*> rlimits[] = {
      {"cpu_seconds", &o.exec_cpu_seconds},
      {"memory_bytes", &o.exec_memory_bytes},
      {"open_files", &o.exec_open_files},
      {"processes", &o.exec_processes}};
  for (const auto& [name, value] : rlimits) {
    if (*value && **value < 1) return invalid(std::string("handlers.exec.") + name + " must be at least 1");
  }
  if ((!o.exec_user.empty() || !o.exec_group.empty()) && !as_root) {
    return invalid("handlers.exec.user and group need meshd to run as root (it cannot change identity otherwise)");
  }
  return Status::Ok();
}

// A number, or a name the lookup knows.
template <typename Id, typename Lookup>
std::optional<Id> resolve_id(const std::string& text, Lookup lookup) {
  Id id{};
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (error == std::errc() && end == text.data() + text.size()) return id;
  return lookup(text);
}

}  // namespace

Status load_config_file(const std::string& path, NodeOptions& options) {
  try {
    const toml::value root = toml::parse(path);
    for (const auto& [section, table] : root.as_table()) {
      if (!table.is_table()) return invalid(path + ": '" + section + "' must be a [section]");
      if (Status s = load_table(path, section + ".", table, options); !s.ok()) return s;
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

bool is_loopback_endpoint(const std::string& endpoint) {
  if (endpoint.rfind("ipc://", 0) == 0) return true;
  for (const char* prefix : {"tcp://127.", "tcp://localhost:", "tcp://[::1]:"}) {
    if (endpoint.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

Status validate(const NodeOptions& o) { return validate(o, geteuid() == 0); }

Status validate(const NodeOptions& o, bool as_root) {
  if (o.node_id.size() > kMaxNodeIdBytes) {
    return invalid("node id must be at most " + std::to_string(kMaxNodeIdBytes) + " bytes");
  }
  if (o.listen.rfind("tcp://", 0) != 0 && o.listen.rfind("ipc://", 0) != 0) {
    return invalid("listen must be a tcp:// or ipc:// endpoint, got '" + o.listen + "'");
  }
  if (o.keys_dir.empty() && !o.insecure && !is_loopback_endpoint(o.listen)) {
    return invalid("listening on " + o.listen +
                   " in plaintext: give a keys directory (--keys, [security] keys_dir; meshctl keygen makes one), "
                   "or --insecure to accept anyone who reaches the port");
  }
  if (o.data_dir.empty()) return invalid("data_dir must not be empty");
  if (o.requests_per_connection < 1 || o.waits_per_connection < 1 ||
      o.waits_per_connection > o.requests_per_connection) {
    return invalid("limits: requests_per_connection and waits_per_connection must be at least 1, and waits at most "
                   "requests");
  }
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
    return invalid("placement must be key, round_robin, least_loaded, weighted or adaptive, got '" + o.placement + "'");
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
  if (o.new_mesh && !o.seeds.empty()) return invalid("--new-mesh founds a mesh: it takes no --seeds");
  if (o.max_unfinished < 1) return invalid("max_unfinished must be at least 1");
  if (o.lease_ttl_ms < 100) return invalid("lease_ttl_ms must be at least 100");
  if (o.max_lost_attempts > UINT32_MAX) return invalid("max_lost_attempts must be at most 4294967295");
  if (o.lease_ahead_max > 4096) return invalid("lease_ahead_max must be at most 4096");
  if (o.aging_interval_ms < 1) return invalid("aging_interval_ms must be at least 1");
  // A record must outlive the answer to the submit that made it.
  if (o.retention_ms < 1000) return invalid("retention_ms must be at least 1000");
  if (o.dead_letter_retention_ms < 1000) return invalid("dead_letter_retention_ms must be at least 1000");
  if (o.sleep_scale < 1 || o.sleep_scale > 1000) {
    return invalid("handlers.sleep_scale must be 1..1000, got " + std::to_string(o.sleep_scale));
  }
  if (o.exec_max_output_bytes < 1 || o.exec_max_output_bytes > limits::kMaxPayloadBytes) {
    return invalid("exec_max_output_bytes must be 1.." + std::to_string(limits::kMaxPayloadBytes));
  }
  static const char* levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  bool known_level = false;
  for (const char* level : levels) known_level = known_level || o.log_level == level;
  if (!known_level) return invalid("log_level must be one of trace, debug, info, warn, error, critical, off");
  if (!parse_log_format(o.log_format)) return invalid("log_format must be logfmt or json");
  if (!o.metrics_listen.empty() && o.metrics_listen.find(':') == std::string::npos) {
    return invalid("metrics_listen must be host:port, got '" + o.metrics_listen + "'");
  }
  return validate_exec(o, as_root);
}

ExecPolicy exec_policy(const NodeOptions& o) {
  return ExecPolicy{{o.exec_allow.begin(), o.exec_allow.end()}, {o.exec_env.begin(), o.exec_env.end()}};
}

Result<ExecConfig> exec_config(const NodeOptions& o) {
  ExecConfig exec;
  exec.max_output_bytes = o.exec_max_output_bytes;
  exec.policy = exec_policy(o);
  exec.workdir = o.exec_workdir;
  exec.cpu_seconds = o.exec_cpu_seconds;
  exec.memory_bytes = o.exec_memory_bytes;
  exec.open_files = o.exec_open_files;
  exec.processes = o.exec_processes;
  // Looked up once at start-up: getpwnam is not for the child after fork.
  if (!o.exec_user.empty()) {
    passwd* user = nullptr;
    exec.uid = resolve_id<uid_t>(o.exec_user, [&](const std::string& name) -> std::optional<uid_t> {
      user = getpwnam(name.c_str());
      return user ? std::optional<uid_t>(user->pw_uid) : std::nullopt;
    });
    if (!exec.uid) return invalid("handlers.exec.user: no user '" + o.exec_user + "' on this host");
    if (user == nullptr) user = getpwuid(*exec.uid);
    if (user != nullptr) exec.gid = user->pw_gid;
  }
  if (!o.exec_group.empty()) {
    exec.gid = resolve_id<gid_t>(o.exec_group, [](const std::string& name) -> std::optional<gid_t> {
      group* g = getgrnam(name.c_str());
      return g ? std::optional<gid_t>(g->gr_gid) : std::nullopt;
    });
    if (!exec.gid) return invalid("handlers.exec.group: no group '" + o.exec_group + "' on this host");
  }
  if (exec.uid && !exec.gid) return invalid("handlers.exec.user: user " + o.exec_user + " has no group: set group");
  return exec;
}

}  // namespace mesh
