// msgpack encoding of envelopes, messages, task records and log entries.
// Callers see only this header; msgpack stays inside the codec files
// (codec.cc: client messages and records, codec_peer.cc: node-to-node
// messages, codec_log.cc: log entries and Raft state, codec_detail.h: what
// they share). Decoding is strict: wrong types, missing fields and anything
// over protocol/limits.h give kMalformed or kTooLarge, never a crash.
//
// A message on the wire is two frames: the envelope, then the body.
#pragma once

#include <string>
#include <string_view>

#include "protocol/envelope.h"
#include "protocol/message_kind.h"
#include "protocol/messages.h"
#include "protocol/peer_messages.h"
#include "protocol/raft_messages.h"
#include "protocol/result.h"
#include "protocol/task_ops.h"

namespace mesh {

std::string encode_envelope(const Envelope& envelope);
Result<Envelope> decode_envelope(std::string_view bytes);

MessageKind request_kind(const Request& request);
MessageKind reply_kind(const Reply& reply);

std::string encode_request(const Request& request);
// `kind` comes from the envelope; unknown kinds give kUnknownMessageType.
Result<Request> decode_request(uint16_t kind, std::string_view body);

std::string encode_reply(const Reply& reply);
Result<Reply> decode_reply(uint16_t kind, std::string_view body);

// Node-to-node messages.
MessageKind peer_kind(const PeerMessage& message);
std::string encode_peer(const PeerMessage& message);
Result<PeerMessage> decode_peer(uint16_t kind, std::string_view body);

// Task operations as log entries, and a partition snapshot (its records).
// A snapshot has no size or record-count limit of its own: each record
// decodes under the limits of one frame. Raft streams it in chunks.
std::string encode_op(const TaskOp& op);
Result<TaskOp> decode_op(std::string_view bytes);
// Several ops in one log entry, applied in order: what a leader proposed to
// one partition in one step. One op encodes exactly as encode_op, so it reads
// on nodes without batches; decode_ops reads both forms.
std::string encode_op_batch(const std::vector<std::string>& encoded_ops);
std::string encode_ops(const std::vector<TaskOp>& ops);  // what decode_ops reads back as `ops`
Result<std::vector<TaskOp>> decode_ops(std::string_view bytes);
struct PartitionSnapshot {
  std::vector<TaskRecord> records;
  PreparedTxns prepared;
  TxnDecisions decisions;
  bool operator==(const PartitionSnapshot&) const = default;
};
// The records by pointer: a partition's records are encoded where they are, not copied first.
std::string encode_snapshot(const std::vector<const TaskRecord*>& records, const PreparedTxns& prepared = {},
                            const TxnDecisions& decisions = {});
std::string encode_snapshot(const PartitionSnapshot& s);
Result<PartitionSnapshot> decode_snapshot(std::string_view bytes);

// A Raft replica's persistent state, as its host stores it.
std::string encode_log_entry(const LogEntry& entry);
Result<LogEntry> decode_log_entry(std::string_view bytes);
std::string encode_hard_state(const HardState& state);
Result<HardState> decode_hard_state(std::string_view bytes);
std::string encode_snapshot_meta(const SnapshotMeta& meta);
Result<SnapshotMeta> decode_snapshot_meta(std::string_view bytes);

// Task records as stored on disk (same encoding as on the wire).
std::string encode_record(const TaskRecord& record);
Result<TaskRecord> decode_record(std::string_view bytes);

}  // namespace mesh
