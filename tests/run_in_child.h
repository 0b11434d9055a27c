// Runs code that must abort (an assertion, a guard) in a forked child, so a
// test can watch how it ended and what it printed.
#pragma once

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <csignal>
#include <unistd.h>

#include <string>

namespace mesh::test {

struct ChildEnd {
  int status = 0;
  std::string stderr_text;
};

// Runs `body` in a child process and returns how it ended and what it wrote
// to stderr. A child still running after a minute is killed by SIGALRM: a
// safety net so that a broken guard fails the test instead of hanging it.
template <typename Body>
ChildEnd run_in_child(Body body) {
  int err[2];
  REQUIRE(pipe(err) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(err[0]);
    dup2(err[1], STDERR_FILENO);
    // doctest's own abort handler would report the expected abort as a
    // crash of the test case: the child ends the plain way instead.
    signal(SIGABRT, SIG_DFL);
    alarm(60);
    body();
    _exit(0);
  }
  close(err[1]);
  ChildEnd end;
  char buffer[4096];
  for (ssize_t got; (got = read(err[0], buffer, sizeof buffer)) > 0;) end.stderr_text.append(buffer, static_cast<size_t>(got));
  close(err[0]);
  REQUIRE(waitpid(child, &end.status, 0) == child);
  return end;
}

}  // namespace mesh::test
