// The header frame every message starts with.
#pragma once

#include <cstdint>
#include <string>

namespace mesh {

struct Envelope {
  uint16_t version = 0;
  uint16_t kind = 0;  // a MessageKind; kept raw so unknown kinds can be answered
  uint64_t request_id = 0;
  std::string sender;
  // The mesh the sender belongs to (peer messages; empty from clients and
  // from a node that has not joined a mesh yet). Appended: absent from
  // older senders.
  std::string mesh = {};
};

}  // namespace mesh
