// meshchaos: launches a local mesh of meshd processes (fast gossip profile,
// partitions replicated R times), runs a workload through the client library
// while it SIGKILLs a random node every few seconds and restarts it on the
// same data dir and endpoint, then restarts everything that is down and
// checks that nothing acknowledged was lost and no task committed two
// results. Prints a report; exits 1 on any loss or violation, 2 if the mesh
// cannot be started. With --rolling it makes planned restarts instead: each
// node in turn gets SIGTERM (it hands its leaderships over and drains), is
// restarted once it has exited, and the next one follows once every node
// sees every other alive; then any submit answered with an error, or not
// answered in time, is a failure too.
//
// Any node accepts any request and routes it to the partition leaders, so
// each batch goes to a random live node. A batch without an answer (its node
// died, or no answer in time) or with outcomes the mesh could not serve yet
// (kUnavailable, kBusy, ...) is "in doubt": it is resent later to any live
// node, since task ids are idempotency keys (a copy already stored answers
// duplicate=true). The final check asks the healed mesh, through any node,
// about every acknowledged task.
#include <CLI/CLI.hpp>

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "protocol/limits.h"
#include "tools/client/mapreduce.h"
#include "tools/client/mesh_client.h"
#include "tools/testkit/exec_programs.h"
#include "tools/testkit/local_node.h"
#include "tools/testkit/record_check.h"

namespace mesh::chaos {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A node answers a submit once it is committed, or with kUnavailable after
// its request deadline (15 s); past this the batch is taken as unanswered.
constexpr uint64_t kSubmitTimeoutMs = 20000;
// In-doubt batches are resent no sooner than this after they became so.
constexpr uint64_t kResendPauseMs = 250;
// Batches in flight at once, over all nodes (the pacing normally keeps far
// fewer; this bounds the pile-up while a partition has no leader).
constexpr size_t kMaxInFlight = 64;
// After healing: how long resending in-doubt batches may take, and how long
// the acknowledged tasks may take to finish.
constexpr uint64_t kSettleMs = 180000;
constexpr uint64_t kFinishMs = 600000;
constexpr uint64_t kStallMs = 180000;  // ... but not with no task finishing for this long
constexpr uint64_t kWaitRoundMs = 60000;
constexpr uint64_t kStartTimeoutMs = 60000;
constexpr int kStartTries = 5;

struct Options {
  std::string meshd;
  size_t nodes = 5;
  uint32_t replicas = 3;
  uint32_t tasks = 3000;
  uint32_t batch = 50;
  uint64_t kill_every_ms = 3000;
  uint64_t down_ms = 1000;
  uint64_t duration_ms = 15000;  // submissions are spread over this
  uint64_t seed = 1;
  std::string handler = "sleep";
  std::string payload = "20";
  std::string log_level = "warn";
  bool keep = false;
  bool skew = false;
  // --workload wordcount: one map-reduce job over these files instead of
  // --tasks independent tasks.
  std::string workload = "tasks";
  std::vector<std::string> inputs;
  uint32_t reducers = 4;
  uint64_t step_sleep_ms = 2000;  // each map and reduce task sleeps this first: kills land mid-task
  bool rolling = false;           // planned restarts (SIGTERM, one node at a time) instead of kills
};

struct Batch {
  std::vector<TaskSpec> tasks;
  Clock::time_point not_before;  // in doubt: resend no sooner
  bool resend = false;           // sent before without an answer
};

struct InFlight {
  Batch batch;
  Clock::time_point sent;
};

// A node's work-stealing counters. They restart at zero with the process,
// so meshchaos reads them before each kill and adds them up.
struct StealCounters {
  uint64_t stolen = 0, lent = 0, stale = 0;
  StealCounters& operator+=(const StealCounters& o) {
    stolen += o.stolen;
    lent += o.lent;
    stale += o.stale;
    return *this;
  }
};

std::optional<StealCounters> read_steal_counters(const std::string& endpoint) {
  MeshClient client({endpoint}, ClientOptions{5000, "meshchaos"});
  auto steals = client.call(StealsRequest{});
  if (!steals.ok()) return std::nullopt;
  const auto* reply = std::get_if<StealsReply>(&steals.value());
  if (reply == nullptr) return std::nullopt;
  auto counter = [&](const char* name) -> uint64_t {
    auto it = reply->counters.find(name);
    return it == reply->counters.end() ? 0 : it->second;
  };
  return StealCounters{counter("tasks_stolen"), counter("tasks_lent"), counter("stale_completions_rejected")};
}

struct Node {
  std::string id;
  std::string dir;
  std::string endpoint;  // fixed after the first start, so restarts keep it
  bool started_once = false;
  std::unique_ptr<LocalNode> process;
  std::unique_ptr<MeshClient> client;  // pipelined submits to this node
  Clock::time_point down_since;
  std::map<uint64_t, InFlight> in_flight;  // request id -> batch
  StealCounters earlier_runs;  // read just before each kill
  bool stopping = false;       // sent SIGTERM (--rolling): draining, sent no new batches
  bool up() const { return process && process->running() && client; }
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// What a shell command prints on stdout (the expected answer of a workload).
std::string command_output(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  ::pclose(pipe);
  return out;
}

bool retryable(ErrorCode code) {
  switch (code) {
    case ErrorCode::kUnavailable:
    case ErrorCode::kOverloaded:
    case ErrorCode::kShuttingDown:
    case ErrorCode::kStorageError:
    case ErrorCode::kNotLeader:
    case ErrorCode::kBusy:
      return true;
    default:
      return false;
  }
}

class Chaos {
 public:
  explicit Chaos(Options o) : o_(std::move(o)), random_(o_.seed), root_(make_temp_dir("meshchaos-")) {}
  const std::string& root() const { return root_; }
  bool keep() const { return o_.keep; }
  ~Chaos() {
    nodes_.clear();
    if (!o_.keep && !root_.empty()) std::filesystem::remove_all(root_);
  }

  int run() {
    if (root_.empty()) {
      std::fprintf(stderr, "meshchaos: cannot create a temp dir\n");
      return 2;
    }
    config_ = root_ + "/meshd.toml";
    {
      std::ofstream config(config_);
      config << "[tasks]\nreplicas = " << o_.replicas << "\n";
      // The word count's map and reduce tasks run the shell.
      if (o_.workload == "wordcount") config << "[handlers.exec]\nallow = [\"" << program_path("sh") << "\"]\n";
      if (!config) {
        std::fprintf(stderr, "meshchaos: cannot write %s\n", config_.c_str());
        return 2;
      }
    }
    nodes_.resize(o_.nodes);
    for (size_t i = 0; i < o_.nodes; ++i) {
      if (!start(i)) return 2;
    }
    if (!converge()) return 2;
    std::printf("mesh of %zu nodes (R=%u) up in %s\n", o_.nodes, o_.replicas, root_.c_str());
    std::fflush(stdout);
    if (o_.workload == "wordcount") return run_wordcount();

    started_ = Clock::now();
    auto next_kill = started_ + milliseconds(o_.kill_every_ms);
    auto next_progress = started_ + milliseconds(10000);
    while (next_task_ < o_.tasks) {
      if (o_.rolling) {
        if (!rolling_step()) return 2;
      } else if (Clock::now() >= next_kill) {
        chaos_step();
        next_kill = Clock::now() + milliseconds(o_.kill_every_ms);
      }
      restart_due();
      poll_replies();
      resend_in_doubt();
      // Pace the workload over the whole run so kills land while tasks run.
      double elapsed = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
      double due = static_cast<double>(o_.tasks) * std::min(1.0, elapsed / static_cast<double>(o_.duration_ms));
      auto target = next_task_ < due && in_flight() < kMaxInFlight ? random_live() : std::nullopt;
      if (target) {
        send_batch(*target, Batch{make_batch(), {}, false});
      } else {
        std::this_thread::sleep_for(milliseconds(2));
      }
      if (Clock::now() >= next_progress) {
        progress();
        next_progress = Clock::now() + milliseconds(10000);
      }
    }
    double chaos_s = seconds_since(started_);
    std::printf("  all %u tasks sent after %.1f s; healing\n", o_.tasks, chaos_s);
    while (o_.rolling && stopping_) {
      if (!rolling_step()) return 2;
      poll_replies();
      std::this_thread::sleep_for(milliseconds(2));
    }

    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].up()) continue;
      if (!start_with_retries(i)) return 2;
      std::printf("  restarted %s for the final check\n", nodes_[i].id.c_str());
    }
    auto settle_start = Clock::now();
    settle();
    double settle_s = seconds_since(settle_start);
    std::printf("  every batch answered %.1f s after healing\n", settle_s);
    std::fflush(stdout);
    return check(chaos_s, settle_s);
  }

 private:
  // --- processes ---------------------------------------------------------------------

  bool start(size_t i) {
    Node& n = nodes_[i];
    n.id = "chaos-" + std::to_string(i + 1);
    n.dir = root_ + "/" + n.id;
    std::vector<std::string> args = {"--node-id",    n.id,       "--gossip-profile", "local",
                                     "--log-level", o_.log_level, "--config",         config_};
    if (!n.endpoint.empty()) args.insert(args.end(), {"--listen", n.endpoint});
    // Every start but the founder's first joins through all other known
    // nodes, so a node restarting while some (node 1 too) are down rejoins.
    if (i > 0 || n.started_once) {
      std::string seeds;
      for (size_t j = 0; j < nodes_.size(); ++j) {
        if (j == i || nodes_[j].endpoint.empty()) continue;
        seeds += (seeds.empty() ? "" : ",") + nodes_[j].endpoint;
      }
      if (!seeds.empty()) args.insert(args.end(), {"--seeds", seeds});
    }
    n.process = std::make_unique<LocalNode>(o_.meshd, n.dir, args);
    Status s = n.process->start(kStartTimeoutMs);
    if (!s.ok()) {
      std::fprintf(stderr, "meshchaos: %s did not start: %s\n", n.id.c_str(), s.message().c_str());
      if (n.process->running()) {
        n.process->signal(SIGKILL);
        (void)n.process->wait_exit(60000);
      }
      n.down_since = Clock::now();
      return false;
    }
    n.started_once = true;
    n.endpoint = n.process->endpoint();
    n.client = std::make_unique<MeshClient>(std::vector<std::string>{n.endpoint},
                                            ClientOptions{kSubmitTimeoutMs, "meshchaos"});
    return true;
  }

  bool start_with_retries(size_t i) {
    for (int t = 0; t < kStartTries; ++t) {
      if (start(i)) return true;
      std::this_thread::sleep_for(milliseconds(500));
    }
    return false;
  }

  // Waits until every node sees every other one alive.
  bool converge() {
    auto deadline = Clock::now() + milliseconds(60000);
    while (Clock::now() < deadline) {
      bool all = true;
      for (auto& n : nodes_) {
        MeshClient client({n.endpoint}, ClientOptions{2000, "meshchaos"});
        auto reply = client.call(MembersRequest{});
        size_t alive = 0;
        if (reply.ok()) {
          if (const auto* m = std::get_if<MembersReply>(&reply.value())) {
            for (const auto& member : m->members) alive += member.state == MemberState::kAlive;
          }
        }
        all = all && alive == nodes_.size();
      }
      if (all) return true;
      std::this_thread::sleep_for(milliseconds(100));
    }
    std::fprintf(stderr, "meshchaos: the %zu nodes did not all see each other within 60 s\n", nodes_.size());
    return false;
  }

  void kill(size_t i) {
    Node& n = nodes_[i];
    // A steal after this read and before the kill goes uncounted: the total
    // is a lower bound.
    if (auto counters = read_steal_counters(n.endpoint)) n.earlier_runs += *counters;
    n.process->signal(SIGKILL);
    (void)n.process->wait_exit(60000);
    n.client.reset();  // drops whatever it still queued for the dead node
    n.down_since = Clock::now();
    for (auto& [request, f] : n.in_flight) to_doubt(std::move(f.batch));
    n.in_flight.clear();
  }

  // Kills a random live node. Half the time a batch is sent to it first and
  // the kill follows at once: whether it was stored is in doubt, and it is
  // resent to another node later.
  void chaos_step() {
    std::vector<size_t> live = live_nodes();
    if (live.empty()) return;
    size_t victim = live[random_() % live.size()];
    Node& n = nodes_[victim];
    bool sent = false;
    if (next_task_ < o_.tasks && random_() % 2 == 0) {
      send_batch(victim, Batch{make_batch(), {}, false});
      sent = true;
    }
    size_t doubtful = n.in_flight.size();
    kill(victim);
    ++kills_;
    std::printf("  [%6.1f s] kill -9 %s (kill %llu; %zu batches in flight%s)\n", seconds_since(started_),
                n.id.c_str(), static_cast<unsigned long long>(kills_), doubtful,
                sent ? ", one sent just before" : "");
    std::fflush(stdout);
  }

  // --rolling: one planned restart at a time. False when a node stopped
  // with an error or does not start again.
  bool rolling_step() {
    if (stopping_) {
      Node& n = nodes_[*stopping_];
      auto code = n.process->wait_exit(0);
      if (!code) return true;
      poll_replies_of(n);
      double drain_s = seconds_since(stop_sent_);
      longest_drain_s_ = std::max(longest_drain_s_, drain_s);
      unanswered_at_stop_ += n.in_flight.size();
      for (auto& [request, f] : n.in_flight) to_doubt(std::move(f.batch));
      n.in_flight.clear();
      n.client.reset();
      n.stopping = false;
      size_t i = *stopping_;
      stopping_.reset();
      if (*code != 0) {
        std::fprintf(stderr, "meshchaos: %s exited %d after SIGTERM\n", n.id.c_str(), *code);
        return false;
      }
      auto t0 = Clock::now();
      if (!start_with_retries(i)) return false;
      ++restarts_;
      std::printf("  [%6.1f s] %s drained and exited 0 in %.2f s; up again in %.2f s\n", seconds_since(started_),
                  n.id.c_str(), drain_s, seconds_since(t0));
      std::fflush(stdout);
      next_roll_ = Clock::now() + milliseconds(o_.kill_every_ms);
      return true;
    }
    if (Clock::now() < next_roll_) return true;
    // The next one only once the mesh is whole again.
    if (!mesh_whole()) {
      next_roll_ = Clock::now() + milliseconds(200);
      return true;
    }
    size_t i = planned_restarts_++ % nodes_.size();
    Node& n = nodes_[i];
    n.stopping = true;
    stopping_ = i;
    stop_sent_ = Clock::now();
    if (auto counters = read_steal_counters(n.endpoint)) n.earlier_runs += *counters;
    n.process->signal(SIGTERM);
    std::printf("  [%6.1f s] SIGTERM %s (planned restart %llu)\n", seconds_since(started_), n.id.c_str(),
                static_cast<unsigned long long>(planned_restarts_));
    std::fflush(stdout);
    return true;
  }

  // Every node sees every other alive, and every partition has a leader
  // with its full set of voters: a planned restart then takes no group
  // below its majority.
  bool mesh_whole() {
    uint32_t partitions = 0;
    size_t whole_groups = 0;
    for (auto& n : nodes_) {
      if (!n.up()) return false;
      MeshClient client({n.endpoint}, ClientOptions{2000, "meshchaos"});
      auto members = client.call(MembersRequest{});
      const auto* m = members.ok() ? std::get_if<MembersReply>(&members.value()) : nullptr;
      if (m == nullptr) return false;
      size_t alive = 0;
      for (const auto& member : m->members) alive += member.state == MemberState::kAlive;
      if (alive != nodes_.size()) return false;
      auto groups = client.call(PartitionsRequest{});
      const auto* p = groups.ok() ? std::get_if<PartitionsReply>(&groups.value()) : nullptr;
      if (p == nullptr) return false;
      partitions = p->partitions;
      for (const auto& g : p->groups) {
        whole_groups += g.role == "leader" && g.voters.size() == std::min<size_t>(o_.replicas, nodes_.size());
      }
    }
    return partitions > 0 && whole_groups == partitions;
  }

  void restart_due() {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      Node& n = nodes_[i];
      if (n.stopping || n.up() || Clock::now() - n.down_since < milliseconds(o_.down_ms)) continue;
      auto t0 = Clock::now();
      if (!start(i)) continue;  // tried again after --down-ms
      ++restarts_;
      std::printf("  [%6.1f s] restarted %s (in %.1f s)\n", seconds_since(started_), n.id.c_str(), seconds_since(t0));
      std::fflush(stdout);
    }
  }

  std::vector<size_t> live_nodes() const {
    std::vector<size_t> out;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (nodes_[i].up() && !nodes_[i].stopping) out.push_back(i);
    }
    return out;
  }

  std::optional<size_t> random_live() {
    std::vector<size_t> live = live_nodes();
    if (live.empty()) return std::nullopt;
    return live[random_() % live.size()];
  }

  // --- the word-count workload --------------------------------------------------------

  // A word count over the input files as one atomic map-reduce job of exec
  // tasks, submitted through any live node while nodes are killed and
  // restarted. Checked against one shell pipeline over the same files, and
  // every task of the job committed exactly one result. The job's id is its
  // idempotency key: a submit in doubt is sent again, to any node.
  int run_wordcount() {
    MapReduceJob job;
    job.job = "wordcount-" + std::to_string(o_.seed);
    std::string sh = program_path("sh");
    std::string pause = "sleep " + std::to_string(o_.step_sleep_ms / 1000.0) + "; ";
    job.map_argv = {sh, "-c", pause + "tr -s '[:space:]' '\\n'"};
    job.reduce_argv = {sh, "-c", pause + "LC_ALL=C sort | LC_ALL=C uniq -c"};
    job.final_argv = {sh, "-c", "LC_ALL=C sort -k2"};
    job.reducers = o_.reducers;
    std::string files;
    for (const auto& path : o_.inputs) {
      std::ifstream in(path);
      if (!in) {
        std::fprintf(stderr, "meshchaos: cannot read %s\n", path.c_str());
        return 2;
      }
      job.inputs.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      files += " '" + path + "'";
    }
    std::string expected = command_output("cat" + files + " | tr -s '[:space:]' '\\n' | LC_ALL=C sort | LC_ALL=C uniq -c");
    std::vector<TaskSpec> tasks = mapreduce_tasks(job);
    std::string answer_id = mapreduce_answer_ids(job).front();
    std::printf("  word count over %zu files: %zu map, %u reduce and 1 final task, one atomic job %s\n",
                o_.inputs.size(), o_.inputs.size(), job.reducers, job.job.c_str());
    started_ = Clock::now();
    auto next_kill = started_ + milliseconds(o_.kill_every_ms);
    auto deadline = started_ + milliseconds(kFinishMs);
    auto next_progress = started_ + milliseconds(10000);
    bool stored = false;
    std::optional<TaskRecord> answer;
    while (!answer && Clock::now() < deadline) {
      if (Clock::now() >= next_kill) {
        chaos_step();
        next_kill = Clock::now() + milliseconds(o_.kill_every_ms);
      }
      restart_due();
      auto via = random_live();
      if (!via) continue;
      MeshClient client({nodes_[*via].endpoint}, ClientOptions{5000, "meshchaos"});
      if (!stored) {
        auto reply = client.submit_atomic(tasks, job.job);
        stored = reply.ok() && std::all_of(reply.value().outcomes.begin(), reply.value().outcomes.end(),
                                           [](const SubmitOutcome& o) { return o.code == ErrorCode::kOk; });
        if (stored) {
          std::printf("  [%6.1f s] job stored\n", seconds_since(started_));
        } else {
          std::string why = reply.ok() ? "refused" : reply.status().message();
          if (reply.ok()) {
            for (const auto& o : reply.value().outcomes) {
              if (o.code != ErrorCode::kOk && o.code != ErrorCode::kAborted) why = o.id + ": " + o.message;
            }
          }
          std::printf("  [%6.1f s] submit through %s not stored (%s); again\n", seconds_since(started_),
                      nodes_[*via].id.c_str(), why.c_str());
          std::this_thread::sleep_for(milliseconds(200));
        }
        std::fflush(stdout);
        continue;
      }
      auto reply = client.get({answer_id});
      if (reply.ok() && reply.value().records.size() == 1 && is_terminal(reply.value().records[0].state)) {
        answer = reply.value().records[0];
      } else {
        std::this_thread::sleep_for(milliseconds(200));
      }
      if (Clock::now() >= next_progress) {
        next_progress = Clock::now() + milliseconds(10000);
        std::printf("  [%6.1f s] job: %s\n", seconds_since(started_), job_progress(client, tasks).c_str());
        std::fflush(stdout);
      }
    }
    double chaos_s = seconds_since(started_);
    for (size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i].up() && !start_with_retries(i)) return 2;
    }
    if (!answer) {
      std::printf("FAILED: the job's answer was not final after %.1f s\n", chaos_s);
      return 1;
    }
    std::printf("  [%6.1f s] answered, after %llu kills\n", chaos_s, static_cast<unsigned long long>(kills_));
    return check_wordcount(tasks, *answer, expected);
  }

  static std::string job_progress(MeshClient& client, const std::vector<TaskSpec>& tasks) {
    std::vector<std::string> ids;
    for (const auto& t : tasks) ids.push_back(t.id);
    auto reply = client.get(ids);
    if (!reply.ok()) return "unknown (" + reply.status().message() + ")";
    std::map<std::string, size_t> states;
    for (const auto& r : reply.value().records) ++states[state_name(r.state)];
    std::string out;
    for (const auto& [state, n] : states) out += state + " " + std::to_string(n) + "  ";
    return out;
  }

  int check_wordcount(const std::vector<TaskSpec>& tasks, const TaskRecord& answer, const std::string& expected) {
    MeshClient client(endpoints(), ClientOptions{30000, "meshchaos"});
    std::vector<std::string> ids;
    for (const auto& t : tasks) ids.push_back(t.id);
    auto reply = client.get(ids);
    if (!reply.ok() || reply.value().records.size() != ids.size()) {
      std::printf("FAILED: cannot read the job's %zu tasks back: %s\n", ids.size(),
                  reply.ok() ? "some are missing" : reply.status().message().c_str());
      return 1;
    }
    size_t failures = 0, attempts = 0, lost = 0;
    for (const auto& r : reply.value().records) {
      size_t succeeded = std::count_if(r.attempts.begin(), r.attempts.end(),
                                       [](const AttemptInfo& a) { return a.outcome == AttemptOutcome::kSucceeded; });
      attempts += r.attempts.size();
      lost += std::count_if(r.attempts.begin(), r.attempts.end(),
                            [](const AttemptInfo& a) { return a.outcome == AttemptOutcome::kLost; });
      std::string problem = check_record(r);
      if (r.state != TaskState::kCompleted || succeeded != 1 || !problem.empty()) {
        std::printf("  task %s: %s with %zu successful attempts %s\n", r.spec.id.c_str(), state_name(r.state),
                    succeeded, problem.c_str());
        ++failures;
      }
    }
    bool same = answer.state == TaskState::kCompleted && answer.result == expected;
    std::printf("  %zu tasks, %zu attempts (%zu lost with their runner), every task committed once: %s\n", ids.size(),
                attempts, lost, failures == 0 ? "yes" : "NO");
    std::printf("  the answer (%zu bytes) equals the shell pipeline's (%zu bytes): %s\n", answer.result.size(),
                expected.size(), same ? "yes" : "NO");
    bool ok = same && failures == 0;
    std::printf("%s\n", ok ? "OK" : "FAILED");
    return ok ? 0 : 1;
  }

  // --- workload ----------------------------------------------------------------------

  std::vector<TaskSpec> make_batch() {
    std::vector<TaskSpec> tasks;
    uint32_t end = std::min(o_.tasks, next_task_ + o_.batch);
    for (uint32_t i = next_task_; i < end; ++i) {
      TaskSpec t;
      t.id = "chaos-task-" + std::to_string(i);
      t.handler = o_.handler;
      t.payload = o_.payload;
      // --skew: one partition holds everything; its leader must lend to thieves.
      if (o_.skew) t.key = "chaos-skew";
      tasks.push_back(std::move(t));
    }
    next_task_ = end;
    return tasks;
  }

  size_t in_flight() const {
    size_t total = 0;
    for (const auto& n : nodes_) total += n.in_flight.size();
    return total;
  }

  void send_batch(size_t target, Batch batch) {
    Node& n = nodes_[target];
    if (batch.resend) in_doubt_resent_ += batch.tasks.size();
    auto id = n.client->send(SubmitRequest{batch.tasks});
    if (!id.ok()) return to_doubt(std::move(batch));
    n.in_flight[id.value()] = InFlight{std::move(batch), Clock::now()};
  }

  void to_doubt(Batch batch) {
    if (batch.tasks.empty()) return;
    for (const auto& t : batch.tasks) doubted_.insert(t.id);
    batch.resend = true;
    batch.not_before = Clock::now() + milliseconds(kResendPauseMs);
    in_doubt_.push_back(std::move(batch));
  }

  void resend_in_doubt() {
    // A few per turn: fresh work keeps flowing while the backlog drains.
    for (int k = 0; k < 4 && !in_doubt_.empty() && in_flight() < kMaxInFlight; ++k) {
      if (Clock::now() < in_doubt_.front().not_before) return;
      auto target = random_live();
      if (!target) return;
      Batch batch = std::move(in_doubt_.front());
      in_doubt_.pop_front();
      send_batch(*target, std::move(batch));
    }
  }

  void poll_replies() {
    for (auto& n : nodes_) {
      if (n.up()) poll_replies_of(n);
    }
  }

  void poll_replies_of(Node& n) {
    while (!n.in_flight.empty() && n.client) {
      auto reply = n.client->receive(0);
      if (!reply.ok()) break;
      auto it = n.in_flight.find(reply.value().first);
      if (it == n.in_flight.end()) continue;  // a reply to a batch already given up on
      Batch batch = std::move(it->second.batch);
      n.in_flight.erase(it);
      settle_reply(std::move(batch), reply.value().second);
    }
    // Unanswered for too long: its fate is in doubt.
    for (auto it = n.in_flight.begin(); it != n.in_flight.end();) {
      if (Clock::now() - it->second.sent < milliseconds(kSubmitTimeoutMs)) {
        ++it;
        continue;
      }
      ++timeouts_;
      to_doubt(std::move(it->second.batch));
      it = n.in_flight.erase(it);
    }
  }

  void settle_reply(Batch batch, const Reply& reply) {
    const auto* submit = std::get_if<SubmitReply>(&reply);
    if (submit == nullptr) {
      if (const auto* error = std::get_if<ErrorReply>(&reply)) note_error(error->code, error->message);
      return to_doubt(std::move(batch));
    }
    Batch again{{}, {}, true};
    for (size_t i = 0; i < batch.tasks.size(); ++i) {
      const SubmitOutcome* outcome = i < submit->outcomes.size() ? &submit->outcomes[i] : nullptr;
      if (outcome != nullptr && outcome->id != batch.tasks[i].id) outcome = nullptr;
      if (outcome != nullptr && outcome->code == ErrorCode::kOk) {
        acknowledged_.insert(outcome->id);
        duplicates_ += outcome->duplicate;
      } else if (outcome == nullptr || retryable(outcome->code)) {
        if (outcome != nullptr) note_error(outcome->code, outcome->message);
        again.tasks.push_back(std::move(batch.tasks[i]));
      } else {
        ++rejected_;
        note_error(outcome->code, outcome->message);
      }
    }
    if (!again.tasks.empty()) {
      retried_outcomes_ += again.tasks.size();
      to_doubt(std::move(again));
    }
  }

  void note_error(ErrorCode code, const std::string& message) {
    uint64_t& seen = errors_[std::string(error_name(code))];
    if (seen++ == 0) {
      std::printf("  [%6.1f s] first %s answer: %s\n", seconds_since(started_), std::string(error_name(code)).c_str(),
                  message.c_str());
    }
  }

  void progress() {
    std::string down;
    for (const auto& n : nodes_) {
      if (!n.up()) down += " " + n.id;
    }
    std::printf("  [%6.1f s] sent %u, acknowledged %zu, in flight %zu batches, in doubt %zu batches, down:%s\n",
                seconds_since(started_), next_task_, acknowledged_.size(), in_flight(), in_doubt_.size(),
                down.empty() ? " none" : down.c_str());
    std::fflush(stdout);
  }

  // Every node is up: resend whatever is in doubt until each task has an
  // answer (kOk, or a refusal that retrying cannot change).
  void settle() {
    auto deadline = Clock::now() + milliseconds(kSettleMs);
    auto next_progress = Clock::now() + milliseconds(10000);
    while ((!in_doubt_.empty() || in_flight() > 0) && Clock::now() < deadline) {
      restart_due();  // only if a node died by itself
      poll_replies();
      resend_in_doubt();
      std::this_thread::sleep_for(milliseconds(2));
      if (Clock::now() >= next_progress) {
        progress();
        next_progress = Clock::now() + milliseconds(10000);
      }
    }
    for (auto& n : nodes_) {
      for (auto& [request, f] : n.in_flight) in_doubt_.push_back(std::move(f.batch));
      n.in_flight.clear();
    }
    for (const auto& batch : in_doubt_) unanswered_ += batch.tasks.size();
  }

  // --- the check ---------------------------------------------------------------------

  std::vector<std::string> endpoints() const {
    std::vector<std::string> out;
    for (const auto& n : nodes_) out.push_back(n.endpoint);
    return out;
  }

  int check(double chaos_s, double settle_s) {
    auto check_start = Clock::now();
    auto deadline = check_start + milliseconds(kFinishMs);
    std::map<std::string, TaskRecord> records;  // terminal records of acknowledged tasks
    std::set<std::string> open(acknowledged_.begin(), acknowledged_.end());
    std::map<std::string, int> said_missing;  // id -> times a covered answer said so
    std::set<std::string> lost;
    std::map<std::string, TaskState> last_state;  // of open tasks, as last answered
    MeshClient client(endpoints(), ClientOptions{30000, "meshchaos"});
    auto next_progress = Clock::now() + milliseconds(10000);
    size_t open_before = open.size();
    auto progressed = Clock::now();
    while (!open.empty() && Clock::now() < deadline) {
      if (open.size() < open_before) {
        open_before = open.size();
        progressed = Clock::now();
      } else if (Clock::now() - progressed >= milliseconds(kStallMs)) {
        std::printf("  no acknowledged task finished for %llu s: giving up\n",
                    static_cast<unsigned long long>(kStallMs / 1000));
        break;
      }
      std::vector<std::string> ids(open.begin(), open.end());
      for (size_t i = 0; i < ids.size() && Clock::now() < deadline; i += limits::kMaxBatchTasks) {
        std::vector<std::string> part(ids.begin() + static_cast<long>(i),
                                      ids.begin() + static_cast<long>(std::min(ids.size(), i + limits::kMaxBatchTasks)));
        auto reply = client.wait(WaitRequest{part, false, kWaitRoundMs});
        if (!reply.ok()) {
          std::printf("  wait through %s: %s (trying again)\n", client.endpoint().c_str(),
                      reply.status().message().c_str());
          std::this_thread::sleep_for(milliseconds(500));
          continue;
        }
        for (const auto& r : reply.value().records) {
          last_state[r.spec.id] = r.state;
          if (!is_terminal(r.state)) continue;
          records[r.spec.id] = r;
          open.erase(r.spec.id);
        }
        // A wait that did not time out covered every partition: its missing
        // ids are the mesh's answer. Asked twice more before they count.
        if (!reply.value().timed_out) {
          if (!reply.value().missing.empty()) {
            std::printf("  [check %.1f s] a covered wait through %s says %zu acknowledged tasks are missing, e.g. %s\n",
                        seconds_since(check_start), client.endpoint().c_str(), reply.value().missing.size(),
                        reply.value().missing.front().c_str());
          }
          for (const auto& id : reply.value().missing) {
            if (++said_missing[id] >= 3) {
              lost.insert(id);
              open.erase(id);
            }
          }
        }
      }
      if (!open.empty() && Clock::now() >= next_progress) {
        std::printf("  waiting for %zu acknowledged tasks to finish (%.0f s)\n", open.size(),
                    seconds_since(check_start));
        std::fflush(stdout);
        next_progress = Clock::now() + milliseconds(10000);
      }
      if (!open.empty()) std::this_thread::sleep_for(milliseconds(200));
    }
    double finish_s = seconds_since(check_start);

    uint64_t completed = 0, failed = 0, cancelled = 0, attempts = 0, lost_attempts = 0, violations = 0;
    for (const auto& [id, r] : records) {
      completed += r.state == TaskState::kCompleted;
      failed += r.state == TaskState::kFailed;
      cancelled += r.state == TaskState::kCancelled;
      attempts += r.attempt;
      for (const auto& a : r.attempts) lost_attempts += a.outcome == AttemptOutcome::kLost;
      std::string problem = check_record(r);
      if (!problem.empty()) {
        std::printf("VIOLATION: %s\n", problem.c_str());
        ++violations;
      }
    }
    for (const auto& id : lost) std::printf("VIOLATION: acknowledged task %s lost\n", id.c_str());
    uint64_t found_later = 0;
    std::string found_later_examples;
    for (const auto& [id, times] : said_missing) {
      if (lost.count(id)) continue;
      if (++found_later <= 3) {
        auto it = records.find(id);
        found_later_examples += " " + id + (it == records.end() ? std::string() : " (partition " +
                                            std::to_string(it->second.partition) + ")");
      }
    }
    size_t unfinished = open.size();
    if (unfinished > 0) {
      std::map<std::string, size_t> states;
      for (const auto& id : open) {
        auto it = last_state.find(id);
        ++states[it == last_state.end() ? "never answered" : state_name(it->second)];
      }
      std::string by_state;
      for (const auto& [state, count] : states) by_state += " " + state + " " + std::to_string(count);
      std::printf("VIOLATION: %zu acknowledged tasks not terminal after %.0f s (last seen:%s), e.g. %s\n", unfinished,
                  finish_s, by_state.c_str(), open.begin()->c_str());
    }

    std::printf("\nmeshchaos report (seed %llu)\n", static_cast<unsigned long long>(o_.seed));
    std::printf("  nodes %zu, replicas %u, kills %llu, restarts %llu; chaos %.1f s, settling %.1f s, finishing %.1f s\n",
                o_.nodes, o_.replicas, static_cast<unsigned long long>(kills_),
                static_cast<unsigned long long>(restarts_), chaos_s, settle_s, finish_s);
    std::printf("  submitted %u, acknowledged %zu, rejected %llu, never answered %llu\n", o_.tasks,
                acknowledged_.size(), static_cast<unsigned long long>(rejected_),
                static_cast<unsigned long long>(unanswered_));
    std::printf("  in doubt %zu tasks (their node killed or %llu batches unanswered in %llu s, or %llu outcomes "
                "to retry), resent %llu times, answered already stored %llu\n",
                doubted_.size(), static_cast<unsigned long long>(timeouts_),
                static_cast<unsigned long long>(kSubmitTimeoutMs / 1000),
                static_cast<unsigned long long>(retried_outcomes_), static_cast<unsigned long long>(in_doubt_resent_),
                static_cast<unsigned long long>(duplicates_));
    if (!errors_.empty()) {
      std::string list;
      for (const auto& [name, count] : errors_) list += " " + name + " " + std::to_string(count);
      std::printf("  error answers:%s\n", list.c_str());
    }
    std::printf("  completed %llu, failed %llu, cancelled %llu, attempts %llu (lost to kills %llu)\n",
                static_cast<unsigned long long>(completed), static_cast<unsigned long long>(failed),
                static_cast<unsigned long long>(cancelled), static_cast<unsigned long long>(attempts),
                static_cast<unsigned long long>(lost_attempts));
    StealCounters steals;
    size_t answered = 0;
    for (const auto& n : nodes_) {
      steals += n.earlier_runs;
      auto current = read_steal_counters(n.endpoint);
      if (!current) continue;
      ++answered;
      steals += *current;
    }
    std::printf("  stolen %llu, lent %llu, stale results rejected %llu (summed over every run of each node, "
                "%zu of %zu answered now)\n",
                static_cast<unsigned long long>(steals.stolen), static_cast<unsigned long long>(steals.lent),
                static_cast<unsigned long long>(steals.stale), answered, nodes_.size());
    if (found_later > 0) {
      std::printf("  WARNING: %llu acknowledged tasks were answered missing by a wait that covered every partition, "
                  "and found later, e.g.%s\n",
                  static_cast<unsigned long long>(found_later), found_later_examples.c_str());
    }
    std::printf("  lost %zu, double commits or bad histories %llu, not finished %zu\n", lost.size(),
                static_cast<unsigned long long>(violations), unfinished);
    bool ok = lost.empty() && violations == 0 && unfinished == 0 && unanswered_ == 0 &&
              completed == acknowledged_.size();
    // Planned restarts promise more than kills: no client sees them.
    bool unnoticed = errors_.empty() && timeouts_ == 0 && rejected_ == 0 && unanswered_at_stop_ == 0;
    if (o_.rolling) {
      std::printf("  planned restarts %llu, longest drain %.2f s; submits answered with an error %llu, "
                  "unanswered in %llu s %llu, left unanswered by a stopping node %llu\n",
                  static_cast<unsigned long long>(restarts_), longest_drain_s_,
                  static_cast<unsigned long long>(error_answers()), static_cast<unsigned long long>(kSubmitTimeoutMs / 1000),
                  static_cast<unsigned long long>(timeouts_), static_cast<unsigned long long>(unanswered_at_stop_));
      ok = ok && unnoticed;
    }
    if (ok) {
      std::printf("OK: nothing lost, nothing committed twice, all %zu acknowledged tasks completed\n",
                  acknowledged_.size());
    } else {
      std::printf("FAILED%s%s%s%s%s\n", lost.empty() ? "" : ": acknowledged tasks lost",
                  o_.rolling && !unnoticed ? ": a planned restart reached a client" : "",
                  violations == 0 ? "" : ": bad task histories",
                  unanswered_ == 0 ? "" : ": submits never answered after healing",
                  completed == acknowledged_.size() ? "" : ": not every acknowledged task completed");
    }
    if (o_.keep) std::printf("data dirs and logs (<dir>.log) kept in %s\n", root_.c_str());
    std::fflush(stdout);
    return ok ? 0 : 1;
  }

  Options o_;
  std::mt19937_64 random_;
  std::string root_;
  std::string config_;
  std::vector<Node> nodes_;
  Clock::time_point started_ = Clock::now();
  uint32_t next_task_ = 0;
  std::deque<Batch> in_doubt_;
  std::set<std::string> acknowledged_;
  std::set<std::string> doubted_;  // tasks ever in doubt
  std::map<std::string, uint64_t> errors_;  // error name -> answers with it
  uint64_t rejected_ = 0, in_doubt_resent_ = 0, duplicates_ = 0;
  uint64_t timeouts_ = 0, retried_outcomes_ = 0, unanswered_ = 0, kills_ = 0, restarts_ = 0;
  // --rolling
  std::optional<size_t> stopping_;
  Clock::time_point stop_sent_, next_roll_;
  uint64_t planned_restarts_ = 0, unanswered_at_stop_ = 0;
  double longest_drain_s_ = 0;

  uint64_t error_answers() const {
    uint64_t total = 0;
    for (const auto& [name, count] : errors_) total += count;
    return total;
  }
};

// SIGTERM or SIGINT (a timeout, ^C) kills every node and whatever its exec
// tasks started, removes the data dirs unless --keep, and exits 128 + signal.
// The signals are blocked in every thread and taken by one that waits for them.
void stop_nodes_on_signal(std::string root, bool keep) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::thread([stop_signals, root = std::move(root), keep] {
    int sig = 0;
    if (sigwait(&stop_signals, &sig) != 0) return;
    std::fprintf(stderr, "meshchaos: %s, stopping every node\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    for (pid_t child : descendants_of(::getpid())) kill_process_tree(child);
    if (!keep && !root.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(root, ignored);
    }
    std::_Exit(128 + sig);
  }).detach();
}

int run(int argc, char** argv) {
  CLI::App app{"meshchaos: kill and restart meshd nodes under load, then check nothing was lost"};
  app.option_defaults()->always_capture_default();  // --help shows every default
  app.set_version_flag("--version", "meshchaos " MESH_VERSION);
  Options o;
  app.add_option("--meshd", o.meshd, "path of meshd (default: next to meshchaos)");
  app.add_option("--nodes", o.nodes, "nodes in the mesh")->check(CLI::Range(1, 50));
  app.add_option("--replicas", o.replicas, "replicas of each partition (meshd's tasks.replicas)")
      ->check(CLI::Range(1u, 7u));
  app.add_option("--tasks", o.tasks, "tasks to submit");
  app.add_option("--batch", o.batch, "tasks per submit")->check(CLI::Range(1u, 10000u));
  app.add_option("--kill-every-ms", o.kill_every_ms, "SIGKILL a random node this often")->check(CLI::Range(1u, 1u << 30));
  app.add_option("--down-ms", o.down_ms, "how long a killed node stays down");
  app.add_option("--duration-ms", o.duration_ms, "spread the submissions over this long")
      ->check(CLI::Range(1u, 1u << 30));
  app.add_option("--seed", o.seed, "seed of the kill schedule and placement");
  app.add_option("--handler", o.handler, "handler of every task");
  app.add_option("--payload", o.payload, "payload of every task");
  app.add_option("--log-level", o.log_level, "meshd's log level");
  app.add_flag("--keep", o.keep, "keep the data dirs and logs");
  app.add_flag("--rolling", o.rolling,
               "planned restarts instead of kills: SIGTERM each node in turn (--kill-every-ms apart), restart it, "
               "and fail if any submit was refused or unanswered");
  app.add_flag("--skew", o.skew, "give every task the same key: one partition leader holds all, the others steal");
  app.add_option("--workload", o.workload,
                 "tasks: --tasks independent tasks; wordcount: one map-reduce job over --input files, "
                 "checked against the shell")
      ->check(CLI::IsMember({"tasks", "wordcount"}));
  app.add_option("--input", o.inputs, "wordcount: an input file (repeat the option, or give several)");
  app.add_option("--reducers", o.reducers, "wordcount: reduce tasks")->check(CLI::Range(1u, 1024u));
  app.add_option("--step-sleep-ms", o.step_sleep_ms, "wordcount: each map and reduce task sleeps this long first");
  CLI11_PARSE(app, argc, argv);
  if (o.meshd.empty()) o.meshd = (std::filesystem::path(argv[0]).parent_path() / "meshd").string();
  if (o.workload == "wordcount") {
    if (o.inputs.empty()) {
      std::fprintf(stderr, "meshchaos: --workload wordcount needs --input files\n");
      return 2;
    }
    o.tasks = 0;  // no independent tasks beside the job
  }
  Chaos chaos(std::move(o));
  stop_nodes_on_signal(chaos.root(), chaos.keep());
  return chaos.run();
}

}  // namespace
}  // namespace mesh::chaos

int main(int argc, char** argv) { return mesh::chaos::run(argc, argv); }
