#include "node/runtime/driver.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <set>
#include <unistd.h>

#include "node/core/clock_math.h"
#include "node/core/node_state.h"
#include "node/io/raft_store.h"
#include "node/io/rocks_store.h"
#include "node/io/system_env.h"
#include "node/runtime/config.h"
#include "node/runtime/connection_limits.h"
#include "node/runtime/curve_keys.h"
#include "node/runtime/event_log.h"
#include "node/runtime/executor.h"
#include "node/runtime/http_server.h"
#include "node/runtime/metrics.h"
#include "node/runtime/prometheus.h"
#include "node/runtime/service_notify.h"
#include "node/runtime/web_api.h"
#include "node/runtime/peer_transport.h"
#include "node/runtime/turn_output.h"
#include "node/runtime/zmq_server.h"
#include "protocol/codec.h"
#include "protocol/limits.h"

namespace mesh {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

// A Wait may hold its reply at most this long; clients re-ask for longer.
constexpr uint64_t kMaxWaitMs = 10 * 60 * 1000;

uint64_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

Status write_file_atomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text << '\n';
    if (!out) return Status(ErrorCode::kStorageError, "cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Status(ErrorCode::kStorageError, "cannot rename " + tmp);
  return Status::Ok();
}

}  // namespace

struct Node::Impl {
  Impl(NodeOptions opts, HandlerRegistry registry)
      : options(std::move(opts)),
        handlers(std::move(registry)),
        wake_timer(io),
        renew_timer(io),
        space_timer(io),
        grace_timer(io),
        signals(io, SIGTERM, SIGINT),
        reload_signals(io, SIGHUP) {}

  // --- start-up --------------------------------------------------------------------

  Status start() {
    auto opened = RocksStore::open(options.data_dir);
    if (!opened.ok()) return opened.status();
    store = std::move(opened).value();
    auto disk_id = load_or_create_disk_id(*store, random.next_u64());
    if (!disk_id.ok()) return disk_id.status();
    auto groups = load_raft_disks(*store, options.partitions);
    if (!groups.ok()) return groups.status();
    auto known_peers = load_known_peers(*store);
    if (!known_peers.ok()) return known_peers.status();
    if (Status s = resolve_mesh_id(groups.value().empty()); !s.ok()) return s;
    if (!options.keys_dir.empty()) {
      auto loaded = load_mesh_keys(options.keys_dir, options.node_id);
      if (!loaded.ok()) return loaded.status();
      keys = std::move(loaded).value();
      peers = std::make_unique<PeerTransport>(
          CurveClientKeys{keys->mesh.public_key, keys->node.public_key, keys->node.secret_key});
    } else {
      peers = std::make_unique<PeerTransport>();
    }

    try {
      server = std::make_unique<ZmqServer>(
          io, options.listen,
          [this](const std::string& peer, const std::string& user_id, std::vector<std::string> frames) {
            on_message(peer, user_id, std::move(frames));
          },
          server_security());
      if (!options.metrics_listen.empty()) {
        http = std::make_unique<HttpServer>(
            io, options.metrics_listen,
            [this](const std::string& target, HttpServer::Respond respond) { serve_http(target, std::move(respond)); });
      }
    } catch (const std::exception& e) {
      return Status(ErrorCode::kInvalidArgument, e.what());
    }
    if (options.advertise.empty()) {
      options.advertise = server->bound_endpoint();
      if (options.advertise.find("0.0.0.0") != std::string::npos) {
        return Status(ErrorCode::kInvalidArgument,
                      "listening on all interfaces: set --advertise to the endpoint other nodes should use");
      }
    }
    // The advertised endpoint is unique in a mesh, which makes it a good default id.
    // A data dir belongs to one node id: its partition groups know the node
    // by it. Without --node-id a restart takes the stored one (an ephemeral
    // port may differ); a different --node-id is refused.
    auto node_id = bind_node_id(*store, options.node_id, options.advertise.substr(options.advertise.find("://") + 3));
    if (!node_id.ok()) return node_id.status();
    options.node_id = node_id.value();
    if (options.node_id.size() > kMaxNodeIdBytes) {
      return Status(ErrorCode::kInvalidArgument, "node id '" + options.node_id + "' is over " +
                                                     std::to_string(kMaxNodeIdBytes) + " bytes: set --node-id");
    }
    // The others know this node's key under one id: it must be this one.
    if (keys && keys->node_ids_by_key.at(keys->node.public_key) != options.node_id) {
      return Status(ErrorCode::kInvalidArgument, "this node's key is listed as nodes/" +
                                                     keys->node_ids_by_key.at(keys->node.public_key) +
                                                     ".pub, but this node's id is " + options.node_id);
    }

    replica_id = options.node_id + "#" + disk_id.value();
    output = std::make_unique<TurnOutput>(*store, *peers, options.node_id);
    output->set_mesh_id(mesh_id);
    output->on_answered([this](const TurnOutput::Client& c) { connection_limits.answered(c.peer, c.wait); });
    output->attach(server.get(), nullptr);
    core = std::make_unique<NodeState>(node_config(), random);
    size_t recovered = groups.value().size();
    size_t remembered = known_peers.value().size();
    feed(in::Recover{std::move(groups).value(), std::move(known_peers).value()});
    flush();
    if (exit_code != 0) return Status(ErrorCode::kStorageError, "could not persist recovery");

    executor = std::make_unique<Executor>(handlers, options.slots, [this](RunResult result) {
      // From the executor's threads: the loop takes every result waiting in one step.
      bool first = false;
      {
        std::lock_guard lock(finished_mutex);
        first = finished_runs.empty();
        finished_runs.push_back(std::move(result));
      }
      if (first) asio::post(io, [this] { take_finished(); });
    });
    output->attach(server.get(), executor.get());

    if (Status s = write_file_atomically(options.data_dir + "/meshd.endpoint", options.advertise); !s.ok()) {
      return s;
    }
    if (http) {
      if (Status s = write_file_atomically(options.data_dir + "/metrics.endpoint", http->bound_address()); !s.ok()) {
        return s;
      }
    }
    spdlog::info(
        "event=started node={} replica={} mesh={} listen={} advertise={} seeds={} metrics={} data_dir={} slots={} "
        "partitions_recovered={} peers_remembered={}",
        options.node_id, replica_id, mesh_id.empty() ? "unknown" : mesh_id, server->bound_endpoint(),
        options.advertise, options.seeds.size(),
        http ? http->bound_address() : "off", options.data_dir, options.slots, recovered, remembered);
    return Status::Ok();
  }

  // Who may connect: with keys, the allow-listed ones over CURVE; on loopback
  // without keys, anyone, as before; elsewhere without keys (--insecure),
  // anyone, but each new connection is logged as plaintext.
  std::optional<ServerSecurity> server_security() {
    if (keys) {
      return ServerSecurity{keys->mesh.secret_key,
                            [this](const std::string& key, const std::string& address) -> std::optional<std::string> {
                              if (auto who = keys->principal_of(key)) return who->user_id();
                              ++connections_refused;
                              // Bounded: an attacker may bring a new key every time.
                              if (refused_keys.size() < kMaxLoggedRefusedKeys && refused_keys.insert(key).second) {
                                spdlog::warn("event=connection_refused address={} key={} reason=\"key not "
                                             "allow-listed\"",
                                             address, key);
                              }
                              return std::nullopt;
                            }};
    }
    if (is_loopback_endpoint(options.listen)) return std::nullopt;
    spdlog::warn("event=insecure listen={} reason=\"no keys: plaintext, and anyone who reaches the port may submit "
                 "tasks and send peer messages\"",
                 options.listen);
    return ServerSecurity{"", [this](const std::string&, const std::string& address) -> std::optional<std::string> {
                            ++plaintext_connections;
                            spdlog::warn("event=plaintext_connection address={}", address);
                            return std::string();
                          }};
  }

  // With keys, a peer message must come from the node it claims to be: the
  // envelope's sender and every sender field are the connection's node id.
  bool sent_by_claimed_node(const Principal& who, const Envelope& env, const PeerMessage& message) {
    if (!keys) return true;
    bool matches = who.is_node && env.sender == who.name;
    for (const auto& id : claimed_node_ids(message)) matches = matches && id == who.name;
    if (matches) return true;
    ++counters["peer_messages_forged"];
    if (forged_senders.insert(who.user_id() + " as " + env.sender).second) {
      spdlog::warn("event=forged_peer_message connection=\"{}\" claims={} action=refused", who.user_id(), env.sender);
    }
    return false;
  }

  // With keys, what a client may ask depends on its role; nodes may ask anything.
  Status allowed_request(const Principal& who, const Request& request) const {
    if (!keys || who.is_node || who.role == ClientRole::kAdmin) return Status::Ok();
    if (std::holds_alternative<DrainRequest>(request) || std::holds_alternative<RemoveReplicaRequest>(request)) {
      return Status(ErrorCode::kForbidden, "client '" + who.name + "' has role " + client_role_name(who.role) +
                                               "; drain and remove-replica need role admin");
    }
    bool writes = std::holds_alternative<SubmitRequest>(request) || std::holds_alternative<CancelRequest>(request) ||
                  std::holds_alternative<RetryRequest>(request);
    if (!writes || who.role == ClientRole::kSubmit) return Status::Ok();
    return Status(ErrorCode::kForbidden, "client '" + who.name + "' has role " + client_role_name(who.role) +
                                             "; submit, cancel and retry need role submit or admin");
  }

  // The mesh this node belongs to: the stored id; or, on an empty data dir
  // without seeds, a new mesh, but only when told so (--new-mesh), so that a
  // founder restarted on a wiped disk does not quietly found a second mesh.
  // A node joining through seeds learns the id from the first peer that
  // names one (accept_mesh).
  Status resolve_mesh_id(bool empty_disk) {
    auto stored = load_mesh_id(*store);
    if (!stored.ok()) return stored.status();
    mesh_id = stored.value();
    if (!mesh_id.empty() || !options.seeds.empty() || !empty_disk) {
      if (options.new_mesh && !mesh_id.empty()) {
        spdlog::info("event=new_mesh_ignored mesh={} reason=\"the data dir belongs to a mesh already\"", mesh_id);
      }
      return Status::Ok();
    }
    if (!options.new_mesh) {
      return Status(ErrorCode::kInvalidArgument,
                    "no --seeds and an empty data dir: start with --new-mesh to found a new mesh, or with --seeds "
                    "to join one");
    }
    char id[17];
    std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(random.next_u64()));
    if (Status s = store_mesh_id(*store, id); !s.ok()) return s;
    mesh_id = id;
    spdlog::info("event=mesh_founded mesh={}", mesh_id);
    return Status::Ok();
  }

  // Whether a peer message from `env` may be fed to the core: it names this
  // node's mesh, or none (a node that has not joined yet). The first mesh a
  // node without one hears becomes its own, stored before anything of that
  // mesh is taken in.
  bool accept_mesh(const Envelope& env) {
    if (env.mesh.empty() || env.mesh == mesh_id) return true;
    if (mesh_id.empty()) {
      if (Status s = store_mesh_id(*store, env.mesh); !s.ok()) {
        events.add(MeshEvent{0, clock.now_ms(), "store_error", "mesh id", std::string(s.message())});
        return false;
      }
      mesh_id = env.mesh;
      output->set_mesh_id(mesh_id);
      spdlog::info("event=mesh_joined mesh={} through={}", mesh_id, env.sender);
      return true;
    }
    ++counters["peer_messages_other_mesh"];
    if (other_mesh_senders.insert(env.sender).second) {
      spdlog::warn("event=other_mesh sender={} mesh={} ours={} action=refused", env.sender, env.mesh, mesh_id);
    }
    return false;
  }

  NodeConfig node_config() const {
    NodeConfig config;
    config.node_id = options.node_id;
    config.replica_id = replica_id;
    config.address = options.advertise;
    config.slots = options.slots;
    config.max_unfinished = options.max_unfinished;
    config.lease_ttl_ms = options.lease_ttl_ms;
    config.max_lost_attempts = static_cast<uint32_t>(options.max_lost_attempts);
    config.lease_ahead_max = static_cast<uint32_t>(options.lease_ahead_max);
    config.aging_interval_ms = options.aging_interval_ms;
    config.retention.finished_ms = options.retention_ms;
    config.retention.dead_letter_ms = options.dead_letter_retention_ms;
    config.handlers = handlers.names();
    config.exec = exec_policy(options);
    config.membership = options.gossip_profile == "local" ? MembershipConfig::local() : MembershipConfig::lan();
    config.membership.reap_after_ms = options.reap_after_ms;
    if (options.gossip_profile == "local") {
      // Loopback round trips are tiny: elect in about half a second.
      config.replication.election_timeout_ms = 500;
      config.replication.heartbeat_interval_ms = 50;
    }
    config.ring.partitions = options.partitions;
    config.ring.replicas = options.replicas;
    config.replication.snapshot_every = options.snapshot_every;
    config.ring.vnodes_per_node = options.vnodes;
    config.steal.enabled = options.steal;
    config.backups.enabled = options.backup_attempts;
    config.replication.batch_ops = options.batch_ops;
    config.placement = *parse_placement(options.placement);
    config.steal.batch_max = options.steal_batch_max;
    config.steal.threshold = options.steal_threshold;
    config.steal.interval_ms = options.steal_interval_ms;
    return config;
  }

  int run() {
    signals.async_wait([this](boost::system::error_code ec, int signal) {
      if (!ec) begin_drain(signal == SIGINT ? "SIGINT" : "SIGTERM");
    });
    await_reload();
    arm_renewals();
    check_space();
    std::vector<std::string> seeds;
    for (const auto& seed : options.seeds) seeds.push_back(to_endpoint(seed));
    feed(in::Join{std::move(seeds)});
    io.run();
    return exit_code;
  }

  // SIGHUP, as often as it comes (systemctl reload): whoever started the node decides what reloads.
  void await_reload() {
    reload_signals.async_wait([this](boost::system::error_code ec, int) {
      if (ec) return;
      if (reload_handler) reload_handler();
      await_reload();
    });
  }

  // --- inputs ----------------------------------------------------------------------

  void feed(InputEvent event) {
    Effects effects = core->step(Input{clock.now_ms(), std::move(event)});
    output->add(effects);
    for (auto& record : effects.finished) pending_finished.push_back(std::move(record));
    for (uint64_t ms : effects.txn_in_doubt_ms) txn_in_doubt_ms.record(ms);
    log_leadership(effects.events);
    for (auto& e : effects.events) events.add(std::move(e));
    for (const auto& h : effects.halts) {
      spdlog::error("event=partition_halted partition={} index={} reason=\"{}\" action=\"not serving this partition "
                    "until restarted; the other replicas serve it\"",
                    h.group, h.index, h.reason);
      events.add(MeshEvent{0, clock.now_ms(), "partition_halted", "partition " + std::to_string(h.group), h.reason},
                 EventLog::Logging::kLoggedAlready);
    }
    wake_at = effects.wake_at_ms;
    schedule_flush();
  }

  // Leadership moves partition by partition (events at debug level); the
  // log gets one line per turn that moved any.
  static void log_leadership(const std::vector<MeshEvent>& turn) {
    std::string gained, lost;
    for (const auto& e : turn) {
      std::string* list = e.kind == "leader_gained" ? &gained : e.kind == "leader_lost" ? &lost : nullptr;
      if (list == nullptr) continue;
      *list += (list->empty() ? "" : ",") + e.subject.substr(e.subject.find(' ') + 1);
    }
    if (!gained.empty() || !lost.empty()) {
      spdlog::info("event=leadership_moved gained=\"{}\" lost=\"{}\"", gained, lost);
    }
  }

  void take_finished() {
    std::vector<RunResult> results;
    {
      std::lock_guard lock(finished_mutex);
      results.swap(finished_runs);
    }
    in::TasksFinished batch;
    batch.finished.reserve(results.size());
    for (auto& result : results) {
      run_ms.record(result.run_ms);
      if (!result.result.ok) {
        spdlog::debug("event=attempt_failed task={} attempt={} error=\"{}\"", result.id, result.attempt,
                      result.result.output);
      }
      std::string handler_output = std::move(result.result.output);
      if (handler_output.size() > limits::kMaxPayloadBytes) handler_output.resize(limits::kMaxPayloadBytes);
      batch.finished.push_back(in::TaskFinished{result.partition, std::move(result.id), result.attempt,
                                                result.result.ok, std::move(handler_output)});
    }
    feed(std::move(batch));
  }

  void on_message(const std::string& peer, const std::string& user_id, std::vector<std::string> frames) {
    ++counters["requests_received"];
    if (frames.size() != 2) {
      return reject(peer, 0, Status(ErrorCode::kMalformed, "expected 2 frames (envelope, body), got " +
                                                               std::to_string(frames.size())));
    }
    auto envelope = decode_envelope(frames[0]);
    if (!envelope.ok()) return reject(peer, 0, envelope.status());
    const Envelope& env = envelope.value();
    if (env.version == 0) return reject(peer, env.request_id, Status(ErrorCode::kMalformed, "protocol version 0"));
    if (env.version > kProtocolVersion) {
      return reject(peer, env.request_id,
                    Status(ErrorCode::kUnsupportedVersion, "this node speaks protocol version " +
                                                               std::to_string(kProtocolVersion) + ", got " +
                                                               std::to_string(env.version)));
    }
    Principal who = Principal::from_user_id(user_id);
    if (is_peer_kind(env.kind)) {
      auto message = decode_peer(env.kind, frames[1]);
      if (!message.ok()) return reject(peer, env.request_id, message.status());
      if (!sent_by_claimed_node(who, env, message.value())) {
        return reject(peer, env.request_id, Status(ErrorCode::kForbidden, "peer message from another node's key"));
      }
      if (!accept_mesh(env)) return;
      ++counters["peer_messages_received"];
      return feed(in::FromPeer{std::move(message).value()});
    }
    auto request = decode_request(env.kind, frames[1]);
    if (!request.ok()) return reject(peer, env.request_id, request.status());
    if (Status s = allowed_request(who, request.value()); !s.ok()) return reject(peer, env.request_id, s);
    if (answered_by_core(request.value())) {
      if (Status s = connection_limits.admit(peer, std::holds_alternative<WaitRequest>(request.value())); !s.ok()) {
        return refuse_over_limit(peer, env.request_id, s);
      }
    }
    std::visit([&](auto& r) { handle(peer, env.request_id, std::move(r)); }, request.value());
  }

  // The requests the core answers later (the rest are answered at once):
  // the ones a connection's limits count.
  static bool answered_by_core(const Request& request) {
    return std::holds_alternative<SubmitRequest>(request) || std::holds_alternative<WaitRequest>(request) ||
           std::holds_alternative<CancelRequest>(request) || std::holds_alternative<RetryRequest>(request) ||
           std::holds_alternative<GetRequest>(request) || std::holds_alternative<ListRequest>(request) ||
           std::holds_alternative<RemoveReplicaRequest>(request);
  }

  // A flooding connection is told `overloaded` at once; logged at its first
  // refusal and every 1000th after, so the flood does not become a log flood.
  void refuse_over_limit(const std::string& peer, uint64_t id, const Status& status) {
    uint64_t refused = ++counters["requests_rejected_" + std::string(error_name(status.code()))];
    uint64_t over = ++counters["requests_over_connection_limit"];
    if (over == 1 || over % 1000 == 0) {
      spdlog::warn("event=connection_over_limit refused_total={} reason=\"{}\"", refused, status.message());
    }
    answer(peer, id, ErrorReply{status.code(), status.message()});
  }

  RequestRef remember(const std::string& peer, uint64_t request_id, bool wait = false) {
    RequestRef ref = next_ref++;
    output->expect_reply(ref, {peer, request_id, wait});
    return ref;
  }

  void handle(const std::string& peer, uint64_t id, SubmitRequest r) {
    feed(in::Submit{remember(peer, id), std::move(r.tasks), r.atomic, std::move(r.txn)});
  }
  void handle(const std::string& peer, uint64_t id, WaitRequest r) {
    r.timeout_ms = std::min(r.timeout_ms, kMaxWaitMs);
    feed(in::Wait{remember(peer, id, /*wait=*/true), std::move(r)});
  }
  void handle(const std::string& peer, uint64_t id, CancelRequest r) {
    feed(in::Cancel{remember(peer, id), std::move(r.ids), std::move(r.job)});
  }
  void handle(const std::string& peer, uint64_t id, RetryRequest r) {
    feed(in::Retry{remember(peer, id), std::move(r)});
  }
  // Reads go to the leaders of the partitions like everything else.
  void handle(const std::string& peer, uint64_t id, GetRequest r) { feed(in::Get{remember(peer, id), std::move(r)}); }
  void handle(const std::string& peer, uint64_t id, ListRequest r) { feed(in::List{remember(peer, id), std::move(r)}); }
  void handle(const std::string& peer, uint64_t id, StatsRequest) { answer(peer, id, stats()); }
  void handle(const std::string& peer, uint64_t id, MembersRequest) { answer(peer, id, core->members_view()); }
  void handle(const std::string& peer, uint64_t id, StealsRequest) { answer(peer, id, core->steals_view()); }
  void handle(const std::string& peer, uint64_t id, TxnsRequest) { answer(peer, id, core->transactions_view()); }
  void handle(const std::string& peer, uint64_t id, EventsRequest r) {
    answer(peer, id, events.since(options.node_id, r.after_seq));
  }
  // As SIGTERM: the answer says what the drain waits for, then it starts.
  void handle(const std::string& peer, uint64_t id, DrainRequest) {
    answer(peer, id,
           DrainReply{options.node_id, draining, static_cast<uint32_t>(core->running()),
                      static_cast<uint32_t>(core->partitions_led()), options.drain_grace_ms});
    begin_drain("meshctl drain");
  }
  void handle(const std::string& peer, uint64_t id, RemoveReplicaRequest r) {
    feed(in::RemoveReplica{remember(peer, id), std::move(r.replica_id)});
  }
  void handle(const std::string& peer, uint64_t id, PartitionsRequest) {
    answer(peer, id, core->partitions_view());
  }

  void answer(const std::string& peer, uint64_t id, Reply reply) {
    output->reply_now({peer, id}, std::move(reply));
    schedule_flush();
  }

  void reject(const std::string& peer, uint64_t id, const Status& status) {
    ++counters["requests_rejected_" + std::string(error_name(status.code()))];
    spdlog::warn("event=request_rejected code={} reason=\"{}\"", error_name(status.code()), status.message());
    answer(peer, id, ErrorReply{status.code(), status.message()});
  }

  // --- effects ---------------------------------------------------------------------

  void schedule_flush() {
    if (flush_posted) return;
    flush_posted = true;
    asio::post(io, [this] { flush(); });
  }

  void flush() {
    flush_posted = false;
    if (exit_code != 0) return;
    if (Status s = output->flush(); !s.ok()) {
      // Memory is ahead of disk now: answering would acknowledge what a
      // crash could lose. Stop; a restart recovers from the store.
      events.add(MeshEvent{0, clock.now_ms(), "store_error", "log write", std::string(s.message()) + "; exiting"});
      exit_code = 1;
      io.stop();
      return;
    }
    for (const auto& r : pending_finished) {
      task_latency_ms.record(elapsed_ms(r.finished_ms, r.submitted_ms));
      if (r.state == TaskState::kFailed) {
        spdlog::warn("event=dead_letter task={} attempts={} error=\"{}\"", r.spec.id, r.attempt, r.error);
        events.add(MeshEvent{0, r.finished_ms, "task_dead_lettered", r.spec.id,
                             std::to_string(r.attempt) + " attempts: " + r.error.substr(0, 200)},
                   EventLog::Logging::kLoggedAlready);
      }
    }
    pending_finished.clear();
    arm_wake();
    // Past the grace period the timer stops the node whatever still depends on it.
    if (draining && core->running() == 0 && !core->holds_a_majority_together() &&
        !core->leads_what_it_could_hand_over() && output->requests_awaiting_reply() == 0) {
      finish("drained");
    }
  }

  void arm_wake() {
    if (!wake_at || wake_at == armed_wake_at) return;
    armed_wake_at = wake_at;
    uint64_t now = clock.now_ms();
    wake_timer.expires_after(milliseconds(*wake_at > now ? *wake_at - now : 0));
    wake_timer.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      armed_wake_at.reset();
      feed(in::Tick{});
    });
  }

  // A full disk is a state, not a crash: below the reserve the core takes no
  // new work and writes no log entries; RocksDB never meets a full disk.
  void check_space() {
    auto free = free_disk_bytes(options.data_dir);
    bool full = free && *free < options.storage_reserve_bytes;
    if (full != storage_full) {
      storage_full = full;
      if (full) {
        events.add(MeshEvent{0, clock.now_ms(), "storage_full", options.data_dir,
                             std::to_string(*free) + " bytes free, reserve " +
                                 std::to_string(options.storage_reserve_bytes) +
                                 ": read-only, no new tasks, no leadership, no log entries until space returns"});
      } else {
        events.add(MeshEvent{0, clock.now_ms(), "storage_ok", options.data_dir,
                             std::to_string(free.value_or(0)) + " bytes free"});
      }
      feed(in::StorageSpace{full});
    }
    space_timer.expires_after(std::chrono::seconds(1));
    space_timer.async_wait([this](boost::system::error_code ec) {
      if (!ec) check_space();
    });
  }

  void arm_renewals() {
    renew_timer.expires_after(milliseconds(std::max<uint64_t>(options.lease_ttl_ms / 3, 1)));
    renew_timer.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      // Fed even when nothing runs: attempts waiting for a slot, and results
      // not yet committed, keep their leases through it as well.
      feed(in::RenewLeases{executor->running()});
      arm_renewals();
    });
  }

  // --- shutdown ----------------------------------------------------------------------

  void begin_drain(const std::string& cause) {
    if (draining) return;
    spdlog::info("event=draining cause=\"{}\" running={} grace_ms={}", cause, core->running(), options.drain_grace_ms);
    draining = true;
    notify_service("STOPPING=1");
    feed(in::Drain{});
    grace_timer.expires_after(milliseconds(options.drain_grace_ms));
    grace_timer.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      // Leases of attempts still running stay in the store; the restart
      // returns those tasks to PENDING.
      for (const auto& run : executor->running()) executor->abort(run);
      finish("grace period over");
    });
  }

  void finish(const char* why) {
    if (finished) return;
    finished = true;
    spdlog::info("event=stopped reason=\"{}\" unfinished_led={}", why, core->unfinished());
    wake_timer.cancel();
    renew_timer.cancel();
    space_timer.cancel();
    grace_timer.cancel();
    signals.cancel();
    reload_signals.cancel();
    if (server) server->close();
    http.reset();
    io.stop();
  }

  StatsReply stats() const {
    StatsReply s;
    s.node_id = options.node_id;
    s.counters = core->counters();
    for (const auto& [name, value] : counters) s.counters[name] += value;
    for (const auto& [name, value] : output->counters()) s.counters[name] += value;
    s.gauges = core->gauges();
    s.gauges["peer_connections"] = static_cast<int64_t>(peers->peers());
    s.counters["connections_refused"] = connections_refused;
    s.counters["plaintext_connections"] = plaintext_connections;
    s.gauges["members_known"] = static_cast<int64_t>(core->membership().members().size());
    s.counters["members_reaped"] = core->membership().reaped_total();
    s.gauges["rss_bytes"] = static_cast<int64_t>(rss_bytes());
    s.gauges["uptime_ms"] = static_cast<int64_t>(clock.now_ms() - started_ms);
    s.histograms["task_latency_ms"] = task_latency_ms.summary();
    s.histograms["run_ms"] = run_ms.summary();
    s.histograms["txn_in_doubt_ms"] = txn_in_doubt_ms.summary();
    s.histograms["store_sync_us"] = output->sync_us().summary();
    s.histograms["store_batch_writes"] = output->batch_writes().summary();
    return s;
  }

  // Task lookups over HTTP open at once, at most: each holds a core request.
  static constexpr size_t kMaxHttpLookups = 64;

  void serve_http(const std::string& target, HttpServer::Respond respond) {
    HttpTarget t = parse_http_target(target);
    if (t.path.starts_with("/v1/tasks/")) return look_up_task(t.path.substr(10), std::move(respond));
    if (t.path == "/v1/events") return respond(events_answer(events.since(options.node_id, t.after)));
    respond(http_answer(t.path));
  }

  // A get like any client's, routed to the task's partition leader; the
  // answer comes back through the turn's output, after its write.
  void look_up_task(const std::string& id, HttpServer::Respond respond) {
    if (id.empty() || id.size() > limits::kMaxIdBytes) {
      return respond({400, "text/plain; charset=utf-8", "a task id of 1 to 256 bytes, percent-encoded\n"});
    }
    if (http_lookups >= kMaxHttpLookups) {
      return respond({503, "text/plain; charset=utf-8", "too many task lookups in flight\n"});
    }
    ++http_lookups;
    RequestRef ref = next_ref++;
    output->expect_reply(ref, {"", 0, false, [this, id, respond](const Reply& reply) {
                                 --http_lookups;
                                 respond(task_answer(id, reply));
                               }});
    feed(in::Get{ref, GetRequest{{id}}});
  }

  // /healthz answers while the loop runs; /readyz only while this node serves:
  // not draining, and every partition it hosts has a leader.
  HttpAnswer http_answer(const std::string& path) const {
    if (path == "/" || path.starts_with("/v1/")) {
      if (auto answer = web_api_answer(path, *core, stats())) return std::move(*answer);
    }
    if (path == "/metrics") {
      return {200, "text/plain; version=0.0.4; charset=utf-8", render_prometheus(prometheus_view())};
    }
    if (path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
    if (path == "/readyz") {
      if (core->draining()) return {503, "text/plain; charset=utf-8", "draining\n"};
      for (const GroupInfo& g : core->partitions_view().groups) {
        if (g.leader.empty()) {
          return {503, "text/plain; charset=utf-8", "partition " + std::to_string(g.partition) + " has no leader\n"};
        }
      }
      return {200, "text/plain; charset=utf-8", "ready\n"};
    }
    return {404, "text/plain; charset=utf-8", "not found\n"};
  }

  PrometheusView prometheus_view() const {
    PrometheusView view;
    view.stats = stats();
    view.histograms = {{"task_latency_ms", &task_latency_ms},
                       {"run_ms", &run_ms},
                       {"txn_in_doubt_ms", &txn_in_doubt_ms},
                       {"store_sync_us", &output->sync_us()},
                       {"store_batch_writes", &output->batch_writes()}};
    view.members = core->members_view().members;
    view.groups = core->partitions_view().groups;
    return view;
  }

  NodeOptions options;
  HandlerRegistry handlers;
  asio::io_context io;
  mutable SystemClock clock;
  OsRandom random;
  std::unique_ptr<RocksStore> store;
  std::string replica_id;
  std::string mesh_id;                        // empty until founded or heard from a peer
  std::set<std::string> other_mesh_senders;  // logged once each
  std::unique_ptr<NodeState> core;
  std::unique_ptr<ZmqServer> server;
  std::unique_ptr<HttpServer> http;
  size_t http_lookups = 0;
  // Declared before the executor, so they outlive its threads.
  std::mutex finished_mutex;
  std::vector<RunResult> finished_runs;  // handed over by the executor's threads, not yet fed
  std::unique_ptr<Executor> executor;
  std::optional<MeshKeys> keys;  // --keys: CURVE and allow-lists
  std::unique_ptr<PeerTransport> peers;
  ConnectionLimits connection_limits{ConnectionLimitConfig{options.requests_per_connection, options.waits_per_connection}};
  // Written by the ZAP thread (ZmqServer), read by stats().
  std::atomic<uint64_t> connections_refused{0};
  std::atomic<uint64_t> plaintext_connections{0};
  static constexpr size_t kMaxLoggedRefusedKeys = 1000;
  std::set<std::string> refused_keys;    // logged once each, the first 1000; the ZAP thread's own
  std::set<std::string> forged_senders;  // logged once each
  asio::steady_timer wake_timer;
  asio::steady_timer renew_timer;
  asio::steady_timer space_timer;
  bool storage_full = false;
  asio::steady_timer grace_timer;
  asio::signal_set signals;
  asio::signal_set reload_signals;
  std::function<void()> reload_handler;

  // Effects gathered this turn, carried out together.
  std::unique_ptr<TurnOutput> output;
  std::vector<TaskRecord> pending_finished;
  EventLog events;
  std::optional<uint64_t> wake_at;
  std::optional<uint64_t> armed_wake_at;
  bool flush_posted = false;

  RequestRef next_ref = 1;
  std::map<std::string, uint64_t> counters;
  Histogram task_latency_ms;
  Histogram run_ms;
  Histogram txn_in_doubt_ms;  // prepared intents on led partitions, until resolved
  uint64_t started_ms = clock.now_ms();
  bool draining = false;
  bool finished = false;
  int exit_code = 0;
};

Node::Node(NodeOptions options, HandlerRegistry handlers)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handlers))) {}
Node::~Node() = default;
Status Node::start() { return impl_->start(); }
int Node::run() { return impl_->run(); }
void Node::on_reload(std::function<void()> reload) { impl_->reload_handler = std::move(reload); }

}  // namespace mesh
