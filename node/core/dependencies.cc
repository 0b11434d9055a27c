#include "node/core/dependencies.h"

#include <algorithm>
#include <deque>

#include "node/core/assert.h"
#include "node/core/partitioning.h"
#include "protocol/limits.h"

namespace mesh {

namespace {

// An OpParentsDone stays well inside one log entry: outcomes carry results.
constexpr size_t kMaxOutcomeBytesPerOp = 2u << 20;
constexpr size_t kMaxOutcomesPerOp = 1000;

Status invalid(std::string text) { return Status(ErrorCode::kInvalidArgument, std::move(text)); }

}  // namespace

Status check_dependency_batch(std::vector<TaskSpec>& tasks) {
  std::map<std::string, size_t> index_of;
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (!index_of.emplace(tasks[i].id, i).second) return invalid("task " + tasks[i].id + " appears twice");
  }
  // Kahn's algorithm over the edges inside the submit: what is left once
  // every task whose parents are all placed has been placed is a cycle.
  std::vector<size_t> waiting_on(tasks.size(), 0);
  std::vector<std::vector<size_t>> children(tasks.size());
  for (size_t i = 0; i < tasks.size(); ++i) {
    TaskSpec& spec = tasks[i];
    if (spec.shard_count > 0 && spec.shard_index >= spec.shard_count) {
      return invalid("task " + spec.id + ": shard_index must be below shard_count");
    }
    std::set<std::string> seen;
    for (ParentRef& parent : spec.after) {
      if (parent.id.empty()) return invalid("task " + spec.id + " names a parent without an id");
      if (parent.id == spec.id) return invalid("task " + spec.id + " waits for itself");
      if (!seen.insert(parent.id).second) return invalid("task " + spec.id + " names parent " + parent.id + " twice");
      auto in_batch = index_of.find(parent.id);
      parent.in_job = in_batch != index_of.end();  // whatever the client said
      if (!parent.in_job) continue;
      const TaskSpec& p = tasks[in_batch->second];
      if (!parent.key.empty() && parent.key != p.key && !(p.key.empty() && parent.key == p.id)) {
        return invalid("task " + spec.id + " names parent " + parent.id + " under key '" + parent.key +
                       "', but this submit stores it under its own key");
      }
      parent.key = p.key;
      ++waiting_on[i];
      children[in_batch->second].push_back(i);
    }
  }
  std::deque<size_t> free;
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (waiting_on[i] == 0) free.push_back(i);
  }
  size_t placed = 0;
  while (!free.empty()) {
    size_t i = free.front();
    free.pop_front();
    ++placed;
    for (size_t child : children[i]) {
      if (--waiting_on[child] == 0) free.push_back(child);
    }
  }
  if (placed < tasks.size()) {
    for (size_t i = 0; i < tasks.size(); ++i) {
      if (waiting_on[i] > 0) return invalid("dependency cycle through task " + tasks[i].id);
    }
  }
  return Status::Ok();
}

std::vector<std::string> inputs_in_order(const TaskRecord& record) {
  std::vector<std::string> inputs;
  if (record.inputs.empty()) return inputs;
  inputs.reserve(record.spec.after.size());
  for (const auto& parent : record.spec.after) {
    auto it = record.inputs.find(parent.id);
    inputs.push_back(it == record.inputs.end() ? std::string() : it->second);
  }
  return inputs;
}

std::string shard_of(std::string_view text, uint32_t index, uint32_t count) {
  MESH_ASSERT(count > 0 && index < count, "a shard lies inside its count");
  std::string out;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (partition_of(line.substr(0, line.find('\t')), count) != index) continue;
    out.append(line);
    out.push_back('\n');
  }
  return out;
}

// --- origin ------------------------------------------------------------------------------

void Dependencies::submit(RequestRef request, std::string txn, std::vector<TaskSpec> tasks) {
  if (Status s = check_dependency_batch(tasks); !s.ok()) {
    host_.count("dependency_submits_refused");
    return host_.answer_client(request, ErrorReply{s.code(), s.message()});
  }
  GetRequest outside;
  std::set<std::string> asked;
  for (const auto& spec : tasks) {
    for (const auto& parent : spec.after) {
      if (parent.in_job || !asked.insert(parent.id).second) continue;
      outside.ids.push_back(parent.id);
      outside.keys.push_back(parent.key);
    }
  }
  if (outside.ids.empty()) return host_.submit_atomic(request, std::move(txn), std::move(tasks));
  uint64_t handle = next_handle_++;
  checks_[handle] = Check{request, std::move(txn), std::move(tasks), outside.ids};
  host_.ask(AskRef{Asker::kDependencies, handle}, std::move(outside), config_.check_timeout_ms);
}

void Dependencies::on_check_answer(Check check, const Reply& reply) {
  if (const auto* error = std::get_if<ErrorReply>(&reply)) {
    return host_.answer_client(check.request, ErrorReply{error->code, "checking the parents: " + error->message});
  }
  const auto* got = std::get_if<GetReply>(&reply);
  MESH_ASSERT(got != nullptr, "a get is answered with a get reply or an error");
  if (!got->missing.empty()) {
    host_.count("dependency_submits_refused");
    return host_.answer_client(check.request, ErrorReply{ErrorCode::kInvalidArgument,
                                                         "unknown parent " + got->missing.front() +
                                                             ": no task of that id is stored under its key"});
  }
  host_.submit_atomic(check.request, std::move(check.txn), std::move(check.tasks));
}

// --- leader of the children --------------------------------------------------------------

// Watches the parents the record still needs, and only those; an outcome
// proposed for a parent still needed stays marked until it applies.
void Dependencies::on_record(uint32_t partition, const TaskRecord& record) {
  if (record.spec.after.empty()) return;
  Child child{partition, record.spec.id};
  bool blocked = record.state == TaskState::kBlocked;
  for (const auto& parent : record.spec.after) {
    ParentKey key{parent.id, parent.key};
    if (blocked && !record.inputs.count(parent.id)) {
      Watch& watch = watches_[key];  // a new watch asks at once
      watch.children.insert(child);
      watch.in_job = watch.in_job || parent.in_job;
      continue;
    }
    proposed_.erase({partition, record.spec.id, parent.id});
    auto it = watches_.find(key);
    if (it == watches_.end()) continue;
    it->second.children.erase(child);
    if (it->second.children.empty()) watches_.erase(it);  // an answer still on its way is dropped
  }
}

void Dependencies::on_lead_end(uint32_t partition) {
  for (auto it = watches_.begin(); it != watches_.end();) {
    auto& children = it->second.children;
    for (auto c = children.begin(); c != children.end();) c = c->first == partition ? children.erase(c) : std::next(c);
    it = children.empty() ? watches_.erase(it) : std::next(it);
  }
  for (auto it = proposed_.begin(); it != proposed_.end();) {
    it = std::get<0>(*it) == partition ? proposed_.erase(it) : std::next(it);
  }
}

void Dependencies::on_answer(uint64_t handle, const Reply& reply) {
  if (auto check = checks_.find(handle); check != checks_.end()) {
    Check taken = std::move(check->second);
    checks_.erase(check);
    return on_check_answer(std::move(taken), reply);
  }
  auto wait = waits_.find(handle);
  if (wait == waits_.end()) return;
  ParentKey parent = std::move(wait->second);
  waits_.erase(wait);
  on_wait_answer(parent, reply);
}

void Dependencies::on_wait_answer(const ParentKey& parent, const Reply& reply) {
  auto it = watches_.find(parent);
  if (it == watches_.end()) return;  // nobody waits for it here any more
  Watch& watch = it->second;
  watch.asking = 0;
  const auto* waited = std::get_if<WaitReply>(&reply);
  if (waited == nullptr) {
    host_.count("dependency_waits_failed");
    watch.ask_at_ms = host_.now_ms() + config_.retry_ms;
    return;
  }
  for (const auto& record : waited->records) {
    if (record.spec.id != parent.first || !is_terminal(record.state)) continue;
    bool completed = record.state == TaskState::kCompleted;
    watch.outcome = Outcome{completed, completed ? record.result
                                                 : std::string(state_name(record.state)) + ": " + record.error};
    return;
  }
  bool missing = std::find(waited->missing.begin(), waited->missing.end(), parent.first) != waited->missing.end();
  if (missing && !waited->timed_out && !watch.in_job) {
    // Every partition answered, and it existed when the submit was checked:
    // retention removed it. (One of the task's own job may still be an
    // intent at its partition: its resolve is on the way.)
    watch.outcome = Outcome{false, "unknown parent: not stored under key '" + parent.second + "', or removed by retention"};
    return;
  }
  // The long-poll ended without a final state: ask again (after a pause
  // when the parent is not visible yet, which a long-poll does not wait for).
  watch.ask_at_ms = host_.now_ms() + (missing ? config_.retry_ms : 0);
}

void Dependencies::tick() {
  uint64_t now = host_.now_ms();
  for (auto& [parent, watch] : watches_) {
    if (watch.outcome || watch.asking != 0 || now < watch.ask_at_ms) continue;
    watch.asking = next_handle_++;
    waits_[watch.asking] = parent;
    WaitRequest query;
    query.ids = {parent.first};
    query.keys = {parent.second};
    query.timeout_ms = config_.wait_ms;
    host_.count("dependency_waits");
    host_.ask(AskRef{Asker::kDependencies, watch.asking}, std::move(query), config_.wait_ms);
  }
  propose_known();
}

void Dependencies::propose_known() {
  if (host_.now_ms() < propose_at_ms_) return;
  std::map<uint32_t, std::vector<OpParentsDone>> ops;  // by the children's partition
  std::map<uint32_t, size_t> op_bytes;
  for (const auto& [parent, watch] : watches_) {
    if (!watch.outcome) continue;
    for (const auto& [partition, child] : watch.children) {
      if (proposed_.count({partition, child, parent.first})) continue;
      const TaskTable* table = host_.led_table(partition);
      const TaskRecord* record = table != nullptr ? table->find(child) : nullptr;
      if (record == nullptr) {
        propose_at_ms_ = host_.now_ms() + config_.retry_ms;  // leadership is ending: on_lead_end will drop it
        continue;
      }
      std::string text = watch.outcome->text;
      if (watch.outcome->completed && record->spec.shard_count > 0) {
        text = shard_of(text, record->spec.shard_index, record->spec.shard_count);
      } else if (!watch.outcome->completed) {
        text = error_text(std::move(text));
      }
      auto& list = ops[partition];
      if (list.empty() || list.back().outcomes.size() >= kMaxOutcomesPerOp ||
          op_bytes[partition] + text.size() > kMaxOutcomeBytesPerOp) {
        list.push_back(OpParentsDone{{}, host_.now_ms()});
        op_bytes[partition] = 0;
      }
      op_bytes[partition] += text.size();
      list.back().outcomes.push_back(ParentOutcome{child, parent.first, watch.outcome->completed, std::move(text)});
    }
  }
  for (auto& [partition, list] : ops) {
    for (auto& op : list) {
      std::vector<std::tuple<uint32_t, std::string, std::string>> marks;
      for (const auto& outcome : op.outcomes) marks.emplace_back(partition, outcome.child, outcome.parent);
      if (!host_.propose(partition, op)) {  // a hand-over: later, or the next leader, proposes again
        propose_at_ms_ = host_.now_ms() + config_.retry_ms;
        break;
      }
      host_.count("dependency_outcomes_proposed");
      proposed_.insert(marks.begin(), marks.end());
    }
  }
}

std::optional<uint64_t> Dependencies::next_wake() const {
  // Known outcomes wait only for their proposal; unknown ones for their next ask.
  std::optional<uint64_t> wake;
  auto at = [&](uint64_t t) { wake = wake ? std::min(*wake, t) : t; };
  for (const auto& [parent, watch] : watches_) {
    if (!watch.outcome) {
      if (watch.asking == 0) at(watch.ask_at_ms);
      continue;
    }
    bool unproposed = std::any_of(watch.children.begin(), watch.children.end(), [&](const Child& c) {
      return !proposed_.count({c.first, c.second, parent.first});
    });
    if (unproposed) at(std::max(host_.now_ms(), propose_at_ms_));
  }
  return wake;
}

size_t Dependencies::watched_children() const {
  std::set<Child> children;
  for (const auto& [parent, watch] : watches_) children.insert(watch.children.begin(), watch.children.end());
  return children.size();
}

}  // namespace mesh
