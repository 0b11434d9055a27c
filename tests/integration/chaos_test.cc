// Short meshchaos runs: random SIGKILLs and restarts of a three-node mesh
// under load (spread, or all on one node so the others steal) end with every
// acknowledged task finished exactly once.
#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

std::string run_meshchaos(const std::string& extra) {
  Exit e = run_command(std::string(MESHCHAOS_PATH) + " --meshd " + MESHD_PATH +
                           " --nodes 3 --tasks 2000 --kill-every-ms 1200 --down-ms 400 --duration-ms 6000 --seed 7 " +
                           extra,
                       /*timeout_s=*/600);
  INFO(e.output);
  CHECK(e.code == 0);
  return e.output;
}

TEST_CASE("meshchaos: kills and restarts under load lose nothing and commit nothing twice") {
  std::string out = run_meshchaos("");
  CHECK(out.find("OK: nothing lost, nothing committed twice") != std::string::npos);
  CHECK(out.find("kill -9") != std::string::npos);
}

TEST_CASE("meshchaos: with all work on one node, thieves and owner die and nothing is lost") {
  std::string out = run_meshchaos("--skew");
  CHECK(out.find("OK: nothing lost, nothing committed twice") != std::string::npos);
  CHECK(out.find("stolen 0,") == std::string::npos);  // the other nodes did steal
}

}  // namespace
}  // namespace mesh::test
