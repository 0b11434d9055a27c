// A short meshchaos run: random SIGKILLs and restarts of a three-node mesh
// under load end with every acknowledged task finished exactly once.
#include <cstdio>

#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

TEST_CASE("meshchaos: kills and restarts under load lose nothing and commit nothing twice") {
  std::string command = std::string(MESHCHAOS_PATH) + " --meshd " + MESHD_PATH +
                        " --nodes 3 --tasks 2000 --kill-every-ms 1200 --down-ms 400 --duration-ms 6000 --seed 7 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  int status = ::pclose(pipe);
  INFO(out);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(out.find("OK: nothing lost, nothing committed twice") != std::string::npos);
  CHECK(out.find("kill -9") != std::string::npos);
}

}  // namespace
}  // namespace mesh::test
