#include "node/core/backup_attempts.h"

#include <algorithm>
#include <vector>

#include "node/core/assert.h"

namespace mesh {

void JobIndex::note(const TaskKey& key, const std::string& job) {
  if (job.empty()) return;
  auto [it, added] = job_of_.emplace(key, job);
  if (!added) {
    MESH_ASSERT(it->second == job, "a task's job never changes");
    return;
  }
  jobs_[job].tasks.insert(key);
}

void JobIndex::forget(const TaskKey& key, bool purged) {
  auto it = job_of_.find(key);
  if (it == job_of_.end()) return;
  auto job = jobs_.find(it->second);
  MESH_ASSERT(job != jobs_.end(), "an indexed task's job is indexed");
  job->second.tasks.erase(key);
  job->second.purged += purged;
  // A job with no task here left has nothing to back up.
  if (job->second.tasks.empty()) jobs_.erase(job);
  job_of_.erase(it);
}

const JobIndex::Job* JobIndex::find(const std::string& job) const {
  auto it = jobs_.find(job);
  return it == jobs_.end() ? nullptr : &it->second;
}

JobProgress job_progress(const JobIndex::Job& indexed, const std::function<const TaskRecord*(const TaskKey&)>& find) {
  JobProgress job{indexed.purged, indexed.purged, std::nullopt};
  std::vector<uint64_t> runs;
  for (const auto& key : indexed.tasks) {
    ++job.tasks;
    const TaskRecord* r = find(key);
    if (r != nullptr && !is_terminal(r->state)) continue;
    ++job.finished;
    if (r == nullptr || r->state != TaskState::kCompleted) continue;
    for (const auto& a : r->attempts) {
      // Stamped by the leaders that leased and completed it: on one clock
      // but for a leadership change in between, which a median shrugs off.
      if (a.outcome == AttemptOutcome::kSucceeded && a.ended_ms >= a.started_ms) runs.push_back(a.ended_ms - a.started_ms);
    }
  }
  MESH_ASSERT(job.finished <= job.tasks, "finished tasks are tasks of the job");
  if (!runs.empty()) {
    auto middle = runs.begin() + static_cast<std::ptrdiff_t>(runs.size() / 2);
    std::nth_element(runs.begin(), middle, runs.end());
    job.median_run_ms = *middle;
  }
  return job;
}

bool straggles(const JobProgress& job, uint64_t ran_ms, const BackupConfig& config) {
  if (!job.median_run_ms || job.tasks < 2) return false;
  if (static_cast<double>(job.finished) < config.done_share * static_cast<double>(job.tasks)) return false;
  uint64_t median = *job.median_run_ms;
  return static_cast<double>(ran_ms) >= config.slowdown * static_cast<double>(median) &&
         ran_ms >= median + config.min_gain_ms;
}

}  // namespace mesh
