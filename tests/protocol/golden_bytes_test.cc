// Golden wire bytes: for every message kind, log entry and stored layout of
// docs/PROTOCOL.md, bytes written out by hand from the document (one line per
// field) must decode, come back out of the encoder byte for byte, and (for
// messages) map to their kind. A change to the codec that the document does
// not describe fails here, and so does a stale document.
//
// msgpack reminders: 9N = array of N, 8N = map of N, aN / a + len = str,
// c4 LL = bin, c2/c3 = false/true, 00..7f = small unsigned, ff = -1,
// cc/cd/ce = u8/u16/u32.
#include <doctest/doctest.h>

#include <cctype>
#include <string>
#include <vector>

#include "protocol/codec.h"

namespace mesh {
namespace {

// Shared structures, each once (§5, §6, §9).
const std::string kTaskSpec =  // TaskSpec, 10 fields
    "9a"
    "a2 74 31"   // id "t1"
    "a1 68"      // handler "h"
    "c4 01 70"   // payload bin "p"
    "ff"         // priority -1
    "03"         // max_attempts 3
    "0a"         // backoff_base_ms 10
    "cd 03 e8"   // backoff_max_ms 1000
    "cd 13 88"   // timeout_ms 5000
    "a1 6b"      // key "k"
    "c3";        // stealable true
const std::string kDependentTaskSpec =  // TaskSpec with its 3 appended dependency fields
    "9d"
    "a2 74 32"   // id "t2"
    "a1 68"      // handler "h"
    "c4 00"      // payload bin ""
    "00"         // priority 0
    "03"         // max_attempts 3
    "0a"         // backoff_base_ms 10
    "cd 03 e8"   // backoff_max_ms 1000
    "cd 13 88"   // timeout_ms 5000
    "a0"         // key ""
    "c3"         // stealable true
    "91 93 a2 74 31 a1 6b c3"  // after: [ParentRef{id "t1", key "k", in_job true}]
    "01"         // shard_index 1
    "04";        // shard_count 4
const std::string kAttemptInfo =  // AttemptInfo, 6 fields
    "96"
    "01"         // attempt 1
    "a2 6e 31"   // runner "n1"
    "64"         // started_ms 100
    "cc c8"      // ended_ms 200
    "01"         // outcome succeeded
    "a0";        // error ""
const std::string kTaskRecord =  // TaskRecord, 15 fields
    "9f" + kTaskSpec +  // spec
    "05"                // partition 5
    "02"                // state COMPLETED
    "01"                // attempt 1
    "00"                // failures 0
    "a0"                // lease_owner ""
    "00"                // lease_deadline_ms 0
    "00"                // timeout_at_ms 0
    "00"                // not_before_ms 0
    "32"                // submitted_ms 50
    "cc c8"             // finished_ms 200
    "c4 02 6f 6b"       // result bin "ok"
    "a0"                // error ""
    "91" + kAttemptInfo +  // attempts: one
    "00";                  // lost_attempts 0
const std::string kSubmitOutcome =  // SubmitOutcome, 5 fields
    "95"
    "a2 74 31"   // id "t1"
    "00"         // code kOk
    "a0"         // message ""
    "c2"         // duplicate false
    "00";        // state PENDING
const std::string kLoadDigest =  // LoadDigest, 7 fields
    "97"
    "07"         // pending 7
    "01"         // free_slots 1
    "cd 01 2c"   // backlog_ms 300
    "09"         // version 9
    "02"         // slots 2
    "cd 04 b0"   // run_us 1200
    "0a";        // failure_permille 10
const std::string kReplicaN1 = "a4 6e 31 23 30";  // replica id "n1#0"
const std::string kReplicaN2 = "a4 6e 32 23 30";  // replica id "n2#0"
const std::string kMemberUpdate =  // MemberUpdate, 6 fields
    "96"
    "a2 6e 31"   // id "n1"
    "a1 61"      // address "a"
    "02"         // incarnation 2
    "00"         // state alive
    + kLoadDigest + kReplicaN1;  // load, replica_id
const std::string kConfigEntry =  // LogEntry, 5 fields
    "95"
    "08"         // index 8
    "02"         // term 2
    "02"         // type kConfig
    "c4 00"      // data: empty
    "92" + kReplicaN1 + kReplicaN2;  // voters
// RaftMessage header: type, group 5, term 3, from, to.
std::string raft_header(const char* count_and_type, const std::string& from, const std::string& to) {
  return std::string(count_and_type) + "05" + "03" + from + to;
}
// A RaftBatch from "n1" carrying one Raft message.
std::string raft_batch(const std::string& message) { return "92 a2 6e 31 91" + message; }

enum class Layout { kEnvelope, kRequest, kReply, kPeer, kOp, kOpBatch, kLogEntry, kRecord, kSnapshot };

struct Golden {
  std::string name;
  Layout layout;
  uint16_t kind;  // messages only
  std::string hex;
};

const std::vector<Golden>& goldens() {
  static const std::vector<Golden> all = {
      // §3: version 1, kind 10, request_id 7, sender "meshctl".
      {"envelope", Layout::kEnvelope, 0, "94 01 0a 07 a7 6d 65 73 68 63 74 6c"},
      // A node's: request_id 0, sender "n1", mesh "m1".
      {"peer_envelope", Layout::kEnvelope, 0, "95 01 64 00 a2 6e 31 a2 6d 31"},
      // §5, client messages.
      {"error_reply", Layout::kReply, 1, "92 08 a1 78"},  // code kNotFound, message "x"
      {"submit", Layout::kRequest, 10, "91 91" + kTaskSpec},  // tasks: one
      {"submit_reply", Layout::kReply, 11, "91 91" + kSubmitOutcome},  // outcomes: one
      {"submit_atomic", Layout::kRequest, 10, "93 91" + kTaskSpec + "c3 a2 78 31"},  // tasks, atomic true, txn "x1"
      {"submit_reply_txn", Layout::kReply, 11, "92 91" + kSubmitOutcome + "a2 78 31"},  // outcomes, txn "x1"
      {"get", Layout::kRequest, 12, "91 91 a2 74 31"},  // ids ["t1"]
      {"get_keyed", Layout::kRequest, 12, "92 91 a2 74 31 91 a1 6b"},  // ids ["t1"], keys ["k"]
      {"get_reply", Layout::kReply, 13, "92 91" + kTaskRecord + "91 a2 74 32"},  // records, missing ["t2"]
      {"wait", Layout::kRequest, 14,
       "93"
       "91 a2 74 31"  // ids ["t1"]
       "c2"           // all false
       "cd 03 e8"},   // timeout_ms 1000
      {"wait_reply", Layout::kReply, 15,
       "94"
       "c3"           // timed_out true
       "90"           // records []
       "91 a2 74 32"  // missing ["t2"]
       "04"},         // unfinished 4
      {"cancel", Layout::kRequest, 16, "91 91 a2 74 31"},  // ids ["t1"]
      {"cancel_job", Layout::kRequest, 16, "92 90 a2 6a 31"},  // ids [], job "j1"
      {"cancel_reply", Layout::kReply, 17,
       "91 91 93"
       "a2 74 31"  // id "t1"
       "00"        // code kOk
       "04"},      // state CANCELLED
      {"retry", Layout::kRequest, 28,
       "92"
       "91 a2 74 31"  // ids ["t1"]
       "c2"},         // all_failed false
      {"retry_reply", Layout::kReply, 29,
       "91 91 93"
       "a2 74 31"  // id "t1"
       "00"        // code kOk
       "00"},      // state PENDING
      {"list", Layout::kRequest, 18,
       "94"
       "c2"   // any_state false
       "00"   // state PENDING
       "0a"   // limit 10
       "a0"},  // after_id ""
      {"list_brief", Layout::kRequest, 18,
       "96 c3 00 cd 03 e8 a0"  // any_state true, state PENDING, limit 1000, after_id ""
       "a2 6a 31"  // txn "j1"
       "c3"},      // brief true
      {"list_reply", Layout::kReply, 19, "92 91" + kTaskRecord + "c2"},  // records, more false
      {"stats", Layout::kRequest, 20, "90"},
      {"stats_reply", Layout::kReply, 21,
       "94"
       "a2 6e 31"                      // node_id "n1"
       "81 a1 63 05"                   // counters {"c": 5}
       "81 a1 67 ff"                   // gauges {"g": -1}
       "81 a1 68 96 01 02 03 04 05 06"},  // histograms {"h": count 1, sum 2, p50 3, p90 4, p99 5, max 6}
      {"members", Layout::kRequest, 22, "90"},
      {"members_reply", Layout::kReply, 23,
       "92"
       "a2 6e 31"  // node_id "n1"
       "91 97"     // members: one MemberInfo, 7 fields
       "a2 6e 31"  //   id "n1"
       "a1 61"     //   address "a"
       "02"        //   incarnation 2
       "00"        //   state alive
       + kLoadDigest +  // load
       "cc c8"     //   state_since_ms 200
       + kReplicaN1},  // replica_id
      {"partitions", Layout::kRequest, 24, "90"},
      {"partitions_reply", Layout::kReply, 25,
       "97"
       "a2 6e 31"                          // node_id "n1"
       "01"                                // partitions 1
       "01"                                // replicas 1
       "2a"                                // digest 42
       "91 92 00 91 a2 6e 31"              // table: partition 0, replicas ["n1"]
       "91 94 a2 6e 31 01 01 ce 00 0f 42 40"  // shares: "n1" leads 1, holds 1, 1000000 ppm
       "91 99"                             // groups: one GroupInfo, 9 fields
       "00"                                //   partition 0
       "a6 6c 65 61 64 65 72"              //   role "leader"
       "03"                                //   term 3
       + kReplicaN1 +                      //   leader
       "07"                                //   commit_index 7
       "07"                                //   applied_index 7
       "08"                                //   last_index 8
       "92" + kReplicaN1 + kReplicaN2 +    //   voters
       "91 92" + kReplicaN2 + "01"},       //   lag: n2#0 behind 1
      {"steals", Layout::kRequest, 26, "90"},
      {"steals_reply", Layout::kReply, 27,
       "95"
       "a2 6e 31"                                       // node_id "n1"
       "c3"                                             // enabled true
       "91 94 64 a2 6e 31 a2 6e 32 02"                  // recent: at 100, victim n1, thief n2, 2 tasks
       "81 ac 74 61 73 6b 73 5f 73 74 6f 6c 65 6e 02"   // counters {"tasks_stolen": 2}
       "91 95 a2 6e 31 a2 6e 32 01 02 64"},             // totals: n1 to n2, 1 batch, 2 tasks, last at 100
      {"txns", Layout::kRequest, 30, "90"},
      {"txns_reply", Layout::kReply, 31,
       "92"
       "a2 6e 31"  // node_id "n1"
       "91 95"     // txns: one of 5 fields
       "a2 78 31"  // txn "x1"
       "a6 6f 72 69 67 69 6e"  // role "origin"
       "a9 70 72 65 70 61 72 69 6e 67"  // state "preparing"
       "03"        // partition 3
       "cd 01 2c"},  // age_ms 300
      {"events", Layout::kRequest, 32, "91 05"},  // after_seq 5
      {"events_reply", Layout::kReply, 33,
       "93"
       "a2 6e 31"  // node_id "n1"
       "91 95"     // events: one of 5 fields
       "06"        // seq 6
       "cd 03 e8"  // at_ms 1000
       "ab 6d 65 6d 62 65 72 5f 64 65 61 64"  // kind "member_dead"
       "a2 6e 33"  // subject "n3"
       "a0"        // detail ""
       "01"},      // first_kept_seq 1
      {"drain", Layout::kRequest, 34, "90"},
      {"drain_reply", Layout::kReply, 35,
       "95"
       "a2 6e 31"     // node_id "n1"
       "c2"           // already_draining false
       "02"           // running 2
       "05"           // partitions_led 5
       "cd 27 10"},   // grace_ms 10000
      {"remove_replica", Layout::kRequest, 36, "91 a4 6e 33 23 30"},  // replica_id "n3#0"
      {"remove_replica_reply", Layout::kReply, 37,
       "92"
       "a2 6e 31"   // node_id "n1"
       "92 04 09"},  // partitions [4, 9]
      // §5 and §9, node-to-node messages.
      {"ping", Layout::kPeer, 100,
       "95"
       "01"        // seq 1
       "a2 6e 31"  // from_id "n1"
       "a1 61"     // from_address "a"
       "a2 6e 32"  // target_id "n2"
       "91" + kMemberUpdate},  // updates: one
      {"ping_req", Layout::kPeer, 101,
       "96"
       "01"        // seq 1
       "a2 6e 31"  // from_id "n1"
       "a1 61"     // from_address "a"
       "a2 6e 32"  // target_id "n2"
       "a1 62"     // target_address "b"
       "90"},      // updates []
      {"ack", Layout::kPeer, 102,
       "95"
       "01"        // seq 1
       "a2 6e 32"  // from_id "n2"
       "a1 62"     // from_address "b"
       "c2"        // nack false
       "90"},      // updates []
      {"sync", Layout::kPeer, 103,
       "94"
       "a2 6e 31"  // from_id "n1"
       "a1 61"     // from_address "a"
       "c2"        // reply false
       "91" + kMemberUpdate},  // members: one
      {"steal_request", Layout::kPeer, 110,
       "93"
       "a2 6e 32"  // thief_id "n2"
       "a1 62"     // thief_address "b"
       "04"},      // want 4
      {"steal_grant", Layout::kPeer, 111,
       "93"
       "a2 6e 31"  // victim_id "n1"
       "a1 61"     // victim_address "a"
       "91 96"     // tasks: one RunTask, 6 fields
       "a2 74 31"  //   id "t1"
       "01"        //   attempt 1
       "a1 68"     //   handler "h"
       "c4 01 70"  //   payload bin "p"
       "cd 13 88"  //   timeout_ms 5000
       "05"},      //   partition 5
      {"lease_renewal", Layout::kPeer, 112,
       "93"
       "a2 6e 32"              // thief_id "n2"
       "91 94 a2 74 31 01 05"  // running: t1 attempt 1 of partition 5,
       "cd 01 f4"              //   run for 500 ms
       "a1 62"},               // thief_address "b"
      {"stolen_result", Layout::kPeer, 113,
       "97"
       "a2 6e 32"     // thief_id "n2"
       "a1 62"        // thief_address "b"
       "a2 74 31"     // id "t1"
       "01"           // attempt 1
       "c3"           // ok true
       "c4 02 6f 6b"  // output bin "ok"
       "05"},         // partition 5
      {"stolen_result_ack", Layout::kPeer, 114,
       "94"
       "a2 74 31"  // id "t1"
       "01"        // attempt 1
       "c3"        // accepted true
       "05"},      // partition 5
      {"leader_hints", Layout::kPeer, 115,
       "92"
       "a1 61"                 // from_address "a"
       "92 94 05 c2 a1 63 07"  // partitions: 5, not led here, leader "c", term 7
       "94 06 c3 a0 09"},      //             6, led here, term 9
      {"raft_batch VoteRequest", Layout::kPeer, 120,
       raft_batch(raft_header("99 01", kReplicaN1, kReplicaN2) +
                  "07"    // last_index 7
                  "02"    // last_term 2
                  "c2"    // pre_vote false
                  "c2")},  // transfer false
      {"raft_batch VoteResponse", Layout::kPeer, 120,
       raft_batch(raft_header("97 02", kReplicaN2, kReplicaN1) +
                  "c2"    // pre_vote false
                  "c3")},  // granted true
      {"raft_batch AppendRequest", Layout::kPeer, 120,
       raft_batch(raft_header("99 03", kReplicaN1, kReplicaN2) +
                  "07"  // prev_index 7
                  "02"  // prev_term 2
                  "07"  // commit 7
                  "91" + kConfigEntry)},  // entries: one
      {"raft_batch AppendResponse", Layout::kPeer, 120,
       raft_batch(raft_header("9a 04", kReplicaN2, kReplicaN1) +
                  "c3"    // success true
                  "08"    // match_index 8
                  "00"    // reject_index 0
                  "00"    // conflict_term 0
                  "00")},  // conflict_index 0
      {"raft_batch Heartbeat", Layout::kPeer, 120,
       raft_batch(raft_header("97 05", kReplicaN1, kReplicaN2) +
                  "07"    // commit 7
                  "01")},  // read_seq 1
      {"raft_batch HeartbeatResponse", Layout::kPeer, 120,
       raft_batch(raft_header("96 06", kReplicaN2, kReplicaN1) + "01")},  // read_seq 1
      {"raft_batch InstallSnapshot", Layout::kPeer, 120,
       raft_batch(raft_header("9b 07", kReplicaN1, kReplicaN2) +
                  "07"          // snapshot_index 7
                  "02"          // snapshot_term 2
                  "91" + kReplicaN1 +  // voters
                  "c4 03 92 02 00"  // data: a whole empty snapshot (format 2, 0 records)
                  "00"              // offset 0
                  "c3")},           // done true
      {"raft_batch SnapshotResponse", Layout::kPeer, 120,
       raft_batch(raft_header("97 09", kReplicaN2, kReplicaN1) +
                  "07"    // snapshot_index 7
                  "03")},  // next_offset 3
      {"raft_batch TimeoutNow", Layout::kPeer, 120, raft_batch(raft_header("95 08", kReplicaN1, kReplicaN2))},
      {"route_submit", Layout::kPeer, 130,
       "94"
       "01"     // route_id 1
       "a1 61"  // origin_address "a"
       "05"     // partition 5
       "91" + kTaskSpec},  // tasks: one
      {"route_submit_reply", Layout::kPeer, 131,
       "94"
       "01"  // route_id 1
       "00"  // code kOk
       "a0"  // leader_address ""
       "91" + kSubmitOutcome},  // outcomes: one
      {"fanout", Layout::kPeer, 132,
       "94"
       "01"                      // fanout_id 1
       "a1 61"                   // origin_address "a"
       "0c"                      // kind 12 get
       "c4 05 91 91 a2 74 31"},  // request: a get of ["t1"]
      {"fanout_reply", Layout::kPeer, 133,
       "95"
       "01"              // fanout_id 1
       "a2 6e 32"        // from_id "n2"
       "91 05"           // covered [5]
       "0d"              // kind 13 get_reply
       "c4 03 92 90 90"},  // reply: a get_reply with no records and none missing
      {"txn_request", Layout::kPeer, 140,
       "99"
       "01"        // step prepare
       "01"        // handle 1
       "a1 61"     // from_address "a"
       "a2 78 31"  // txn "x1"
       "05"        // partition 5
       "03"        // coordinator 3
       "c2"        // commit false
       "91 05"     // participants [5]
       "91" + kTaskSpec},  // tasks: one
      {"txn_request cancel", Layout::kPeer, 140,
       "9a 01 01 a1 61 a2 78 31 05 03 c2 91 05"  // prepare, handle 1, "a", txn "x1", partition 5, coordinator 3, ...
       "90"          // tasks: none
       "a2 6a 31"},  // cancel_job "j1"
      {"txn_reply", Layout::kPeer, 141,
       "98"
       "01"        // step prepare
       "01"        // handle 1
       "a2 78 31"  // txn "x1"
       "05"        // partition 5
       "00"        // code kOk
       "a0"        // leader_address ""
       "c3"        // commit (the vote) true
       "90"},      // outcomes []
      // §10, task operations: [op kind, fields...].
      {"OpSubmit", Layout::kOp, 0, "94 01" + kTaskSpec + "05 cc c8"},  // spec, partition 5, at_ms 200
      {"OpSubmit (dependent)", Layout::kOp, 0, "94 01" + kDependentTaskSpec + "05 cc c8"},
      // A task that must never get a backup attempt: the dependency fields
      // (empty) are written before its no_backup.
      {"OpSubmit (no_backup)", Layout::kOp, 0,
       "94 01"
       "9e" + kTaskSpec.substr(2) +  // TaskSpec, 14 fields: the ten of kTaskSpec, then
           "90"                      // after []
           "00"                      // shard_index 0
           "00"                      // shard_count 0
           "c3"                      // no_backup true
           "05 cc c8"},
      {"op batch", Layout::kOpBatch, 0,
       "93 0f"
       "93 07 a2 74 31 64"   // OpCancel "t1", at_ms 100
       "93 07 a2 74 32 64"},  // OpCancel "t2", at_ms 100
      {"OpParentsDone", Layout::kOp, 0,
       "93 0e"
       "91 94 a2 74 32 a2 74 31 c3 c4 02 6f 6b"  // outcomes: [child "t2", parent "t1", completed, text bin "ok"]
       "cc c8"},                                // at_ms 200
      {"OpLease", Layout::kOp, 0,
       "97 02"
       "a2 74 31"   // id "t1"
       "01"         // attempt 1
       "a2 6e 31"   // owner "n1"
       "64"         // at_ms 100
       "cd 04 4c"   // lease_deadline_ms 1100
       "cd 13 ec"},  // timeout_at_ms 5100
      {"OpLease (backup)", Layout::kOp, 0,
       "98 02"
       "a2 74 31"   // id "t1"
       "02"         // attempt 2
       "a2 6e 32"   // owner "n2"
       "cc c8"      // at_ms 200
       "cd 04 b0"   // lease_deadline_ms 1200
       "cd 14 50"   // timeout_at_ms 5200
       "c3"},       // backup true
      {"OpRenew", Layout::kOp, 0,
       "94 03"
       "a2 74 31"   // id "t1"
       "01"         // attempt 1
       "cd 07 d0"},  // lease_deadline_ms 2000
      {"OpComplete", Layout::kOp, 0,
       "95 04"
       "a2 74 31"     // id "t1"
       "01"           // attempt 1
       "c4 02 6f 6b"  // output bin "ok"
       "cc c8"},      // at_ms 200
      {"OpFail", Layout::kOp, 0,
       "97 05"
       "a2 74 31"   // id "t1"
       "01"         // attempt 1
       "02"         // outcome failed
       "a1 78"      // error "x"
       "cc c8"      // at_ms 200
       "cd 01 2c"},  // retry_at_ms 300
      {"OpRelease", Layout::kOp, 0,
       "96 06"
       "a2 74 31"  // id "t1"
       "01"        // attempt 1
       "a1 78"     // reason "x"
       "cc c8"     // at_ms 200
       "05"},      // max_lost_attempts 5
      {"OpCancel", Layout::kOp, 0,
       "93 07"
       "a2 74 31"  // id "t1"
       "cc c8"},   // at_ms 200
      {"OpRetry", Layout::kOp, 0,
       "93 08"
       "a2 74 31"  // id "t1"
       "cc c8"},   // at_ms 200
      {"OpPurge", Layout::kOp, 0,
       "94 09"
       "cd 03 e8"  // finished_before_ms 1000
       "cd 01 f4"  // failed_before_ms 500
       "cd 03 e8"},  // max_records 1000
      {"OpTxnPrepare", Layout::kOp, 0,
       "96 0a"
       "a2 78 31"  // txn "x1"
       "03"        // coordinator 3
       "05"        // partition 5
       "91" + kTaskSpec +  // tasks: one
       "cc c8"},   // at_ms 200
      {"OpTxnPrepare cancel", Layout::kOp, 0,
       "97 0a a2 78 31 03 05"  // txn "x1", coordinator 3, partition 5
       "90"          // tasks: none
       "cc c8"       // at_ms 200
       "a2 6a 31"},  // cancel_job "j1"
      {"OpTxnPrepare fence", Layout::kOp, 0,
       "98 0a a2 78 31 03 05"  // txn "x1", coordinator 3, partition 5
       "90"          // tasks: none
       "cc c8"       // at_ms 200
       "a0"          // cancel_job ""
       "c3"},        // fence true
      {"OpTxnResolve", Layout::kOp, 0,
       "94 0b"
       "a2 78 31"  // txn "x1"
       "c3"        // commit true
       "cc c8"},   // at_ms 200
      {"OpTxnDecide", Layout::kOp, 0,
       "95 0c"
       "a2 78 31"  // txn "x1"
       "c3"        // commit true
       "92 03 05"  // participants [3, 5]
       "cc c8"},   // at_ms 200
      {"OpTxnDecide stage", Layout::kOp, 0,
       "96 0c"
       "a2 78 31"  // txn "x1"
       "c2"        // commit false
       "92 03 05"  // participants [3, 5]
       "cc c8"     // at_ms 200
       "01"},      // mode kStage
      {"OpTxnForget", Layout::kOp, 0, "92 0d a2 78 31"},  // txn "x1"
      {"OpTxnForget fence", Layout::kOp, 0, "93 0d a2 78 31 c3"},  // txn "x1", fence true
      // §9, a log entry of each type.
      {"LogEntry kNormal", Layout::kLogEntry, 0,
       "95"
       "07"        // index 7
       "02"        // term 2
       "00"        // type kNormal
       "c4 01 70"  // data bin "p"
       "90"},      // voters []
      {"LogEntry kNoop", Layout::kLogEntry, 0, "95 07 02 01 c4 00 90"},  // index 7, term 2, kNoop, no data, no voters
      {"LogEntry kConfig", Layout::kLogEntry, 0, kConfigEntry},
      // §6 and §10, stored layouts.
      {"TaskRecord", Layout::kRecord, 0, kTaskRecord},
      // While a backup attempt races the lease: 18 fields, txn and inputs
      // written empty before it (array 16: dc 00 12).
      {"TaskRecord (backup)", Layout::kRecord, 0,
       "dc 00 12" + kTaskRecord.substr(2) +
           "a0"                                   // txn ""
           "90"                                   // inputs []
           "94 02 a2 6e 32 cd 04 b0 cd 14 50"},   // backup: attempt 2 on "n2", deadline 1200, timeout 5200
      {"AttemptInfo (backup), in a record", Layout::kRecord, 0,
       "9f" + kTaskSpec + "05 02 02 00 a0 00 00 00 32 cc c8 c4 02 6f 6b a0"
           "92" + kAttemptInfo +
           "97 02 a2 6e 32 cc c8 cd 01 2c 05 a0 c3"  // attempt 2 on "n2", 200 to 300, cancelled, "", backup true
           "00"},
      {"snapshot", Layout::kSnapshot, 0, "92 02 01" + kTaskRecord},  // header [format 2, 1 record], then the record
      {"snapshot with transactions", Layout::kSnapshot, 0,
       "94 03 01 01 01" + kTaskRecord +  // header [format 3, 1 record, 1 prepared, 1 decision], the record
       "95 a2 78 31 03 05 64 91" + kTaskSpec +  // prepared: txn "x1", coordinator 3, partition 5, prepared_ms 100, tasks
       "94 a2 78 32 c3 91 05 cc c8"},  // decision: txn "x2", commit true, participants [5], decided_ms 200
      {"snapshot with a prepared cancel", Layout::kSnapshot, 0,
       "94 03 00 01 00"            // header [format 3, no record, 1 prepared, no decision]
       "96 a2 78 31 03 05 64 90"   // prepared: txn "x1", coordinator 3, partition 5, prepared_ms 100, no tasks
       "91 a2 74 31"},             // cancels ["t1"]
      {"snapshot with a fence and a stage", Layout::kSnapshot, 0,
       "94 03 00 01 01"                  // header [format 3, no record, 1 prepared, 1 decision]
       "97 a2 78 31 03 05 64 90 90 c3"   // prepared: txn "x1", 3, 5, 100, no tasks, no cancels, fenced
       "95 a2 78 32 c2 92 03 05 cc c8 c3"},  // decision: txn "x2", commit false, [3, 5], 200, staged
  };
  return all;
}

std::string from_hex(const std::string& hex) {
  std::string bytes;
  std::string digits;
  for (char c : hex) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    digits += c;
    if (digits.size() == 2) {
      bytes += static_cast<char>(std::stoi(digits, nullptr, 16));
      digits.clear();
    }
  }
  REQUIRE_MESSAGE(digits.empty(), "odd number of hex digits");
  return bytes;
}

std::string to_hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : bytes) {
    if (!hex.empty()) hex += ' ';
    hex += digits[b >> 4];
    hex += digits[b & 15];
  }
  return hex;
}

// Decodes the bytes as their layout and encodes the result again; for a
// message, also checks the decoded value's kind. Fails the test when the
// bytes do not decode.
template <typename T, typename Decode, typename Encode>
std::string reencode(Result<T> decoded, Encode encode, Decode kind_of, uint16_t kind) {
  REQUIRE_MESSAGE(decoded.ok(), "does not decode: " << error_name(decoded.status().code()) << ": "
                                                    << decoded.status().message());
  CHECK(static_cast<uint16_t>(kind_of(decoded.value())) == kind);
  return encode(decoded.value());
}

std::string reencode(const Golden& g, const std::string& bytes) {
  auto no_kind = [&](const auto&) { return static_cast<MessageKind>(g.kind); };
  auto snapshot = [](const PartitionSnapshot& s) { return encode_snapshot(s); };
  switch (g.layout) {
    case Layout::kEnvelope:
      return reencode(decode_envelope(bytes), encode_envelope, no_kind, g.kind);
    case Layout::kRequest:
      return reencode(decode_request(g.kind, bytes), encode_request, request_kind, g.kind);
    case Layout::kReply:
      return reencode(decode_reply(g.kind, bytes), encode_reply, reply_kind, g.kind);
    case Layout::kPeer:
      return reencode(decode_peer(g.kind, bytes), encode_peer, peer_kind, g.kind);
    case Layout::kOp:
      return reencode(decode_op(bytes), encode_op, no_kind, g.kind);
    case Layout::kOpBatch:
      return reencode(decode_ops(bytes), encode_ops, no_kind, g.kind);
    case Layout::kLogEntry:
      return reencode(decode_log_entry(bytes), encode_log_entry, no_kind, g.kind);
    case Layout::kRecord:
      return reencode(decode_record(bytes), encode_record, no_kind, g.kind);
    case Layout::kSnapshot:
      return reencode(decode_snapshot(bytes), snapshot, no_kind, g.kind);
  }
  return {};
}

TEST_CASE("golden bytes: every message kind and log entry decodes from PROTOCOL.md's bytes and encodes back to them") {
  for (const Golden& g : goldens()) {
    CAPTURE(g.name);
    std::string bytes = from_hex(g.hex);
    CHECK(to_hex(reencode(g, bytes)) == to_hex(bytes));
  }
}

// The values the comments of kTaskRecord and kMemberUpdate spell out: the
// encoder writes them as exactly those bytes, and the decoder reads them back
// (so a decoder and encoder that agree with each other, but not with the
// document, on the order of two fields of one type still fail).
TaskRecord documented_record() {
  TaskRecord r;
  r.spec = TaskSpec{"t1", "h", "p", -1, 3, 10, 1000, 5000, "k", true};
  r.partition = 5;
  r.state = TaskState::kCompleted;
  r.attempt = 1;
  r.submitted_ms = 50;
  r.finished_ms = 200;
  r.result = "ok";
  r.attempts = {AttemptInfo{1, "n1", 100, 200, AttemptOutcome::kSucceeded, ""}};
  return r;
}

TEST_CASE("golden bytes: the documented values encode to the golden bytes and decode from them") {
  TaskRecord record = documented_record();
  CHECK(to_hex(encode_record(record)) == to_hex(from_hex(kTaskRecord)));
  Result<TaskRecord> decoded = decode_record(from_hex(kTaskRecord));
  REQUIRE(decoded.ok());
  CHECK(decoded.value() == record);

  MemberUpdate update{"n1", "a", 2, MemberState::kAlive, LoadDigest{7, 1, 300, 9, 2, 1200, 10}, "n1#0"};
  Ping ping{1, "n1", "a", "n2", {update}};
  std::string ping_hex = "95 01 a2 6e 31 a1 61 a2 6e 32 91" + kMemberUpdate;
  CHECK(to_hex(encode_peer(ping)) == to_hex(from_hex(ping_hex)));
  Result<PeerMessage> peer = decode_peer(static_cast<uint16_t>(MessageKind::kPing), from_hex(ping_hex));
  REQUIRE(peer.ok());
  REQUIRE(std::holds_alternative<Ping>(peer.value()));
  CHECK(std::get<Ping>(peer.value()).updates.front() == update);
}

TEST_CASE("golden bytes: every message kind has golden bytes") {
  std::vector<bool> covered(65536, false);
  for (const Golden& g : goldens()) {
    if (g.layout == Layout::kRequest || g.layout == Layout::kReply || g.layout == Layout::kPeer) covered[g.kind] = true;
  }
  for (uint32_t kind = 0; kind < 65536; ++kind) {
    if (!is_known_kind(static_cast<uint16_t>(kind))) continue;
    CAPTURE(kind_name(static_cast<MessageKind>(kind)));
    CHECK(covered[kind]);
  }
}

}  // namespace
}  // namespace mesh
