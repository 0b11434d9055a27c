// Short meshchaos runs: random SIGKILLs and restarts of a five-node mesh
// with replicated partitions (R=3) under load (spread over every partition,
// or all in one partition so its leader lends to thieves) end with every
// acknowledged task finished exactly once. The full acceptance run is
// meshchaos --nodes 5 --tasks 20000 --kill-every-ms 3000 --duration-ms 60000.
// The map-reduce word count under the same kills gives the shell's answer,
// each of its tasks committed once. Planned restarts (--rolling: SIGTERM,
// one node at a time) reach no client at all.
#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

std::string run_meshchaos(const std::string& extra) {
  Exit e = run_command(std::string(MESHCHAOS_PATH) + " --meshd " + MESHD_PATH +
                           " --nodes 5 --replicas 3 --tasks 1500 --payload 5 --kill-every-ms 1500 --down-ms 500"
                           " --duration-ms 7500 --seed 7 " +
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
  CHECK(out.find("lost 0, double commits or bad histories 0, not finished 0") != std::string::npos);
}

TEST_CASE("meshchaos --rolling: planned restarts of every node under load refuse and drop no submit") {
  std::string out = run_meshchaos("--rolling");
  CHECK(out.find("OK: nothing lost, nothing committed twice") != std::string::npos);
  CHECK(out.find("drained and exited 0") != std::string::npos);
  CHECK(out.find("submits answered with an error 0, unanswered in 20 s 0, left unanswered by a stopping node 0") !=
        std::string::npos);
}

TEST_CASE("meshchaos: with every task in one partition, thieves and leaders die and nothing is lost") {
  std::string out = run_meshchaos("--skew");
  CHECK(out.find("OK: nothing lost, nothing committed twice") != std::string::npos);
  CHECK(out.find("stolen 0,") == std::string::npos);  // the other nodes did steal
}

TEST_CASE("meshchaos: a map-reduce word count under kills equals the shell's, every task committed once") {
  std::string docs = std::string(MESH_SOURCE_DIR) + "/docs/";
  Exit e = run_command(std::string(MESHCHAOS_PATH) + " --meshd " + MESHD_PATH +
                           " --nodes 5 --replicas 3 --kill-every-ms 1500 --down-ms 500 --seed 7 --workload wordcount"
                           " --step-sleep-ms 1500 --reducers 3 --input " +
                           std::string(MESH_SOURCE_DIR) + "/README.md " + docs + "ARCHITECTURE.md " + docs +
                           "PROTOCOL.md " + docs + "SECURITY.md",
                       /*timeout_s=*/600);
  INFO(e.output);
  CHECK(e.code == 0);
  CHECK(e.output.find("kill -9") != std::string::npos);  // a kill landed before the answer
  CHECK(e.output.find("every task committed once: yes") != std::string::npos);
  CHECK(e.output.find("equals the shell pipeline's") != std::string::npos);
  CHECK(e.output.find("\nOK\n") != std::string::npos);
}

}  // namespace
}  // namespace mesh::test
