// The exec handler: runs a command in its own process group, feeds it stdin,
// collects stdout and the tail of stderr, and kills the whole group on
// timeout, cancellation or oversized output.
//
// Before anything runs, the node's own exec policy is checked (the leader's
// may differ): argv[0] is an allowed absolute path, so there is no PATH
// lookup. The child gets only the environment variables the policy allows,
// the configured rlimits, user, group and working directory.
//
// Executor threads call this concurrently, so the child runs only
// async-signal-safe code between fork and exec: everything it needs (argv,
// envp, limits, ids, its error messages) is built before fork.
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "node/runtime/handler.h"

namespace mesh {
namespace {

constexpr size_t kStderrTailBytes = 2048;
constexpr int kTickMs = 20;
constexpr size_t kChunkBytes = 64 * 1024;

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

std::string errno_text(int err) { return std::system_category().message(err); }

// The child's environment: the variables of ours the policy allows, with the
// payload's entries (all allowed, the policy has checked) added or replaced.
std::vector<std::string> build_env(const ExecPayload& payload, const ExecPolicy& policy) {
  std::vector<std::string> out;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    std::string key(text.substr(0, text.find('=')));
    bool replaced =
        std::any_of(payload.env.begin(), payload.env.end(), [&](const auto& kv) { return kv.first == key; });
    if (policy.env.count(key) && !replaced) out.emplace_back(text);
  }
  for (const auto& [key, value] : payload.env) out.push_back(key + "=" + value);
  return out;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Both ends are CLOEXEC and numbered 3 or above, so the child's dup2 onto
// 0..2 can never overwrite another pipe end even if our stdio is closed.
bool make_pipe(Fd& read_end, Fd& write_end) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  for (int& fd : fds) {
    if (fd < 3) {
      int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
      ::close(fd);
      fd = moved;
    }
  }
  read_end.reset(fds[0]);
  write_end.reset(fds[1]);
  return read_end.is_open() && write_end.is_open();
}

void set_nonblocking(const Fd& fd) { fcntl(fd.get(), F_SETFL, fcntl(fd.get(), F_GETFL) | O_NONBLOCK); }

void write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data += n;
    size -= static_cast<size_t>(n);
  }
}

// What the child does between fork and exec, all prepared before fork.
struct ChildSetup {
  struct Limit {
    int resource;
    rlim_t value;
    std::string error;  // "cannot set <name> limit: errno "
  };
  std::vector<Limit> limits;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::string workdir;
  std::string identity_error;
  std::string workdir_error;
  std::string exec_error;
};

ChildSetup child_setup(const ExecConfig& exec, const std::string& program) {
  ChildSetup setup;
  auto limit = [&](int resource, const std::optional<uint64_t>& value, const char* name) {
    if (!value) return;
    std::string error = std::string("cannot set ") + name + " limit: errno ";
    setup.limits.push_back({resource, static_cast<rlim_t>(*value), std::move(error)});
  };
  limit(RLIMIT_CPU, exec.cpu_seconds, "cpu_seconds");
  limit(RLIMIT_AS, exec.memory_bytes, "memory_bytes");
  limit(RLIMIT_NOFILE, exec.open_files, "open_files");
  limit(RLIMIT_NPROC, exec.processes, "processes");
  setup.uid = exec.uid;
  setup.gid = exec.gid;
  setup.workdir = exec.workdir;
  setup.identity_error = "cannot change user or group: errno ";
  setup.workdir_error = "cannot enter '" + exec.workdir + "': errno ";
  setup.exec_error = "cannot execute '" + program + "': errno ";
  return setup;
}

// In the child: reports `message` + errno on stderr and exits 127.
[[noreturn]] void child_fail(const std::string& message, int err) {
  char digits[16];
  int n = 0;
  do {
    digits[sizeof digits - 1 - n++] = static_cast<char>('0' + err % 10);
    err /= 10;
  } while (err > 0);
  write_all(STDERR_FILENO, message.data(), message.size());
  write_all(STDERR_FILENO, digits + sizeof digits - n, static_cast<size_t>(n));
  _exit(127);
}

// Runs in the forked child: async-signal-safe calls only, never returns.
[[noreturn]] void exec_child(int in, int out, int err, const char* program, char* const* argv, char* const* envp,
                             const ChildSetup& setup) {
  setpgid(0, 0);
  dup2(in, STDIN_FILENO);
  dup2(out, STDOUT_FILENO);
  dup2(err, STDERR_FILENO);
  // Other libraries' descriptors may lack CLOEXEC; the task must not inherit them.
  close_range(3, ~0U, 0);
  // Ignored signals and the mask survive exec; give the command a clean slate.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // Limits first, while still privileged enough to set them; then the
  // identity (groups before the user, which gives up the right to change
  // them); the working directory last, entered as the task's user.
  for (const auto& limit : setup.limits) {
    rlimit value{limit.value, limit.value};
    if (setrlimit(limit.resource, &value) != 0) child_fail(limit.error, errno);
  }
  if (setup.gid) {
    if (setgroups(0, nullptr) != 0 || setgid(*setup.gid) != 0) child_fail(setup.identity_error, errno);
  }
  if (setup.uid && setuid(*setup.uid) != 0) child_fail(setup.identity_error, errno);
  if (!setup.workdir.empty() && chdir(setup.workdir.c_str()) != 0) child_fail(setup.workdir_error, errno);

  execve(program, argv, envp);
  child_fail(setup.exec_error, errno);
}

// Writing to a pipe whose reader has gone raises SIGPIPE, which would kill
// the whole node. Block it on this thread while we write and swallow the one
// a failed write leaves pending.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~SigpipeBlock() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  void consume_pending() {
    timespec zero{};
    sigtimedwait(&set_, nullptr, &zero);
  }

 private:
  sigset_t set_;
  sigset_t old_;
};

enum class Stop { kExited, kTimedOut, kCancelled, kOutputCap };

// The parent's side of the three pipes.
class Pump {
 public:
  Pump(std::string_view input, size_t max_output) : input_(input), max_output_(max_output) {}

  Fd in, out, err;
  std::string stdout_data;
  std::string stderr_tail;

  bool over_cap() const { return stdout_data.size() > max_output_; }

  void write_some(SigpipeBlock& sigpipe) {
    size_t size = std::min(kChunkBytes, input_.size() - written_);
    ssize_t n = write(in.get(), input_.data() + written_, size);
    int error = n < 0 ? errno : 0;
    if (n > 0) written_ += static_cast<size_t>(n);
    if (error == EPIPE) sigpipe.consume_pending();
    // A command that stops reading early is fine; it just gets no more input.
    if (written_ == input_.size() || (error != 0 && error != EAGAIN && error != EINTR)) in.reset();
  }

  // Reads up to `max_reads` chunks; closes the fd at EOF or on error.
  void read_some(Fd& fd, int max_reads) {
    const bool is_stdout = &fd == &out;
    char buf[kChunkBytes];
    for (int i = 0; i < max_reads && fd.is_open(); ++i) {
      ssize_t n = read(fd.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {
        fd.reset();
        return;
      }
      if (is_stdout) {
        stdout_data.append(buf, static_cast<size_t>(n));
        if (over_cap()) return;
      } else {
        stderr_tail.append(buf, static_cast<size_t>(n));
        if (stderr_tail.size() > kStderrTailBytes) stderr_tail.erase(0, stderr_tail.size() - kStderrTailBytes);
      }
    }
  }

 private:
  std::string_view input_;
  size_t written_ = 0;
  size_t max_output_;
};

// True once the child has exited. WNOWAIT leaves it a zombie, which keeps its
// pid (and so its process group id) from being reused before we kill the group.
bool child_exited(pid_t pid) {
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return errno != EINTR;
  return info.si_pid != 0;
}

std::string trimmed_tail(std::string tail) {
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.pop_back();
  return tail;
}

}  // namespace

HandlerResult run_exec(const TaskContext& ctx, const ExecConfig& exec) {
  Result<ExecPayload> parsed = parse_exec_payload(ctx.payload);
  if (!parsed.ok()) return HandlerResult::failure(parsed.status().message());
  ExecPayload& spec = parsed.value();
  // A dependent task's command reads its parents' results after the payload's stdin.
  for (const auto& input : ctx.inputs) spec.input += input;
  // The leader checked its policy at submit; this node runs only what its own allows.
  if (Status s = check_exec(exec.policy, spec); !s.ok()) {
    return HandlerResult::failure(std::string(error_name(s.code())) + ": " + s.message());
  }
  const std::string program = spec.argv[0];
  std::vector<std::string> env = build_env(spec, exec.policy);
  std::vector<char*> argv_ptrs = c_strings(spec.argv);
  std::vector<char*> env_ptrs = c_strings(env);
  const ChildSetup setup = child_setup(exec, program);

  Pump pump(spec.input, exec.max_output_bytes);
  Fd child_in, child_out, child_err;
  if (!make_pipe(child_in, pump.in) || !make_pipe(pump.out, child_out) || !make_pipe(pump.err, child_err)) {
    return HandlerResult::failure("exec: pipe: " + errno_text(errno));
  }
  set_nonblocking(pump.in);
  set_nonblocking(pump.out);
  set_nonblocking(pump.err);

  const auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid < 0) return HandlerResult::failure("exec: fork: " + errno_text(errno));
  if (pid == 0) {
    exec_child(child_in.get(), child_out.get(), child_err.get(), program.c_str(), argv_ptrs.data(), env_ptrs.data(),
               setup);
  }
  // Also set here, so the group exists before we could ever need to kill it.
  setpgid(pid, pid);
  child_in.reset();
  child_out.reset();
  child_err.reset();
  if (spec.input.empty()) pump.in.reset();
  // Wakes poll the moment the child exits; without it we notice within a tick.
  // A raw syscall: glibc 2.36's <sys/pidfd.h> lacks C++ linkage.
  Fd exit_fd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));

  SigpipeBlock sigpipe;
  Stop stop;
  for (;;) {
    if (child_exited(pid)) {
      stop = Stop::kExited;
      break;
    }
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    auto elapsed_ms = static_cast<uint64_t>(elapsed.count());
    // A zero timeout means none (the node always sets one).
    if (ctx.timeout_ms > 0 && elapsed_ms >= ctx.timeout_ms) {
      stop = Stop::kTimedOut;
      break;
    }
    if (ctx.is_cancelled()) {
      stop = Stop::kCancelled;
      break;
    }
    uint64_t wait_ms = kTickMs;
    if (ctx.timeout_ms > 0) wait_ms = std::min(wait_ms, ctx.timeout_ms - elapsed_ms);

    pollfd fds[4];
    nfds_t count = 0;
    auto watch = [&](const Fd& fd, short events) {
      if (fd.is_open()) fds[count++] = {fd.get(), events, 0};
    };
    watch(pump.in, POLLOUT);
    watch(pump.out, POLLIN);
    watch(pump.err, POLLIN);
    watch(exit_fd, POLLIN);
    if (poll(fds, count, static_cast<int>(wait_ms)) <= 0) continue;
    for (nfds_t i = 0; i < count; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == pump.in.get()) pump.write_some(sigpipe);
      if (fds[i].fd == pump.out.get()) pump.read_some(pump.out, 1);
      if (fds[i].fd == pump.err.get()) pump.read_some(pump.err, 1);
    }
    if (pump.over_cap()) {
      stop = Stop::kOutputCap;
      break;
    }
  }

  // On exit this clears any processes the command left behind; otherwise it
  // ends the command. Either way the child is still unreaped, so the group id
  // cannot belong to anyone else yet.
  kill(-pid, SIGKILL);
  if (stop == Stop::kExited) {
    // The command has exited, so what it wrote is already in the pipes; the
    // bound only matters if an escaped descendant keeps writing.
    constexpr int kDrainReads = 64;
    pump.read_some(pump.out, kDrainReads);
    pump.read_some(pump.err, kDrainReads);
    if (pump.over_cap()) stop = Stop::kOutputCap;
  }
  int status = 0;
  pid_t reaped;
  do {
    reaped = waitpid(pid, &status, 0);
  } while (reaped < 0 && errno == EINTR);

  switch (stop) {
    case Stop::kTimedOut:
      return HandlerResult::failure("exec: timed out after " + std::to_string(ctx.timeout_ms) + " ms");
    case Stop::kCancelled:
      return HandlerResult::failure("exec: cancelled");
    case Stop::kOutputCap:
      return HandlerResult::failure("exec: output over " + std::to_string(exec.max_output_bytes) + " bytes");
    case Stop::kExited:
      break;
  }
  if (reaped != pid) return HandlerResult::failure("exec: lost the child's exit status: " + errno_text(errno));
  if (WIFSIGNALED(status)) return HandlerResult::failure("exec: killed by signal " + std::to_string(WTERMSIG(status)));
  int code = WEXITSTATUS(status);
  if (code == 0) return HandlerResult::success(std::move(pump.stdout_data));
  std::string tail = trimmed_tail(std::move(pump.stderr_tail));
  return HandlerResult::failure("exec: exit code " + std::to_string(code) + (tail.empty() ? "" : ": " + tail));
}

}  // namespace mesh
