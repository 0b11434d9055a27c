#include "node/core/steal_history.h"

#include <doctest/doctest.h>

namespace mesh {

TEST_CASE("steal history: the recent steals are bounded, the totals keep counting") {
  StealHistory history;
  const size_t steals = StealHistory::kRecent + 500;
  for (size_t i = 0; i < steals; ++i) history.note(i, i % 2 ? "a" : "b", "c", 3);
  CHECK(history.recent().size() == StealHistory::kRecent);
  CHECK(history.recent().front().at_ms == 500);  // the oldest 500 were dropped
  CHECK(history.recent().back().at_ms == steals - 1);
  auto totals = history.totals();
  REQUIRE(totals.size() == 2);
  CHECK(totals[0].victim == "a");
  CHECK(totals[0].thief == "c");
  CHECK(totals[0].batches == steals / 2);
  CHECK(totals[0].tasks == 3 * steals / 2);
  CHECK(totals[0].last_at_ms == steals - 1);
  CHECK(totals[1].victim == "b");
  CHECK(totals[1].batches + totals[0].batches == steals);
}

TEST_CASE("steal history: past kMaxPairs the pair that stole least recently is forgotten") {
  StealHistory history;
  history.note(5, "old", "c", 1);  // the stalest pair
  for (size_t i = 0; i < StealHistory::kMaxPairs - 1; ++i) history.note(10 + i, "v" + std::to_string(i), "c", 1);
  history.note(20000, "old-again", "c", 1);  // one pair too many
  auto totals = history.totals();
  CHECK(totals.size() == StealHistory::kMaxPairs);
  bool old_kept = false, newest_kept = false;
  for (const auto& t : totals) {
    old_kept |= t.victim == "old";
    newest_kept |= t.victim == "old-again";
  }
  CHECK_FALSE(old_kept);
  CHECK(newest_kept);
}

}  // namespace mesh
