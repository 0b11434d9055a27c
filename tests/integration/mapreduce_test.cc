// meshctl mapreduce on real processes: a word count over the repository's
// own text files, with exec map and reduce tasks, gives exactly the answer
// of one shell pipeline while a node is SIGKILLed and restarted mid-job, and
// every reducer commits once.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/integration/test_node.h"
#include "tools/testkit/exec_programs.h"

namespace mesh::test {
namespace {

std::vector<std::string> repository_text_files() {
  std::vector<std::string> files{std::string(MESH_SOURCE_DIR) + "/README.md"};
  for (const auto& entry : std::filesystem::directory_iterator(std::string(MESH_SOURCE_DIR) + "/docs")) {
    if (entry.path().extension() == ".md") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

TEST_CASE("mapreduce: a word count over the repository's text equals the shell's, through a node's SIGKILL") {
  TempDir temp("meshmr-");
  REQUIRE(!temp.path().empty());
  auto nodes = start_mesh(3, "m", temp.path(), {"--slots", "2"});
  REQUIRE(wait_until([&] { return led_as_preferred(nodes); }));
  const std::string files = joined(repository_text_files());
  Exit expected = run_command("cat " + files + " | tr -s '[:space:]' '\\n' | LC_ALL=C sort | LC_ALL=C uniq -c");
  REQUIRE(expected.code == 0);
  REQUIRE(expected.output.size() > 1000);

  const std::string sh = program_path("sh");
  const std::string job = "wc-" + std::to_string(::getpid());
  std::string command = std::string(MESHCTL_PATH) + " -a " + nodes[0]->process().endpoint() +
                        " mapreduce --job " + job + " --reducers 4 --wait-timeout-ms 240000" +
                        " --map '[\"" + sh + "\",\"-c\",\"tr -s \\\"[:space:]\\\" \\\"\\\\\\\\n\\\"\"]'" +
                        " --reduce '[\"" + sh + "\",\"-c\",\"LC_ALL=C sort | LC_ALL=C uniq -c\"]'" +
                        " --final '[\"" + sh + "\",\"-c\",\"LC_ALL=C sort -k2\"]' " + files;
  Exit answer{-1, {}};
  const std::string progress = temp.path() + "/meshctl.stderr";
  const std::string script = temp.path() + "/mapreduce.sh";
  std::ofstream(script) << command << " 2>" << progress << "\n";
  std::thread run([&] { answer = run_command("sh " + script, 300); });
  // Once the job is stored, a node other than the one meshctl talks to dies and comes back.
  auto client = nodes[0]->client();
  bool stored = wait_until([&] {
    auto got = client->get({job + "-final"});
    return got.ok() && got.value().records.size() == 1;
  });
  nodes[2]->process().signal(SIGKILL);
  REQUIRE(nodes[2]->process().wait_exit(kDeadlineMs) == 128 + SIGKILL);
  nodes[2]->start();
  run.join();
  REQUIRE(stored);
  if (answer.code != 0) {  // what each task of the job came to
    std::vector<std::string> ids{job + "-final"};
    for (int i = 0; i < 4; ++i) ids.push_back(job + "-map-" + std::to_string(i));
    for (int j = 0; j < 4; ++j) ids.push_back(job + "-reduce-" + std::to_string(j));
    auto got = client->get(ids);
    for (const auto& r : got.ok() ? got.value().records : std::vector<TaskRecord>{}) {
      MESSAGE(r.spec.id << " " << std::string(state_name(r.state)) << " attempts " << r.attempts.size() << " owner "
                        << r.lease_owner << " inputs " << r.inputs.size() << "/" << r.spec.after.size()
                        << " partition " << r.partition << " submitted " << r.submitted_ms << " finished "
                        << r.finished_ms << " started " << (r.attempts.empty() ? 0 : r.attempts[0].started_ms)
                        << " on " << (r.attempts.empty() ? "" : r.attempts[0].runner) << " error " << r.error);
    }
    for (size_t i = 0; i < nodes.size(); ++i) {
      WaitRequest w;
      w.ids = {job + "-final"};
      w.timeout_ms = 20000;
      auto t0 = std::chrono::steady_clock::now();
      auto again = nodes[i]->client()->wait(w);
      MESSAGE("wait again at m" << i << ": " << (again.ok() ? "ok" : again.status().message()) << " after "
              << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
              << " ms, timed_out " << (again.ok() && again.value().timed_out));
    }
    for (size_t i = 0; i < nodes.size(); ++i) {
      auto stats = nodes[i]->client()->stats();
      if (!stats.ok()) continue;
      for (const auto& [name, value] : stats.value().counters) {
        if (name.rfind("dependency", 0) == 0 || name.rfind("fanout", 0) == 0) MESSAGE("m" << i << " " << name << " = " << value);
      }
    }
  }
  REQUIRE_MESSAGE(answer.code == 0, command << "\n" << answer.output << "\n" << read_file(progress) << "\n"
                                            << nodes[0]->log());
  CHECK(answer.output == expected.output);

  // Each reducer committed once: one successful attempt, whatever was lost on the way.
  std::vector<std::string> reducers;
  for (int j = 0; j < 4; ++j) reducers.push_back(job + "-reduce-" + std::to_string(j));
  auto got = client->get(reducers);
  REQUIRE(got.ok());
  REQUIRE(got.value().records.size() == 4);
  for (const auto& r : got.value().records) {
    CHECK(r.state == TaskState::kCompleted);
    CHECK(std::count_if(r.attempts.begin(), r.attempts.end(),
                        [](const AttemptInfo& a) { return a.outcome == AttemptOutcome::kSucceeded; }) == 1);
    CHECK(r.inputs.size() == r.spec.after.size());
    check_attempt_history(r);
  }
}

}  // namespace
}  // namespace mesh::test
