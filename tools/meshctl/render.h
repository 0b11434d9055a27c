// How meshctl shows replies (-o): aligned text for people (table, and wide
// with more columns), or JSON (json: one document; jsonl: one object a line).
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocol/json_views.h"
#include "protocol/messages.h"

namespace mesh::ctl {

// meshctl's -o: table, today's text; wide, the table with more columns where
// a command has more to show (the same text elsewhere); json, one document
// (--json); jsonl, one object per line for each item of a command's list.
enum class OutputFormat { kTable, kWide, kJson, kJsonl };
inline const std::vector<std::string> kOutputFormatNames = {"table", "wide", "json", "jsonl"};
// One of kOutputFormatNames; none for any other text.
std::optional<OutputFormat> parse_output_format(const std::string& name);

// What `meshctl partitions` gathers: the node asked, then every other ALIVE
// member that answered; a node only reports the groups it hosts a replica of.
// One request's replies from every ALIVE member.
template <typename Reply>
struct MemberReplies {
  std::vector<Reply> replies;        // the node asked first
  std::vector<std::string> silent;   // ALIVE members that did not answer in time
  std::vector<std::pair<std::string, std::string>> refused;  // members that answered with an error: id, why
};
using PartitionReplies = MemberReplies<PartitionsReply>;

// Counters and gauges summed over the members that answered.
std::string mesh_stats_text(const MemberReplies<StatsReply>& stats);
nlohmann::json mesh_stats_json(const MemberReplies<StatsReply>& stats);

// One partition of the merged view.
struct PartitionRow {
  uint32_t partition = 0;
  std::vector<std::string> ring;  // node ids of its ring replica set, as the node asked computes it
  // The entry of the replica leading with the highest term; when no replica
  // leads, the entry with the highest term seen; none when no replica answered.
  std::optional<GroupInfo> group;
  std::string reported_by;  // node id of the replica whose entry `group` is
  bool led() const { return group && group->role == "leader"; }
};
struct MeshPartitions {
  std::string asked;  // node id of the node asked
  uint32_t partitions = 0;
  uint32_t replicas = 0;                    // ring replicas per partition, as the node asked computes them
  std::map<std::string, uint64_t> digests;  // ring digest of every node that answered, by node id
  std::vector<std::string> silent;
  std::vector<PartitionRow> rows;  // ascending by partition
};
MeshPartitions merge_partitions(const PartitionReplies& replies);

// The JSON of single replies is shared with meshd's HTTP API (protocol/json_views.h).
nlohmann::json to_json(const MeshPartitions& mesh);

// One line per task: id, state, attempts, and result or error.
std::string task_line(const TaskRecord& record);
// -o wide's tasks: a header, then one aligned row per task with its handler,
// attempts, failures, priority, partition, key, runner (the lease owner while
// leased, else the latest attempt's), finish time and result or error.
std::string task_table(const std::vector<TaskRecord>& records);
std::string stats_text(const StatsReply& stats);
// Every field of a task that matters to people, then its attempts; `wide`
// adds its key, timeouts, submit and finish times, payload and attempt times.
std::string task_detail(const TaskRecord& record, bool wide = false);
// `wide` adds each member's executor slots, digest version, state change
// time and replica id.
std::string members_text(const MembersReply& members, bool wide = false);
// The node's ring: each node's share of the key space and of the partitions.
std::string ring_text(const PartitionsReply& partitions);
// Who answered and whether their ring digests agree, then one line per
// partition: leader, term, commit index, voters, followers' lag, ring replicas.
// `wide` adds the reporting replica and its role, applied and last index, and
// names replicas in full ("<node>#<disk>").
std::string partitions_text(const MeshPartitions& mesh, bool wide = false);
// The load view a node steals from: live members, most runnable work first;
// `wide` adds each one's executor slots and address.
std::string load_text(const MembersReply& members, bool wide = false);
// -o wide's events: a header line, then one line per event with the node
// that saw it (fixed widths, so that followed events line up).
std::string events_wide_header();
std::string event_wide_line(const std::string& node, const MeshEvent& event);
std::string steals_text(const StealsReply& steals);
std::string txns_text(const TxnsReply& txns);
std::string drain_text(const DrainReply& drain);

}  // namespace mesh::ctl
