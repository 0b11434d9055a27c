#include "node/runtime/node_main.h"

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <pthread.h>
#include <signal.h>

#include <cctype>
#include <optional>

#include "node/runtime/config.h"
#include "node/runtime/curve_keys.h"
#include "node/runtime/driver.h"
#include "node/runtime/log_format.h"
#include "node/runtime/service_notify.h"

namespace mesh {

namespace {

// Exit codes of meshd.
constexpr int kExitBadConfig = 2;
constexpr int kExitStartFailed = 3;

// --slots -> MESH_SLOTS.
std::string env_name_of(const std::string& flag) {
  std::string name = "MESH_";
  for (char c : flag) name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

template <typename T>
void override_with(const std::optional<T>& flag, T& field) {
  if (flag) field = *flag;
}

// --check-config: what a start with these options would use, or why it
// would not start (the keys too, when the node's id is known).
int print_checked_config(const NodeOptions& options, const ExecConfig& exec) {
  if (!options.keys_dir.empty() && !options.node_id.empty()) {
    if (auto keys = load_mesh_keys(options.keys_dir, options.node_id); !keys.ok()) {
      std::fprintf(stderr, "meshd: bad config: keys: %s\n", keys.status().message().c_str());
      return kExitBadConfig;
    }
  }
  std::printf("meshd: config ok\n");
  std::printf("  node id        %s\n", options.node_id.empty() ? "(from the data dir, or made up at first start)"
                                                               : options.node_id.c_str());
  std::printf("  listen         %s\n", options.listen.c_str());
  std::printf("  data dir       %s\n", options.data_dir.c_str());
  std::printf("  seeds          %zu\n", options.seeds.size());
  std::printf("  slots          %u\n", options.slots);
  std::printf("  partitions     %u, %u replicas each, %u vnodes here\n", options.partitions, options.replicas,
              options.vnodes);
  std::printf("  security       %s\n", options.keys_dir.empty() ? "none (plaintext)" : ("keys in " + options.keys_dir).c_str());
  std::printf("  exec programs  %zu allowed\n", exec.policy.programs.size());
  std::printf("  placement      %s, stealing %s\n", options.placement.c_str(), options.steal ? "on" : "off");
  return 0;
}

// meshd's flags: each overrides the config file's key, and each may come
// from the environment instead (--slots from MESH_SLOTS): flag, then
// environment, then file, then default.
struct Flags {
  std::string config_path;
  std::optional<std::string> node_id, listen, advertise, data_dir, metrics_listen, log_level, log_format,
      gossip_profile, placement, keys_dir;
  std::optional<std::vector<std::string>> seeds, exec_allow, exec_env;
  std::optional<std::string> exec_workdir, exec_user, exec_group;
  std::optional<uint64_t> exec_cpu_seconds, exec_memory_bytes, exec_open_files, exec_processes;
  std::optional<uint32_t> slots, requests_per_connection, waits_per_connection, partitions, replicas, vnodes,
      steal_batch_max;
  std::optional<uint64_t> max_unfinished, lease_ttl_ms, max_lost_attempts, lease_ahead_max, drain_grace_ms,
      retention_ms, dead_letter_retention_ms, reap_after_ms, snapshot_every, storage_reserve_bytes, aging_interval_ms,
      exec_max_output_bytes, steal_threshold, steal_interval_ms, sleep_scale;
  bool new_mesh = false;
  bool insecure = false;
  bool no_steal = false;
  bool no_backups = false;
  bool no_op_batches = false;
  bool check_config = false;
};

void add_flags(CLI::App& app, Flags& f) {
  app.add_option("--config", f.config_path, "TOML config file (flags override it; SIGHUP re-reads it)");
  app.add_option("--node-id", f.node_id, "unique id of this node");
  app.add_option("--listen", f.listen, "client endpoint, e.g. tcp://0.0.0.0:7700 (port 0 picks one)");
  app.add_option("--advertise", f.advertise, "endpoint others reach this node at (default: the bound one)");
  app.add_option("--seeds", f.seeds, "host:port of nodes to join through, comma-separated")->delimiter(',');
  app.add_option("--gossip-profile", f.gossip_profile, "lan (1 s probes) or local (200 ms probes)");
  app.add_option("--reap-after-ms", f.reap_after_ms, "how long a dead or departed member is kept (default 30 s)");
  app.add_option("--data-dir", f.data_dir, "directory of the node's store");
  app.add_option("--slots", f.slots, "executor slots (tasks run at once)");
  app.add_option("--max-unfinished", f.max_unfinished, "queue bound: unfinished tasks before submits are refused");
  app.add_option("--lease-ttl-ms", f.lease_ttl_ms, "lease length; runners renew at a third of it");
  app.add_option("--max-lost-attempts", f.max_lost_attempts,
                 "a task whose runner is lost this many attempts in a row becomes a dead letter (0: never)");
  app.add_option("--lease-ahead-max", f.lease_ahead_max,
                 "own attempts leased beyond the free slots, at most (0: one lease per free slot)");
  app.add_option("--retention-ms", f.retention_ms, "how long finished and cancelled tasks are kept (default 1 h)");
  app.add_option("--dead-letter-retention-ms", f.dead_letter_retention_ms,
                 "how long failed tasks (dead letters) are kept (default 7 days)");
  app.add_option("--drain-grace-ms", f.drain_grace_ms, "on SIGTERM, how long running tasks may finish");
  app.add_option("--metrics-listen", f.metrics_listen, "host:port for Prometheus metrics over HTTP");
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn, error (SIGHUP re-reads it from the file)");
  app.add_option("--log-format", f.log_format, "logfmt, or json: one object per line (default logfmt)");
  app.add_option("--placement", f.placement, "where a task first runs: key, round_robin, least_loaded, weighted, adaptive");
  app.add_flag("--new-mesh", f.new_mesh,
               "found a new mesh when the data dir is empty and there are no seeds (ignored by a data dir that "
               "belongs to a mesh already)");
  app.add_option("--keys", f.keys_dir,
                 "keys directory: CURVE on every connection, only allow-listed nodes and clients (meshctl keygen)");
  app.add_option("--requests-per-connection", f.requests_per_connection,
                 "a client connection's requests in flight, at most (default 1000)");
  app.add_option("--waits-per-connection", f.waits_per_connection,
                 "a client connection's wait requests held, at most (default 100)");
  app.add_flag("--insecure", f.insecure, "plaintext on an address other than loopback: anyone who reaches it is in");
  app.add_flag("--no-steal", f.no_steal, "switch work stealing off (for comparison)");
  app.add_flag("--no-backups", f.no_backups, "start no backup attempts for straggling tasks of jobs");
  app.add_flag("--no-op-batches", f.no_op_batches,
               "one log entry per task op, for a rolling upgrade from a version without op batches");
  app.add_option("--partitions", f.partitions, "partitions of a new mesh (every node must agree; default 128)");
  app.add_option("--replicas", f.replicas, "replicas of each partition (default 3)");
  app.add_option("--vnodes", f.vnodes, "virtual nodes of this node on the ring (default 64)");
  app.add_option("--snapshot-every", f.snapshot_every,
                 "applied entries of a partition between two snapshots (default 1000)");
  app.add_option("--storage-reserve-bytes", f.storage_reserve_bytes,
                 "below this much free disk the node turns read-only (default 64 MiB)");
  app.add_option("--aging-interval-ms", f.aging_interval_ms,
                 "a waiting task gains one priority level this often (default 1 s)");
  app.add_option("--exec-max-output-bytes", f.exec_max_output_bytes,
                 "exec: stdout beyond this fails the attempt (default 1 MiB)");
  app.add_option("--exec-allow", f.exec_allow, "exec: absolute paths of the programs tasks may run, comma-separated")
      ->delimiter(',');
  app.add_option("--exec-env", f.exec_env, "exec: variables a task may set or inherit, comma-separated")->delimiter(',');
  app.add_option("--exec-workdir", f.exec_workdir, "exec: the children's working directory (default: meshd's)");
  app.add_option("--exec-cpu-seconds", f.exec_cpu_seconds, "exec: RLIMIT_CPU of each child");
  app.add_option("--exec-memory-bytes", f.exec_memory_bytes, "exec: RLIMIT_AS of each child");
  app.add_option("--exec-open-files", f.exec_open_files, "exec: RLIMIT_NOFILE of each child");
  app.add_option("--exec-processes", f.exec_processes, "exec: RLIMIT_NPROC of each child (counted per user)");
  app.add_option("--exec-user", f.exec_user, "exec: run children as this user (meshd as root only)");
  app.add_option("--exec-group", f.exec_group, "exec: and this group (default: the user's primary group)");
  app.add_option("--steal-batch-max", f.steal_batch_max, "tasks one steal takes, at most (default 16)");
  app.add_option("--steal-threshold", f.steal_threshold, "runnable tasks that make a node a victim (default 2)");
  app.add_option("--steal-interval-ms", f.steal_interval_ms, "between two steal attempts of an idle node (default 50)");
  app.add_option("--sleep-scale", f.sleep_scale,
                 "the built-in sleep handler sleeps this many times its payload, to play a slower host in "
                 "benchmarks (1..1000, default 1)");
  app.add_flag("--check-config", f.check_config,
               "check the config file and flags (and the keys, with --keys), print what they amount to, and exit: "
               "0 when meshd would start with them, 2 when not");
  for (CLI::Option* option : app.get_options()) {
    const std::string& name = option->get_single_name();
    if (name == "help" || name == "version" || name == "check-config") continue;
    option->envname(env_name_of(name));
  }
}

// Defaults, then the file, then the flags (and their environment).
Status resolve_options(const Flags& f, NodeOptions& options) {
  if (!f.config_path.empty()) {
    if (Status s = load_config_file(f.config_path, options); !s.ok()) return s;
  }
  override_with(f.node_id, options.node_id);
  override_with(f.listen, options.listen);
  override_with(f.advertise, options.advertise);
  override_with(f.seeds, options.seeds);
  override_with(f.gossip_profile, options.gossip_profile);
  override_with(f.reap_after_ms, options.reap_after_ms);
  override_with(f.data_dir, options.data_dir);
  override_with(f.metrics_listen, options.metrics_listen);
  override_with(f.log_level, options.log_level);
  override_with(f.log_format, options.log_format);
  override_with(f.placement, options.placement);
  override_with(f.keys_dir, options.keys_dir);
  override_with(f.requests_per_connection, options.requests_per_connection);
  override_with(f.waits_per_connection, options.waits_per_connection);
  options.insecure = f.insecure;
  override_with(f.slots, options.slots);
  override_with(f.max_unfinished, options.max_unfinished);
  override_with(f.lease_ttl_ms, options.lease_ttl_ms);
  override_with(f.max_lost_attempts, options.max_lost_attempts);
  override_with(f.lease_ahead_max, options.lease_ahead_max);
  override_with(f.drain_grace_ms, options.drain_grace_ms);
  override_with(f.retention_ms, options.retention_ms);
  override_with(f.dead_letter_retention_ms, options.dead_letter_retention_ms);
  override_with(f.partitions, options.partitions);
  override_with(f.replicas, options.replicas);
  override_with(f.vnodes, options.vnodes);
  override_with(f.snapshot_every, options.snapshot_every);
  override_with(f.storage_reserve_bytes, options.storage_reserve_bytes);
  override_with(f.aging_interval_ms, options.aging_interval_ms);
  override_with(f.exec_max_output_bytes, options.exec_max_output_bytes);
  override_with(f.steal_batch_max, options.steal_batch_max);
  override_with(f.steal_threshold, options.steal_threshold);
  override_with(f.steal_interval_ms, options.steal_interval_ms);
  override_with(f.sleep_scale, options.sleep_scale);
  override_with(f.exec_allow, options.exec_allow);
  override_with(f.exec_env, options.exec_env);
  override_with(f.exec_workdir, options.exec_workdir);
  if (f.exec_cpu_seconds) options.exec_cpu_seconds = f.exec_cpu_seconds;
  if (f.exec_memory_bytes) options.exec_memory_bytes = f.exec_memory_bytes;
  if (f.exec_open_files) options.exec_open_files = f.exec_open_files;
  if (f.exec_processes) options.exec_processes = f.exec_processes;
  override_with(f.exec_user, options.exec_user);
  override_with(f.exec_group, options.exec_group);
  if (f.no_steal) options.steal = false;
  if (f.no_backups) options.backup_attempts = false;
  if (f.no_op_batches) options.batch_ops = false;
  options.new_mesh = f.new_mesh;
  return validate(options);
}

// SIGHUP: the file and flags again. The log level and format change at once;
// every other key takes effect at the next start, and the log says so.
void reload(const Flags& flags) {
  NodeOptions options;
  if (Status s = resolve_options(flags, options); !s.ok()) {
    spdlog::error("event=config_reload_failed reason=\"{}\" action=\"kept the running settings\"", s.message());
    return;
  }
  use_log_format(*parse_log_format(options.log_format));
  spdlog::set_level(spdlog::level::from_str(options.log_level));
  spdlog::info("event=config_reloaded log_level={} log_format={} note=\"other keys take effect at the next start\"",
               options.log_level, options.log_format);
}

}  // namespace

int run_meshd(int argc, char** argv, HandlerRegistry handlers) {
  CLI::App app{"meshd: a node of the meshwork task mesh"};
  app.option_defaults()->always_capture_default();  // --help shows every default
  app.set_version_flag("--version", "meshd " MESH_VERSION);
  Flags flags;
  add_flags(app, flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitBadConfig;
  }

  NodeOptions options;
  if (Status s = resolve_options(flags, options); !s.ok()) {
    std::fprintf(stderr, "meshd: bad config: %s\n", s.message().c_str());
    return kExitBadConfig;
  }
  Result<ExecConfig> exec = exec_config(options);
  if (!exec.ok()) {
    std::fprintf(stderr, "meshd: bad config: %s\n", exec.status().message().c_str());
    return kExitBadConfig;
  }

  if (flags.check_config) return print_checked_config(options, exec.value());

  use_log_format(*parse_log_format(options.log_format));
  spdlog::set_level(spdlog::level::from_str(options.log_level));

  HandlerRegistry all = std::move(handlers);
  HandlerRegistry builtins;
  register_builtin_handlers(builtins, exec.value(), options.sleep_scale);
  for (const auto& name : builtins.names()) {
    if (!all.find(name)) all.add(name, *builtins.find(name));
  }

  // Whoever started meshd may have blocked these (the mask is inherited):
  // blocked, they would never reach the drain and the reload.
  sigset_t stop_and_reload;
  sigemptyset(&stop_and_reload);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&stop_and_reload, sig);
  pthread_sigmask(SIG_UNBLOCK, &stop_and_reload, nullptr);

  Node node(options, std::move(all));
  node.on_reload([&flags] { reload(flags); });
  if (Status s = node.start(); !s.ok()) {
    std::fprintf(stderr, "meshd: cannot start: %s\n", s.message().c_str());
    return kExitStartFailed;
  }
  notify_service("READY=1");
  return node.run();
}

}  // namespace mesh
