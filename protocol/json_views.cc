#include "protocol/json_views.h"

#include <cstdio>

namespace mesh {

std::string hex_digest(uint64_t v) {
  char text[20];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(v));
  return text;
}

nlohmann::json to_json(const GroupInfo& g) {
  nlohmann::json lag = nlohmann::json::array();
  for (const auto& l : g.lag) lag.push_back({{"replica_id", l.replica_id}, {"behind", l.behind}});
  return {{"partition", g.partition},         {"role", g.role},
          {"term", g.term},                   {"leader", g.leader},
          {"commit_index", g.commit_index},   {"applied_index", g.applied_index},
          {"last_index", g.last_index},       {"voters", g.voters},
          {"lag", lag}};
}

nlohmann::json to_json(const TaskRecord& r) {
  nlohmann::json attempts = nlohmann::json::array();
  for (const auto& a : r.attempts) {
    attempts.push_back({{"attempt", a.attempt},
                        {"runner", a.runner},
                        {"started_ms", a.started_ms},
                        {"ended_ms", a.ended_ms},
                        {"outcome", outcome_name(a.outcome)},
                        {"error", a.error},
                        {"backup", a.backup}});
  }
  nlohmann::json after = nlohmann::json::array();
  for (const auto& p : r.spec.after) after.push_back({{"id", p.id}, {"key", p.key}});
  nlohmann::json backup = nullptr;  // a backup attempt racing the lease
  if (r.backup.attempt != 0) backup = {{"attempt", r.backup.attempt}, {"owner", r.backup.owner}};
  return {{"id", r.spec.id},
          {"handler", r.spec.handler},
          {"payload", r.spec.payload},
          {"priority", r.spec.priority},
          {"max_attempts", r.spec.max_attempts},
          {"timeout_ms", r.spec.timeout_ms},
          {"key", r.spec.key},
          {"stealable", r.spec.stealable},
          {"no_backup", r.spec.no_backup},
          {"partition", r.partition},
          {"state", state_name(r.state)},
          {"attempt", r.attempt},
          {"failures", r.failures},
          {"lost_attempts", r.lost_attempts},
          {"txn", r.txn},
          {"after", after},
          {"shard", nlohmann::json::array({r.spec.shard_index, r.spec.shard_count})},
          {"inputs", r.inputs},
          {"lease_owner", r.lease_owner},
          {"backup", backup},
          {"submitted_ms", r.submitted_ms},
          {"finished_ms", r.finished_ms},
          {"result", r.result},
          {"error", r.error},
          {"attempts", attempts}};
}

nlohmann::json to_json(const StatsReply& s) {
  nlohmann::json histograms = nlohmann::json::object();
  for (const auto& [name, h] : s.histograms) {
    histograms[name] = {{"count", h.count}, {"sum", h.sum}, {"p50", h.p50},
                        {"p90", h.p90},     {"p99", h.p99}, {"max", h.max}};
  }
  return {{"node_id", s.node_id}, {"counters", s.counters}, {"gauges", s.gauges}, {"histograms", histograms}};
}

nlohmann::json to_json(const MembersReply& m) {
  nlohmann::json members = nlohmann::json::array();
  for (const auto& member : m.members) {
    members.push_back({{"id", member.id},
                       {"address", member.address},
                       {"state", member_state_name(member.state)},
                       {"incarnation", member.incarnation},
                       {"state_since_ms", member.state_since_ms},
                       {"replica_id", member.replica_id},
                       {"load",
                        {{"pending", member.load.pending},
                         {"free_slots", member.load.free_slots},
                         {"backlog_ms", member.load.backlog_ms},
                         {"slots", member.load.slots},
                         {"run_us", member.load.run_us},
                         {"failure_permille", member.load.failure_permille},
                         {"version", member.load.version}}}});
  }
  return {{"node_id", m.node_id}, {"members", members}};
}

nlohmann::json to_json(const PartitionsReply& p) {
  nlohmann::json table = nlohmann::json::array();
  for (const auto& entry : p.table) table.push_back({{"partition", entry.partition}, {"replicas", entry.replicas}});
  nlohmann::json shares = nlohmann::json::array();
  for (const auto& s : p.shares) {
    shares.push_back({{"node_id", s.node_id},
                      {"partitions_led", s.partitions_led},
                      {"replicas_held", s.replicas_held},
                      {"key_share_ppm", s.key_share_ppm}});
  }
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& g : p.groups) groups.push_back(to_json(g));
  return {{"node_id", p.node_id}, {"partitions", p.partitions}, {"replicas", p.replicas}, {"digest", hex_digest(p.digest)},
          {"table", table},       {"nodes", shares},            {"groups", groups}};
}

nlohmann::json to_json(const TxnsReply& m) {
  nlohmann::json txns = nlohmann::json::array();
  for (const auto& t : m.txns) {
    txns.push_back({{"txn", t.txn}, {"role", t.role}, {"state", t.state}, {"partition", t.partition}, {"age_ms", t.age_ms}});
  }
  return {{"node_id", m.node_id}, {"txns", txns}};
}

nlohmann::json to_json(const DrainReply& m) {
  return {{"node_id", m.node_id},
          {"already_draining", m.already_draining},
          {"running", m.running},
          {"partitions_led", m.partitions_led},
          {"grace_ms", m.grace_ms}};
}

nlohmann::json to_json(const MeshEvent& e) {
  return {{"seq", e.seq}, {"at_ms", e.at_ms}, {"kind", e.kind}, {"subject", e.subject}, {"detail", e.detail}};
}

nlohmann::json to_json(const EventsReply& m) {
  nlohmann::json events = nlohmann::json::array();
  for (const auto& e : m.events) events.push_back(to_json(e));
  return {{"node_id", m.node_id}, {"events", events}, {"first_kept_seq", m.first_kept_seq}};
}

nlohmann::json to_json(const StealsReply& m) {
  nlohmann::json recent = nlohmann::json::array();
  for (const auto& e : m.recent) {
    recent.push_back({{"at_ms", e.at_ms}, {"victim", e.victim}, {"thief", e.thief}, {"tasks", e.tasks}});
  }
  nlohmann::json totals = nlohmann::json::array();
  for (const auto& t : m.totals) {
    totals.push_back({{"victim", t.victim},
                      {"thief", t.thief},
                      {"batches", t.batches},
                      {"tasks", t.tasks},
                      {"last_at_ms", t.last_at_ms}});
  }
  return {{"node_id", m.node_id}, {"enabled", m.enabled}, {"recent", recent}, {"counters", m.counters},
          {"totals", totals}};
}

}  // namespace mesh
