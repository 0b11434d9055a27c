// Atomic submits on real processes: a job spread over many partitions is
// stored whole or not at all, even when the node leading its coordinator
// partition is SIGKILLed mid-protocol; meshctl submit --atomic.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "node/core/partitioning.h"
#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

// How many of `ids` the mesh holds, as `client`'s node reads them; -1 when it cannot tell.
int64_t stored(MeshClient& client, const std::vector<std::string>& ids) {
  auto reply = client.get(ids);
  if (!reply.ok()) return -1;
  return static_cast<int64_t>(reply.value().records.size());
}

// The node (index) leading `partition`, as the nodes themselves say.
std::optional<size_t> leader_of(const std::vector<std::unique_ptr<TestNode>>& nodes, uint32_t partition) {
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto reply = nodes[i]->client()->call(PartitionsRequest{});
    if (!reply.ok()) continue;
    for (const auto& g : std::get<PartitionsReply>(reply.value()).groups) {
      if (g.partition == partition && g.role == "leader") return i;
    }
  }
  return std::nullopt;
}

TEST_CASE("an atomic job over many partitions ends all or nothing when its coordinator's node is SIGKILLed") {
  TempDir temp("meshtxn-");
  REQUIRE(!temp.path().empty());
  auto nodes = start_mesh(3, "t", temp.path(), {});
  REQUIRE(wait_until([&] { return led_as_preferred(nodes); }));
  std::vector<TaskSpec> tasks;
  std::vector<std::string> ids;
  std::set<uint32_t> partitions;
  for (int i = 0; i < 1000; ++i) {
    tasks.push_back(task("atom-" + std::to_string(i), "noop"));
    ids.push_back(tasks.back().id);
    partitions.insert(partition_of(ids.back(), kDefaultPartitions));
  }
  REQUIRE(partitions.size() >= 20);
  std::random_device entropy;
  std::mt19937_64 random(entropy());
  const std::string txn = "job-" + std::to_string(random());
  auto coordinator = leader_of(nodes, partition_of(txn, kDefaultPartitions));
  REQUIRE(coordinator.has_value());
  size_t origin = (*coordinator + 1) % nodes.size();
  size_t survivor = (*coordinator + 2) % nodes.size();
  auto client = nodes[origin]->client(60000);
  REQUIRE(client->send(SubmitRequest{tasks, true, txn}).ok());
  // The kill lands at a random instant of the protocol: before the
  // prepares, between them and the decision, or during the resolves.
  uint64_t kill_after_us = std::uniform_int_distribution<uint64_t>(0, 150000)(random);
  std::this_thread::sleep_for(std::chrono::microseconds(kill_after_us));
  nodes[*coordinator]->process().signal(SIGKILL);
  REQUIRE(nodes[*coordinator]->process().wait_exit(kDeadlineMs) == 128 + SIGKILL);
  MESSAGE("coordinator node t" << *coordinator << " killed " << kill_after_us / 1000 << " ms after the submit");
  // Settled: nothing in doubt on the live nodes, and the job whole or absent.
  auto reader = nodes[survivor]->client();
  int64_t seen = -1;
  bool settled = wait_until([&] {
    for (size_t i : {origin, survivor}) {
      if (gauge(*nodes[i]->client(), "txns_in_doubt") != 0) return false;
    }
    seen = stored(*reader, ids);
    return seen == 0 || seen == static_cast<int64_t>(ids.size());
  });
  REQUIRE_MESSAGE(settled, "stored " << seen << " of " << ids.size() << "\n" << nodes[survivor]->log());
  // Settled for good: a second look, after the origin's answer, agrees.
  auto answer = client->receive(kDeadlineMs);
  REQUIRE_MESSAGE(answer.ok(), answer.status().message());
  const auto* reply = std::get_if<SubmitReply>(&answer.value().second);
  REQUIRE(reply != nullptr);
  bool committed = std::all_of(reply->outcomes.begin(), reply->outcomes.end(),
                               [](const SubmitOutcome& o) { return o.code == ErrorCode::kOk; });
  bool unknown = std::any_of(reply->outcomes.begin(), reply->outcomes.end(),
                             [](const SubmitOutcome& o) { return o.code == ErrorCode::kUnavailable; });
  int64_t after = stored(*reader, ids);
  CHECK((after == 0 || after == static_cast<int64_t>(ids.size())));
  if (!unknown) CHECK(after == (committed ? static_cast<int64_t>(ids.size()) : 0));
  std::string outcome = after ? "committed" : "aborted";
  std::string answered = unknown ? "unknown" : committed ? "committed" : "aborted";
  MESSAGE("the job was " << outcome << "; the origin answered " << answered);
}

TEST_CASE("meshctl submit --atomic stores a JSON lines job whole, or refuses it whole and says why; txns shows it") {
  TempDir temp("meshtxnctl-");
  REQUIRE(!temp.path().empty());
  TestNode node({}, temp.path() + "/n");
  node.start();
  std::string file = temp.path() + "/job.jsonl";
  {
    std::ofstream out(file);
    for (int i = 0; i < 40; ++i) out << R"({"id": "j-)" << i << R"(", "handler": "noop"})" << "\n";
  }
  std::string endpoint = node.process().endpoint();
  Exit ok = run_command(std::string(MESHCTL_PATH) + " --addr " + endpoint + " submit --atomic --txn job-1 --file " + file);
  CHECK_MESSAGE(ok.code == 0, ok.output);
  CHECK(ok.output.find("transaction job-1 committed") != std::string::npos);
  auto client = node.client();
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) ids.push_back("j-" + std::to_string(i));
  CHECK(stored(*client, ids) == 40);
  // The job's progress, counted by state, reaches all completed; a task names its job.
  CHECK(wait_until([&] {
    Exit job = run_command(std::string(MESHCTL_PATH) + " --addr " + endpoint + " job job-1");
    return job.code == 0 && job.output.find("job job-1: 40 tasks") != std::string::npos &&
           job.output.find("COMPLETED 40") != std::string::npos;
  }));
  Exit got = run_command(std::string(MESHCTL_PATH) + " --addr " + endpoint + " get j-7");
  CHECK_MESSAGE(got.output.find("job:         job-1") != std::string::npos, got.output);
  Exit unknown = run_command(std::string(MESHCTL_PATH) + " --addr " + endpoint + " job no-such-job");
  CHECK(unknown.code == 1);
  // The coordinator keeps the decision a while after every participant resolved it.
  Exit txns = run_command(std::string(MESHCTL_PATH) + " --addr " + endpoint + " txns");
  CHECK_MESSAGE(txns.code == 0, txns.output);
  CHECK_MESSAGE(txns.output.find("job-1  coordinator  committed") != std::string::npos, txns.output);
  // One id already taken: nothing of the second job is stored.
  {
    std::ofstream out(file);
    for (int i = 0; i < 10; ++i) out << R"({"id": "k-)" << i << R"(", "handler": "noop"})" << "\n";
    out << R"({"id": "j-3", "handler": "noop"})" << "\n";
  }
  Exit refused = run_command(std::string(MESHCTL_PATH) + " --addr " + endpoint + " submit --atomic --file " + file);
  CHECK_MESSAGE(refused.code != 0, refused.output);
  CHECK(refused.output.find("j-3  rejected: conflict") != std::string::npos);
  CHECK(refused.output.find("k-0  rejected: aborted") != std::string::npos);
  CHECK(refused.output.find("aborted: nothing stored") != std::string::npos);
  std::vector<std::string> second;
  for (int i = 0; i < 10; ++i) second.push_back("k-" + std::to_string(i));
  CHECK(stored(*client, second) == 0);
}

TEST_CASE("meshctl cancel --job cancels every unfinished task of a job at once, running ones too, and says which") {
  TempDir temp("meshtxncancel-");
  REQUIRE(!temp.path().empty());
  auto nodes = start_mesh(3, "c", temp.path(), {});
  REQUIRE(wait_until([&] { return led_as_preferred(nodes); }));
  Gate gate;
  std::vector<TaskSpec> tasks;
  std::vector<std::string> gated, quick;
  for (int i = 0; i < 40; ++i) {
    tasks.push_back(gate.task("held-" + std::to_string(i)));
    gated.push_back(tasks.back().id);
  }
  for (int i = 0; i < 10; ++i) {
    tasks.push_back(task("quick-" + std::to_string(i), "noop"));
    tasks.back().priority = 10;  // ahead of the gated tasks, which would hold every slot
    quick.push_back(tasks.back().id);
  }
  auto client = nodes[0]->client();
  auto submitted = client->submit_atomic(tasks, "job-c");
  REQUIRE_MESSAGE(submitted.ok(), submitted.status().message());
  // Some gated tasks run; the rest of the job waits or has finished.
  REQUIRE(wait_until([&] { return std::any_of(gated.begin(), gated.end(), [&](auto& id) { return gate.started(id); }); }));
  auto cancelled = nodes[1]->client()->cancel_job("job-c");
  REQUIRE_MESSAGE(cancelled.ok(), cancelled.status().message());
  // The answer names every task of the job, and says truly what the cancel
  // took: what it calls cancelled is CANCELLED, the rest had completed.
  std::map<std::string, ErrorCode> answered;
  for (const auto& o : cancelled.value().outcomes) answered[o.id] = o.code;
  REQUIRE(answered.size() == tasks.size());
  std::vector<std::string> all_ids = gated;
  all_ids.insert(all_ids.end(), quick.begin(), quick.end());
  auto reply = client->get(all_ids);
  REQUIRE(reply.ok());
  REQUIRE(reply.value().records.size() == all_ids.size());
  size_t ran = 0, took = 0;
  for (const auto& r : reply.value().records) {
    CAPTURE(r.spec.id);
    bool is_gated = r.spec.id.rfind("held-", 0) == 0;
    if (is_gated) CHECK(r.state == TaskState::kCancelled);  // none could finish: the gate is shut
    CHECK(r.state == (answered.at(r.spec.id) == ErrorCode::kOk ? TaskState::kCancelled : TaskState::kCompleted));
    took += r.state == TaskState::kCancelled;
    if (is_gated && !r.attempts.empty()) {
      ++ran;
      CHECK(r.attempts.back().outcome == AttemptOutcome::kCancelled);
    }
  }
  CHECK(ran > 0);
  std::string ctl = std::string(MESHCTL_PATH) + " --addr " + nodes[1]->process().endpoint();
  Exit job = run_command(ctl + " job job-c");
  CHECK_MESSAGE(job.output.find("CANCELLED " + std::to_string(took)) != std::string::npos, job.output);
  // Again: nothing left to take. An unknown job, or ids and a job together: refused.
  Exit again = run_command(ctl + " cancel --job job-c");
  CHECK_MESSAGE(again.output.find("job job-c: 0 of 50 tasks cancelled") != std::string::npos, again.output);
  Exit unknown = run_command(ctl + " cancel --job no-such-job");
  CHECK(unknown.code != 0);
  CHECK_MESSAGE(unknown.output.find("not_found") != std::string::npos, unknown.output);
  auto both = client->call(CancelRequest{{"held-1"}, "job-c"});
  CHECK(both.status().code() == ErrorCode::kInvalidArgument);
  gate.open();
}

}  // namespace
}  // namespace mesh::test
