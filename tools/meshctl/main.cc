// meshctl: submit, follow and inspect tasks on a meshwork node.
//
// Exit codes, for scripts:
//   0 success; 1 the node refused the request or some tasks were rejected or
//   missing; 2 bad usage; 3 no node answered; 4 wait timed out; 5 wait ended
//   and some tasks FAILED or were CANCELLED.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "protocol/limits.h"
#include "tools/client/mesh_client.h"
#include "tools/client/mapreduce.h"
#include "tools/meshctl/render.h"
#include "tools/meshctl/task_input.h"

namespace mesh::ctl {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnavailable = 3;
constexpr int kExitTimedOut = 4;
constexpr int kExitTasksFailed = 5;

struct Globals {
  std::string addresses;
  OutputFormat output = OutputFormat::kTable;  // -o; --json is -o json
  // Past a node's request deadline (15 s): a node that cannot serve a request
  // says why (e.g. no leader of a partition answered) before the client gives up.
  uint64_t timeout_ms = 20000;
  std::string client_key_file;  // a mesh with keys: this client's key pair
  std::string mesh_key_file;    // ... and the mesh's public key
  std::optional<CurveClientKeys> curve;
  // Long waits print their progress to stderr: on a terminal, or when asked.
  bool progress = false;

  ClientOptions client_options(uint64_t timeout) const { return ClientOptions{timeout, "meshctl", curve}; }
  bool json() const { return output == OutputFormat::kJson; }
  bool jsonl() const { return output == OutputFormat::kJsonl; }
  bool wide() const { return output == OutputFormat::kWide; }
  bool machine() const { return json() || jsonl(); }  // JSON, not text for people
};

// -o jsonl: each item of `items` (a JSON array) on a line of its own.
void print_lines(const nlohmann::json& items) {
  for (const auto& item : items) std::cout << item.dump() << "\n";
}

// A command's reply as -o asks: `list` names the array of the JSON document
// whose items jsonl prints one a line (none: the document on one line);
// `text` renders table and wide.
void print_reply(const Globals& g, const nlohmann::json& document, const char* list, const std::string& text) {
  if (g.json() || (g.jsonl() && list == nullptr)) {
    std::cout << document.dump() << "\n";
  } else if (g.jsonl()) {
    print_lines(document.at(list));
  } else {
    std::cout << text;
  }
}

// -o jsonl prints tasks one a line: what is not a task goes to stderr.
void print_task_lines(const std::vector<TaskRecord>& records) {
  for (const auto& r : records) std::cout << to_json(r).dump() << "\n";
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, sep)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

int report(const Status& s) {
  std::cerr << "meshctl: " << error_name(s.code()) << ": " << s.message() << "\n";
  return s.code() == ErrorCode::kUnavailable ? kExitUnavailable : kExitRefused;
}

template <typename T>
std::vector<std::vector<T>> chunks(const std::vector<T>& items, size_t size) {
  std::vector<std::vector<T>> out;
  for (size_t i = 0; i < items.size(); i += size) {
    out.emplace_back(items.begin() + static_cast<long>(i), items.begin() + static_cast<long>(std::min(items.size(), i + size)));
  }
  return out;
}

// One wait until every id is terminal or timeout_ms passes; returns records.
// `keys`: one per id ("" none), or empty.
Result<WaitReply> wait_once(MeshClient& client, const std::vector<std::string>& ids, const std::vector<std::string>& keys,
                            bool all, uint64_t timeout_ms) {
  WaitReply total;
  if (all) return client.wait(WaitRequest{{}, true, timeout_ms});
  auto key_parts = chunks(keys, limits::kMaxBatchTasks);
  auto id_parts = chunks(ids, limits::kMaxBatchTasks);
  for (size_t i = 0; i < id_parts.size(); ++i) {
    std::vector<std::string> part_keys = i < key_parts.size() ? key_parts[i] : std::vector<std::string>{};
    auto reply = client.wait(WaitRequest{id_parts[i], false, timeout_ms, std::move(part_keys)});
    if (!reply.ok()) return reply.status();
    total.timed_out = total.timed_out || reply.value().timed_out;
    for (auto& r : reply.value().records) total.records.push_back(std::move(r));
    for (auto& m : reply.value().missing) total.missing.push_back(std::move(m));
    total.unfinished = reply.value().unfinished;
  }
  return total;
}

// How fast tasks finish since the wait began, and when the rest will at
// that pace: ", 3.2/s, ETA 12 s" (nothing until one has finished).
std::string rate_and_eta(size_t finished_since_start, size_t left, double elapsed_s) {
  if (finished_since_start == 0 || elapsed_s <= 0) return "";
  double rate = static_cast<double>(finished_since_start) / elapsed_s;
  char text[96];
  std::snprintf(text, sizeof text, ", %.1f/s, ETA %.0f s", rate, static_cast<double>(left) / rate);
  return text;
}

// Waits as wait_once does, in slices of a few seconds, printing after each
// unfinished one how far the tasks are, at what rate and until when (with
// g.progress): a bar redrawn in place on a terminal, a line each otherwise.
Result<WaitReply> wait_for(MeshClient& client, const std::vector<std::string>& ids, const std::vector<std::string>& keys,
                           bool all, uint64_t timeout_ms, const Globals& g) {
  const bool terminal = ::isatty(STDERR_FILENO) != 0;
  const uint64_t slice_ms = terminal ? 1000 : 5000;
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = started + std::chrono::milliseconds(timeout_ms);
  std::optional<size_t> first_unfinished;
  bool drawn = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    uint64_t left_ms = static_cast<uint64_t>(std::max<int64_t>(0, left.count()));
    auto reply = wait_once(client, ids, keys, all, g.progress ? std::min(left_ms, slice_ms) : left_ms);
    if (!reply.ok() || !reply.value().timed_out || left_ms <= slice_ms || !g.progress) {
      if (drawn) std::cerr << "\n";
      return reply;
    }
    std::map<std::string, size_t> by_state;
    size_t finished = 0;
    for (const auto& r : reply.value().records) {
      ++by_state[state_name(r.state)];
      finished += is_terminal(r.state);
    }
    size_t total = all ? 0 : ids.size();
    size_t unfinished = all ? reply.value().unfinished : total - finished;
    if (!first_unfinished) first_unfinished = unfinished;
    double elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::string pace = rate_and_eta(*first_unfinished > unfinished ? *first_unfinished - unfinished : 0, unfinished,
                                    elapsed_s);
    std::ostringstream line;
    if (all) {
      line << "waiting: " << unfinished << " unfinished" << pace;
    } else {
      if (terminal) {
        constexpr size_t kBarWidth = 20;
        size_t filled = total == 0 ? 0 : finished * kBarWidth / total;
        line << "[" << std::string(filled, '#') << std::string(kBarWidth - filled, '.') << "] ";
      }
      line << "waiting: " << finished << " of " << total << " finished (";
      for (auto it = by_state.begin(); it != by_state.end(); ++it) {
        line << (it == by_state.begin() ? "" : ", ") << it->first << " " << it->second;
      }
      line << ")" << pace;
    }
    if (terminal) {
      std::cerr << "\r" << line.str() << "\033[K" << std::flush;  // in place, the rest of the old line cleared
      drawn = true;
    } else {
      std::cerr << line.str() << "\n";
    }
  }
}

int print_wait(const WaitReply& reply, const Globals& g, bool all) {
  std::map<std::string, size_t> by_state;
  bool bad = false;
  for (const auto& r : reply.records) {
    ++by_state[state_name(r.state)];
    bad = bad || r.state == TaskState::kFailed || r.state == TaskState::kCancelled;
  }
  if (g.json()) {
    nlohmann::json out = {{"timed_out", reply.timed_out}, {"unfinished", reply.unfinished},
                          {"missing", reply.missing}, {"by_state", by_state}};
    out["tasks"] = nlohmann::json::array();
    for (const auto& r : reply.records) out["tasks"].push_back(to_json(r));
    std::cout << out.dump() << "\n";
  } else if (g.jsonl()) {
    // The summary is in the exit code; missing ids are said on stderr.
    print_task_lines(reply.records);
    for (const auto& id : reply.missing) std::cerr << id << "  not found\n";
  } else {
    if (reply.records.size() <= 20) {
      if (g.wide()) {
        std::cout << task_table(reply.records);
      } else {
        for (const auto& r : reply.records) std::cout << task_line(r) << "\n";
      }
    }
    std::cout << (reply.timed_out ? "timed out:" : "done:");
    for (const auto& [state, n] : by_state) std::cout << " " << state << "=" << n;
    if (all) std::cout << " unfinished=" << reply.unfinished;
    if (!reply.missing.empty()) std::cout << " missing=" << reply.missing.size();
    std::cout << "\n";
  }
  if (reply.timed_out) return kExitTimedOut;
  if (!reply.missing.empty()) return kExitRefused;
  return bad ? kExitTasksFailed : kExitOk;
}

struct SubmitArgs {
  TaskSpec spec;
  uint32_t count = 1;
  std::string file;
  bool atomic = false;
  std::string txn;
  bool wait = false;
  uint64_t wait_timeout_ms = 600000;
};

int do_submit(MeshClient& client, const SubmitArgs& a, const Globals& g) {
  std::vector<TaskSpec> tasks;
  if (!a.file.empty()) {
    std::ifstream file;
    if (a.file != "-") {
      file.open(a.file);
      if (!file) {
        std::cerr << "meshctl: cannot read " << a.file << "\n";
        return kExitUsage;
      }
    }
    auto parsed = parse_json_lines(a.file == "-" ? std::cin : file, a.spec);
    if (!parsed.ok()) {
      std::cerr << "meshctl: " << parsed.status().message() << "\n";
      return kExitUsage;
    }
    tasks = std::move(parsed).value();
  } else {
    if (a.spec.handler.empty()) {
      std::cerr << "meshctl: submit needs --handler or --file\n";
      return kExitUsage;
    }
    for (uint32_t i = 0; i < a.count; ++i) {
      TaskSpec t = a.spec;
      if (t.id.empty()) {
        t.id = random_task_id();
      } else if (a.count > 1) {
        t.id += "-" + std::to_string(i);
      }
      tasks.push_back(std::move(t));
    }
  }
  std::vector<std::string> accepted, accepted_keys;
  std::vector<SubmitOutcome> outcomes;
  // An atomic submit is one transaction, one request; a plain one goes in parts.
  std::string txn = a.atomic ? (a.txn.empty() ? random_id("x-") : a.txn) : std::string{};
  for (auto& part : chunks(tasks, a.atomic ? tasks.size() : 1000)) {
    auto reply = a.atomic ? client.submit_atomic(std::move(part), txn) : client.submit(std::move(part));
    if (!reply.ok()) return report(reply.status());
    for (auto& o : reply.value().outcomes) {
      if (o.code == ErrorCode::kOk) {
        accepted.push_back(o.id);
        accepted_keys.push_back(tasks[outcomes.size()].key);  // outcomes come in task order
      }
      outcomes.push_back(std::move(o));
    }
  }
  size_t rejected = outcomes.size() - accepted.size();
  if (g.machine() && !a.wait) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& o : outcomes) {
      out.push_back({{"id", o.id}, {"code", error_name(o.code)}, {"message", o.message},
                     {"duplicate", o.duplicate}, {"state", state_name(o.state)}});
    }
    if (g.jsonl()) {
      print_lines(out);
    } else {
      std::cout << out.dump() << "\n";
    }
  } else if (g.jsonl()) {  // --wait: the waited tasks follow as lines; rejections go to stderr
    for (const auto& o : outcomes) {
      if (o.code != ErrorCode::kOk) std::cerr << o.id << "  rejected: " << error_name(o.code) << ": " << o.message << "\n";
    }
  } else if (!g.json()) {
    for (const auto& o : outcomes) {
      if (o.code != ErrorCode::kOk) {
        std::cerr << o.id << "  rejected: " << error_name(o.code) << ": " << o.message << "\n";
      } else if (outcomes.size() <= 20) {
        std::cout << o.id << (o.duplicate ? "  duplicate " : "  accepted ") << state_name(o.state) << "\n";
      }
    }
    std::cout << "submitted " << outcomes.size() << " tasks: " << accepted.size() << " accepted, " << rejected
              << " rejected\n";
    if (a.atomic) std::cout << "transaction " << txn << (rejected ? " aborted: nothing stored" : " committed") << "\n";
  }
  if (a.wait && !accepted.empty()) {
    auto reply = wait_for(client, accepted, accepted_keys, false, a.wait_timeout_ms, g);
    if (!reply.ok()) return report(reply.status());
    int code = print_wait(reply.value(), g, false);
    if (code != kExitOk) return code;
  }
  return rejected ? kExitRefused : kExitOk;
}

int do_get(MeshClient& client, const std::vector<std::string>& ids, const std::vector<std::string>& keys,
           const Globals& g) {
  auto reply = client.get(ids, keys);
  if (!reply.ok()) return report(reply.status());
  if (g.json()) {
    nlohmann::json out = {{"tasks", nlohmann::json::array()}, {"missing", reply.value().missing}};
    for (const auto& r : reply.value().records) out["tasks"].push_back(to_json(r));
    std::cout << out.dump() << "\n";
  } else {
    if (g.jsonl()) {
      print_task_lines(reply.value().records);
    } else {
      for (const auto& r : reply.value().records) std::cout << task_detail(r, g.wide()) << "\n";
    }
    for (const auto& id : reply.value().missing) std::cerr << id << "  not found\n";
  }
  return reply.value().missing.empty() ? kExitOk : kExitRefused;
}

// Prints a cancel's or a retry's outcomes: `done` for each one that took.
int print_outcomes(const std::vector<CancelOutcome>& outcomes, const char* done, const Globals& g) {
  bool all_ok = true;
  nlohmann::json out = nlohmann::json::array();
  for (const auto& o : outcomes) {
    all_ok = all_ok && o.code == ErrorCode::kOk;
    if (g.machine()) {
      out.push_back({{"id", o.id}, {"code", error_name(o.code)}, {"state", state_name(o.state)}});
    } else if (o.code == ErrorCode::kOk) {
      std::cout << o.id << "  " << done << "\n";
    } else {
      std::cout << o.id << "  " << error_name(o.code) << " (" << state_name(o.state) << ")\n";
    }
  }
  if (g.json()) std::cout << out.dump() << "\n";
  if (g.jsonl()) print_lines(out);
  return all_ok ? kExitOk : kExitRefused;
}

int do_cancel(MeshClient& client, const std::vector<std::string>& ids, const std::string& job, const Globals& g) {
  if (ids.empty() == job.empty()) {
    std::cerr << "meshctl: cancel needs task ids or --job\n";
    return kExitUsage;
  }
  if (job.empty()) {
    auto reply = client.cancel(ids);
    if (!reply.ok()) return report(reply.status());
    return print_outcomes(reply.value().outcomes, "cancelled", g);
  }
  auto reply = client.cancel_job(job);
  if (!reply.ok()) return report(reply.status());
  const auto& outcomes = reply.value().outcomes;
  if (g.machine()) {
    print_outcomes(outcomes, "cancelled", g);  // a finished task is no failure here
    return kExitOk;
  }
  size_t cancelled = std::count_if(outcomes.begin(), outcomes.end(),
                                   [](const CancelOutcome& o) { return o.code == ErrorCode::kOk; });
  std::cout << "job " << job << ": " << cancelled << " of " << outcomes.size()
            << " tasks cancelled, the rest had finished\n";
  return kExitOk;
}

int do_retry(MeshClient& client, const std::vector<std::string>& ids, bool all_failed, const Globals& g) {
  if (ids.empty() == !all_failed) {
    std::cerr << "meshctl: retry needs task ids or --failed\n";
    return kExitUsage;
  }
  auto reply = client.retry(ids, all_failed);
  if (!reply.ok()) return report(reply.status());
  if (!g.machine() && reply.value().outcomes.empty()) std::cout << "no dead letters\n";
  return print_outcomes(reply.value().outcomes, "re-queued", g);
}

int do_list(MeshClient& client, const std::string& state, uint32_t limit, const std::string& after, const Globals& g) {
  ListRequest request;
  request.limit = limit;
  request.after_id = after;
  if (!state.empty()) {
    if (!parse_state(state, &request.state)) {
      std::cerr << "meshctl: unknown state '" << state << "' (PENDING, LEASED, COMPLETED, FAILED, CANCELLED)\n";
      return kExitUsage;
    }
    request.any_state = false;
  }
  auto reply = client.list(request);
  if (!reply.ok()) return report(reply.status());
  const auto& records = reply.value().records;
  if (g.json()) {
    nlohmann::json out = {{"tasks", nlohmann::json::array()}, {"more", reply.value().more}};
    for (const auto& r : records) out["tasks"].push_back(to_json(r));
    std::cout << out.dump() << "\n";
  } else if (g.jsonl()) {
    print_task_lines(records);
    if (reply.value().more) std::cerr << "(more: --after " << records.back().spec.id << ")\n";
  } else {
    if (g.wide()) {
      std::cout << task_table(records);
    } else {
      for (const auto& r : records) std::cout << task_line(r) << "\n";
    }
    if (reply.value().more) std::cout << "(more: --after " << records.back().spec.id << ")\n";
  }
  return kExitOk;
}

// A job's progress: its tasks (those its transaction stored) counted by state.
int do_job(MeshClient& client, const std::string& txn, const Globals& g) {
  std::map<std::string, uint64_t> by_state;
  for (uint8_t s = 0; s < kTaskStateCount; ++s) by_state[state_name(static_cast<TaskState>(s))] = 0;
  uint64_t tasks = 0;
  ListRequest request;
  request.limit = limits::kMaxListLimit;
  request.txn = txn;
  for (bool more = true; more;) {
    auto reply = client.list(request);
    if (!reply.ok()) return report(reply.status());
    for (const auto& r : reply.value().records) ++by_state[state_name(r.state)];
    if (g.jsonl()) print_task_lines(reply.value().records);  // the job's tasks, one a line
    tasks += reply.value().records.size();
    more = reply.value().more && !reply.value().records.empty();
    if (more) request.after_id = reply.value().records.back().spec.id;
  }
  if (g.json()) {
    std::cout << nlohmann::json{{"job", txn}, {"tasks", tasks}, {"states", by_state}}.dump() << "\n";
  } else if (!g.jsonl()) {
    std::cout << "job " << txn << ": " << tasks << " tasks";
    for (const auto& [state, n] : by_state) std::cout << "  " << state << " " << n;
    std::cout << "\n";
  }
  return tasks ? kExitOk : kExitRefused;
}

struct MapReduceArgs {
  std::string map, reduce, final_step;  // commands as JSON arrays
  uint32_t reducers = 4;
  std::vector<std::string> files;
  std::string job;
  uint32_t max_attempts = 3;
  uint64_t task_timeout_ms = 60000;
  uint64_t wait_timeout_ms = 600000;
};

// Submits the job's tasks in one transaction, waits for the tasks that make
// its answer and prints it; progress goes to stderr.
int do_mapreduce(MeshClient& client, const MapReduceArgs& a, const Globals& g) {
  MapReduceJob job;
  job.job = a.job.empty() ? random_id("mr-") : a.job;
  job.reducers = a.reducers;
  job.max_attempts = a.max_attempts;
  job.task_timeout_ms = a.task_timeout_ms;
  for (auto [text, argv] : {std::pair{&a.map, &job.map_argv}, std::pair{&a.reduce, &job.reduce_argv},
                            std::pair{&a.final_step, &job.final_argv}}) {
    if (text->empty()) continue;
    auto parsed = parse_argv_json(*text);
    if (!parsed.ok()) {
      std::cerr << "meshctl: " << parsed.status().message() << "\n";
      return kExitUsage;
    }
    *argv = std::move(parsed).value();
  }
  for (const auto& path : a.files) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
      std::cerr << "meshctl: cannot read " << path << "\n";
      return kExitUsage;
    }
    job.inputs.emplace_back(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
  }
  auto submitted = client.submit_atomic(mapreduce_tasks(job), job.job);
  if (!submitted.ok()) return report(submitted.status());
  for (const auto& o : submitted.value().outcomes) {
    if (o.code != ErrorCode::kOk) {
      std::cerr << "meshctl: job " << job.job << " refused: " << o.id << ": " << error_name(o.code) << ": " << o.message
                << "\n";
      return kExitRefused;
    }
  }
  std::cerr << "job " << job.job << ": " << job.inputs.size() << " map tasks, " << job.reducers << " reduce tasks"
            << (job.final_argv.empty() ? "" : ", 1 final task") << " stored\n";
  std::vector<std::string> answer_ids = mapreduce_answer_ids(job);
  auto waited = wait_for(client, answer_ids, {}, false, a.wait_timeout_ms, g);
  if (!waited.ok()) return report(waited.status());
  if (waited.value().timed_out) {
    std::cerr << "meshctl: job " << job.job << " not finished after " << a.wait_timeout_ms << " ms (meshctl job "
              << job.job << ")\n";
    return kExitTimedOut;
  }
  std::map<std::string, const TaskRecord*> by_id;
  for (const auto& r : waited.value().records) by_id[r.spec.id] = &r;
  std::string answer;
  for (const auto& id : answer_ids) {
    const TaskRecord* r = by_id.count(id) ? by_id[id] : nullptr;
    if (r == nullptr || r->state != TaskState::kCompleted) {
      std::cerr << "meshctl: job " << job.job << ": " << id << " "
                << (r ? std::string(state_name(r->state)) + ": " + r->error : std::string("missing")) << "\n";
      return kExitTasksFailed;
    }
    answer += r->result;
  }
  if (g.machine()) {  // one object: the same line for jsonl
    std::cout << nlohmann::json{{"job", job.job}, {"maps", job.inputs.size()}, {"reducers", job.reducers},
                                {"result", answer}}.dump()
              << "\n";
  } else {
    std::cout << answer;
  }
  return kExitOk;
}

// Asks `client`'s node, then every other ALIVE member it knows, the same
// request; members silent past the timeout are listed.
template <typename Reply, typename Request>
Result<MemberReplies<Reply>> gather_from_members(MeshClient& client, const Globals& g, const Request& request = {}) {
  const uint64_t timeout_ms = g.timeout_ms;
  auto members = client.call(MembersRequest{});
  if (!members.ok()) return members.status();
  auto asked = client.call(request);
  if (!asked.ok()) return asked.status();
  const auto* members_reply = std::get_if<MembersReply>(&members.value());
  const auto* asked_reply = std::get_if<Reply>(&asked.value());
  if (members_reply == nullptr || asked_reply == nullptr) return Status(ErrorCode::kMalformed, "unexpected reply kind");
  MemberReplies<Reply> out;
  out.replies.push_back(*asked_reply);
  std::vector<std::pair<std::string, std::unique_ptr<MeshClient>>> peers;
  for (const auto& m : members_reply->members) {
    if (m.state != MemberState::kAlive || m.id == asked_reply->node_id) continue;
    auto peer = std::make_unique<MeshClient>(std::vector<std::string>{m.address}, g.client_options(timeout_ms));
    if (peer->send(request).ok()) {
      peers.emplace_back(m.id, std::move(peer));
    } else {
      out.silent.push_back(m.id);
    }
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (auto& [id, peer] : peers) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto reply = peer->receive(static_cast<uint64_t>(std::max<int64_t>(0, left.count())));
    const auto* error = reply.ok() ? std::get_if<ErrorReply>(&reply.value().second) : nullptr;
    if (reply.ok() && std::holds_alternative<Reply>(reply.value().second)) {
      out.replies.push_back(std::get<Reply>(std::move(reply).value().second));
    } else if (error != nullptr) {
      out.refused.emplace_back(id, error->message);
    } else {
      out.silent.push_back(id);
    }
  }
  return out;
}

// Every live member drops the replica from the groups it leads.
int do_remove_replica(MeshClient& client, const Globals& g, const std::string& replica_id) {
  auto replies = gather_from_members<RemoveReplicaReply, RemoveReplicaRequest>(client, g, RemoveReplicaRequest{replica_id});
  if (!replies.ok()) return report(replies.status());
  nlohmann::json refused = nlohmann::json::array();
  for (const auto& [id, why] : replies.value().refused) refused.push_back({{"node_id", id}, {"error", why}});
  nlohmann::json out = {{"replica_id", replica_id},
                        {"nodes", nlohmann::json::array()},
                        {"silent", replies.value().silent},
                        {"refused", refused}};
  std::string text;
  size_t partitions = 0;
  for (const auto& r : replies.value().replies) {
    out["nodes"].push_back({{"node_id", r.node_id}, {"partitions", r.partitions}});
    partitions += r.partitions.size();
    std::string list;
    for (uint32_t p : r.partitions) list += (list.empty() ? "" : ",") + std::to_string(p);
    text += r.node_id + "  leads " + std::to_string(r.partitions.size()) + " groups holding it" +
            (list.empty() ? "" : ": " + list) + "\n";
  }
  for (const auto& id : replies.value().silent) text += id + "  did not answer: ask again once it is back\n";
  for (const auto& [id, why] : replies.value().refused) text += id + "  refused: " + why + "\n";
  text += replica_id + " is being removed from " + std::to_string(partitions) +
          " groups; `meshctl partitions` shows their voters\n";
  print_reply(g, out, nullptr, g.machine() ? "" : text);
  return replies.value().silent.empty() && replies.value().refused.empty() ? kExitOk : kExitRefused;
}

int do_stats(MeshClient& client, const Globals& g, bool mesh_wide) {
  if (mesh_wide) {
    auto replies = gather_from_members<StatsReply, StatsRequest>(client, g);
    if (!replies.ok()) return report(replies.status());
    print_reply(g, mesh_stats_json(replies.value()), nullptr, g.machine() ? "" : mesh_stats_text(replies.value()));
    return kExitOk;
  }
  auto reply = client.stats();
  if (!reply.ok()) return report(reply.status());
  print_reply(g, to_json(reply.value()), nullptr, g.machine() ? "" : stats_text(reply.value()));
  return kExitOk;
}

int64_t gauge_of(const StatsReply& s, const std::string& name) {
  auto it = s.gauges.find(name);
  return it == s.gauges.end() ? 0 : it->second;
}

uint64_t counter_of(const StatsReply& s, const std::string& name) {
  auto it = s.counters.find(name);
  return it == s.counters.end() ? 0 : it->second;
}

// A live view: the node's queue and throughput, then the mesh's load view,
// redrawn every interval (plain lines when stdout is not a terminal).
int do_top(MeshClient& client, const Globals& g, uint64_t interval_ms, uint64_t iterations) {
  const bool terminal = ::isatty(STDOUT_FILENO) != 0;
  uint64_t last_completed = 0;
  for (uint64_t i = 0; iterations == 0 || i < iterations; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
    auto stats = client.stats();
    if (!stats.ok()) return report(stats.status());
    auto members = client.call(MembersRequest{});
    if (!members.ok()) return report(members.status());
    const StatsReply& s = stats.value();
    uint64_t completed = counter_of(s, "tasks_completed");
    double per_second = i == 0 ? 0.0 : static_cast<double>(completed - last_completed) * 1000.0 / static_cast<double>(interval_ms);
    last_completed = completed;
    if (g.machine()) {  // one object a view: json and jsonl alike
      nlohmann::json out = {{"stats", to_json(s)}, {"members", to_json(std::get<MembersReply>(members.value()))},
                            {"completed_per_second", per_second}};
      std::cout << out.dump() << "\n" << std::flush;
      continue;
    }
    if (terminal) std::cout << "\x1b[H\x1b[2J";
    const HistogramSummary& latency = s.histograms.count("task_latency_ms") ? s.histograms.at("task_latency_ms")
                                                                              : HistogramSummary{};
    std::printf("meshctl top: %s  (every %llu ms)\n", s.node_id.c_str(), static_cast<unsigned long long>(interval_ms));
    std::printf("tasks   pending %lld  leased %lld  completed %lld  failed %lld  cancelled %lld\n",
                static_cast<long long>(gauge_of(s, "tasks_pending")), static_cast<long long>(gauge_of(s, "tasks_leased")),
                static_cast<long long>(gauge_of(s, "tasks_completed")), static_cast<long long>(gauge_of(s, "tasks_failed")),
                static_cast<long long>(gauge_of(s, "tasks_cancelled")));
    std::printf("slots   %lld free of %lld, %lld borrowed, %lld lent;  %.0f completed/s;  latency p50 %llu ms p99 %llu ms\n",
                static_cast<long long>(gauge_of(s, "slots_free")), static_cast<long long>(gauge_of(s, "slots_total")),
                static_cast<long long>(gauge_of(s, "tasks_borrowed")), static_cast<long long>(gauge_of(s, "tasks_lent")),
                per_second, static_cast<unsigned long long>(latency.p50), static_cast<unsigned long long>(latency.p99));
    std::printf("steals  stolen %llu  lent %llu  stale results rejected %llu\n\n",
                static_cast<unsigned long long>(counter_of(s, "tasks_stolen")),
                static_cast<unsigned long long>(counter_of(s, "tasks_lent")),
                static_cast<unsigned long long>(counter_of(s, "stale_completions_rejected")));
    std::cout << load_text(std::get<MembersReply>(members.value()), g.wide()) << std::flush;
  }
  return kExitOk;
}

// Asks the node for its members and its partitions, then every other ALIVE
// member, all at once, for theirs: one timeout bounds the wait for them all.
int do_partitions(MeshClient& client, const Globals& g) {
  auto replies = gather_from_members<PartitionsReply, PartitionsRequest>(client, g);
  if (!replies.ok()) return report(replies.status());
  MeshPartitions mesh = merge_partitions(replies.value());
  print_reply(g, to_json(mesh), "groups", g.machine() ? "" : partitions_text(mesh, g.wide()));
  return kExitOk;
}

// One request to the node, its reply printed: `list` as print_reply takes it,
// `text` renders table and wide (it is told which).
template <typename Reply, typename Request>
int show(MeshClient& client, const Globals& g, const char* list, std::string (*text)(const Reply&, bool wide)) {
  auto reply = client.call(Request{});
  if (!reply.ok()) return report(reply.status());
  const auto* typed = std::get_if<Reply>(&reply.value());
  if (typed == nullptr) return report(Status(ErrorCode::kMalformed, "unexpected reply kind"));
  print_reply(g, to_json(*typed), list, g.machine() ? "" : text(*typed, g.wide()));
  return kExitOk;
}

// The commands that show nothing more with -o wide than with table.
template <typename Reply, std::string (*text)(const Reply&)>
std::string same_when_wide(const Reply& reply, bool /*wide*/) {
  return text(reply);
}

struct EventsArgs {
  uint64_t after = 0;
  bool follow = false;
  bool all_nodes = false;
  std::vector<std::string> kinds;  // empty: every kind
  uint64_t interval_ms = 500;
};

// One node's events as meshctl follows them.
struct EventSource {
  std::string name;  // empty: the one node asked (no node column)
  std::unique_ptr<MeshClient> owned;
  MeshClient* client = nullptr;
  uint64_t after = 0;
};

// Prints the events after `after` of one node, or of every alive member
// merged by time (--all); with --follow, keeps asking for newer ones until
// Ctrl-C. A gap (events dropped from a node's ring before they were read)
// is said, never hidden (on stderr when stdout is JSON); a node that does not
// answer is named. -o json prints one document of what was read (one node's
// as meshd's /v1/events has it); followed events, which have no end, come
// one object a line as with jsonl.
int do_events(MeshClient& client, const EventsArgs& a, const Globals& g) {
  std::vector<EventSource> sources;
  if (a.all_nodes) {
    auto members = client.call(MembersRequest{});
    if (!members.ok()) return report(members.status());
    for (const auto& m : std::get<MembersReply>(members.value()).members) {
      if (m.state != MemberState::kAlive) continue;
      auto peer = std::make_unique<MeshClient>(std::vector<std::string>{m.address}, g.client_options(g.timeout_ms));
      MeshClient* raw = peer.get();
      sources.push_back({m.id, std::move(peer), raw, a.after});
    }
  } else {
    sources.push_back({{}, nullptr, &client, a.after});
  }
  const bool document = g.json() && !a.follow;
  std::ostream& notes = g.machine() ? std::cerr : std::cout;
  nlohmann::json out = {{"nodes", nlohmann::json::array()}, {"silent", nlohmann::json::array()},
                        {"events", nlohmann::json::array()}};
  std::string asked;  // the node id of the one node asked, without --all
  if (g.wide()) std::cout << events_wide_header();
  for (bool first = true; first || a.follow; first = false) {
    if (!first) std::this_thread::sleep_for(std::chrono::milliseconds(a.interval_ms));
    std::vector<std::pair<std::string, MeshEvent>> round;
    for (auto& source : sources) {
      auto reply = source.client->call(EventsRequest{source.after});
      auto* events = reply.ok() ? std::get_if<EventsReply>(&reply.value()) : nullptr;
      if (events == nullptr) {
        if (!a.all_nodes) return report(reply.ok() ? Status(ErrorCode::kMalformed, "unexpected reply kind") : reply.status());
        std::cerr << source.name << "  did not answer\n";
        out["silent"].push_back(source.name);
        continue;
      }
      if (events->first_kept_seq > source.after + 1) {
        notes << "(" << events->first_kept_seq - source.after - 1 << " older events no longer kept by "
              << events->node_id << ")\n";
      }
      if (!events->events.empty()) source.after = events->events.back().seq;
      if (!a.kinds.empty()) {
        std::erase_if(events->events, [&](const MeshEvent& e) {
          return std::find(a.kinds.begin(), a.kinds.end(), e.kind) == a.kinds.end();
        });
      }
      if (!a.all_nodes) {
        if (document) out = to_json(*events);  // the document of one node: its reply as it is
      } else {
        out["nodes"].push_back({{"node_id", events->node_id}, {"first_kept_seq", events->first_kept_seq}});
      }
      asked = events->node_id;
      for (const auto& e : events->events) round.emplace_back(source.name, e);
    }
    std::stable_sort(round.begin(), round.end(),
                     [](const auto& x, const auto& y) { return x.second.at_ms < y.second.at_ms; });
    for (const auto& [node, e] : round) {
      if (g.machine()) {
        nlohmann::json line = to_json(e);
        if (!node.empty()) line["node"] = node;
        if (document) {
          if (a.all_nodes) out["events"].push_back(std::move(line));  // one node's are in `out` already
        } else {
          std::cout << line.dump() << "\n";
        }
      } else if (g.wide()) {
        std::cout << event_wide_line(node.empty() ? asked : node, e);
      } else {
        std::cout << (node.empty() ? "" : node + "  ") << e.seq << "  " << e.at_ms << "  " << e.kind << "  "
                  << e.subject << (e.detail.empty() ? "" : "  " + e.detail) << "\n";
      }
    }
    std::cout.flush();
  }
  if (document) std::cout << out.dump() << "\n";
  return kExitOk;
}

struct KeygenArgs {
  std::string dir;
  bool mesh = false;
  std::vector<std::string> nodes;
  std::vector<std::string> clients;  // NAME:ROLE
};

int do_keygen(const KeygenArgs& args) {
  if (!args.mesh && args.nodes.empty() && args.clients.empty()) {
    std::cerr << "meshctl: keygen needs --mesh, --node or --client\n";
    return kExitUsage;
  }
  for (const auto& entry : args.clients) {
    size_t colon = entry.rfind(':');
    if (colon == std::string::npos || !parse_client_role(entry.substr(colon + 1))) {
      std::cerr << "meshctl: --client wants NAME:ROLE with ROLE read, submit or admin, got '" << entry << "'\n";
      return kExitUsage;
    }
  }
  if (args.mesh) {
    if (Status s = keygen_mesh(args.dir); !s.ok()) return report(s);
  }
  for (const auto& id : args.nodes) {
    if (Status s = keygen_node(args.dir, id); !s.ok()) return report(s);
  }
  for (const auto& entry : args.clients) {
    size_t colon = entry.rfind(':');
    if (Status s = keygen_client(args.dir, entry.substr(0, colon), *parse_client_role(entry.substr(colon + 1)));
        !s.ok()) {
      return report(s);
    }
  }
  std::cout << "keys written to " << args.dir << "\n";
  return kExitOk;
}

int run(int argc, char** argv) {
  CLI::App app{"meshctl: submit, follow and inspect tasks on a meshwork node"};
  app.option_defaults()->always_capture_default();  // --help shows every default
  app.set_version_flag("--version", "meshctl " MESH_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global options after the command too: meshctl list -o wide
  Globals g;
  const char* env_addr = std::getenv("MESH_ADDR");
  g.addresses = env_addr ? env_addr : "tcp://127.0.0.1:7700";
  app.add_option("-a,--addr", g.addresses, "node endpoints, comma-separated (default $MESH_ADDR or tcp://127.0.0.1:7700)");
  std::string output = "table";
  auto* output_opt =
      app.add_option("-o,--output", output,
                     "output format: table (for people), wide (the table with more columns where a command has more "
                     "to show), json (one JSON document), jsonl (one JSON object a line for each task, member, "
                     "event, ... a command lists)")
          ->check(CLI::IsMember(kOutputFormatNames));
  bool json_flag = false;
  app.add_flag("--json", json_flag, "the same as -o json");
  bool progress = false;
  app.add_flag("--progress", progress, "long waits print progress to stderr (default: when stderr is a terminal)");
  app.add_option("--timeout-ms", g.timeout_ms, "how long to wait for a node's reply");
  const char* env_client_key = std::getenv("MESH_CLIENT_KEY");
  const char* env_mesh_key = std::getenv("MESH_MESH_KEY");
  g.client_key_file = env_client_key ? env_client_key : "";
  g.mesh_key_file = env_mesh_key ? env_mesh_key : "";
  app.add_option("--client-key", g.client_key_file,
                 "a mesh with keys: this client's key pair file (default $MESH_CLIENT_KEY)");
  app.add_option("--mesh-key", g.mesh_key_file, "a mesh with keys: the mesh's public key, mesh.pub (default $MESH_MESH_KEY)");

  auto* keygen_cmd = app.add_subcommand("keygen", "write CURVE key pairs and allow-list entries (docs/SECURITY.md)");
  KeygenArgs keygen;
  keygen_cmd->add_option("--dir", keygen.dir, "the keys directory")->required();
  keygen_cmd->add_flag("--mesh", keygen.mesh, "the mesh's server key pair: mesh.key, mesh.pub");
  keygen_cmd->add_option("--node", keygen.nodes, "a node's key pair: <id>.key, nodes/<id>.pub (repeatable)");
  keygen_cmd->add_option("--client", keygen.clients,
                         "a client's key pair with a role (read, submit, admin): NAME:ROLE gives <name>.key and "
                         "clients/<name>.pub (repeatable)");

  SubmitArgs submit;
  auto* submit_cmd = app.add_subcommand("submit", "submit one task, --count copies, or JSON lines from --file");
  submit_cmd->add_option("--handler", submit.spec.handler, "handler: noop, sleep, spin, hash, fail, exec, ...");
  submit_cmd->add_option("--payload", submit.spec.payload, "payload bytes given to the handler");
  submit_cmd->add_option("--id", submit.spec.id, "task id (idempotency key); generated when absent");
  submit_cmd->add_option("--priority", submit.spec.priority, "higher runs first");
  submit_cmd->add_option("--max-attempts", submit.spec.max_attempts, "attempts before the task is FAILED");
  submit_cmd->add_option("--task-timeout-ms", submit.spec.timeout_ms, "per-attempt timeout of the tasks");
  submit_cmd->add_option("--backoff-ms", submit.spec.backoff_base_ms, "first retry delay");
  submit_cmd->add_option("--backoff-max-ms", submit.spec.backoff_max_ms, "retry delay cap");
  submit_cmd->add_option("--key", submit.spec.key, "partition key (default: the id)");
  bool no_steal = false;
  submit_cmd->add_flag("--no-steal", no_steal, "keep the task on its home node");
  bool no_backup = false;
  submit_cmd->add_flag("--no-backup", no_backup,
                       "never start a backup attempt of these tasks (with --file: every task of the job)");
  submit_cmd->add_option("--count", submit.count, "submit this many copies")->check(CLI::Range(1u, 10000000u));
  submit_cmd->add_option("--file", submit.file, "JSON lines file of tasks ('-' for stdin)");
  submit_cmd->add_flag("--atomic", submit.atomic, "all tasks or none, in one transaction across partitions");
  submit_cmd->add_option("--txn", submit.txn, "the transaction's id with --atomic (generated when absent)");
  submit_cmd->add_flag("--wait", submit.wait, "wait for the tasks to finish and show them");
  submit_cmd->add_option("--wait-timeout-ms", submit.wait_timeout_ms, "how long --wait waits");

  std::vector<std::string> ids;
  std::string read_key;
  auto* get_cmd = app.add_subcommand("get", "show tasks");
  get_cmd->add_option("ids", ids, "task ids")->required();
  get_cmd->add_option("--key", read_key, "the key the tasks were submitted under: only its partition is asked");

  bool wait_all = false;
  uint64_t wait_timeout_ms = 60000;
  auto* wait_cmd = app.add_subcommand("wait", "wait until tasks finish");
  wait_cmd->add_option("ids", ids, "task ids");
  wait_cmd->add_flag("--all", wait_all, "until no task on the node is unfinished");
  wait_cmd->add_option("--wait-timeout-ms", wait_timeout_ms, "give up after this long");
  wait_cmd->add_option("--key", read_key, "the key the tasks were submitted under: only its partition is asked");

  std::string cancel_job;
  auto* cancel_cmd = app.add_subcommand("cancel", "cancel tasks, or a whole job at once");
  cancel_cmd->add_option("ids", ids, "task ids");
  cancel_cmd->add_option("--job", cancel_job,
                         "every unfinished task of this job (its transaction id), all or none, instead of ids");

  bool retry_failed = false;
  auto* retry_cmd = app.add_subcommand("retry", "re-queue dead letters (FAILED tasks) with a fresh failure budget");
  retry_cmd->add_option("ids", ids, "task ids");
  retry_cmd->add_flag("--failed", retry_failed, "every dead letter of the mesh");

  std::string state, after;
  uint32_t limit = 100;
  std::string job_id;
  auto* job_cmd = app.add_subcommand("job", "an atomic job's tasks counted by state (its transaction id)");
  job_cmd->add_option("txn", job_id, "the job's transaction id (submit --atomic --txn)")->required();
  auto* list_cmd = app.add_subcommand("list", "list tasks, optionally in one state");
  list_cmd->add_option("--state", state, "PENDING, LEASED, COMPLETED, FAILED or CANCELLED");
  list_cmd->add_option("--limit", limit, "at most this many")->check(CLI::Range(1u, limits::kMaxListLimit));
  list_cmd->add_option("--after", after, "page: ids after this one");

  MapReduceArgs mapreduce;
  auto* mapreduce_cmd = app.add_subcommand(
      "mapreduce", "run a map-reduce job of exec tasks over files, all or none, and print its answer");
  mapreduce_cmd->add_option("--map", mapreduce.map, "map command, a JSON array: reads one file, prints KEY[<tab>VALUE] lines")
      ->required();
  mapreduce_cmd->add_option("--reduce", mapreduce.reduce, "reduce command, a JSON array: reads every line of its keys")
      ->required();
  mapreduce_cmd->add_option("--final", mapreduce.final_step, "optional last command, a JSON array: reads every reducer's output");
  mapreduce_cmd->add_option("--reducers", mapreduce.reducers, "reduce tasks (shards of the keys)")
      ->check(CLI::Range(1u, 1024u));
  mapreduce_cmd->add_option("--job", mapreduce.job, "the job's id (its transaction; generated when absent)");
  mapreduce_cmd->add_option("--max-attempts", mapreduce.max_attempts, "attempts of each task");
  mapreduce_cmd->add_option("--task-timeout-ms", mapreduce.task_timeout_ms, "per-attempt timeout of each task");
  mapreduce_cmd->add_option("--wait-timeout-ms", mapreduce.wait_timeout_ms, "how long to wait for the answer");
  mapreduce_cmd->add_option("files", mapreduce.files, "input files, one map task each")->required();
  bool stats_mesh = false;
  auto* stats_cmd = app.add_subcommand("stats", "counters, gauges and latency histograms of the node");
  stats_cmd->add_flag("--mesh", stats_mesh, "counters and gauges summed over every ALIVE member");
  auto* members_cmd = app.add_subcommand("members", "members with state, incarnation, address and load");
  auto* ring_cmd = app.add_subcommand("ring", "each node's share of the ring and of the partitions");
  auto* partitions_cmd = app.add_subcommand(
      "partitions", "every partition's Raft group (leader, term, voters, commit, lag), asking every alive member");
  auto* load_cmd = app.add_subcommand("load", "the load view (runnable tasks, free slots) as the node sees it");
  auto* steals_cmd = app.add_subcommand("steals", "recent steals and steal counters of the node");
  EventsArgs events_args;
  auto* events_cmd = app.add_subcommand("events", "what the node saw happen: members, leadership, replicas, steals, "
                                                  "dead letters, transactions (oldest first)");
  events_cmd->add_option("--after", events_args.after, "only events numbered after this one");
  events_cmd->add_flag("--follow", events_args.follow,
                       "keep printing new events until Ctrl-C (-o json then prints one object a line, as jsonl)");
  events_cmd->add_flag("--all", events_args.all_nodes, "from every alive member, merged by time (node clocks)");
  events_cmd->add_option("--kind", events_args.kinds,
                         "only events of these kinds (repeatable), e.g. --kind steal --follow streams every steal");
  auto* txns_cmd = app.add_subcommand("txns", "transactions the node takes part in: in flight, in doubt, recently decided");
  auto* operator_cmd = app.add_subcommand("operator", "operator actions on the mesh's replicas (role admin)");
  std::string removed_replica;
  auto* remove_replica_cmd = operator_cmd->add_subcommand(
      "remove-replica", "a replica whose disk is gone for good leaves every group, even below R voters "
                        "(asks every live member; its id is <node id>#<disk id>, see meshctl partitions)");
  remove_replica_cmd->add_option("replica", removed_replica, "replica id")->required();
  operator_cmd->require_subcommand(1);
  auto* drain_cmd = app.add_subcommand(
      "drain", "stop the node as SIGTERM would: hand its leaderships over, let running attempts finish, exit "
               "(role admin on a mesh with keys)");
  uint64_t top_interval_ms = 1000, top_iterations = 0;
  auto* top_cmd = app.add_subcommand("top", "a live view of the node and the mesh's load (Ctrl-C ends it)");
  top_cmd->add_option("--interval-ms", top_interval_ms, "redraw this often")->check(CLI::Range(50u, 3600000u));
  top_cmd->add_option("--iterations", top_iterations, "stop after this many views (0: run until Ctrl-C)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  if (json_flag && output_opt->count() > 0 && output != "json") {
    std::cerr << "meshctl: --json is -o json; it does not go with -o " << output << "\n";
    return kExitUsage;
  }
  g.output = json_flag ? OutputFormat::kJson : parse_output_format(output).value_or(OutputFormat::kTable);
  g.progress = progress || (::isatty(STDERR_FILENO) && !g.machine());
  if (*keygen_cmd) return do_keygen(keygen);
  if (!g.client_key_file.empty() || !g.mesh_key_file.empty()) {
    auto keys = read_client_keys(g.client_key_file, g.mesh_key_file);
    if (!keys.ok()) {
      std::cerr << "meshctl: " << keys.status().message() << " (--client-key and --mesh-key go together)\n";
      return kExitUsage;
    }
    g.curve = keys.value();
  }
  MeshClient client(split(g.addresses, ','), g.client_options(g.timeout_ms));
  submit.spec.stealable = !no_steal;
  submit.spec.no_backup = no_backup;
  if (*submit_cmd) return do_submit(client, submit, g);
  std::vector<std::string> read_keys(read_key.empty() ? 0 : ids.size(), read_key);
  if (*get_cmd) return do_get(client, ids, read_keys, g);
  if (*wait_cmd) {
    if (ids.empty() && !wait_all) {
      std::cerr << "meshctl: wait needs task ids or --all\n";
      return kExitUsage;
    }
    auto reply = wait_for(client, ids, read_keys, wait_all, wait_timeout_ms, g);
    if (!reply.ok()) return report(reply.status());
    return print_wait(reply.value(), g, wait_all);
  }
  if (*cancel_cmd) return do_cancel(client, ids, cancel_job, g);
  if (*retry_cmd) return do_retry(client, ids, retry_failed, g);
  if (*list_cmd) return do_list(client, state, limit, after, g);
  if (*stats_cmd) return do_stats(client, g, stats_mesh);
  if (*members_cmd) return show<MembersReply, MembersRequest>(client, g, "members", members_text);
  if (*ring_cmd) {
    return show<PartitionsReply, PartitionsRequest>(client, g, nullptr, same_when_wide<PartitionsReply, ring_text>);
  }
  if (*partitions_cmd) return do_partitions(client, g);
  if (*load_cmd) return show<MembersReply, MembersRequest>(client, g, "members", load_text);
  if (*steals_cmd) return show<StealsReply, StealsRequest>(client, g, "recent", same_when_wide<StealsReply, steals_text>);
  if (*txns_cmd) return show<TxnsReply, TxnsRequest>(client, g, "txns", same_when_wide<TxnsReply, txns_text>);
  if (*remove_replica_cmd) return do_remove_replica(client, g, removed_replica);
  if (*drain_cmd) return show<DrainReply, DrainRequest>(client, g, nullptr, same_when_wide<DrainReply, drain_text>);
  if (*job_cmd) return do_job(client, job_id, g);
  if (*mapreduce_cmd) return do_mapreduce(client, mapreduce, g);
  if (*events_cmd) return do_events(client, events_args, g);
  if (*top_cmd) return do_top(client, g, top_interval_ms, top_iterations);
  return kExitUsage;
}

}  // namespace
}  // namespace mesh::ctl

int main(int argc, char** argv) { return mesh::ctl::run(argc, argv); }
