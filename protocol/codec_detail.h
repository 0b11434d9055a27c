// Internal to the codec files (codec.cc, codec_peer.cc, codec_log.cc): the
// msgpack helpers they share. Not for use outside protocol/: msgpack stays
// behind codec.h.
#pragma once

#include <msgpack.hpp>

#include <algorithm>

#include <string>
#include <string_view>
#include <vector>

#include "protocol/limits.h"
#include "protocol/messages.h"
#include "protocol/raft_messages.h"
#include "protocol/result.h"

namespace mesh::codec_detail {

// Thrown only inside the codec; every public function catches it.
struct DecodeError {
  ErrorCode code;
  std::string message;
};

[[noreturn]] inline void fail(ErrorCode code, std::string message) {
  throw DecodeError{code, std::move(message)};
}

using Packer = msgpack::packer<msgpack::sbuffer>;

inline void pack_str(Packer& p, std::string_view s) {
  p.pack_str(static_cast<uint32_t>(s.size()));
  p.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

inline void pack_bin(Packer& p, std::string_view s) {
  p.pack_bin(static_cast<uint32_t>(s.size()));
  p.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
}

inline void pack_str_list(Packer& p, const std::vector<std::string>& items) {
  p.pack_array(static_cast<uint32_t>(items.size()));
  for (const auto& s : items) pack_str(p, s);
}

inline void pack_bin_list(Packer& p, const std::vector<std::string>& items) {
  p.pack_array(static_cast<uint32_t>(items.size()));
  for (const auto& s : items) pack_bin(p, s);
}

// Runs write(packer) and returns the bytes it packed.
template <typename Write>
std::string encode_with(Write&& write) {
  msgpack::sbuffer buffer;
  Packer p(buffer);
  write(p);
  return std::string(buffer.data(), buffer.size());
}


// Reads the fields of one msgpack array in order, checking every type.
class Fields {
 public:
  Fields(const msgpack::object& o, uint32_t min_fields, const char* what) : what_(what) {
    if (o.type != msgpack::type::ARRAY) fail(ErrorCode::kMalformed, std::string(what) + ": not an array");
    items_ = o.via.array.ptr;
    size_ = o.via.array.size;
    // Newer peers may append fields: extra ones are ignored.
    if (size_ < min_fields) fail(ErrorCode::kMalformed, std::string(what) + ": too few fields");
  }

  bool has_more() const { return pos_ < size_; }
  const msgpack::object& next() {
    if (pos_ >= size_) fail(ErrorCode::kMalformed, std::string(what_) + ": missing field");
    return items_[pos_++];
  }

  uint64_t u64() {
    const auto& o = next();
    if (o.type != msgpack::type::POSITIVE_INTEGER) bad("unsigned integer");
    return o.via.u64;
  }
  template <typename T>
  T unsigned_as(uint64_t max) {
    uint64_t v = u64();
    if (v > max) bad("value in range");
    return static_cast<T>(v);
  }
  int64_t i64() {
    const auto& o = next();
    if (o.type == msgpack::type::POSITIVE_INTEGER) {
      if (o.via.u64 > static_cast<uint64_t>(INT64_MAX)) bad("integer in range");
      return static_cast<int64_t>(o.via.u64);
    }
    if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
    bad("integer");
  }
  bool boolean() {
    const auto& o = next();
    if (o.type != msgpack::type::BOOLEAN) bad("boolean");
    return o.via.boolean;
  }
  std::string bytes(size_t max) {
    const auto& o = next();
    std::string_view s;
    if (o.type == msgpack::type::STR) {
      s = {o.via.str.ptr, o.via.str.size};
    } else if (o.type == msgpack::type::BIN) {
      s = {o.via.bin.ptr, o.via.bin.size};
    } else {
      bad("string");
    }
    if (s.size() > max) fail(ErrorCode::kTooLarge, std::string(what_) + ": field over " + std::to_string(max) + " bytes");
    return std::string(s);
  }
  std::vector<std::string> string_list(size_t max_items, size_t max_bytes) {
    const auto& o = next();
    if (o.type != msgpack::type::ARRAY) bad("array");
    if (o.via.array.size > max_items) fail(ErrorCode::kTooLarge, std::string(what_) + ": too many items");
    std::vector<std::string> out;
    out.reserve(o.via.array.size);
    for (uint32_t i = 0; i < o.via.array.size; ++i) {
      const auto& s = o.via.array.ptr[i];
      if (s.type != msgpack::type::STR) bad("string item");
      if (s.via.str.size > max_bytes) fail(ErrorCode::kTooLarge, std::string(what_) + ": item too long");
      out.emplace_back(s.via.str.ptr, s.via.str.size);
    }
    return out;
  }
  // Returns the next field, which must be an array of at most max_items.
  const msgpack::object& array(size_t max_items) {
    const auto& o = next();
    if (o.type != msgpack::type::ARRAY) bad("array");
    if (o.via.array.size > max_items) fail(ErrorCode::kTooLarge, std::string(what_) + ": too many items");
    return o;
  }
  const msgpack::object& map(size_t max_items) {
    const auto& o = next();
    if (o.type != msgpack::type::MAP) bad("map");
    if (o.via.map.size > max_items) fail(ErrorCode::kTooLarge, std::string(what_) + ": too many items");
    return o;
  }

 private:
  [[noreturn]] void bad(const char* expected) {
    fail(ErrorCode::kMalformed, std::string(what_) + ": field " + std::to_string(pos_) + " is not a " + expected);
  }

  const char* what_;
  const msgpack::object* items_ = nullptr;
  uint32_t size_ = 0;
  uint32_t pos_ = 0;
};


// Container limits for msgpack::unpack; the pre-pass below enforces the same.
inline constexpr size_t kUnpackMaxArray = limits::kMaxListLimit;
inline constexpr size_t kUnpackMaxMap = 4096;
inline constexpr size_t kUnpackMaxDepth = 8;

// Pre-pass over the raw bytes that builds nothing. msgpack::unpack allocates
// a container's element array as soon as it reads the header, before any
// element has arrived: a 5-byte frame declaring an array of 100000 cost
// 2.4 MB, eight nested ones about 33 MB, and only then did decoding fail with
// "insufficient bytes". Every element takes at least one byte, so a frame
// whose containers declare more elements in total than it has bytes cannot
// be complete; refusing it here bounds what unpack allocates by the frame
// size. Also refuses ext values, which the protocol never uses (unpack's
// ext limit of 0 reported them as kTooLarge rather than kMalformed).
class ShapeCheck : public msgpack::null_visitor {
 public:
  explicit ShapeCheck(size_t frame_bytes) : frame_bytes_(frame_bytes) {}

  bool visit_ext(const char*, uint32_t) { fail(ErrorCode::kMalformed, "msgpack ext values are not allowed"); }
  bool start_array(uint32_t n) {
    if (n > kUnpackMaxArray) throw msgpack::array_size_overflow("array size overflow");
    return enter(n);
  }
  bool start_map(uint32_t n) {
    if (n > kUnpackMaxMap) throw msgpack::map_size_overflow("map size overflow");
    return enter(size_t{2} * n);
  }
  bool end_array() { return leave(); }
  bool end_map() { return leave(); }
  void parse_error(size_t, size_t) { throw msgpack::parse_error("parse error"); }
  void insufficient_bytes(size_t, size_t) { throw msgpack::insufficient_bytes("insufficient bytes"); }

 private:
  bool enter(size_t elements) {
    // Same rule as unpack's depth limit, so its stack stays small too.
    if (depth_ >= kUnpackMaxDepth) throw msgpack::depth_size_overflow("depth size overflow");
    ++depth_;
    declared_ += elements;
    if (declared_ > frame_bytes_) {
      fail(ErrorCode::kMalformed, "containers declare " + std::to_string(declared_) + " elements in a frame of " +
                                      std::to_string(frame_bytes_) + " bytes");
    }
    return true;
  }
  bool leave() {
    --depth_;
    return true;
  }

  size_t frame_bytes_;
  size_t declared_ = 0;
  size_t depth_ = 0;
};


// Parses the msgpack value that starts at `offset`, with limits, and moves
// `offset` past it. One value may not exceed the frame limit, whatever
// follows it (a snapshot is a sequence of values of any total size).
template <typename T, typename Fn>
Result<T> parse_at(std::string_view bytes, size_t& offset, Fn&& read) {
  try {
    std::string_view rest = bytes.substr(offset);
    size_t used = 0;
    ShapeCheck check(std::min(rest.size(), limits::kMaxFrameBytes));
    if (!msgpack::parse(rest.data(), rest.size(), used, check)) {
      return Status(ErrorCode::kMalformed, "msgpack: parse error");
    }
    if (used > limits::kMaxFrameBytes) return Status(ErrorCode::kTooLarge, "value over the frame limit");
    // Container limits keep a hostile frame from allocating far more than its size.
    // A bin may fill the frame (a snapshot chunk, a nested fan-out body);
    // every reader still bounds each field (Fields::bytes).
    msgpack::unpack_limit limit(/*array=*/kUnpackMaxArray, /*map=*/kUnpackMaxMap,
                                /*str=*/limits::kMaxPayloadBytes, /*bin=*/limits::kMaxFrameBytes,
                                /*ext=*/0, /*depth=*/kUnpackMaxDepth);
    size_t unpacked = 0;
    msgpack::object_handle handle = msgpack::unpack(rest.data(), used, unpacked, nullptr, nullptr, limit);
    if (unpacked != used) return Status(ErrorCode::kMalformed, "msgpack: value ends early");
    offset += used;
    return read(handle.get());
  } catch (const DecodeError& e) {
    return Status(e.code, e.message);
  } catch (const msgpack::size_overflow& e) {
    return Status(ErrorCode::kTooLarge, std::string("msgpack limit: ") + e.what());
  } catch (const std::exception& e) {
    return Status(ErrorCode::kMalformed, std::string("msgpack: ") + e.what());
  }
}

// Parses one complete msgpack value with limits; trailing bytes are an error.
template <typename T, typename Fn>
Result<T> parse(std::string_view bytes, Fn&& read) {
  if (bytes.size() > limits::kMaxFrameBytes) return Status(ErrorCode::kTooLarge, "frame too large");
  size_t offset = 0;
  Result<T> out = parse_at<T>(bytes, offset, std::forward<Fn>(read));
  if (out.ok() && offset != bytes.size()) return Status(ErrorCode::kMalformed, "trailing bytes after message");
  return out;
}

// Shared between the codec files (each defined in the file named).
// codec.cc:
void pack(Packer& p, const TaskSpec& t);
void pack(Packer& p, const TaskRecord& r);
void pack(Packer& p, const SubmitOutcome& o);
void pack_records(Packer& p, const std::vector<TaskRecord>& records);
TaskState to_state(uint8_t v);
ErrorCode to_code(uint16_t v);
TaskSpec read_spec(const msgpack::object& o);
std::vector<TaskSpec> read_specs(const msgpack::object& array);
std::vector<std::string> read_inputs_list(const msgpack::object& array);
void pack_specs(Packer& p, const std::vector<TaskSpec>& specs);
void pack_partitions(Packer& p, const std::vector<uint32_t>& partitions);
std::vector<uint32_t> read_partitions(const msgpack::object& array);
SubmitOutcome read_submit_outcome(const msgpack::object& o);
std::vector<SubmitOutcome> read_submit_outcomes(const msgpack::object& array);
void pack_outcomes(Packer& p, const std::vector<SubmitOutcome>& outcomes);
TaskRecord read_record(const msgpack::object& o);
std::vector<TaskRecord> read_records(Fields& f);
std::string read_map_key(const msgpack::object& o);
// codec_peer.cc:
void pack(Packer& p, const LoadDigest& l);
LoadDigest read_load(const msgpack::object& o);
MemberState to_member_state(uint8_t v);
// codec_log.cc:
void pack(Packer& p, const LogEntry& e);
LogEntry read_entry(const msgpack::object& o);

}  // namespace mesh::codec_detail
