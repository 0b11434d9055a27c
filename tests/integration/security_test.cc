// A mesh with keys on real processes: CURVE on every connection, only
// allow-listed nodes and clients get in, a client's role bounds what it may
// ask, and a node cannot speak under another node's id.
#include <filesystem>
#include <regex>

#include "node/runtime/curve_keys.h"
#include "protocol/codec.h"
#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

constexpr uint64_t kRefusedTimeoutMs = 1500;

struct KeyedMesh {
  TempDir temp{"meshkeys-"};
  std::string keys = temp.path() + "/keys";
  std::vector<std::unique_ptr<TestNode>> nodes;

  explicit KeyedMesh(size_t count) {
    REQUIRE(!temp.path().empty());
    REQUIRE(keygen_mesh(keys).ok());
    for (size_t i = 0; i < count; ++i) REQUIRE(keygen_node(keys, "s" + std::to_string(i)).ok());
    REQUIRE(keygen_client(keys, "alice", ClientRole::kSubmit).ok());
    REQUIRE(keygen_client(keys, "bob", ClientRole::kRead).ok());
    nodes = start_mesh(count, "s", temp.path(), {"--keys", keys});
  }

  // A client of node i proving the key pair in `key_file`.
  std::unique_ptr<MeshClient> client(size_t i, const std::string& key_file, uint64_t timeout_ms = 30000) const {
    auto curve = read_client_keys(key_file, keys + "/mesh.pub");
    REQUIRE_MESSAGE(curve.ok(), curve.status().message());
    return std::make_unique<MeshClient>(std::vector<std::string>{nodes[i]->process().endpoint()},
                                        ClientOptions{timeout_ms, "test", curve.value()});
  }

  uint64_t counter(size_t i, const std::string& name) const {
    auto stats = client(i, keys + "/alice.key")->stats();
    if (!stats.ok()) return 0;
    auto it = stats.value().counters.find(name);
    return it == stats.value().counters.end() ? 0 : it->second;
  }
};

TEST_CASE("keys: only allow-listed clients get in, and a read client cannot submit") {
  KeyedMesh mesh(2);
  auto alice = mesh.client(0, mesh.keys + "/alice.key");
  REQUIRE_MESSAGE(wait_until([&] { return alive_members(*alice) == 2; }), mesh.nodes[0]->log());

  // A submit client's tasks run across the keyed mesh.
  std::vector<TaskSpec> tasks;
  for (int i = 0; i < 20; ++i) tasks.push_back(task("k-" + std::to_string(i), "noop"));
  auto submitted = alice->submit(tasks);
  REQUIRE_MESSAGE(submitted.ok(), submitted.status().message());
  WaitRequest all_done;
  for (const auto& t : tasks) all_done.ids.push_back(t.id);
  all_done.timeout_ms = kDeadlineMs;
  auto done = alice->wait(all_done);
  REQUIRE_MESSAGE(done.ok(), done.status().message());
  CHECK(done.value().records.size() == tasks.size());
  for (const auto& r : done.value().records) CHECK(r.state == TaskState::kCompleted);

  // A read client reads, and is refused a submit with `forbidden`.
  auto bob = mesh.client(1, mesh.keys + "/bob.key");
  CHECK(bob->get({"k-0"}).ok());
  auto refused = bob->submit({task("bob-1", "noop")});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == ErrorCode::kForbidden);
  CHECK_MESSAGE(refused.status().message().find("role read") != std::string::npos, refused.status().message());
  // ... and a remote drain, which only an admin may ask.
  auto drain = bob->call(DrainRequest{});
  REQUIRE_FALSE(drain.ok());
  CHECK(drain.status().code() == ErrorCode::kForbidden);
  CHECK_MESSAGE(drain.status().message().find("need role admin") != std::string::npos, drain.status().message());
  CHECK(mesh.nodes[1]->process().running());

  // A key pair nobody listed, and a client with no keys at all: no answer.
  REQUIRE(write_key_pair_file(mesh.temp.path() + "/eve.key", generate_curve_key_pair()).ok());
  auto eve = mesh.client(0, mesh.temp.path() + "/eve.key", kRefusedTimeoutMs);
  auto eve_reply = eve->stats();
  REQUIRE_FALSE(eve_reply.ok());
  CHECK(eve_reply.status().code() == ErrorCode::kUnavailable);
  MeshClient plain({mesh.nodes[0]->process().endpoint()}, ClientOptions{kRefusedTimeoutMs, "test"});
  CHECK_FALSE(plain.stats().ok());
  CHECK(mesh.counter(0, "connections_refused") >= 1);
  CHECK(mesh.nodes[0]->log().find("event=connection_refused") != std::string::npos);
}

TEST_CASE("keys: a node whose key is not listed cannot join, and the ring does not change") {
  KeyedMesh mesh(2);
  auto alice = mesh.client(0, mesh.keys + "/alice.key");
  REQUIRE_MESSAGE(wait_until([&] { return alive_members(*alice) == 2; }), mesh.nodes[0]->log());

  // The intruder holds the mesh's server key, but its own key is listed only
  // in its own directory.
  std::string intruder_keys = mesh.temp.path() + "/intruder-keys";
  REQUIRE(keygen_node(intruder_keys, "x").ok());
  std::filesystem::copy_file(mesh.keys + "/mesh.key", intruder_keys + "/mesh.key");
  TestNode intruder({"--node-id", "x", "--gossip-profile", "local", "--keys", intruder_keys, "--seeds",
                     mesh.nodes[0]->process().endpoint()},
                    mesh.temp.path() + "/x");
  intruder.start();
  REQUIRE_MESSAGE(wait_until([&] { return mesh.counter(0, "connections_refused") >= 1; }), mesh.nodes[0]->log());
  auto members = alice->call(MembersRequest{});
  REQUIRE(members.ok());
  for (const auto& m : std::get<MembersReply>(members.value()).members) CHECK(m.id != "x");
  auto ring = alice->call(PartitionsRequest{});
  REQUIRE(ring.ok());
  for (const auto& share : std::get<PartitionsReply>(ring.value()).shares) CHECK(share.node_id != "x");
}

TEST_CASE("keys: a peer message under another node's id is refused") {
  KeyedMesh mesh(2);
  auto alice = mesh.client(0, mesh.keys + "/alice.key");
  REQUIRE_MESSAGE(wait_until([&] { return alive_members(*alice) == 2; }), mesh.nodes[0]->log());

  // s1's own key, claiming to be s0's other self "s2": refused and counted.
  auto as_s1 = mesh.client(0, mesh.keys + "/s1.key");
  Ping forged;
  forged.seq = 7;
  forged.from_id = "s2";
  forged.from_address = "tcp://127.0.0.1:1";
  forged.target_id = "s0";
  Envelope env{kProtocolVersion, static_cast<uint16_t>(peer_kind(PeerMessage{forged})), 1, "s2"};
  REQUIRE(as_s1->send_frames({encode_envelope(env), encode_peer(PeerMessage{forged})}).ok());
  auto answer = as_s1->receive_frames(30000);
  REQUIRE_MESSAGE(answer.ok(), answer.status().message());
  REQUIRE(answer.value().size() == 2);
  auto reply = decode_reply(decode_envelope(answer.value()[0]).value().kind, answer.value()[1]);
  REQUIRE(reply.ok());
  const auto* error = std::get_if<ErrorReply>(&reply.value());
  REQUIRE(error != nullptr);
  CHECK(error->code == ErrorCode::kForbidden);
  CHECK(mesh.counter(0, "peer_messages_forged") == 1);
  CHECK(mesh.nodes[0]->log().find("event=forged_peer_message connection=\"node:s1\" claims=s2") != std::string::npos);
  auto members = alice->call(MembersRequest{});
  REQUIRE(members.ok());
  for (const auto& m : std::get<MembersReply>(members.value()).members) CHECK(m.id != "s2");
}

TEST_CASE("--insecure: plaintext on all interfaces is logged at start and for every connection") {
  // Advertised elsewhere: the test reaches it on the port the log names.
  TestNode node({"--node-id", "p1", "--listen", "tcp://0.0.0.0:0", "--advertise", "tcp://127.0.0.1:1", "--insecure"});
  node.start();
  std::smatch bound;
  std::string log = node.log();
  REQUIRE_MESSAGE(std::regex_search(log, bound, std::regex("event=started[^\\n]* listen=tcp://0\\.0\\.0\\.0:([0-9]+)")), log);
  CHECK(log.find("event=insecure") != std::string::npos);
  for (int i = 0; i < 2; ++i) {
    MeshClient client({"tcp://127.0.0.1:" + bound[1].str()}, ClientOptions{30000, "test"});
    REQUIRE(client.stats().ok());
  }
  MeshClient client({"tcp://127.0.0.1:" + bound[1].str()}, ClientOptions{30000, "test"});
  auto stats = client.stats();
  REQUIRE(stats.ok());
  CHECK(stats.value().counters["plaintext_connections"] == 3);
  REQUIRE(wait_until([&] { return node.log().find("event=plaintext_connection address=127.0.0.1") != std::string::npos; }));
}

}  // namespace
}  // namespace mesh::test
