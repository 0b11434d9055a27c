// Mesh identity on real processes: a node founds a mesh only when told so on
// an empty data dir, a joiner takes its mesh's id, and messages from another
// mesh are refused.
#include <regex>

#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

// The mesh id a node's log names in `event` (mesh_founded, mesh_joined).
std::string logged_mesh(const std::string& log, const std::string& event) {
  std::smatch m;
  std::regex pattern("event=" + event + " mesh=([0-9a-f]{16})");
  return std::regex_search(log, m, pattern) ? m[1].str() : std::string();
}

uint64_t counter(TestNode& node, const std::string& name) {
  auto stats = node.client()->stats();
  if (!stats.ok()) return 0;
  auto it = stats.value().counters.find(name);
  return it == stats.value().counters.end() ? 0 : it->second;
}

TEST_CASE("mesh id: a node founds a mesh only with --new-mesh, joiners take its id, another mesh is refused") {
  TempDir temp("meshid-");
  REQUIRE(!temp.path().empty());

  // Without seeds, on an empty data dir, and not told to found: exit 2.
  TestNode lone({"--new-mesh=false"}, temp.path() + "/lone");
  Status refused = lone.process().start();
  REQUIRE_FALSE(refused.ok());
  CHECK_MESSAGE(refused.message().find("exited during start-up") != std::string::npos, refused.message());
  CHECK_MESSAGE(refused.message().find("start with --new-mesh to found a new mesh") != std::string::npos,
                refused.message());

  auto nodes = start_mesh(2, "m", temp.path(), {});
  REQUIRE(wait_until([&] { return alive_members(*nodes[1]->client()) == 2; }));
  std::string founded = logged_mesh(nodes[0]->log(), "mesh_founded");
  REQUIRE_MESSAGE(!founded.empty(), nodes[0]->log());
  CHECK_MESSAGE(logged_mesh(nodes[1]->log(), "mesh_joined") == founded, nodes[1]->log());

  // A second mesh, and m1 restarted with only that mesh's node as its seed:
  // m1 keeps to its own mesh, the other mesh refuses what m1 sends, and m1
  // finds m0 again through the peers its data dir remembers.
  TestNode other({"--node-id", "x0", "--gossip-profile", "local"}, temp.path() + "/x0");
  other.start();
  std::string other_mesh = logged_mesh(other.log(), "mesh_founded");
  REQUIRE(!other_mesh.empty());
  CHECK(other_mesh != founded);
  nodes[1]->process().kill_tree();
  TestNode m1({"--node-id", "m1", "--gossip-profile", "local", "--seeds", other.process().endpoint()},
              nodes[1]->dir());
  m1.start();
  REQUIRE_MESSAGE(wait_until([&] { return counter(other, "peer_messages_other_mesh") > 0; }), other.log());
  CHECK(other.log().find("event=other_mesh sender=m1 mesh=" + founded) != std::string::npos);
  CHECK(alive_members(*other.client()) == 1);
  CHECK_MESSAGE(wait_until([&] { return alive_members(*m1.client()) == 2; }), m1.log());
  // Its log (appended across its lives) names one mesh joined: the first.
  std::string log = m1.log();
  CHECK_MESSAGE(log.find("event=mesh_joined") == log.rfind("event=mesh_joined"), log);
}

}  // namespace
}  // namespace mesh::test
