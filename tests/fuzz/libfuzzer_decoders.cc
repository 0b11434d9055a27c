// libFuzzer entry point for every wire decoder (built with -DMESH_FUZZ=ON and
// clang; not part of the doctest binary).
//
// Input layout: the first 2 bytes (little endian) choose the message kind;
// the rest is the frame. Raw values below 0x8000 are folded into 0..143 so the
// fuzzer spends its time on real kinds, client (1..27) and node-to-node
// (100..133), and their unknown neighbours; values from 0x8000 up are used
// as they are. The frame goes to every decoder: decode_envelope,
// decode_request(kind), decode_reply(kind), decode_peer(kind), decode_record,
// and the store's decoders (ops, log entries, hard state, snapshots).
//
// Besides crashes and sanitizer reports, the target traps when
//   - a failed decode carries ErrorCode::kOk, or
//   - a successful decode is not idempotent: encode(decode(x)) must decode
//     again and re-encode to the very same bytes.
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
//     -DMSGPACK_NO_BOOST -DMSGPACK_DEFAULT_API_VERSION=3 \
//     tests/fuzz/libfuzzer_decoders.cc protocol/*.cc -o /tmp/fuzz_decoders
//   /tmp/fuzz_decoders -max_total_time=30 [corpus_dir]
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/codec.h"

namespace {

template <typename T>
void check_failed(const mesh::Result<T>& r) {
  if (!r.ok() && r.status().code() == mesh::ErrorCode::kOk) __builtin_trap();
}

void check_request(uint16_t kind, std::string_view frame) {
  auto r = mesh::decode_request(kind, frame);
  check_failed(r);
  if (!r.ok()) return;
  if (static_cast<uint16_t>(mesh::request_kind(r.value())) != kind) __builtin_trap();
  std::string once = mesh::encode_request(r.value());
  auto again = mesh::decode_request(kind, once);
  if (!again.ok() || mesh::encode_request(again.value()) != once) __builtin_trap();
}

void check_reply(uint16_t kind, std::string_view frame) {
  auto r = mesh::decode_reply(kind, frame);
  check_failed(r);
  if (!r.ok()) return;
  if (static_cast<uint16_t>(mesh::reply_kind(r.value())) != kind) __builtin_trap();
  std::string once = mesh::encode_reply(r.value());
  auto again = mesh::decode_reply(kind, once);
  if (!again.ok() || mesh::encode_reply(again.value()) != once) __builtin_trap();
}

void check_peer(uint16_t kind, std::string_view frame) {
  auto r = mesh::decode_peer(kind, frame);
  check_failed(r);
  if (!r.ok()) return;
  if (static_cast<uint16_t>(mesh::peer_kind(r.value())) != kind) __builtin_trap();
  std::string once = mesh::encode_peer(r.value());
  auto again = mesh::decode_peer(kind, once);
  if (!again.ok() || mesh::encode_peer(again.value()) != once) __builtin_trap();
}

void check_envelope(std::string_view frame) {
  auto r = mesh::decode_envelope(frame);
  check_failed(r);
  if (!r.ok()) return;
  std::string once = mesh::encode_envelope(r.value());
  auto again = mesh::decode_envelope(once);
  if (!again.ok() || mesh::encode_envelope(again.value()) != once) __builtin_trap();
}

void check_record(std::string_view frame) {
  auto r = mesh::decode_record(frame);
  check_failed(r);
  if (!r.ok()) return;
  std::string once = mesh::encode_record(r.value());
  auto again = mesh::decode_record(once);
  if (!again.ok() || !(again.value() == r.value()) || mesh::encode_record(again.value()) != once) {
    __builtin_trap();
  }
}

// A store decoder: fails cleanly, or round-trips.
template <typename Decode, typename Encode>
void check_stored(std::string_view frame, Decode decode, Encode encode) {
  auto r = decode(frame);
  check_failed(r);
  if (!r.ok()) return;
  std::string once = encode(r.value());
  auto again = decode(once);
  if (!again.ok() || encode(again.value()) != once) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  uint16_t raw = static_cast<uint16_t>(data[0] | (data[1] << 8));
  uint16_t kind = raw < 0x8000 ? static_cast<uint16_t>(raw % 144) : raw;
  std::string_view frame(reinterpret_cast<const char*>(data + 2), size - 2);
  check_envelope(frame);
  check_request(kind, frame);
  check_reply(kind, frame);
  check_peer(kind, frame);
  check_record(frame);
  check_stored(frame, mesh::decode_log_entry, mesh::encode_log_entry);
  check_stored(frame, mesh::decode_hard_state, mesh::encode_hard_state);
  check_stored(frame, mesh::decode_snapshot_meta, mesh::encode_snapshot_meta);
  check_stored(frame, mesh::decode_snapshot, [](const mesh::PartitionSnapshot& s) { return mesh::encode_snapshot(s); });
  check_stored(frame, mesh::decode_op, mesh::encode_op);
  check_stored(frame, mesh::decode_ops, mesh::encode_ops);
  return 0;
}
