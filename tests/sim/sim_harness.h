// Shared set-up for simulator tests: mesh start-up through one seed and views
// of what nodes believe; the task checks themselves are in node/sim/mesh_checks.h,
// shared with the scenario runners.
#pragma once

#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "node/sim/mesh_checks.h"
#include "node/sim/scenario.h"
#include "node/sim/simulator.h"

namespace mesh::test {

// Adds n nodes; node 0 starts the mesh, node i joins through it at i * stagger_ms.
inline void start_mesh(Simulator& sim, size_t n, uint64_t stagger_ms) {
  for (size_t i = 0; i < n; ++i) sim.add_node(sim_node_config(i));
  sim.join(0, {}, 0);
  for (size_t i = 1; i < n; ++i) sim.join(i, {Simulator::address_of("n0")}, i * stagger_ms);
}

// The state node `viewer` believes `member_id` is in, or nullopt if unknown.
inline std::optional<MemberState> belief(const Simulator& sim, size_t viewer, const std::string& member_id) {
  for (const auto& m : sim.node(viewer).membership().members()) {
    if (m.id == member_id) return m.state;
  }
  return std::nullopt;
}

}  // namespace mesh::test
