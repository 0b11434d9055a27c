// meshd as an operator meets it: bad configuration is refused at start with
// a message, SIGTERM drains, metrics are served over HTTP, and meshctl's
// exit codes tell a script what happened.
#include <arpa/inet.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

// meshd given `args` must refuse to start with exit code `code` and say `why`.
void check_refused(const std::string& args, int code, const std::string& why) {
  Exit e = run_command(std::string(MESHD_PATH) + " " + args);
  INFO("meshd " << args << " said: " << e.output);
  CHECK(e.code == code);
  CHECK(e.output.find(why) != std::string::npos);
}

std::string write_file(const std::string& dir, const std::string& name, const std::string& text) {
  std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST_CASE("bad configuration is refused at start with a clear message") {
  TempDir temp("meshcfg-");
  REQUIRE(!temp.path().empty());
  const std::string& dir = temp.path();
  const std::string data = " --data-dir " + dir + "/data";
  auto check_config_refused = [&](const std::string& toml, const std::string& message) {
    check_refused("--config " + write_file(dir, "bad.toml", toml) + data, 2, message);
  };
  SUBCASE("zero slots") { check_refused("--slots 0" + data, 2, "slots must be"); }
  SUBCASE("plaintext beyond loopback") { check_refused("--listen tcp://0.0.0.0:0" + data, 2, "--insecure"); }
  SUBCASE("not a number") { check_refused("--slots many" + data, 2, "--slots"); }
  SUBCASE("unknown flag") { check_refused("--slotz 3" + data, 2, "slotz"); }
  SUBCASE("unknown config key") {
    check_config_refused("[executor]\nslotz = 3\n", "unknown setting 'executor.slotz'");
  }
  SUBCASE("wrong type") {
    check_config_refused("[executor]\nslots = \"many\"\n", "wrong type");
  }
  SUBCASE("syntax error") {
    check_config_refused("[executor\nslots = 3\n", "syntax error");
  }
  SUBCASE("exec allow list with a relative path") {
    check_config_refused("[handlers.exec]\nallow = [\"sh\"]\n", "handlers.exec.allow: 'sh' must be an absolute path");
  }
  SUBCASE("unknown exec key") {
    check_config_refused("[handlers.exec]\nallow = [\"/bin/sh\"]\nopen_fils = 10\n",
                         "unknown setting 'handlers.exec.open_fils'");
  }
  SUBCASE("exec user unknown to the host") {
    check_config_refused("[handlers.exec]\nuser = \"no-such-user-meshwork\"\n",
                         geteuid() == 0 ? "no user 'no-such-user-meshwork'" : "need meshd to run as root");
  }
  SUBCASE("missing config file") { check_refused("--config " + dir + "/none.toml" + data, 2, "none.toml"); }
  SUBCASE("unusable data dir") {
    std::string file = write_file(dir, "not-a-dir", "x");
    check_refused("--data-dir " + file + "/sub", 3, "cannot create data dir");
  }
  SUBCASE("unknown placement") {
    check_refused("--placement nearest" + data, 2, "placement must be key, round_robin, least_loaded, weighted or adaptive");
  }
  SUBCASE("founding a mesh and joining one at once") {
    check_refused("--new-mesh --seeds 127.0.0.1:1" + data, 2, "--new-mesh founds a mesh: it takes no --seeds");
  }
  SUBCASE("no seeds, an empty data dir, and not told to found a mesh") {
    check_refused("--listen tcp://127.0.0.1:0" + data, 3, "start with --new-mesh to found a new mesh");
  }
  SUBCASE("bad listen endpoint") { check_refused("--listen http://nope" + data, 2, "listen must be"); }
  SUBCASE("--check-config: the same refusal, without starting; a good config prints what it amounts to") {
    check_refused("--check-config --slots 0" + data, 2, "slots must be");
    check_refused("--check-config --config " + write_file(dir, "bad.toml", "[handlers.exec]\nallow = [\"sh\"]\n"), 2,
                  "must be an absolute path");
    Exit ok = run_command(std::string(MESHD_PATH) + " --check-config --node-id checked --slots 7 --partitions 32 "
                          "--replicas 2 --vnodes 16" + data);
    CHECK_MESSAGE(ok.code == 0, ok.output);
    CHECK(ok.output.find("config ok") != std::string::npos);
    CHECK(ok.output.find("slots          7") != std::string::npos);
    CHECK(ok.output.find("partitions     32, 2 replicas each, 16 vnodes here") != std::string::npos);
    check_refused("--check-config --partitions 0" + data, 2, "partitions");
    CHECK_FALSE(std::filesystem::exists(dir + "/data"));  // nothing was started or created
  }
  SUBCASE("every flag may come from the environment (MESH_SLOTS for --slots); a flag beats it") {
    Exit from_env = run_command("env MESH_SLOTS=5 MESH_PARTITIONS=16 " + std::string(MESHD_PATH) + " --check-config" + data);
    CHECK_MESSAGE(from_env.code == 0, from_env.output);
    CHECK_MESSAGE(from_env.output.find("slots          5") != std::string::npos, from_env.output);
    CHECK_MESSAGE(from_env.output.find("partitions     16,") != std::string::npos, from_env.output);
    Exit flag_wins = run_command("env MESH_SLOTS=5 " + std::string(MESHD_PATH) + " --check-config --slots 3" + data);
    CHECK_MESSAGE(flag_wins.output.find("slots          3") != std::string::npos, flag_wins.output);
    check_refused("--check-config --log-format yaml" + data, 2, "log_format must be logfmt or json");
    // [handlers.exec] too: a flag, or its variable.
    Exit exec_flags = run_command(std::string(MESHD_PATH) + " --check-config --exec-allow " + program_path("true") +
                                  "," + program_path("echo") + data);
    CHECK_MESSAGE(exec_flags.output.find("exec programs  2 allowed") != std::string::npos, exec_flags.output);
    Exit exec_env = run_command("env MESH_EXEC_ALLOW=" + program_path("true") + " " + std::string(MESHD_PATH) +
                                " --check-config" + data);
    CHECK_MESSAGE(exec_env.output.find("exec programs  1 allowed") != std::string::npos, exec_env.output);
    check_refused("--check-config --exec-allow sh" + data, 2, "must be an absolute path");
    Exit bad_env = run_command("env MESH_SLOTS=many " + std::string(MESHD_PATH) + " --check-config" + data);
    CHECK_MESSAGE(bad_env.code == 2, bad_env.output);
  }
  SUBCASE("port already taken") {
    TestNode first;
    first.start();
    check_refused("--new-mesh --listen " + first.process().endpoint() + data, 3, "cannot listen");
  }
}

TEST_CASE("--log-format json writes one JSON object per line, its logfmt pairs as fields") {
  TestNode node({"--log-format", "json", "--node-id", "json-1"});
  node.start();
  std::string log;
  REQUIRE_MESSAGE(wait_until([&] { return (log = node.log()).find("\"event\":\"started\"") != std::string::npos; }),
                  log);
  std::istringstream lines(log);
  size_t objects = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    auto parsed = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    CHECK_MESSAGE(parsed.is_object(), line);
    if (!parsed.is_object()) continue;
    ++objects;
    CHECK(parsed["service"] == "meshd");
    CHECK(parsed["ts"].get<std::string>().size() >= 24);  // 2026-12-04T14:00:00.000+0000
    CHECK(parsed.contains("level"));
  }
  CHECK(objects > 0);
}

TEST_CASE("SIGHUP re-reads the config file: the log level changes at once; a bad file keeps the running settings") {
  TestNode node;
  node.start();
  const std::string config = node.dir() + "/exec.toml";
  std::ofstream(config, std::ios::app) << "\n[runtime]\nlog_level = \"debug\"\n";
  node.process().signal(SIGHUP);
  std::string log;
  REQUIRE_MESSAGE(wait_until([&] {
                    return (log = node.log()).find("event=config_reloaded log_level=debug") != std::string::npos;
                  }),
                  log);
  // Debug lines now: a failed attempt is logged at debug.
  auto client = node.client();
  TaskSpec failing = task("hup-1", "fail", "1");
  failing.max_attempts = 1;
  REQUIRE(client->submit({failing}).ok());
  REQUIRE(client->wait(WaitRequest{{"hup-1"}, false, 60000}).ok());
  CHECK_MESSAGE(wait_until([&] { return (log = node.log()).find(" debug meshd ") != std::string::npos; }), log);

  std::ofstream(config, std::ios::app) << "\n[nonsense]\nkey = 1\n";
  node.process().signal(SIGHUP);
  REQUIRE_MESSAGE(wait_until([&] { return (log = node.log()).find("event=config_reload_failed") != std::string::npos; }),
                  log);
  CHECK(node.process().running());
  REQUIRE(client->submit({task("hup-2", "noop")}).ok());
  CHECK(client->wait(WaitRequest{{"hup-2"}, false, 60000}).ok());
}

TEST_CASE("SIGTERM drains: running tasks finish, the rest wait for the restart") {
  TempDir dir("meshdrain-");
  REQUIRE(!dir.path().empty());
  Gate gate;
  std::vector<std::string> ids;
  std::vector<TaskSpec> tasks;
  for (int i = 0; i < 6; ++i) {
    ids.push_back("d-" + std::to_string(i));
    tasks.push_back(gate.task(ids.back()));
  }
  std::set<std::string> running_at_sigterm;
  {
    TestNode node({"--slots", "2", "--drain-grace-ms", "600000"}, dir / "node");
    node.start();
    auto client = node.client();
    REQUIRE(client->submit(tasks).ok());
    // The gate is closed: the two leased tasks keep running and no slot frees up.
    REQUIRE_MESSAGE(wait_until([&] {
                      running_at_sigterm.clear();
                      for (const auto& id : ids) {
                        if (gate.started(id)) running_at_sigterm.insert(id);
                      }
                      return running_at_sigterm.size() == 2;
                    }),
                    node.log());
    node.process().signal(SIGTERM);
    // Draining: still running, waiting for its tasks. Once they may finish it exits.
    REQUIRE(!node.process().wait_exit(200).has_value());
    gate.open();
    auto code = node.process().wait_exit(kDeadlineMs);
    REQUIRE_MESSAGE(code == 0, node.log());
  }
  gate.close();
  for (const auto& id : ids) {
    INFO("task " << id);
    CHECK(gate.started(id) == (running_at_sigterm.count(id) == 1));  // nothing new started during the drain
  }

  TestNode restarted({"--slots", "2"}, dir / "node");
  restarted.start();
  auto again = restarted.client();
  auto records = again->get(ids);
  REQUIRE(records.ok());
  REQUIRE(records.value().records.size() == ids.size());
  for (const auto& r : records.value().records) {
    INFO("task " << r.spec.id);
    // Those running at the SIGTERM finished during the drain; the others were kept.
    CHECK((r.state == TaskState::kCompleted) == (running_at_sigterm.count(r.spec.id) == 1));
  }
  gate.open();
  auto done = again->wait(WaitRequest{ids, false, 600000});
  REQUIRE(done.ok());
  REQUIRE(done.value().records.size() == ids.size());
  for (const auto& r : done.value().records) {
    INFO("task " << r.spec.id);
    CHECK(r.state == TaskState::kCompleted);
    // Drained, not cut short: an attempt before the last one was leased
    // ahead of the slots and given back unstarted at the SIGTERM.
    for (size_t i = 0; i + 1 < r.attempts.size(); ++i) {
      CHECK(r.attempts[i].outcome == AttemptOutcome::kLost);
      CHECK(r.attempts[i].error.find("unstarted") != std::string::npos);
    }
  }
}

TEST_CASE("every placement policy is accepted and runs tasks") {
  for (const char* policy : {"key", "round_robin", "least_loaded", "weighted", "adaptive"}) {
    CAPTURE(policy);
    TestNode node({"--placement", policy});
    node.start();
    auto client = node.client();
    REQUIRE(client->submit({task("p-1", "noop", policy)}).ok());
    auto done = client->wait(WaitRequest{{"p-1"}, false, 60000});
    REQUIRE(done.ok());
    REQUIRE(done.value().records.size() == 1);
    CHECK(done.value().records[0].state == TaskState::kCompleted);
    CHECK(done.value().records[0].result == policy);
  }
}

TEST_CASE("--sleep-scale stretches the built-in sleep handler, as on a slower host") {
  TestNode node({"--sleep-scale", "4"});
  node.start();
  auto client = node.client();
  REQUIRE(client->submit({task("slow-1", "sleep", "5")}).ok());
  auto done = client->wait(WaitRequest{{"slow-1"}, false, 60000});
  REQUIRE(done.ok());
  REQUIRE(done.value().records.size() == 1);
  CHECK(done.value().records[0].result == "slept 20 ms");
}

TEST_CASE("Prometheus metrics over HTTP") {
  TestNode node({"--metrics-listen", "127.0.0.1:0", "--node-id", "node-1"});
  node.start();
  auto client = node.client();
  REQUIRE(client->submit({task("m-1", "noop")}).ok());
  REQUIRE(client->wait(WaitRequest{{"m-1"}, false, 60000}).ok());
  std::string address;
  std::ifstream(node.process().data_dir() + "/metrics.endpoint") >> address;
  REQUIRE(!address.empty());
  std::string page = http_get(address, "/metrics");
  CHECK(page.find("200 OK") != std::string::npos);
  CHECK(page.find("meshwork_tasks_submitted_total{node=\"node-1\"} 1") != std::string::npos);
  CHECK(page.find("# HELP meshwork_task_latency_seconds ") != std::string::npos);
  CHECK(page.find("meshwork_task_latency_seconds_count{node=\"node-1\"} 1") != std::string::npos);
  CHECK(page.find("meshwork_raft_leader{node=\"node-1\",partition=\"0\"} 1") != std::string::npos);
  CHECK(http_get(address, "/nope").find("404") != std::string::npos);
  CHECK(http_get(address, "/healthz").find("200 OK") != std::string::npos);
  // The JSON API: a task by id (read through its partition's leader), load, events.
  std::string task = http_get(address, "/v1/tasks/m-1");
  CHECK_MESSAGE(task.find("200 OK") != std::string::npos, task);
  CHECK_MESSAGE(task.find("\"state\":\"COMPLETED\"") != std::string::npos, task);
  std::string unknown = http_get(address, "/v1/tasks/no-such-task");
  CHECK_MESSAGE(unknown.find("404") != std::string::npos, unknown);
  CHECK_MESSAGE(unknown.find("not_found") != std::string::npos, unknown);
  CHECK(http_get(address, "/v1/tasks/%zz").find("404") != std::string::npos);
  CHECK(http_get(address, "/v1/tasks/" + std::string(300, 'x')).find("400") != std::string::npos);
  std::string load = http_get(address, "/v1/load");
  CHECK_MESSAGE(load.find("\"id\":\"node-1\"") != std::string::npos, load);
  CHECK_MESSAGE(load.find("\"free_slots\"") != std::string::npos, load);
  CHECK_MESSAGE(load.find("\"run_us\"") != std::string::npos, load);
  CHECK_MESSAGE(load.find("\"failure_permille\"") != std::string::npos, load);
  CHECK(page.find("# HELP meshwork_attempt_run_seconds ") != std::string::npos);
  CHECK(page.find("meshwork_attempt_failure_ratio{node=\"node-1\"} 0") != std::string::npos);
  std::string events = http_get(address, "/v1/events");
  CHECK_MESSAGE(events.find("leader_gained") != std::string::npos, events);
  CHECK_MESSAGE(http_get(address, "/v1/events?after=1000000").find("leader_gained") == std::string::npos, events);
  // A lone founder leads every partition once its first entries commit.
  std::string ready;
  CHECK_MESSAGE(wait_until([&] { return (ready = http_get(address, "/readyz")).find("200 OK") != std::string::npos; }),
                ready);
}

// How many times `needle` occurs in `text`.
size_t occurrences(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++count;
  return count;
}

TEST_CASE("the HTTP endpoint answers pipelined keep-alive requests, refuses other methods, closes silent clients") {
  TestNode node({"--metrics-listen", "127.0.0.1:0"});
  node.start();
  std::string address;
  std::ifstream(node.process().data_dir() + "/metrics.endpoint") >> address;
  REQUIRE(!address.empty());
  std::string two = tcp_exchange(address,
                                 "GET /healthz HTTP/1.1\r\nHost: n\r\n\r\nGET /v1/load HTTP/1.1\r\nHost: n\r\n\r\n");
  CHECK_MESSAGE(occurrences(two, "HTTP/1.1 200 OK") == 2, two);
  CHECK_MESSAGE(two.find("Keep-Alive") == std::string::npos, two);  // 1.1 keeps alive without saying so
  std::string post = tcp_exchange(address, "POST /metrics HTTP/1.1\r\nHost: n\r\nContent-Length: 0\r\n\r\n");
  CHECK_MESSAGE(post.find("405") != std::string::npos, post);
  CHECK_MESSAGE(post.find("Allow: GET") != std::string::npos, post);
  std::string huge = tcp_exchange(address, "GET / HTTP/1.1\r\nX-Pad: " + std::string(20000, 'x') + "\r\n\r\n");
  CHECK_MESSAGE(huge.find("400 Bad Request") != std::string::npos, huge);
  CHECK(tcp_exchange(address, "not http at all\r\n\r\n").find("400 Bad Request") != std::string::npos);
  // A client that connects and sends nothing is closed after the read timeout.
  int fd = tcp_connect(address);
  REQUIRE(fd >= 0);
  timeval patience{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
  char byte;
  ssize_t got = ::read(fd, &byte, 1);
  int error = errno;
  ::close(fd);
  CHECK_MESSAGE(got == 0, "read returned " << got << " (errno " << error << "): the silent connection stayed open");
  CHECK(http_get(address, "/healthz").find("200 OK") != std::string::npos);
}

Exit meshctl(const std::string& endpoint, const std::string& args) {
  return run_command(std::string(MESHCTL_PATH) + " --addr " + endpoint + " " + args);
}

TEST_CASE("meshctl commands and exit codes") {
  TestNode node({"--slots", "2"});
  node.start();
  const std::string ep = node.process().endpoint();

  auto ok = meshctl(ep, "submit --handler noop --payload hello --id greet --wait");
  CHECK_MESSAGE(ok.code == 0, ok.output);
  CHECK(ok.output.find("COMPLETED") != std::string::npos);

  auto got = meshctl(ep, "--json get greet");
  CHECK(got.code == 0);
  CHECK(got.output.find("\"result\":\"hello\"") != std::string::npos);

  auto failing = meshctl(ep, "submit --handler fail --payload 9 --max-attempts 1 --id doomed --wait");
  CHECK_MESSAGE(failing.code == 5, failing.output);

  auto missing = meshctl(ep, "get nothing-here");
  CHECK(missing.code == 1);

  auto rejected = meshctl(ep, "submit --handler nope");
  CHECK(rejected.code == 1);
  CHECK(rejected.output.find("unknown_handler") != std::string::npos);

  std::string lines = write_file(node.dir(), "batch.jsonl",
                                 "{\"id\":\"b1\",\"handler\":\"noop\",\"payload\":\"one\"}\n"
                                 "{\"id\":\"b2\",\"handler\":\"exec\",\"payload\":{\"argv\":[\"" +
                                     program_path("echo") + "\",\"two\"]}}\n");
  auto batch = meshctl(ep, "submit --file " + lines + " --wait");
  CHECK_MESSAGE(batch.code == 0, batch.output);

  auto sleeper = meshctl(ep, "submit --handler sleep --payload 60000 --id long");
  CHECK(sleeper.code == 0);
  auto timed_out = meshctl(ep, "wait long --wait-timeout-ms 200");
  CHECK(timed_out.code == 4);
  auto cancelled = meshctl(ep, "cancel long");
  CHECK(cancelled.code == 0);
  auto cancelled_again = meshctl(ep, "cancel long");
  CHECK(cancelled_again.code == 1);

  auto listed = meshctl(ep, "list --state failed");
  CHECK(listed.code == 0);
  CHECK(listed.output.find("doomed") != std::string::npos);

  auto stats = meshctl(ep, "--json stats");
  CHECK(stats.code == 0);
  CHECK(stats.output.find("\"tasks_completed\"") != std::string::npos);

  auto top = meshctl(ep, "top --iterations 2 --interval-ms 100");
  CHECK(top.code == 0);
  CHECK(top.output.find("meshctl top") != std::string::npos);
  CHECK(top.output.find("load view") != std::string::npos);

  auto unreachable = meshctl("tcp://127.0.0.1:1", "--timeout-ms 300 stats");
  CHECK(unreachable.code == 3);

  // Given several endpoints, meshctl moves past the dead one.
  auto failover = meshctl("tcp://127.0.0.1:1," + ep, "--timeout-ms 2000 get greet");
  CHECK_MESSAGE(failover.code == 0, failover.output);
  CHECK(failover.output.find("COMPLETED") != std::string::npos);
}

}  // namespace
}  // namespace mesh::test
