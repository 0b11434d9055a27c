// Hostile and malformed input gets a numbered error reply; the node keeps
// serving and what it stored before is untouched.
#include <zmq.hpp>

#include <cstring>
#include <fstream>
#include <random>

#include "protocol/codec.h"
#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

ErrorReply expect_error(MeshClient& client, const std::vector<std::string>& frames) {
  REQUIRE(client.send_frames(frames).ok());
  auto reply = client.receive_frames(30000);
  REQUIRE_MESSAGE(reply.ok(), reply.status().message());
  REQUIRE(reply.value().size() == 2);
  auto env = decode_envelope(reply.value()[0]);
  REQUIRE(env.ok());
  REQUIRE(env.value().kind == static_cast<uint16_t>(MessageKind::kErrorReply));
  auto body = decode_reply(env.value().kind, reply.value()[1]);
  REQUIRE(body.ok());
  return std::get<ErrorReply>(body.value());
}

std::string envelope(uint16_t version, MessageKind kind) {
  return encode_envelope(Envelope{version, static_cast<uint16_t>(kind), 7, "test"});
}

TEST_CASE("malformed frames, bad versions and unknown kinds get error codes and lose nothing") {
  TestNode node({"--slots", "2"});
  node.start();
  auto client = node.client();
  auto first = client->submit({task("keep-me", "noop", "precious")});
  REQUIRE(first.ok());
  REQUIRE(client->wait(WaitRequest{{"keep-me"}, false, 60000}).ok());

  auto raw = node.client();
  SUBCASE("one frame") { CHECK(expect_error(*raw, {"garbage"}).code == ErrorCode::kMalformed); }
  SUBCASE("three frames") { CHECK(expect_error(*raw, {"a", "b", "c"}).code == ErrorCode::kMalformed); }
  SUBCASE("garbage envelope") {
    CHECK(expect_error(*raw, {"\xc1\xff\x00", "x"}).code == ErrorCode::kMalformed);
  }
  SUBCASE("newer protocol version") {
    ErrorReply e = expect_error(*raw, {envelope(99, MessageKind::kStatsRequest), encode_request(StatsRequest{})});
    CHECK(e.code == ErrorCode::kUnsupportedVersion);
    CHECK(e.message.find("version 1") != std::string::npos);
  }
  SUBCASE("unknown message type") {
    std::string env = encode_envelope(Envelope{kProtocolVersion, 999, 7, "test"});
    CHECK(expect_error(*raw, {env, encode_request(StatsRequest{})}).code == ErrorCode::kUnknownMessageType);
  }
  SUBCASE("a reply kind sent as a request") {
    CHECK(expect_error(*raw, {envelope(1, MessageKind::kGetReply), encode_request(StatsRequest{})}).code ==
          ErrorCode::kUnknownMessageType);
  }
  SUBCASE("a node-to-node message with a garbage body") {
    CHECK(expect_error(*raw, {envelope(1, MessageKind::kStealRequest), "\x93\x01"}).code == ErrorCode::kMalformed);
    CHECK(expect_error(*raw, {envelope(1, MessageKind::kRaftBatch), "\x92\xa1x\x91\x90"}).code ==
          ErrorCode::kMalformed);
  }
  SUBCASE("garbage body") {
    CHECK(expect_error(*raw, {envelope(1, MessageKind::kSubmitRequest), "\x93\x01"}).code == ErrorCode::kMalformed);
  }
  SUBCASE("oversized payload") {
    TaskSpec big = task("too-big", "noop", std::string(2 << 20, 'x'));
    CHECK(expect_error(*raw, {envelope(1, MessageKind::kSubmitRequest), encode_request(SubmitRequest{{big}})}).code ==
          ErrorCode::kTooLarge);
  }
  SUBCASE("unknown handler and bad arguments are refused per task") {
    TaskSpec bad_attempts = task("zero-attempts", "noop");
    bad_attempts.max_attempts = 0;
    auto reply = raw->submit({task("who", "no-such-handler"), bad_attempts, task("fine", "noop")});
    REQUIRE(reply.ok());
    CHECK(reply.value().outcomes[0].code == ErrorCode::kUnknownHandler);
    CHECK(reply.value().outcomes[1].code == ErrorCode::kInvalidArgument);
    CHECK(reply.value().outcomes[2].code == ErrorCode::kOk);
    auto get = raw->get({"who", "zero-attempts"});
    REQUIRE(get.ok());
    CHECK(get.value().missing.size() == 2);
  }
  SUBCASE("a reused id with a different task is a conflict") {
    auto reply = raw->submit({task("keep-me", "noop", "something else")});
    REQUIRE(reply.ok());
    CHECK(reply.value().outcomes[0].code == ErrorCode::kConflict);
  }

  // Still serving, and the stored task is unchanged.
  auto after = client->get({"keep-me"});
  REQUIRE_MESSAGE(after.ok(), after.status().message() << "\n" << node.log());
  REQUIRE(after.value().records.size() == 1);
  CHECK(after.value().records[0].state == TaskState::kCompleted);
  CHECK(after.value().records[0].result == "precious");
}

// Receives monitor events from `events` until one of kind `wanted` arrives
// or the deadline passes; true when it arrived.
bool await_socket_event(zmq::socket_t& events, uint16_t wanted) {
  return wait_until([&] {
    zmq::message_t event, address;
    while (events.recv(event, zmq::recv_flags::dontwait)) {
      (void)events.recv(address);  // each event is two frames
      uint16_t kind = 0;
      std::memcpy(&kind, event.data(), sizeof kind);
      if (kind == wanted) return true;
    }
    return false;
  });
}

TEST_CASE("a frame over the size limit drops that connection, not the node") {
  TestNode node;
  node.start();
  // A plain ZeroMQ socket with a monitor: the test sees its connection close.
  zmq::context_t context;
  zmq::socket_t raw(context, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  REQUIRE(zmq_socket_monitor(raw.handle(), "inproc://oversized-frame", ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED) ==
          0);
  zmq::socket_t events(context, zmq::socket_type::pair);
  events.connect("inproc://oversized-frame");
  raw.connect(node.process().endpoint());
  REQUIRE_MESSAGE(await_socket_event(events, ZMQ_EVENT_CONNECTED), "never connected to " << node.process().endpoint());

  const std::string too_big(17 << 20, 'x');
  const std::string head = envelope(1, MessageKind::kSubmitRequest);
  REQUIRE(raw.send(zmq::buffer(head), zmq::send_flags::sndmore));
  REQUIRE(raw.send(zmq::buffer(too_big), zmq::send_flags::none));
  REQUIRE_MESSAGE(await_socket_event(events, ZMQ_EVENT_DISCONNECTED),
                  "meshd kept the connection that sent a 17 MiB frame\n" << node.log());

  auto client = node.client();
  auto stats = client->stats();
  REQUIRE_MESSAGE(stats.ok(), stats.status().message() << "\n" << node.log());
  zmq_socket_monitor(raw.handle(), nullptr, 0);
}

TEST_CASE("a full queue answers overloaded, retry later") {
  TestNode node({"--slots", "1", "--max-unfinished", "10"});
  node.start();
  auto client = node.client();
  std::vector<TaskSpec> tasks;
  for (int i = 0; i < 20; ++i) tasks.push_back(task("q-" + std::to_string(i), "sleep", "200"));
  auto reply = client->submit(tasks);
  REQUIRE(reply.ok());
  int accepted = 0, overloaded = 0;
  for (const auto& o : reply.value().outcomes) {
    accepted += o.code == ErrorCode::kOk;
    overloaded += o.code == ErrorCode::kOverloaded;
  }
  CHECK(accepted == 10);
  CHECK(overloaded == 10);
}

}  // namespace
}  // namespace mesh::test

namespace mesh::test {
namespace {

TEST_CASE("a reply that would exceed the frame limit is answered with too_large") {
  TestNode node({"--slots", "4"});
  node.start();
  auto client = node.client();
  // 20 results of ~1 MiB each: a get of all of them cannot fit in 16 MiB.
  std::vector<TaskSpec> tasks;
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    ids.push_back("big-" + std::to_string(i));
    tasks.push_back(task(ids.back(), "noop", std::string(1000000, static_cast<char>('a' + i))));
  }
  for (auto& t : tasks) REQUIRE(client->submit({t}).ok());
  for (const auto& id : ids) {
    auto done = client->wait(WaitRequest{{id}, false, 60000});
    REQUIRE(done.ok());
    REQUIRE(done.value().records.at(0).state == TaskState::kCompleted);
  }
  auto all = client->get(ids);
  REQUIRE_FALSE(all.ok());
  CHECK(all.status().code() == ErrorCode::kTooLarge);
  auto one = client->get({"big-3"});
  REQUIRE(one.ok());
  CHECK(one.value().records.at(0).result.size() == 1000000);
}

}  // namespace
}  // namespace mesh::test

namespace mesh::test {
namespace {

int64_t rss_bytes(MeshClient& client) {
  auto stats = client.stats();
  REQUIRE_MESSAGE(stats.ok(), stats.status().message());
  return stats.value().gauges.at("rss_bytes");
}

// One round of garbage on both endpoints: random frames on the node's port,
// each answered with an error reply; random bytes on the metrics port.
void garbage_round(MeshClient& raw, const std::string& http_address, uint64_t seed) {
  std::mt19937_64 random(seed);
  constexpr int kFrames = 2000;
  for (int i = 0; i < kFrames; ++i) {
    std::vector<std::string> frames(1 + random() % 3);
    for (auto& frame : frames) {
      frame.resize(random() % 2048);
      for (auto& c : frame) c = static_cast<char>(random());
    }
    REQUIRE(raw.send_frames(frames).ok());
  }
  for (int i = 0; i < kFrames; ++i) {
    auto reply = raw.receive_frames(kDeadlineMs);
    REQUIRE_MESSAGE(reply.ok(), "garbage frame " << i << " got no answer: " << reply.status().message());
  }
  for (int i = 0; i < 100; ++i) {
    std::string junk(random() % 16384, '\0');
    for (auto& c : junk) c = static_cast<char>(random());
    (void)tcp_exchange(http_address, junk);
  }
}

TEST_CASE("a garbage flood on both endpoints leaves the node serving with flat memory") {
  TestNode node({"--metrics-listen", "127.0.0.1:0", "--node-id", "g1"});
  node.start();
  auto client = node.client();
  REQUIRE(client->submit({task("before-flood", "noop", "kept")}).ok());
  REQUIRE(client->wait(WaitRequest{{"before-flood"}, false, 60000}).ok());
  std::string http_address;
  std::ifstream(node.process().data_dir() + "/metrics.endpoint") >> http_address;
  REQUIRE(!http_address.empty());

  // The first round grows what steady state needs (buffers, log); the next
  // three, as large, must not grow it further.
  auto raw = node.client();
  garbage_round(*raw, http_address, 1);
  int64_t after_first = rss_bytes(*client);
  for (uint64_t round = 2; round <= 4; ++round) garbage_round(*raw, http_address, round);
  int64_t after_last = rss_bytes(*client);
  MESSAGE("rss after the first round " << after_first / 1024 << " KiB, after four " << after_last / 1024 << " KiB");
  CHECK(after_last - after_first < 8 * 1024 * 1024);

  auto kept = client->get({"before-flood"});
  REQUIRE(kept.ok());
  REQUIRE(kept.value().records.size() == 1);
  CHECK(kept.value().records[0].result == "kept");
  REQUIRE(client->submit({task("after-flood", "noop")}).ok());
  CHECK(client->wait(WaitRequest{{"after-flood"}, false, 60000}).ok());
  CHECK(http_get(http_address, "/healthz").find("200 OK") != std::string::npos);
}

}  // namespace
}  // namespace mesh::test
