// A small tmpfs of a test's own (root only), unmounted at the end of its
// scope, and ways to fill it.
#pragma once

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

namespace mesh::test {

class SmallDisk {
 public:
  explicit SmallDisk(const std::string& path) : path_(path) {
    std::filesystem::create_directories(path_);
    if (::mount("tmpfs", path_.c_str(), "tmpfs", 0, "size=64m") != 0) error_ = std::strerror(errno);
  }
  ~SmallDisk() {
    if (error_.empty()) ::umount2(path_.c_str(), MNT_DETACH);
  }
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;

  const std::string& error() const { return error_; }
  uint64_t free_bytes() const { return std::filesystem::space(path_).available; }
  // Writes a filler file until only `leave` bytes are free (0: until a write fails).
  void fill(uint64_t leave = 0) {
    std::ofstream filler(filler_path(), std::ios::binary);
    const std::string block(1 << 20, 'f');
    while ((leave == 0 || free_bytes() > leave + block.size()) &&
           filler.write(block.data(), static_cast<std::streamsize>(block.size())) && filler.flush()) {
    }
  }
  void unfill() { std::filesystem::remove(filler_path()); }

 private:
  std::string filler_path() const { return path_ + "/filler"; }
  std::string path_;
  std::string error_;
};

}  // namespace mesh::test
