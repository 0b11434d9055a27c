// The simulator's livelock guard: a core that asks to be woken at the same
// instant forever would stop simulated time; the simulator must fail the run
// as a livelock (MESH_ASSERT aborts) rather than hang. The abort happens in a
// forked child, so the test can watch it.
#include <signal.h>

#include "tests/run_in_child.h"
#include "tests/sim/sim_harness.h"

namespace mesh::test {
namespace {

constexpr uint64_t kTestLimit = 10000;  // events at one instant; far fewer than the default, for speed

// A one-node mesh with the test's livelock limit; with `wake_now_forever`
// its core asks, after every step, to be woken at the current instant.
void run_one_node(bool wake_now_forever) {
  Simulator sim(/*seed=*/1, NetworkFaults{});
  sim.max_events_per_instant = kTestLimit;
  sim.add_node(sim_node_config(0));
  if (wake_now_forever) sim.effects_hook = [&sim](size_t, Effects& effects) { effects.wake_at_ms = sim.now(); };
  sim.join(0, {}, 0);
  sim.run_until(1000);
}

TEST_CASE("sim: a core asking to be woken at the same instant forever fails the run as a livelock") {
  // The control: a well-behaved core stays under the same limit.
  run_one_node(/*wake_now_forever=*/false);

  ChildEnd end = run_in_child([] { run_one_node(/*wake_now_forever=*/true); });
  INFO("child stderr: " << end.stderr_text);
  REQUIRE_MESSAGE(WIFSIGNALED(end.status), "the run ended normally (status " << end.status << "): the guard never fired");
  CHECK_MESSAGE(WTERMSIG(end.status) != SIGALRM, "the run hung: the guard never fired");
  CHECK(WTERMSIG(end.status) == SIGABRT);
  CHECK(end.stderr_text.find("a livelock") != std::string::npos);
}

}  // namespace
}  // namespace mesh::test
