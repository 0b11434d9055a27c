#include "node/sim/read_checker.h"

#include <algorithm>

namespace mesh {

ReadChecker::Progress ReadChecker::progress_of(const TaskRecord& r) {
  size_t ended = std::count_if(r.attempts.begin(), r.attempts.end(),
                               [](const AttemptInfo& a) { return a.outcome != AttemptOutcome::kRunning; });
  return {r.attempts.size(), ended, is_terminal(r.state)};
}

void ReadChecker::read(Simulator& sim, size_t node, std::vector<std::string> ids) {
  RequestRef request = next_request_++;
  PendingRead& read = pending_[request];
  read.node = node;
  for (const auto& id : ids) {
    auto it = seen_.find(id);
    read.floor[id] = it == seen_.end() ? Progress{} : it->second;
  }
  GetRequest get;
  get.ids = std::move(ids);
  sim.schedule(node, sim.now(), in::Get{request, std::move(get)});
}

void ReadChecker::read_some(Simulator& sim, size_t node, const std::set<std::string>& acknowledged,
                            SimRandom& random) {
  if (acknowledged.empty()) return;
  std::vector<std::string> all(acknowledged.begin(), acknowledged.end()), sample;
  for (int i = 0; i < 8; ++i) sample.push_back(all[random.uniform(all.size())]);
  read(sim, node, std::move(sample));
}

std::string ReadChecker::observe(const Simulator& sim) {
  replies_checked_.resize(sim.size(), 0);
  for (size_t node = 0; node < sim.size(); ++node) {
    const auto& replies = sim.replies(node);
    for (size_t i = replies_checked_[node]; i < replies.size(); ++i) {
      auto read = pending_.find(replies[i].request);
      if (read == pending_.end() || read->second.node != node) continue;
      PendingRead pending = std::move(read->second);
      pending_.erase(read);
      const auto* get = std::get_if<GetReply>(&replies[i].reply);
      if (get == nullptr) continue;  // an error (unavailable): it claims nothing
      ++answered_;
      for (const auto& id : get->missing) {
        return "read " + std::to_string(replies[i].request) + " through n" + std::to_string(node) +
               " reports acknowledged task " + id + " missing";
      }
      for (const auto& r : get->records) {
        Progress now = progress_of(r);
        auto floor = pending.floor.find(r.spec.id);
        if (floor != pending.floor.end() && now < floor->second) {
          return "read " + std::to_string(replies[i].request) + " through n" + std::to_string(node) +
                 " went backwards on task " + r.spec.id + ": " + std::to_string(std::get<0>(now)) + " attempts, " +
                 std::to_string(std::get<1>(now)) + " ended, after a client had seen " +
                 std::to_string(std::get<0>(floor->second)) + " and " + std::to_string(std::get<1>(floor->second));
        }
        seen_[r.spec.id] = std::max(seen_[r.spec.id], now);
      }
    }
    replies_checked_[node] = replies.size();
  }
  return {};
}

}  // namespace mesh
