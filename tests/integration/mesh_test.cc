// Five meshd processes on loopback join through a seed, agree on members,
// ring and partitions; a SIGKILLed node is declared dead by all others and
// comes back alive with a higher incarnation; then
// `meshctl partitions` shows every partition's Raft group led, with 3 voters.
#include <signal.h>

#include <algorithm>
#include <iterator>
#include <sstream>

#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

std::optional<MemberInfo> view_of(MeshClient& client, const std::string& member_id) {
  auto reply = client.call(MembersRequest{});
  if (!reply.ok()) return std::nullopt;
  for (const auto& m : std::get<MembersReply>(reply.value()).members) {
    if (m.id == member_id) return m;
  }
  return std::nullopt;
}

std::string describe_views(std::vector<std::unique_ptr<MeshClient>>& clients) {
  std::string out;
  for (auto& c : clients) {
    auto reply = c->call(MembersRequest{});
    if (!reply.ok()) {
      out += c->endpoint() + ": " + reply.status().message() + "\n";
      continue;
    }
    const auto& members = std::get<MembersReply>(reply.value());
    out += members.node_id + " sees:";
    for (const auto& m : members.members) {
      out += " " + m.id + "=" + member_state_name(m.state) + "/" + std::to_string(m.incarnation);
    }
    out += "\n";
  }
  return out;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, sep);) out.push_back(item);
  return out;
}

// What is wrong with the output of `meshctl partitions` (empty when nothing):
// it must report all `members`, one ring digest, and each of the `count`
// partitions led by one of its 3 voters, with 3 ring replicas. `ring` gets
// the partition and ring columns.
std::string check_partitions(const Exit& shown, uint32_t count, size_t members, std::string* ring) {
  if (shown.code != 0) return "exit code " + std::to_string(shown.code);
  std::vector<std::string> lines = split(shown.output, '\n');
  std::string all = std::to_string(members) + " of " + std::to_string(members) + " alive members";
  if (lines.size() < 3 || lines[0].find(all) == std::string::npos) return "not " + all + " answered";
  if (lines[1].find("on every member that answered") == std::string::npos) return "ring digests differ";
  ring->clear();
  size_t rows = 0;
  for (size_t i = 3; i < lines.size(); ++i, ++rows) {
    std::istringstream in(lines[i]);
    std::vector<std::string> cells{std::istream_iterator<std::string>(in), {}};
    // PART LEADER TERM COMMIT VOTERS LAG RING; "no leader" is two words.
    if (cells.size() != 7 || cells[1] == "no") return "no leader: " + lines[i];
    std::vector<std::string> voters = split(cells[4], ',');
    if (voters.size() != 3) return "not 3 voters: " + lines[i];
    if (std::find(voters.begin(), voters.end(), cells[1]) == voters.end()) return "leader not a voter: " + lines[i];
    if (split(cells[6], ',').size() != 3) return "not 3 ring replicas: " + lines[i];
    *ring += cells[0] + " " + cells[6] + "\n";
  }
  if (rows != count) return std::to_string(rows) + " partitions shown, not " + std::to_string(count);
  return "";
}

TEST_CASE("five meshd processes form one mesh, detect a SIGKILL and take the node back") {
  const size_t n = 5;
  TempDir temp("meshfive-");
  REQUIRE(!temp.path().empty());
  const std::string& dir = temp.path();
  std::vector<std::unique_ptr<TestNode>> nodes;
  std::vector<std::string> ids;
  for (size_t i = 0; i < n; ++i) {
    std::string id = "m" + std::to_string(i);
    std::vector<std::string> args = {"--node-id", id, "--gossip-profile", "local", "--slots", "1"};
    if (i > 0) args.insert(args.end(), {"--seeds", nodes[0]->process().endpoint()});
    nodes.push_back(std::make_unique<TestNode>(args, dir + "/" + id));
    nodes.back()->start();
    ids.push_back(id);
  }
  std::vector<std::unique_ptr<MeshClient>> clients;
  for (auto& node : nodes) clients.push_back(node->client(5000));

  auto everyone_sees = [&](const std::string& id, MemberState state, size_t skip) {
    for (size_t i = 0; i < n; ++i) {
      if (i == skip) continue;
      auto m = view_of(*clients[i], id);
      if (!m || m->state != state) return false;
    }
    return true;
  };
  auto all_alive = [&] {
    for (const auto& id : ids) {
      if (!everyone_sees(id, MemberState::kAlive, n)) return false;
    }
    return true;
  };
  REQUIRE_MESSAGE(wait_until(all_alive), describe_views(clients));

  // Everyone computes the same partition table.
  auto digests_agree = [&] {
    std::optional<uint64_t> first;
    for (auto& c : clients) {
      auto reply = c->call(PartitionsRequest{});
      if (!reply.ok()) return false;
      uint64_t digest = std::get<PartitionsReply>(reply.value()).digest;
      if (first && *first != digest) return false;
      first = digest;
    }
    return true;
  };
  REQUIRE(wait_until(digests_agree));

  // SIGKILL one node: all others declare it dead (how fast is the
  // simulator's and meshbench's concern, not a loaded CI machine's).
  const size_t victim = 3;
  auto before = view_of(*clients[0], ids[victim]);
  REQUIRE(before);
  std::string victim_endpoint = nodes[victim]->process().endpoint();
  nodes[victim]->process().signal(SIGKILL);
  REQUIRE(nodes[victim]->process().wait_exit(kDeadlineMs) == 128 + SIGKILL);
  REQUIRE_MESSAGE(wait_until([&] { return everyone_sees(ids[victim], MemberState::kDead, victim); }),
                  describe_views(clients));
  // ... and says so: an event (meshctl events) and a log line.
  Exit events = run_command(std::string(MESHCTL_PATH) + " --addr " + nodes[0]->process().endpoint() + " events");
  CHECK_MESSAGE(events.code == 0, events.output);
  CHECK_MESSAGE(events.output.find("member_dead  " + ids[victim]) != std::string::npos, events.output);
  Exit everyone = run_command(std::string(MESHCTL_PATH) + " --addr " + nodes[0]->process().endpoint() + " events --all");
  CHECK_MESSAGE(everyone.code == 0, everyone.output);
  for (size_t i = 0; i < n; ++i) {
    if (i == victim) continue;
    CHECK_MESSAGE(everyone.output.find(ids[i] + "  ") != std::string::npos, everyone.output);  // a column per node
  }
  CHECK_MESSAGE(wait_until([&] { return nodes[0]->log().find("event=member_dead subject=\"" + ids[victim]) != std::string::npos; }),
                nodes[0]->log());

  // Restart on the same data dir and endpoint: alive again, higher incarnation.
  nodes[victim] = std::make_unique<TestNode>(
      std::vector<std::string>{"--node-id", ids[victim], "--gossip-profile", "local", "--slots", "1", "--listen",
                               victim_endpoint, "--seeds", nodes[0]->process().endpoint()},
      dir + "/" + ids[victim]);
  nodes[victim]->start();
  clients[victim] = nodes[victim]->client(5000);
  REQUIRE_MESSAGE(wait_until(all_alive), describe_views(clients));
  for (size_t i = 0; i < n; ++i) {
    auto m = view_of(*clients[i], ids[victim]);
    REQUIRE(m);
    CHECK(m->incarnation > before->incarnation);
  }
  REQUIRE(wait_until(digests_agree));

  // meshctl, asked any node, gathers every member's groups: once the mesh
  // has settled, every partition has a leader among 3 voters, all 5 nodes
  // answer, their ring digests agree and so does the ring column.
  auto partitions = clients[0]->call(PartitionsRequest{});
  REQUIRE(partitions.ok());
  const uint32_t count = std::get<PartitionsReply>(partitions.value()).partitions;
  std::string first_ring;
  for (auto& node : nodes) {
    Exit shown{};
    std::string ring, problem;
    auto settled = [&] {
      shown = run_command(std::string(MESHCTL_PATH) + " --addr " + node->process().endpoint() + " partitions");
      problem = check_partitions(shown, count, n, &ring);
      return problem.empty();
    };
    REQUIRE_MESSAGE(wait_until(settled), problem << "\n" << shown.output);
    if (first_ring.empty()) first_ring = ring;
    CHECK(ring == first_ring);
  }
  CHECK(first_ring.find("m4") != std::string::npos);
  nodes.clear();
}

}  // namespace
}  // namespace mesh::test
