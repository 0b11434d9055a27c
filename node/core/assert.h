// MESH_ASSERT: checks an invariant in every build type. A failure is a bug,
// never an expected condition: it prints where and aborts, so the simulator
// reports the seed that reached it.
#pragma once

#include <cstdio>
#include <cstdlib>

#define MESH_ASSERT(cond, what)                                                             \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "MESH_ASSERT failed at %s:%d: %s (%s)\n", __FILE__, __LINE__, #cond, \
                   what);                                                                   \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)
