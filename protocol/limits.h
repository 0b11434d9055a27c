// Hard limits on everything that arrives from the wire. Decoders enforce
// them; the ZeroMQ socket enforces kMaxFrameBytes before decoding starts.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mesh::limits {

inline constexpr size_t kMaxFrameBytes = 16u << 20;    // one ZeroMQ frame
inline constexpr size_t kMaxPayloadBytes = 1u << 20;   // one task payload or result
inline constexpr size_t kMaxIdBytes = 256;             // task id, partition key
inline constexpr size_t kMaxNameBytes = 64;            // handler name, node id
inline constexpr size_t kMaxErrorBytes = 4096;         // error text kept per attempt
inline constexpr size_t kMaxBatchTasks = 10000;        // tasks per submit / ids per get
inline constexpr uint32_t kMaxAttempts = 100;          // upper bound of max_attempts
inline constexpr uint64_t kMaxTimeoutMs = 7ull * 24 * 3600 * 1000;
inline constexpr uint32_t kMaxListLimit = 100000;
inline constexpr size_t kMaxMembers = 10000;          // members in one Sync or members reply
inline constexpr size_t kMaxAddressBytes = 256;       // an advertised endpoint
inline constexpr size_t kMaxGossipUpdates = 256;      // updates piggybacked on one message
inline constexpr size_t kMaxAttemptHistory = 64;      // attempts a record keeps (oldest dropped)
inline constexpr uint32_t kMaxStealBatch = 1024;      // tasks one steal may ask for or grant
inline constexpr size_t kMaxRaftMessages = 65536;     // Raft messages in one RaftBatch
inline constexpr size_t kMaxRaftEntries = 4096;       // log entries in one append
inline constexpr size_t kRaftBatchBytes = 8u << 20;   // a node splits its Raft messages into frames of at most this
inline constexpr size_t kMaxVoters = 16;              // replicas in one configuration
inline constexpr uint32_t kMaxPurgeRecords = 10000;   // records one purge op may remove
inline constexpr size_t kMaxTxnParticipants = 256;    // partitions one transaction may touch
inline constexpr size_t kMaxParents = 1024;           // parents one task may wait for (TaskSpec::after)
inline constexpr size_t kMaxInputBytes = kMaxPayloadBytes;  // the parents' results one task gets, in all
inline constexpr uint32_t kMaxShards = 65536;         // TaskSpec::shard_count

}  // namespace mesh::limits
