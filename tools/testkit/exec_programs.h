// The programs tests run through the exec handler, as the absolute paths an
// exec policy lists (node/core/exec_policy.h): looked up in this process's
// PATH once, when a test starts, so tests run wherever coreutils live.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace mesh {

// The first executable file `name` names in PATH; empty when none.
inline std::string program_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t begin = 0;
  for (;;) {
    size_t end = dirs.find(':', begin);
    std::string dir = dirs.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    if (!dir.empty() && dir.front() == '/') {
      std::string candidate = dir + "/" + name;
      struct stat st {};
      if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(candidate.c_str(), X_OK) == 0) {
        return candidate;
      }
    }
    if (end == std::string::npos) return {};
    begin = end + 1;
  }
}

// What tests run: sh for scripts (Gate, timeouts), and a few tools directly.
inline const std::vector<std::string>& test_program_names() {
  static const std::vector<std::string> names = {"sh", "cat", "echo", "printf", "true", "head", "yes", "sleep"};
  return names;
}

// The [handlers.exec] section of a test node: the test programs, PATH and
// the variables tests set.
inline std::string test_exec_toml() {
  std::string allow;
  for (const auto& name : test_program_names()) {
    std::string path = program_path(name);
    if (!path.empty()) allow += (allow.empty() ? "\"" : ", \"") + path + "\"";
  }
  return "[handlers.exec]\nallow = [" + allow + "]\nenv = [\"PATH\", \"HOME\", \"LANG\", \"FOO\"]\n";
}

}  // namespace mesh
