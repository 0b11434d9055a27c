// Backup attempts for stragglers (docs/ARCHITECTURE.md, "Backup attempts"):
// when most of a job's tasks are done and one has run much longer than the
// job's median, the leader of its partition starts a second attempt of it
// on another member. The leader judges from the job's tasks in every
// partition it replicates, led or followed. The first to complete commits; the other is fenced
// (TaskTable: the attempt racing a backup). This file holds the rule and
// the index it reads; NodeState::start_backup_attempts applies it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "node/core/task_key.h"
#include "protocol/messages.h"

namespace mesh {

struct BackupConfig {
  bool enabled = true;
  // The share of a job's tasks (those this node replicates) that must have finished first.
  double done_share = 0.75;
  // An attempt straggles once it has run this many times the median of the
  // job's successful attempts, and at least min_gain_ms longer than it: a
  // backup costs a replicated round and a slot, not worth it for less.
  double slowdown = 2.0;
  uint64_t min_gain_ms = 200;
  uint64_t check_interval_ms = 100;
};

// The tasks of each job (TaskRecord::txn) in the partitions this node
// replicates: with R replicas a node sees most of a job, so a leader that
// runs its own partitions' tasks slowly still sees how fast they run elsewhere.
class JobIndex {
 public:
  struct Job {
    std::set<TaskKey> tasks;
    size_t purged = 0;  // its finished tasks retention removed since
  };
  void note(const TaskKey& key, const std::string& job);  // an empty job: not a job's task
  // `purged`: retention removed the (finished) record; it still counts as
  // one of the job's finished tasks while the job has others here.
  void forget(const TaskKey& key, bool purged = false);
  // nullptr when no task of the job is indexed.
  const Job* find(const std::string& job) const;
  size_t jobs() const { return jobs_.size(); }

 private:
  std::map<std::string, Job> jobs_;
  std::map<TaskKey, std::string> job_of_;
};

// How far a job has got, as the records of its indexed tasks say.
struct JobProgress {
  size_t tasks = 0;
  size_t finished = 0;
  std::optional<uint64_t> median_run_ms;  // of its successful attempts; none before one
};
// `find` gives the record of an indexed task. Purged tasks count as
// finished, with no run time.
JobProgress job_progress(const JobIndex::Job& job, const std::function<const TaskRecord*(const TaskKey&)>& find);

// Whether an attempt that has run `ran_ms` straggles behind its job.
bool straggles(const JobProgress& job, uint64_t ran_ms, const BackupConfig& config);

}  // namespace mesh
