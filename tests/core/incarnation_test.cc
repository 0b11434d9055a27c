// Incarnations never wrap: a fact at an absurd incarnation is dropped, and a
// refutation never yields an incarnation lower than the one it answers.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "node/core/membership.h"
#include "tests/core/test_random.h"

namespace mesh {
namespace {

MemberUpdate fact_at(const std::string& id, uint64_t incarnation, MemberState state) {
  return MemberUpdate{id, "addr-" + id, incarnation, state, {}, ""};
}

Sync sync_with(MemberUpdate update) { return Sync{"s", "addr-s", false, {std::move(update)}}; }

MemberState state_of(const Membership& m, const std::string& id) {
  for (const auto& v : m.members()) {
    if (v.id == id) return v.state;
  }
  FAIL("no member " << id);
  return MemberState::kLeft;
}

TEST_CASE("incarnation: gossip at UINT64_MAX neither wraps a refutation nor kills a member") {
  testing::SplitMix64 random(7);
  constexpr uint64_t kHuge = std::numeric_limits<uint64_t>::max();

  SUBCASE("about itself: it keeps its incarnation and stays ALIVE") {
    Membership a(MembershipConfig::local(), "a", "addr-a", random);
    a.receive(5, sync_with(fact_at("a", 1, MemberState::kSuspect)));
    REQUIRE(a.incarnation() == 2);
    a.receive(10, sync_with(fact_at("a", kHuge, MemberState::kDead)));
    CHECK(a.incarnation() == 2);
    CHECK(state_of(a, "a") == MemberState::kAlive);
  }
  SUBCASE("about another: the absurd accusation is dropped") {
    Membership a(MembershipConfig::local(), "a", "addr-a", random);
    a.receive(10, sync_with(fact_at("b", 3, MemberState::kAlive)));
    a.receive(20, sync_with(fact_at("b", kHuge, MemberState::kDead)));
    CHECK(state_of(a, "b") == MemberState::kAlive);
  }
  SUBCASE("at the ceiling a refutation saturates instead of wrapping") {
    Membership a(MembershipConfig::local(), "a", "addr-a", random);
    a.receive(10, sync_with(fact_at("a", Membership::kMaxIncarnation, MemberState::kSuspect)));
    CHECK(a.incarnation() == Membership::kMaxIncarnation);
    a.receive(20, sync_with(fact_at("a", Membership::kMaxIncarnation - 1, MemberState::kSuspect)));
    CHECK(a.incarnation() == Membership::kMaxIncarnation);
  }
}

}  // namespace
}  // namespace mesh
