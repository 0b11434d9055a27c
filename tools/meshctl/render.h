// How meshctl shows replies: JSON (--json) or aligned text for people.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocol/json_views.h"
#include "protocol/messages.h"

namespace mesh::ctl {

// What `meshctl partitions` gathers: the node asked, then every other ALIVE
// member that answered; a node only reports the groups it hosts a replica of.
// One request's replies from every ALIVE member.
template <typename Reply>
struct MemberReplies {
  std::vector<Reply> replies;        // the node asked first
  std::vector<std::string> silent;   // ALIVE members that did not answer in time
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
std::string stats_text(const StatsReply& stats);
std::string task_detail(const TaskRecord& record);
std::string members_text(const MembersReply& members);
// The node's ring: each node's share of the key space and of the partitions.
std::string ring_text(const PartitionsReply& partitions);
// Who answered and whether their ring digests agree, then one line per
// partition: leader, term, commit index, voters, followers' lag, ring replicas.
std::string partitions_text(const MeshPartitions& mesh);
// The load view a node steals from: live members, most runnable work first.
std::string load_text(const MembersReply& members);
std::string steals_text(const StealsReply& steals);
std::string txns_text(const TxnsReply& txns);

}  // namespace mesh::ctl
