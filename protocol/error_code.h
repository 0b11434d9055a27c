// Numbered error codes carried in replies. A code exists only if some caller
// reacts to it differently from the others; numbers are never reused.
#pragma once

#include <cstdint>
#include <string_view>

namespace mesh {

enum class ErrorCode : uint16_t {
  kOk = 0,
  kMalformed = 1,           // frame or body could not be decoded
  kUnsupportedVersion = 2,  // envelope version newer than the node speaks
  kUnknownMessageType = 3,  // message kind the node does not know
  kTooLarge = 4,            // frame, payload, batch or string over a limit
  kUnknownHandler = 5,      // task names a handler this node does not have
  kInvalidArgument = 6,     // a field is out of range (e.g. zero attempts)
  kOverloaded = 7,          // queue is full: retry later (backpressure)
  kNotFound = 8,            // no task with that id
  kConflict = 9,            // task id reused with a different task; retry of a task that is not FAILED
  kShuttingDown = 10,       // node is draining and accepts no new work
  kStorageError = 11,       // the store refused a write; nothing acknowledged
  kStaleAttempt = 12,       // completion or renewal for an attempt that is no longer current
  kAlreadyTerminal = 13,    // cancel of a task that already finished
  kUnavailable = 14,        // client side: no reply in time; the node may be down
  kNotLeader = 15,          // this replica does not lead its group; the message names the leader if known
  kBusy = 16,               // a configuration change or leadership transfer is in progress: retry later
  kHandlerNotAllowed = 17,  // the node's policy refuses this task (an exec command not on its allow list)
  kStorageFull = 18,        // the node's disk is nearly full: it takes no new tasks; retry later or elsewhere
  kForbidden = 19,          // the sender's key may not do this (a read-only client's submit; a forged peer id)
  kAborted = 20,            // an atomic submit's transaction aborted: none of its tasks was stored
};

std::string_view error_name(ErrorCode code);

}  // namespace mesh
