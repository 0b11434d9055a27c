#include <time.h>
#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

#include "node/runtime/handler.h"

namespace mesh {
namespace {

constexpr uint64_t kMaxHashRounds = 100'000'000;
constexpr uint64_t kCancelCheckMs = 10;

// A whole-string decimal number: no sign, no spaces, no trailing bytes.
std::optional<uint64_t> parse_decimal(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<uint64_t> parse_millis(std::string_view payload) {
  return payload.empty() ? std::optional<uint64_t>(0) : parse_decimal(payload);
}

uint64_t millis_since(std::chrono::steady_clock::time_point start) {
  auto elapsed = std::chrono::steady_clock::now() - start;
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count());
}

HandlerResult cancelled() { return HandlerResult::failure("cancelled"); }

HandlerResult sleep_handler(const TaskContext& ctx, uint64_t scale) {
  auto payload_ms = parse_millis(ctx.payload);
  if (!payload_ms) return HandlerResult::failure("sleep: payload must be a decimal number of milliseconds");
  const uint64_t ms = *payload_ms > UINT64_MAX / scale ? UINT64_MAX : *payload_ms * scale;
  // Elapsed time is compared, not an absolute deadline, so huge values cannot overflow.
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    if (ctx.is_cancelled()) return cancelled();
    const uint64_t elapsed_ms = millis_since(start);
    if (elapsed_ms >= ms) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<uint64_t>(kCancelCheckMs, ms - elapsed_ms)));
  }
  return HandlerResult::success("slept " + std::to_string(ms) + " ms");
}

uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

HandlerResult spin_handler(const TaskContext& ctx) {
  auto ms = parse_millis(ctx.payload);
  if (!ms) return HandlerResult::failure("spin: payload must be a decimal number of CPU milliseconds");
  const uint64_t start = thread_cpu_ns();
  uint64_t state = 0x9e3779b97f4a7c15u;
  while ((thread_cpu_ns() - start) / 1'000'000u < *ms) {
    if (ctx.is_cancelled()) return cancelled();
    // A small xorshift batch (well under 10 ms) between clock and cancel checks.
    for (int i = 0; i < 100'000; ++i) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
    }
  }
  // The volatile store makes the arithmetic observable, so it cannot be optimised away.
  volatile uint64_t sink = state;
  (void)sink;
  return HandlerResult::success("spun " + std::to_string(*ms) + " ms");
}

HandlerResult hash_handler(const TaskContext& ctx) {
  const size_t colon = ctx.payload.find(':');
  if (colon == std::string_view::npos) return HandlerResult::failure("hash: payload must be ROUNDS:DATA");
  auto rounds = parse_decimal(ctx.payload.substr(0, colon));
  if (!rounds || *rounds < 1 || *rounds > kMaxHashRounds) {
    return HandlerResult::failure("hash: ROUNDS must be a decimal number in 1.." + std::to_string(kMaxHashRounds));
  }
  const std::string_view data = ctx.payload.substr(colon + 1);
  XXH64_hash_t digest = XXH64(data.data(), data.size(), 0);
  for (uint64_t round = 2; round <= *rounds; ++round) {
    if (round % 65536 == 0 && ctx.is_cancelled()) return cancelled();
    // The canonical (big-endian) form keeps the chain the same on every platform.
    XXH64_canonical_t canonical;
    XXH64_canonicalFromHash(&canonical, digest);
    digest = XXH64(canonical.digest, sizeof canonical.digest, 0);
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(digest));
  return HandlerResult::success(hex);
}

HandlerResult fail_handler(const TaskContext& ctx) {
  auto planned = parse_decimal(ctx.payload);
  if (!planned) return HandlerResult::failure("fail: payload must be a decimal number of failures");
  const std::string attempt = std::to_string(ctx.attempt);
  if (ctx.attempt <= *planned) {
    return HandlerResult::failure("planned failure on attempt " + attempt + " of " + std::to_string(*planned));
  }
  return HandlerResult::success("succeeded on attempt " + attempt);
}

}  // namespace

void register_builtin_handlers(HandlerRegistry& registry, const ExecConfig& exec, uint64_t sleep_scale) {
  registry.add("noop", [](const TaskContext& ctx) { return HandlerResult::success(std::string(ctx.payload)); });
  registry.add("join", [](const TaskContext& ctx) {  // the payload, then the parents' results
    std::string out(ctx.payload);
    for (const auto& input : ctx.inputs) out += input;
    return HandlerResult::success(std::move(out));
  });
  registry.add("sleep", [sleep_scale](const TaskContext& ctx) { return sleep_handler(ctx, sleep_scale); });
  registry.add("spin", spin_handler);
  registry.add("hash", hash_handler);
  registry.add("fail", fail_handler);
  registry.add("exec", [exec](const TaskContext& ctx) { return run_exec(ctx, exec); });
}

}  // namespace mesh
