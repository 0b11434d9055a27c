// meshd's settings: defaults, a TOML file (configs/*.toml) and command-line
// flags, applied in that order. validate() names the first bad value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "node/runtime/handler.h"
#include "protocol/result.h"

namespace mesh {

// A node id leaves room for "#<disk id>" (9 bytes) within the 64-byte names
// of the protocol: the replica id of partition groups.
inline constexpr size_t kMaxNodeIdBytes = 55;

struct NodeOptions {
  std::string node_id;  // empty: derived from the advertised address
  std::string listen = "tcp://127.0.0.1:7700";  // port 0 picks a free port
  std::string advertise;  // endpoint peers and clients use; empty: the bound endpoint
  std::vector<std::string> seeds;  // endpoints of nodes to join through; empty starts a mesh
  bool new_mesh = false;           // found a new mesh on an empty data dir (a flag only, never in a file)
  std::string gossip_profile = "lan";  // "lan" (memberlist's LAN timings) or "local" (fast)
  uint64_t reap_after_ms = 30000;      // a DEAD or LEFT member is forgotten this long after it went down
  std::string data_dir = "data/node-1";
  uint32_t slots = 4;
  uint32_t partitions = 128;  // fixed at mesh creation; every node must agree
  uint32_t replicas = 3;
  uint32_t vnodes = 64;
  uint64_t snapshot_every = 1000;  // applied log entries of a partition between two snapshots
  uint64_t storage_reserve_bytes = 64ull << 20;  // below this much free space the node is read-only
  uint64_t max_unfinished = 100000;
  uint64_t lease_ttl_ms = 10000;
  uint64_t max_lost_attempts = 5;  // lost runners in a row that make a task a dead letter; 0: no bound
  uint64_t lease_ahead_max = 64;   // own attempts leased beyond the free slots, at most
  uint64_t aging_interval_ms = 1000;
  uint64_t retention_ms = 3600ull * 1000;                   // COMPLETED and CANCELLED records kept this long
  uint64_t dead_letter_retention_ms = 7ull * 24 * 3600 * 1000;  // FAILED records kept this long
  uint64_t drain_grace_ms = 10000;
  uint64_t exec_max_output_bytes = 1 << 20;
  // [handlers] sleep_scale: the built-in sleep handler sleeps this many times
  // its payload, so a benchmark can play a slower host (1..1000).
  uint64_t sleep_scale = 1;
  std::string placement = "key";     // key, round_robin, least_loaded, weighted or adaptive (node/core/node_state.h)
  bool steal = true;                 // work stealing on (off: for comparison)
  bool backup_attempts = true;       // a straggling task of a job gets a second attempt elsewhere
  bool batch_ops = true;             // a step's ops for one partition go in one log entry
  uint32_t steal_batch_max = 16;
  uint64_t steal_threshold = 2;
  uint64_t steal_interval_ms = 50;
  std::string metrics_listen;  // "host:port" for Prometheus text over HTTP; empty = off
  uint32_t requests_per_connection = 1000;  // [limits]: a client connection's requests in flight
  uint32_t waits_per_connection = 100;      // ... and `wait` requests held among them
  // [security]: the keys directory (node/runtime/curve_keys.h); empty: plaintext,
  // refused on an address other than loopback unless `insecure` (a flag only).
  std::string keys_dir;
  bool insecure = false;
  std::string log_level = "info";
  std::string log_format = "logfmt";  // or "json": one object per line (node/runtime/log_format.h)
  // [handlers.exec]: what exec tasks may run, and how (node/core/exec_policy.h).
  // No allowed program: exec is off.
  std::vector<std::string> exec_allow;  // absolute program paths argv[0] must equal
  std::vector<std::string> exec_env;    // variables a task may set, or inherit from meshd
  std::string exec_workdir;             // the children's working directory; empty: meshd's
  std::optional<uint64_t> exec_cpu_seconds;   // RLIMIT_CPU of each child; unset: meshd's own
  std::optional<uint64_t> exec_memory_bytes;  // RLIMIT_AS
  std::optional<uint64_t> exec_open_files;    // RLIMIT_NOFILE
  std::optional<uint64_t> exec_processes;     // RLIMIT_NPROC (counted per user)
  std::string exec_user;   // name or number; only when meshd runs as root
  std::string exec_group;  // name or number; default: the user's primary group
};

// Reads `path` over `options`. Unknown keys, wrong types and syntax errors
// are errors (kInvalidArgument) that name the key or line.
// Whether only this host can reach `endpoint` (ipc://, 127.0.0.0/8, ::1, localhost).
bool is_loopback_endpoint(const std::string& endpoint);
Status load_config_file(const std::string& path, NodeOptions& options);
Status validate(const NodeOptions& options);
// `as_root`: whether meshd runs as root, which exec's user and group need.
Status validate(const NodeOptions& options, bool as_root);

// [handlers.exec] as the core checks it at submit.
ExecPolicy exec_policy(const NodeOptions& options);
// The exec handler's settings, user and group resolved to ids. Fails
// (kInvalidArgument) for a user or group this host does not know.
Result<ExecConfig> exec_config(const NodeOptions& options);

// "host:port" or a full endpoint -> "tcp://host:port".
std::string to_endpoint(const std::string& address);

}  // namespace mesh
