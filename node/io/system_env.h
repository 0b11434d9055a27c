// The real clock and randomness behind meshd's core.
#pragma once

#include <sys/statvfs.h>

#include <chrono>
#include <optional>
#include <random>
#include <string>

#include "node/env/clock.h"
#include "node/env/random.h"

namespace mesh {

// Monotonic: a step of the wall clock (NTP, an operator) moves no timer,
// lease or timeout of the core.
class SystemClock final : public Clock {
 public:
  uint64_t now_ms() override {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
  }
};

// Bytes an unprivileged writer may still use on the file system holding
// `dir`; nullopt when it cannot be read.
inline std::optional<uint64_t> free_disk_bytes(const std::string& dir) {
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) return std::nullopt;
  return static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
}

class OsRandom final : public Random {
 public:
  OsRandom() : engine_(std::random_device{}()) {}
  uint64_t next_u64() override { return engine_(); }

 private:
  std::mt19937_64 engine_;
};

}  // namespace mesh
