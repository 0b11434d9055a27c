#include "node/core/ready_queue.h"

#include <doctest/doctest.h>

#include <optional>
#include <string>

namespace mesh {
namespace {

constexpr uint64_t kAging = 1000;

// Pops everything that is ready, in order, as "a,b,c" (readable on failure).
std::string drain(ReadyQueue& q) {
  std::string order;
  while (auto id = q.pop()) order += (order.empty() ? "" : ",") + id->id;
  return order;
}

TEST_CASE("ready queue: empty queue pops nothing and has no deferred instant") {
  ReadyQueue q(kAging);
  CHECK_FALSE(q.pop().has_value());
  CHECK_FALSE(q.next_ready_at().has_value());
  CHECK(q.ready_size() == 0);
  CHECK(q.deferred_size() == 0);
}

TEST_CASE("ready queue: higher priority pops first") {
  ReadyQueue q(kAging);
  q.push(TaskKey{0, "low"}, 0, 100, 100);
  q.push(TaskKey{0, "high"}, 5, 100, 100);
  q.push(TaskKey{0, "mid"}, 2, 100, 100);
  q.push(TaskKey{0, "negative"}, -3, 100, 100);
  CHECK(q.ready_size() == 4);
  CHECK(drain(q) == "high,mid,low,negative");
  CHECK(q.ready_size() == 0);
}

TEST_CASE("ready queue: equal priority and age pop in push order (FIFO)") {
  ReadyQueue q(kAging);
  // Ids deliberately not in alphabetical order, in either direction.
  q.push(TaskKey{0, "b"}, 1, 100, 100);
  q.push(TaskKey{0, "c"}, 1, 100, 100);
  q.push(TaskKey{0, "a"}, 1, 100, 100);
  CHECK(drain(q) == "b,c,a");
}

TEST_CASE("ready queue: equal priority pops the longest-waiting task first") {
  ReadyQueue q(kAging);
  q.push(TaskKey{0, "newer"}, 0, 300, 300);
  q.push(TaskKey{0, "older"}, 0, 100, 300);
  q.push(TaskKey{0, "middle"}, 0, 200, 300);
  CHECK(drain(q) == "older,middle,newer");
}

TEST_CASE("ready queue: aging crossover of one priority level") {
  // "old" has priority 0 and has been ready since t=0; "new" has priority 1
  // and is ready since t=T. "new" leads by one level, which "old" makes up
  // after exactly one aging interval.
  SUBCASE("T one ms short of the interval: the higher priority wins") {
    ReadyQueue q(kAging);
    q.push(TaskKey{0, "old"}, 0, 0, 0);
    q.push(TaskKey{0, "new"}, 1, kAging - 1, kAging - 1);
    CHECK(drain(q) == "new,old");
  }
  SUBCASE("T equal to the interval: a tie, broken by push order") {
    ReadyQueue q(kAging);
    q.push(TaskKey{0, "old"}, 0, 0, 0);
    q.push(TaskKey{0, "new"}, 1, kAging, kAging);
    CHECK(drain(q) == "old,new");
  }
  SUBCASE("T one ms past the interval: the aged task wins") {
    ReadyQueue q(kAging);
    q.push(TaskKey{0, "old"}, 0, 0, 0);
    q.push(TaskKey{0, "new"}, 1, kAging + 1, kAging + 1);
    CHECK(drain(q) == "old,new");
    // Same result when the newer, higher-priority task is pushed first.
    ReadyQueue r(kAging);
    r.push(TaskKey{0, "new"}, 1, kAging + 1, kAging + 1);
    r.push(TaskKey{0, "old"}, 0, 0, kAging + 1);
    CHECK(drain(r) == "old,new");
  }
}

TEST_CASE("ready queue: aging crossover of several priority levels") {
  // Three levels need three aging intervals.
  SUBCASE("before") {
    ReadyQueue q(kAging);
    q.push(TaskKey{0, "old"}, 0, 0, 0);
    q.push(TaskKey{0, "new"}, 3, 3 * kAging - 1, 3 * kAging - 1);
    CHECK(q.pop() == std::optional<TaskKey>(TaskKey{0, "new"}));
  }
  SUBCASE("after") {
    ReadyQueue q(kAging);
    q.push(TaskKey{0, "old"}, 0, 0, 0);
    q.push(TaskKey{0, "new"}, 3, 3 * kAging + 1, 3 * kAging + 1);
    CHECK(q.pop() == std::optional<TaskKey>(TaskKey{0, "old"}));
  }
}

TEST_CASE("ready queue: a tie pushed in the other order is still FIFO") {
  ReadyQueue q(kAging);
  q.push(TaskKey{0, "new"}, 1, kAging, kAging);
  q.push(TaskKey{0, "old"}, 0, 0, kAging);
  CHECK(drain(q) == "new,old");
}

TEST_CASE("ready queue: a deferred task is not ready before its instant") {
  ReadyQueue q(kAging);
  q.push(TaskKey{0, "t"}, 0, 500, 100);
  CHECK(q.deferred_size() == 1);
  CHECK(q.ready_size() == 0);
  CHECK(q.next_ready_at() == std::optional<uint64_t>(500));
  CHECK_FALSE(q.pop().has_value());

  q.promote(499);
  CHECK(q.deferred_size() == 1);
  CHECK_FALSE(q.pop().has_value());

  q.promote(500);
  CHECK(q.deferred_size() == 0);
  CHECK(q.ready_size() == 1);
  CHECK_FALSE(q.next_ready_at().has_value());
  CHECK(q.pop() == std::optional<TaskKey>(TaskKey{0, "t"}));
}

TEST_CASE("ready queue: push with ready_at equal to now is ready at once") {
  ReadyQueue q(kAging);
  q.push(TaskKey{0, "t"}, 0, 100, 100);
  CHECK(q.deferred_size() == 0);
  CHECK(q.pop() == std::optional<TaskKey>(TaskKey{0, "t"}));
}

TEST_CASE("ready queue: promote moves only the due tasks, earliest first") {
  ReadyQueue q(kAging);
  q.push(TaskKey{0, "c"}, 0, 300, 0);
  q.push(TaskKey{0, "a"}, 0, 100, 0);
  q.push(TaskKey{0, "b"}, 0, 200, 0);
  CHECK(q.next_ready_at() == std::optional<uint64_t>(100));

  q.promote(250);
  CHECK(q.ready_size() == 2);
  CHECK(q.deferred_size() == 1);
  CHECK(q.next_ready_at() == std::optional<uint64_t>(300));
  CHECK(drain(q) == "a,b");

  q.promote(10000);
  CHECK(q.pop() == std::optional<TaskKey>(TaskKey{0, "c"}));
  CHECK_FALSE(q.next_ready_at().has_value());
}

TEST_CASE("ready queue: a promoted task ages from its ready instant, not from promote()") {
  // "late" was deferred until t=2000 but promote() only runs at t=5000; it
  // counts as waiting since 2000. Against a priority-1 task ready at R it
  // wins iff R > 3000.
  SUBCASE("rival ready before the crossover") {
    ReadyQueue q(kAging);
    q.push(TaskKey{0, "late"}, 0, 2000, 0);
    q.push(TaskKey{0, "rival"}, 1, 2999, 2999);
    q.promote(5000);
    CHECK(drain(q) == "rival,late");
  }
  SUBCASE("rival ready after the crossover") {
    ReadyQueue q(kAging);
    q.push(TaskKey{0, "late"}, 0, 2000, 0);
    q.push(TaskKey{0, "rival"}, 1, 3001, 3001);
    q.promote(5000);
    CHECK(drain(q) == "late,rival");
  }
}

TEST_CASE("ready queue: remove") {
  ReadyQueue q(kAging);
  q.push(TaskKey{0, "ready"}, 0, 0, 0);
  q.push(TaskKey{0, "deferred"}, 0, 1000, 0);

  SUBCASE("a ready task") {
    q.remove(TaskKey{0, "ready"});
    CHECK(q.ready_size() == 0);
    CHECK(q.deferred_size() == 1);
    CHECK_FALSE(q.pop().has_value());
  }
  SUBCASE("a deferred task") {
    q.remove(TaskKey{0, "deferred"});
    CHECK(q.deferred_size() == 0);
    CHECK_FALSE(q.next_ready_at().has_value());
    q.promote(5000);
    CHECK(drain(q) == "ready");
  }
  SUBCASE("an unknown id is a no-op") {
    q.remove(TaskKey{0, "nope"});
    CHECK(q.ready_size() == 1);
    CHECK(q.deferred_size() == 1);
  }
  SUBCASE("twice is a no-op") {
    q.remove(TaskKey{0, "ready"});
    q.remove(TaskKey{0, "ready"});
    CHECK(q.ready_size() == 0);
    CHECK(q.deferred_size() == 1);
  }
}

TEST_CASE("ready queue: pushing a known id replaces its entry") {
  ReadyQueue q(kAging);
  SUBCASE("ready -> deferred") {
    q.push(TaskKey{0, "t"}, 0, 0, 0);
    q.push(TaskKey{0, "t"}, 0, 900, 100);
    CHECK(q.ready_size() == 0);
    CHECK(q.deferred_size() == 1);
    CHECK(q.next_ready_at() == std::optional<uint64_t>(900));
  }
  SUBCASE("deferred -> ready") {
    q.push(TaskKey{0, "t"}, 0, 900, 100);
    q.push(TaskKey{0, "t"}, 0, 100, 100);
    CHECK(q.ready_size() == 1);
    CHECK(q.deferred_size() == 0);
  }
  SUBCASE("new priority takes effect") {
    q.push(TaskKey{0, "a"}, 1, 0, 0);
    q.push(TaskKey{0, "b"}, 0, 0, 0);
    q.push(TaskKey{0, "b"}, 5, 0, 0);
    CHECK(q.ready_size() == 2);
    CHECK(drain(q) == "b,a");
  }
}

TEST_CASE("ready queue: pop removes the task for good") {
  ReadyQueue q(kAging);
  q.push(TaskKey{0, "t"}, 0, 0, 0);
  CHECK(q.pop() == std::optional<TaskKey>(TaskKey{0, "t"}));
  q.remove(TaskKey{0, "t"});  // must not touch anything
  CHECK_FALSE(q.pop().has_value());
  q.push(TaskKey{0, "t"}, 0, 0, 0);  // and it can come back
  CHECK(q.pop() == std::optional<TaskKey>(TaskKey{0, "t"}));
}

}  // namespace
}  // namespace mesh
