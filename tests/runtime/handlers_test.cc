#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "node/runtime/handler.h"
#include "tools/testkit/exec_programs.h"
#include "tools/testkit/temp_dir.h"

using namespace std::chrono_literals;

namespace mesh {
namespace {

using Clock = std::chrono::steady_clock;

// The policy of these tests: the test programs, and a path that does not exist.
ExecConfig test_exec() {
  ExecConfig exec;
  for (const auto& name : test_program_names()) exec.policy.programs.insert(program_path(name));
  exec.policy.programs.insert("/nonexistent/program");
  exec.policy.env = {"PATH", "FOO"};
  return exec;
}

// Tests write commands by name; an exec payload's argv[0] found in PATH is
// spelled as the absolute path the policy lists. Anything else is left as
// it is (bad payloads, unknown names).
std::string with_program_path(std::string_view payload) {
  auto json = nlohmann::json::parse(payload, nullptr, false);
  if (!json.is_object() || !json.contains("argv") || !json["argv"].is_array() || json["argv"].empty() ||
      !json["argv"][0].is_string()) {
    return std::string(payload);
  }
  std::string name = json["argv"][0].get<std::string>();
  std::string path = name.find('/') == std::string::npos ? program_path(name) : std::string();
  if (path.empty()) return std::string(payload);
  json["argv"][0] = path;
  return json.dump();
}

struct Call {
  uint32_t attempt = 1;
  uint64_t timeout_ms = 60000;
  ExecConfig exec = test_exec();
  uint64_t sleep_scale = 1;
  std::atomic<bool> cancelled{false};

  HandlerResult run(const std::string& handler, std::string_view payload) {
    return run_as_given(handler, handler == "exec" ? with_program_path(payload) : std::string(payload));
  }
  HandlerResult run_as_given(const std::string& handler, const std::string& payload) {
    HandlerRegistry registry;
    register_builtin_handlers(registry, exec, sleep_scale);
    const Handler* h = registry.find(handler);
    REQUIRE(h != nullptr);
    return (*h)(TaskContext{"task-1", attempt, payload, timeout_ms, &cancelled});
  }
};

// Sets `flag` after `delay` from another thread; joins on destruction.
class CancelLater {
 public:
  CancelLater(std::atomic<bool>& flag, std::chrono::milliseconds delay)
      : thread_([&flag, delay] {
          std::this_thread::sleep_for(delay);
          flag = true;
        }) {}
  ~CancelLater() { thread_.join(); }

 private:
  std::thread thread_;
};

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 5s) {
  const auto deadline = Clock::now() + limit;
  while (!condition()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// Dead, or a zombie: an orphan waits as a zombie until init reaps it, and
// some container inits never do.
bool process_gone(pid_t pid) {
  if (kill(pid, 0) == -1 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'Z';
}

uint64_t thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1'000'000;
}

size_t open_fd_count() {
  auto entries = std::filesystem::directory_iterator("/proc/self/fd");
  return static_cast<size_t>(std::distance(std::filesystem::begin(entries), std::filesystem::end(entries)));
}

pid_t read_pid(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  return (in >> pid) && pid > 0 ? static_cast<pid_t>(pid) : 0;
}

std::string hash_chain(std::string_view data, int rounds) {
  XXH64_hash_t h = XXH64(data.data(), data.size(), 0);
  for (int i = 1; i < rounds; ++i) {
    XXH64_canonical_t c;
    XXH64_canonicalFromHash(&c, h);
    h = XXH64(c.digest, sizeof c.digest, 0);
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

}  // namespace

TEST_CASE("builtins: every built-in is registered") {
  HandlerRegistry registry;
  register_builtin_handlers(registry, ExecConfig{});
  CHECK(registry.names() == std::set<std::string>{"exec", "fail", "hash", "join", "noop", "sleep", "spin"});
}

TEST_CASE("builtins: noop echoes its payload") {
  Call call;
  auto r = call.run("noop", std::string_view("a\0b", 3));
  CHECK(r.ok);
  CHECK(r.output == std::string("a\0b", 3));
  CHECK(call.run("noop", "").output.empty());
}

TEST_CASE("builtins: sleep") {
  Call call;
  SUBCASE("empty payload sleeps zero") {
    auto r = call.run("sleep", "");
    CHECK(r.ok);
    CHECK(r.output == "slept 0 ms");
  }
  SUBCASE("sleeps at least the requested time") {
    auto start = Clock::now();
    auto r = call.run("sleep", "30");
    CHECK(r.ok);
    CHECK(r.output == "slept 30 ms");
    CHECK(Clock::now() - start >= 30ms);
  }
  SUBCASE("a sleep scale stretches it, as on a slower host") {
    call.sleep_scale = 3;
    auto start = Clock::now();
    auto r = call.run("sleep", "10");
    CHECK(r.ok);
    CHECK(r.output == "slept 30 ms");
    CHECK(Clock::now() - start >= 30ms);
  }
  SUBCASE("bad payloads fail") {
    for (const char* bad : {"abc", "-5", "+5", " 5", "5 ", "1.5", "99999999999999999999999"}) {
      auto r = call.run("sleep", bad);
      CHECK_FALSE(r.ok);
      CHECK(r.output.find("sleep:") == 0);
    }
  }
  SUBCASE("already cancelled") {
    call.cancelled = true;
    auto r = call.run("sleep", "60000");
    CHECK_FALSE(r.ok);
    CHECK(r.output == "cancelled");
  }
  SUBCASE("wakes early when cancelled") {
    HandlerResult r;
    {
      CancelLater cancel(call.cancelled, 50ms);
      r = call.run("sleep", "3600000");  // an hour: only an early wake-up returns
    }
    CHECK_FALSE(r.ok);
    CHECK(r.output == "cancelled");
  }
}

TEST_CASE("builtins: spin") {
  Call call;
  SUBCASE("burns the requested CPU time on the calling thread") {
    uint64_t before = thread_cpu_ms();
    auto r = call.run("spin", "30");
    CHECK(r.ok);
    CHECK(r.output == "spun 30 ms");
    CHECK(thread_cpu_ms() - before >= 30);
  }
  SUBCASE("bad payload fails") {
    auto r = call.run("spin", "lots");
    CHECK_FALSE(r.ok);
    CHECK(r.output.find("spin:") == 0);
  }
  SUBCASE("stops when cancelled") {
    HandlerResult r;
    {
      CancelLater cancel(call.cancelled, 50ms);
      r = call.run("spin", "3600000");  // an hour: only an early stop returns
    }
    CHECK_FALSE(r.ok);
    CHECK(r.output == "cancelled");
  }
}

TEST_CASE("builtins: hash") {
  Call call;
  SUBCASE("one round is XXH64 of the data") {
    auto r = call.run("hash", "1:");
    CHECK(r.ok);
    CHECK(r.output == "ef46db3751d8e999");  // XXH64 of the empty input, seed 0
  }
  SUBCASE("later rounds hash the previous digest") {
    auto r = call.run("hash", "3:abc:def");
    CHECK(r.ok);
    CHECK(r.output == hash_chain("abc:def", 3));
    CHECK(r.output != hash_chain("abc:def", 2));
    CHECK(r.output.size() == 16);
    CHECK(r.output.find_first_not_of("0123456789abcdef") == std::string::npos);
  }
  SUBCASE("bad payloads fail") {
    for (const char* bad : {"nocolon", ":data", "0:data", "100000001:data", "x:data", "-1:data"}) {
      auto r = call.run("hash", bad);
      CHECK_FALSE(r.ok);
      CHECK(r.output.find("hash:") == 0);
    }
  }
  SUBCASE("honours cancellation") {
    call.cancelled = true;
    auto r = call.run("hash", "100000000:data");
    CHECK_FALSE(r.ok);
    CHECK(r.output == "cancelled");
  }
}

TEST_CASE("builtins: fail") {
  Call call;
  SUBCASE("fails K times, then succeeds") {
    call.attempt = 1;
    auto r = call.run("fail", "2");
    CHECK_FALSE(r.ok);
    CHECK(r.output == "planned failure on attempt 1 of 2");
    call.attempt = 2;
    r = call.run("fail", "2");
    CHECK_FALSE(r.ok);
    CHECK(r.output == "planned failure on attempt 2 of 2");
    call.attempt = 3;
    r = call.run("fail", "2");
    CHECK(r.ok);
    CHECK(r.output == "succeeded on attempt 3");
  }
  SUBCASE("zero planned failures succeeds at once") {
    auto r = call.run("fail", "0");
    CHECK(r.ok);
    CHECK(r.output == "succeeded on attempt 1");
  }
  SUBCASE("bad payloads fail") {
    for (const char* bad : {"", "two", "2x"}) {
      auto r = call.run("fail", bad);
      CHECK_FALSE(r.ok);
      CHECK(r.output.find("fail:") == 0);
    }
  }
}

TEST_CASE("exec: bad payloads") {
  Call call;
  for (const char* bad : {"", "not json", "[\"echo\"]", "{}", R"({"argv": []})", R"({"argv": "echo"})",
                          R"({"argv": ["echo", 1]})", R"({"argv": [""]})", R"({"argv": ["echo"], "stdin": 5})",
                          R"({"argv": ["echo"], "env": ["A=1"]})", R"({"argv": ["echo"], "env": {"A": 1}})",
                          R"({"argv": ["echo"], "env": {"A=B": "1"}})", R"({"argv": ["echo"], "args": []})"}) {
    CAPTURE(bad);
    auto r = call.run("exec", bad);
    CHECK_FALSE(r.ok);
    CHECK(r.output.find("exec: ") == 0);
  }
}

TEST_CASE("exec: runs commands") {
  Call call;
  SUBCASE("stdin reaches the command and stdout is the result") {
    auto r = call.run("exec", R"({"argv": ["cat"], "stdin": "hello"})");
    CHECK(r.ok);
    CHECK(r.output == "hello");
  }
  SUBCASE("no stdin means an empty stdin") {
    auto r = call.run("exec", R"({"argv": ["cat"]})");
    CHECK(r.ok);
    CHECK(r.output.empty());
  }
  SUBCASE("arguments are passed as given") {
    auto r = call.run("exec", R"({"argv": ["printf", "%s|%s", "a b", "c"]})");
    CHECK(r.ok);
    CHECK(r.output == "a b|c");
  }
  SUBCASE("env entries are added") {
    auto r = call.run("exec", R"({"argv": ["sh", "-c", "printf %s \"$FOO\""], "env": {"FOO": "bar baz"}})");
    CHECK(r.ok);
    CHECK(r.output == "bar baz");
  }
  SUBCASE("a nonzero exit fails with the tail of stderr") {
    auto r = call.run("exec", R"({"argv": ["sh", "-c", "echo partial; echo oops >&2; exit 3"]})");
    CHECK_FALSE(r.ok);
    CHECK(r.output == "exec: exit code 3: oops");
  }
  SUBCASE("only the last 2 KiB of stderr is kept") {
    const char* script = R"(head -c 100000 /dev/zero | tr '\\0' a >&2; echo END >&2; exit 1)";
    auto r = call.run("exec", std::string(R"({"argv": ["sh", "-c", ")") + script + R"("]})");
    CHECK_FALSE(r.ok);
    CHECK(r.output.find("exec: exit code 1: aaa") == 0);
    CHECK(r.output.size() < 2100);
    CHECK(r.output.substr(r.output.size() - 4) == "aEND");
  }
  SUBCASE("a bare program name is refused, never looked up in PATH") {
    auto r = call.run_as_given("exec", R"({"argv": ["cat"]})");
    CHECK_FALSE(r.ok);
    CHECK(r.output == "handler_not_allowed: exec: argv[0] must be an absolute path, got 'cat'");
  }
  SUBCASE("a program that cannot be executed fails with exit code 127") {
    auto r = call.run("exec", R"({"argv": ["/nonexistent/program"]})");
    CHECK_FALSE(r.ok);
    CHECK(r.output.find("exec: exit code 127: cannot execute '/nonexistent/program'") == 0);
  }
  SUBCASE("death by signal is reported") {
    auto r = call.run("exec", R"({"argv": ["sh", "-c", "kill -TERM $$"]})");
    CHECK_FALSE(r.ok);
    CHECK(r.output == "exec: killed by signal 15");
  }
  SUBCASE("a command that ignores its stdin does not hurt us") {
    auto r = call.run("exec", R"({"argv": ["true"], "stdin": ")" + std::string(1 << 20, 'x') + R"("})");
    CHECK(r.ok);
    CHECK(r.output.empty());
  }
  SUBCASE("large stdin and stdout together do not deadlock") {
    call.exec.max_output_bytes = 4 << 20;
    std::string data(2 << 20, 'y');
    auto r = call.run("exec", R"({"argv": ["cat"], "stdin": ")" + data + R"("})");
    CHECK(r.ok);
    CHECK(r.output == data);
  }
}

TEST_CASE("exec: output cap") {
  Call call;
  call.exec.max_output_bytes = 1000;
  SUBCASE("output of exactly the cap is fine") {
    auto r = call.run("exec", R"({"argv": ["head", "-c", "1000", "/dev/zero"]})");
    CHECK(r.ok);
    CHECK(r.output.size() == 1000);
  }
  SUBCASE("one byte over fails") {
    auto r = call.run("exec", R"({"argv": ["head", "-c", "1001", "/dev/zero"]})");
    CHECK_FALSE(r.ok);
    CHECK(r.output == "exec: output over 1000 bytes");
  }
  SUBCASE("endless output is cut off") {
    auto r = call.run("exec", R"({"argv": ["yes"]})");
    CHECK_FALSE(r.ok);
    CHECK(r.output == "exec: output over 1000 bytes");
  }
}

TEST_CASE("exec: timeout kills the whole process group") {
  TempDir dir("mesh-handlers-");
  REQUIRE(!dir.path().empty());
  const std::string pid_file = dir / "grandchild.pid";
  const std::string payload =
      R"({"argv": ["sh", "-c", "sleep 30 & echo $! > )" + pid_file + R"(; wait"]})";
  // On a badly loaded machine the shell may not get to write the pid file
  // within the timeout; only then is a longer timeout tried.
  pid_t grandchild = 0;
  for (uint64_t timeout_ms : {300, 2000, 10000}) {
    CAPTURE(timeout_ms);
    Call call;
    call.timeout_ms = timeout_ms;
    auto r = call.run("exec", payload);
    CHECK_FALSE(r.ok);
    CHECK(r.output == "exec: timed out after " + std::to_string(timeout_ms) + " ms");
    grandchild = read_pid(pid_file);
    if (grandchild != 0) break;
  }
  REQUIRE(grandchild > 0);
  CHECK(eventually([&] { return process_gone(grandchild); }));
}

TEST_CASE("exec: cancellation kills the whole process group") {
  TempDir dir("mesh-handlers-");
  REQUIRE(!dir.path().empty());
  const std::string pid_file = dir / "grandchild.pid";
  Call call;
  std::thread canceller([&] {
    eventually([&] { return read_pid(pid_file) != 0; }, 60s);
    call.cancelled = true;
  });
  auto r = call.run("exec", R"({"argv": ["sh", "-c", "sleep 30 & echo $! > )" + pid_file + R"(; wait"]})");
  canceller.join();
  CHECK_FALSE(r.ok);
  CHECK(r.output == "exec: cancelled");
  pid_t grandchild = read_pid(pid_file);
  REQUIRE(grandchild > 0);
  CHECK(eventually([&] { return process_gone(grandchild); }));
}

TEST_CASE("exec: processes left behind by a finished command are killed") {
  Call call;
  auto r = call.run("exec", R"({"argv": ["sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!"]})");
  REQUIRE(r.ok);
  pid_t straggler = static_cast<pid_t>(std::stol(r.output));
  REQUIRE(straggler > 0);
  CHECK(eventually([&] { return process_gone(straggler); }));
}

// Processes of the group `group` that still run (zombies excluded).
std::vector<pid_t> running_in_group(pid_t group) {
  std::vector<pid_t> running;
  for (const auto& p : list_processes()) {
    if (p.group == group && p.state != 'Z') running.push_back(p.pid);
  }
  return running;
}

TEST_CASE("exec: no descriptor, zombie or running process is leaked on any path") {
  TempDir dir("mesh-handlers-");
  REQUIRE(!dir.path().empty());
  const size_t fds_before = open_fd_count();
  // Commands that leave a background process behind, on the finished and
  // the timed-out path; each writes its process group (its shell's pid).
  const std::string finished_group = dir / "finished.pgid", timed_out_group = dir / "timed-out.pgid";
  const std::string leaves_straggler =
      R"({"argv": ["sh", "-c", "echo $$ > )" + finished_group + R"(; sleep 30 >/dev/null 2>&1 & exit 0"]})";
  const std::string times_out_with_straggler =
      R"({"argv": ["sh", "-c", "echo $$ > )" + timed_out_group + R"(; sleep 30 >/dev/null 2>&1 & sleep 30"]})";
  for (const std::string& payload :
       {std::string(R"({"argv": ["cat"], "stdin": "x"})"), std::string(R"({"argv": ["sh", "-c", "exit 2"]})"),
        std::string(R"({"argv": ["/nonexistent/program"]})"),
        std::string(R"({"argv": ["no-such-program-meshwork-test"]})"), std::string(R"({"argv": ["yes"]})"),
        std::string(R"({"argv": ["sleep", "30"]})"), std::string("not json")}) {
    CAPTURE(payload);
    Call call;
    call.timeout_ms = 100;
    call.exec.max_output_bytes = 100;
    call.run("exec", payload);
  }
  CHECK(Call{}.run("exec", leaves_straggler).ok);
  // Only a shell too slow to write its group within the timeout gets a longer one.
  for (uint64_t timeout_ms : {2000, 10000, 60000}) {
    Call call;
    call.timeout_ms = timeout_ms;
    CHECK_FALSE(call.run("exec", times_out_with_straggler).ok);
    if (read_pid(timed_out_group) != 0) break;
  }
  CHECK(open_fd_count() == fds_before);
  int status = 0;
  CHECK(waitpid(-1, &status, WNOHANG) <= 0);
  std::vector<pid_t> left;
  CHECK_MESSAGE(eventually([&] { return (left = descendants_of(::getpid())).empty(); }, 60s),
                left.size() << " child processes left, e.g. pid " << (left.empty() ? 0 : left.front()));
  for (const std::string& group_file : {finished_group, timed_out_group}) {
    CAPTURE(group_file);
    pid_t group = read_pid(group_file);
    REQUIRE(group > 0);
    CHECK_MESSAGE(eventually([&] { return (left = running_in_group(group)).empty(); }, 60s),
                  left.size() << " processes of group " << group << " still run");
  }
}

TEST_CASE("exec: concurrent calls from several threads") {
  constexpr int kThreads = 4;
  constexpr int kRuns = 5;
  std::vector<std::vector<HandlerResult>> results(kThreads);
  std::vector<std::thread> threads;
  const ExecConfig exec = test_exec();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &results, &exec] {
      for (int i = 0; i < kRuns; ++i) {
        std::string tag = std::to_string(t) + "-" + std::to_string(i);
        std::atomic<bool> cancelled{false};
        std::string payload = R"({"argv": ["cat"], "stdin": ")" + tag + R"("})";
        results[t].push_back(run_exec(TaskContext{"task", 1, with_program_path(payload), 60000, &cancelled}, exec));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) {
    REQUIRE(results[t].size() == kRuns);
    for (int i = 0; i < kRuns; ++i) {
      CHECK(results[t][i].ok);
      CHECK(results[t][i].output == std::to_string(t) + "-" + std::to_string(i));
    }
  }
}


TEST_CASE("exec: the runner's own policy refuses what it does not allow") {
  Call call;
  SUBCASE("a program not on its list") {
    call.exec.policy.programs.erase(program_path("cat"));
    auto r = call.run("exec", R"({"argv": ["cat"]})");
    CHECK_FALSE(r.ok);
    CHECK(r.output == "handler_not_allowed: exec: '" + program_path("cat") + "' is not in the allow list");
  }
  SUBCASE("exec off") {
    call.exec.policy = ExecPolicy{};
    auto r = call.run("exec", R"({"argv": ["cat"]})");
    CHECK_FALSE(r.ok);
    CHECK(r.output.find("handler_not_allowed: exec: exec is off") == 0);
  }
  SUBCASE("an env variable not on its list") {
    auto r = call.run("exec", R"({"argv": ["cat"], "env": {"LD_PRELOAD": "x.so"}})");
    CHECK_FALSE(r.ok);
    CHECK(r.output == "handler_not_allowed: exec: env variable 'LD_PRELOAD' is not in the env allow list");
  }
}

TEST_CASE("exec: the child inherits only the allowed variables of the node's environment") {
  REQUIRE(setenv("MESH_TEST_HIDDEN", "secret", 1) == 0);
  REQUIRE(setenv("FOO", "inherited", 1) == 0);
  Call call;
  auto r = call.run("exec", R"({"argv": ["sh", "-c", "printf %s/%s \"${MESH_TEST_HIDDEN-unset}\" \"$FOO\""]})");
  CHECK(r.ok);
  CHECK(r.output == "unset/inherited");
  r = call.run("exec", R"({"argv": ["sh", "-c", "printf %s \"$FOO\""], "env": {"FOO": "set"}})");
  CHECK(r.output == "set");
  unsetenv("MESH_TEST_HIDDEN");
  unsetenv("FOO");
}

// The soft limit /proc/<pid>/limits shows on the line starting with `name`.
std::string soft_limit(const std::string& limits, const std::string& name) {
  size_t at = limits.find(name);
  if (at == std::string::npos) return "missing";
  std::istringstream line(limits.substr(at + name.size(), limits.find('\n', at) - at - name.size()));
  std::string soft;
  line >> soft;
  return soft;
}

TEST_CASE("exec: rlimits are set in the child") {
  Call call;
  call.exec.open_files = 77;
  call.exec.cpu_seconds = 30;
  call.exec.memory_bytes = 1ull << 30;
  call.exec.processes = 500;
  auto r = call.run("exec", R"({"argv": ["sh", "-c", "ulimit -n; cat /proc/$$/limits"]})");
  REQUIRE(r.ok);
  CHECK(r.output.substr(0, 3) == "77\n");  // what a script sees
  CHECK(soft_limit(r.output, "Max open files") == "77");
  CHECK(soft_limit(r.output, "Max cpu time") == "30");
  CHECK(soft_limit(r.output, "Max address space") == "1073741824");
  CHECK(soft_limit(r.output, "Max processes") == "500");
}

TEST_CASE("exec: the child runs in the configured working directory") {
  TempDir dir("mesh-workdir-");
  REQUIRE(!dir.path().empty());
  Call call;
  call.exec.workdir = std::filesystem::canonical(dir.path()).string();
  auto r = call.run("exec", R"({"argv": ["sh", "-c", "pwd -P"]})");
  CHECK(r.ok);
  CHECK(r.output == call.exec.workdir + "\n");
  call.exec.workdir = dir / "missing";
  r = call.run("exec", R"({"argv": ["sh", "-c", "pwd"]})");
  CHECK_FALSE(r.ok);
  CHECK(r.output.find("exec: exit code 127: cannot enter '" + call.exec.workdir + "'") == 0);
}

TEST_CASE("exec: the child runs as the configured user and group") {
  if (geteuid() != 0) return;  // only root can change identity
  Call call;
  call.exec.uid = 65534;
  call.exec.gid = 65534;
  auto r = call.run("exec", R"x({"argv": ["sh", "-c", "echo $(id -u) $(id -g) $(id -G)"]})x");
  CHECK(r.ok);
  CHECK(r.output == "65534 65534 65534\n");
}

}  // namespace mesh
