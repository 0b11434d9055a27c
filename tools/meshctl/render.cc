#include "tools/meshctl/render.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace mesh::ctl {

namespace {

// Results may be binary: JSON carries them as text when they are valid
// UTF-8 enough to print, which nlohmann checks on dump (replace mode).
std::string shorten(const std::string& text, size_t max) {
  std::string one_line = text;
  for (char& c : one_line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return one_line.size() <= max ? one_line : one_line.substr(0, max) + "...";
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : sep) + item;
  return out;
}

// Columns padded to their widest cell, two spaces apart.
std::string aligned(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      out += row[i];
      if (i + 1 < row.size()) out += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out += "\n";
  }
  return out;
}

// A replica ("<node id>#<disk id>") by its node id, or by its full id when
// another voter is on the same node (the node came back with a wiped disk).
std::string replica_label(const std::string& replica, const std::vector<std::string>& voters) {
  std::string node = replica.substr(0, replica.find('#'));
  bool shared = std::any_of(voters.begin(), voters.end(), [&](const std::string& v) {
    return v != replica && v.substr(0, v.find('#')) == node;
  });
  return shared ? replica : node;
}

// A number, or "-" for 0 (not set).
std::string or_dash(uint64_t n) { return n == 0 ? "-" : std::to_string(n); }
std::string or_dash(const std::string& text) { return text.empty() ? "-" : text; }

}  // namespace

std::optional<OutputFormat> parse_output_format(const std::string& name) {
  for (size_t i = 0; i < kOutputFormatNames.size(); ++i) {
    if (name == kOutputFormatNames[i]) return static_cast<OutputFormat>(i);
  }
  return std::nullopt;
}

MeshPartitions merge_partitions(const PartitionReplies& in) {
  MeshPartitions out;
  out.silent = in.silent;
  if (in.replies.empty()) return out;
  const PartitionsReply& asked = in.replies.front();
  out.asked = asked.node_id;
  out.partitions = asked.partitions;
  out.replicas = asked.replicas;
  std::map<uint32_t, PartitionRow> rows;
  for (const auto& entry : asked.table) rows[entry.partition].ring = entry.replicas;
  // A leader beats a replica that does not lead, and a higher term a lower one.
  auto rank = [](const GroupInfo& g) { return std::make_pair(g.role == "leader", g.term); };
  for (const auto& reply : in.replies) {
    out.digests[reply.node_id] = reply.digest;
    for (const auto& g : reply.groups) {
      PartitionRow& row = rows[g.partition];
      if (!row.group || rank(g) > rank(*row.group)) {
        row.group = g;
        row.reported_by = reply.node_id;
      }
    }
  }
  for (auto& [partition, row] : rows) {
    row.partition = partition;
    out.rows.push_back(std::move(row));
  }
  return out;
}

nlohmann::json to_json(const MeshPartitions& m) {
  nlohmann::json digests = nlohmann::json::object();
  for (const auto& [node, digest] : m.digests) digests[node] = hex_digest(digest);
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : m.rows) {
    nlohmann::json leader = nullptr;
    if (row.led()) leader = row.reported_by;
    rows.push_back({{"partition", row.partition},
                    {"ring", row.ring},
                    {"leader", leader},
                    {"reported_by", row.reported_by},
                    {"group", row.group ? to_json(*row.group) : nlohmann::json(nullptr)}});
  }
  return {{"node_id", m.asked}, {"partitions", m.partitions}, {"replicas", m.replicas},
          {"digests", digests}, {"silent", m.silent},          {"groups", rows}};
}

std::string members_text(const MembersReply& m, bool wide) {
  std::ostringstream out;
  out << "members as seen by " << m.node_id << "\n";
  if (wide) {
    std::vector<std::vector<std::string>> table = {{"ID", "STATE", "INC", "PENDING", "FREE", "SLOTS", "BACKLOG_MS",
                                                    "RUN_US", "FAIL_PERMILLE", "VERSION", "SINCE_MS", "REPLICA",
                                                    "ADDRESS"}};
    for (const auto& member : m.members) {
      table.push_back({member.id, member_state_name(member.state), std::to_string(member.incarnation),
                       std::to_string(member.load.pending), std::to_string(member.load.free_slots),
                       std::to_string(member.load.slots), std::to_string(member.load.backlog_ms),
                       std::to_string(member.load.run_us), std::to_string(member.load.failure_permille),
                       std::to_string(member.load.version), std::to_string(member.state_since_ms),
                       or_dash(member.replica_id), member.address});
    }
    out << aligned(table);
    return out.str();
  }
  out << "ID                 STATE    INC  PENDING  FREE  BACKLOG_MS  ADDRESS\n";
  for (const auto& member : m.members) {
    char line[256];
    std::snprintf(line, sizeof line, "%-18s %-8s %3llu %8llu %5u %11llu  %s\n", member.id.c_str(),
                  member_state_name(member.state), static_cast<unsigned long long>(member.incarnation),
                  static_cast<unsigned long long>(member.load.pending), member.load.free_slots,
                  static_cast<unsigned long long>(member.load.backlog_ms), member.address.c_str());
    out << line;
  }
  return out.str();
}

std::string ring_text(const PartitionsReply& p) {
  std::ostringstream out;
  out << "ring as seen by " << p.node_id << ": " << p.shares.size() << " nodes, " << p.partitions
      << " partitions x " << p.replicas << " replicas, digest " << hex_digest(p.digest) << "\n";
  out << "NODE               KEY_SHARE  LEADS  REPLICAS\n";
  for (const auto& s : p.shares) {
    char line[160];
    std::snprintf(line, sizeof line, "%-18s %8.2f%% %6u %9u\n", s.node_id.c_str(), s.key_share_ppm / 10000.0,
                  s.partitions_led, s.replicas_held);
    out << line;
  }
  return out.str();
}

std::string partitions_text(const MeshPartitions& m, bool wide) {
  std::ostringstream out;
  out << "partition groups as " << m.digests.size() << " of " << m.digests.size() + m.silent.size()
      << " alive members report them (asked " << m.asked << ")";
  if (!m.silent.empty()) out << "; no answer from " << join(m.silent, ", ");
  out << "\nring: " << m.partitions << " partitions x " << m.replicas << " replicas, ";
  auto differs = [&](const auto& d) { return d.second != m.digests.begin()->second; };
  if (std::none_of(m.digests.begin(), m.digests.end(), differs)) {
    out << "digest " << hex_digest(m.digests.empty() ? 0 : m.digests.begin()->second) << " on every member that answered\n";
  } else {
    out << "digests DIFFER:";
    for (const auto& [node, digest] : m.digests) out << " " << node << "=" << hex_digest(digest);
    out << "\n";
  }
  std::vector<std::vector<std::string>> table = {{"PART", "LEADER", "TERM", "COMMIT", "VOTERS", "LAG", "RING"}};
  // wide: which replica's entry the row shows and its role, its applied and
  // last index, and replicas by their full ids.
  if (wide) table[0].insert(table[0].end(), {"REPORTED_BY", "ROLE", "APPLIED", "LAST"});
  for (const auto& row : m.rows) {
    std::vector<std::string> cells = {std::to_string(row.partition), "no leader", "-", "-", "-", "-",
                                      row.ring.empty() ? "-" : join(row.ring, ",")};
    if (wide) cells.insert(cells.end(), {or_dash(row.reported_by), "-", "-", "-"});
    if (row.group) {
      const GroupInfo& g = *row.group;
      auto label = [&](const std::string& replica) { return wide ? replica : replica_label(replica, g.voters); };
      std::vector<std::string> voters, lag;
      for (const auto& v : g.voters) voters.push_back(label(v));
      for (const auto& l : g.lag) lag.push_back(label(l.replica_id) + ":" + std::to_string(l.behind));
      cells[2] = std::to_string(g.term);  // the highest term seen, when no replica leads
      cells[4] = voters.empty() ? "-" : join(voters, ",");
      if (row.led()) {
        cells[1] = g.leader.empty() ? row.reported_by : label(g.leader);
        cells[3] = std::to_string(g.commit_index);
        if (!lag.empty()) cells[5] = join(lag, ",");
      }
      if (wide) {
        cells[8] = or_dash(g.role);
        cells[9] = std::to_string(g.applied_index);
        cells[10] = std::to_string(g.last_index);
      }
    }
    table.push_back(std::move(cells));
  }
  out << aligned(table);
  return out.str();
}

std::string load_text(const MembersReply& m, bool wide) {
  std::vector<MemberInfo> live;
  for (const auto& member : m.members) {
    if (member.state == MemberState::kAlive || member.state == MemberState::kSuspect) live.push_back(member);
  }
  std::stable_sort(live.begin(), live.end(),
                   [](const MemberInfo& a, const MemberInfo& b) { return a.load.pending > b.load.pending; });
  std::ostringstream out;
  out << "load view of " << m.node_id << " (as gossiped; most runnable work first)\n";
  if (wide) {
    std::vector<std::vector<std::string>> table = {{"ID", "RUNNABLE", "FREE_SLOTS", "SLOTS", "BACKLOG_MS", "RUN_US",
                                                    "FAIL_PERMILLE", "VERSION", "STATE", "ADDRESS"}};
    for (const auto& member : live) {
      table.push_back({member.id, std::to_string(member.load.pending), std::to_string(member.load.free_slots),
                       std::to_string(member.load.slots), std::to_string(member.load.backlog_ms),
                       std::to_string(member.load.run_us), std::to_string(member.load.failure_permille),
                       std::to_string(member.load.version), member_state_name(member.state), member.address});
    }
    out << aligned(table);
    return out.str();
  }
  // RUN_MS and FAILED: the health adaptive placement weighs (moving averages).
  out << "ID                 RUNNABLE  FREE_SLOTS  BACKLOG_MS    RUN_MS  FAILED  VERSION  STATE\n";
  for (const auto& member : live) {
    char line[200];
    std::snprintf(line, sizeof line, "%-18s %8llu %11u %11llu %9.1f %6.1f%% %8llu  %s\n", member.id.c_str(),
                  static_cast<unsigned long long>(member.load.pending), member.load.free_slots,
                  static_cast<unsigned long long>(member.load.backlog_ms), member.load.run_us / 1000.0,
                  member.load.failure_permille / 10.0, static_cast<unsigned long long>(member.load.version),
                  member_state_name(member.state));
    out << line;
  }
  return out.str();
}

std::string steals_text(const StealsReply& m) {
  std::ostringstream out;
  out << "steals seen by " << m.node_id << " (stealing " << (m.enabled ? "on" : "off") << ")\n";
  for (const auto& e : m.recent) {
    out << "  at " << e.at_ms << "  " << e.thief << " took " << e.tasks << " from " << e.victim << "\n";
  }
  if (m.recent.empty()) out << "  none yet\n";
  if (!m.totals.empty()) out << "since the node started\n";
  for (const auto& t : m.totals) {
    out << "  " << t.thief << " took " << t.tasks << " in " << t.batches << " batches from " << t.victim
        << "  last at " << t.last_at_ms << "\n";
  }
  out << "counters\n";
  for (const auto& [name, v] : m.counters) out << "  " << name << " = " << v << "\n";
  return out.str();
}

std::string drain_text(const DrainReply& m) {
  if (m.already_draining) return m.node_id + " was draining already\n";
  return m.node_id + " drains: hands over " + std::to_string(m.partitions_led) + " led partitions, lets " +
         std::to_string(m.running) + " running attempts finish (at most " + std::to_string(m.grace_ms) +
         " ms), then exits\n";
}

std::string txns_text(const TxnsReply& m) {
  std::ostringstream out;
  out << "transactions at " << m.node_id << "\n";
  for (const auto& t : m.txns) {
    out << "  " << t.txn << "  " << t.role << "  " << t.state << "  partition " << t.partition << "  age " << t.age_ms
        << " ms\n";
  }
  if (m.txns.empty()) out << "  none in flight, in doubt or recently decided\n";
  return out.str();
}

std::string task_line(const TaskRecord& r) {
  std::ostringstream out;
  out << r.spec.id << "  " << state_name(r.state) << "  attempts=" << r.attempt;
  if (r.state == TaskState::kCompleted) {
    out << "  result=" << shorten(r.result, 80);
  } else if (!r.error.empty()) {
    out << "  error=" << shorten(r.error, 80);
  }
  return out.str();
}

std::string task_table(const std::vector<TaskRecord>& records) {
  std::vector<std::vector<std::string>> table = {{"ID", "STATE", "HANDLER", "ATTEMPTS", "FAILURES", "PRIORITY",
                                                  "PARTITION", "KEY", "RUNNER", "FINISHED_MS", "OUTPUT"}};
  for (const auto& r : records) {
    std::string runner = r.lease_owner;
    if (runner.empty() && !r.attempts.empty()) runner = r.attempts.back().runner;
    std::string output = "-";
    if (r.state == TaskState::kCompleted) {
      output = "result=" + shorten(r.result, 80);
    } else if (!r.error.empty()) {
      output = "error=" + shorten(r.error, 80);
    }
    table.push_back({r.spec.id, state_name(r.state), or_dash(r.spec.handler), std::to_string(r.attempt),
                     std::to_string(r.failures) + "/" + std::to_string(r.spec.max_attempts),
                     std::to_string(r.spec.priority), std::to_string(r.partition), or_dash(r.spec.key), or_dash(runner),
                     or_dash(r.finished_ms), output});
  }
  return aligned(table);
}

std::string task_detail(const TaskRecord& r, bool wide) {
  std::ostringstream out;
  out << "id:          " << r.spec.id << "\n"
      << "handler:     " << r.spec.handler << "\n"
      << "state:       " << state_name(r.state) << "\n"
      << "partition:   " << r.partition << "\n"
      << "priority:    " << r.spec.priority << "\n"
      << "attempts:    " << r.attempt << " (failures " << r.failures << " of " << r.spec.max_attempts << ")\n";
  if (wide) {
    // Times are milliseconds on the monotonic clock of the partition leader
    // that stamped them: comparable with each other, not with wall time.
    out << "key:         " << (r.spec.key.empty() ? "(the id)" : r.spec.key) << "\n"
        << "stealable:   " << (r.spec.stealable ? "yes" : "no") << "\n"
        << "timeout:     " << r.spec.timeout_ms << " ms per attempt, backoff " << r.spec.backoff_base_ms << " to "
        << r.spec.backoff_max_ms << " ms\n"
        << "lost:        " << r.lost_attempts << " attempts in a row lost with their runner\n"
        << "submitted:   at " << r.submitted_ms << " ms (its leader's clock)\n"
        << "finished:    " << (r.finished_ms ? "at " + std::to_string(r.finished_ms) + " ms" : std::string("not yet")) << "\n"
        << "payload:     " << shorten(r.spec.payload, 400) << "\n";
  }
  if (!r.txn.empty()) out << "job:         " << r.txn << " (stored by that transaction)\n";
  if (!r.spec.after.empty()) {
    out << "after:       ";
    for (const auto& p : r.spec.after) out << p.id << (r.inputs.count(p.id) ? " (done) " : " (waiting) ");
    out << "\n";
  }
  if (r.spec.shard_count > 0) out << "shard:       " << r.spec.shard_index << " of " << r.spec.shard_count << "\n";
  if (!r.lease_owner.empty()) out << "lease:       " << r.lease_owner << " until " << r.lease_deadline_ms << "\n";
  if (r.backup.attempt != 0) {
    out << "backup:      attempt " << r.backup.attempt << " on " << r.backup.owner << ", racing the lease\n";
  }
  if (r.spec.no_backup) out << "backups:     off for this task\n";
  if (r.state == TaskState::kCompleted) out << "result:      " << shorten(r.result, 400) << "\n";
  if (!r.error.empty()) out << "error:       " << shorten(r.error, 400) << "\n";
  for (const auto& a : r.attempts) {
    out << "  attempt " << a.attempt << (a.backup ? " (backup)" : "") << " on " << a.runner << ": "
        << outcome_name(a.outcome);
    if (a.ended_ms) out << " after " << (a.ended_ms - a.started_ms) << " ms";
    if (!a.error.empty()) out << " (" << shorten(a.error, 120) << ")";
    if (wide) out << "  [started " << a.started_ms << (a.ended_ms ? ", ended " + std::to_string(a.ended_ms) : "") << "]";
    out << "\n";
  }
  return out.str();
}

std::string events_wide_header() {
  char line[160];
  std::snprintf(line, sizeof line, "%-18s  %8s  %14s  %-22s  %-24s  %s\n", "NODE", "SEQ", "AT_MS", "KIND", "SUBJECT",
                "DETAIL");
  return line;
}

std::string event_wide_line(const std::string& node, const MeshEvent& e) {
  char head[160];
  std::snprintf(head, sizeof head, "%-18s  %8llu  %14llu  ", or_dash(node).c_str(),
                static_cast<unsigned long long>(e.seq), static_cast<unsigned long long>(e.at_ms));
  std::string out = head;
  std::string kind = or_dash(e.kind), subject = or_dash(shorten(e.subject, 200));
  out += kind + std::string(kind.size() < 22 ? 22 - kind.size() : 0, ' ') + "  ";
  out += subject + std::string(subject.size() < 24 ? 24 - subject.size() : 0, ' ') + "  ";
  out += or_dash(shorten(e.detail, 400));
  return out + "\n";
}

std::string stats_text(const StatsReply& s) {
  std::ostringstream out;
  out << "node " << s.node_id << "\n\ngauges\n";
  for (const auto& [name, v] : s.gauges) out << "  " << name << " = " << v << "\n";
  out << "\ncounters\n";
  for (const auto& [name, v] : s.counters) out << "  " << name << " = " << v << "\n";
  out << "\nhistograms (count p50 p90 p99 max)\n";
  for (const auto& [name, h] : s.histograms) {
    out << "  " << name << ": " << h.count << " " << h.p50 << " " << h.p90 << " " << h.p99 << " " << h.max << "\n";
  }
  return out.str();
}

}  // namespace mesh::ctl

namespace mesh::ctl {

namespace {

template <typename Value>
std::map<std::string, Value> summed(const MemberReplies<StatsReply>& stats,
                                    std::map<std::string, Value> StatsReply::*field) {
  std::map<std::string, Value> total;
  for (const auto& s : stats.replies) {
    for (const auto& [name, value] : s.*field) total[name] += value;
  }
  return total;
}

std::vector<std::string> answering(const MemberReplies<StatsReply>& stats) {
  std::vector<std::string> nodes;
  for (const auto& s : stats.replies) nodes.push_back(s.node_id);
  return nodes;
}

}  // namespace

std::string mesh_stats_text(const MemberReplies<StatsReply>& stats) {
  std::ostringstream out;
  out << "mesh: " << stats.replies.size() << " nodes answered:";
  for (const auto& node : answering(stats)) out << " " << node;
  if (!stats.silent.empty()) {
    out << " (silent:";
    for (const auto& node : stats.silent) out << " " << node;
    out << ")";
  }
  out << "\n\ngauges, summed\n";
  for (const auto& [name, v] : summed(stats, &StatsReply::gauges)) out << "  " << name << " = " << v << "\n";
  out << "\ncounters, summed\n";
  for (const auto& [name, v] : summed(stats, &StatsReply::counters)) out << "  " << name << " = " << v << "\n";
  return out.str();
}

nlohmann::json mesh_stats_json(const MemberReplies<StatsReply>& stats) {
  return {{"nodes", answering(stats)},
          {"silent", stats.silent},
          {"gauges", summed(stats, &StatsReply::gauges)},
          {"counters", summed(stats, &StatsReply::counters)}};
}

}  // namespace mesh::ctl
