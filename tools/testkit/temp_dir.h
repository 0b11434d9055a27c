// TempDir: a fresh directory under $TMPDIR (or /tmp), removed with everything
// in it when the object goes out of scope, also when a test's REQUIRE throws.
#pragma once

#include <filesystem>
#include <string>
#include <system_error>

#include "tools/testkit/local_node.h"

namespace mesh {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix) : path_(make_temp_dir(prefix)) {}
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Empty when the directory could not be created.
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace mesh
