#include "node/runtime/metrics.h"

#include <bit>

namespace mesh {

size_t Histogram::bucket_of(uint64_t value) {
  if (value < 4) return static_cast<size_t>(value);
  int high = 63 - std::countl_zero(value);       // >= 2
  uint64_t sub = (value >> (high - 2)) & 0x3;    // next two bits
  return static_cast<size_t>(high - 1) * 4 + static_cast<size_t>(sub);
}

uint64_t Histogram::bucket_upper(size_t bucket) {
  if (bucket < 4) return bucket;
  size_t high = bucket / 4 + 1;
  uint64_t sub = bucket % 4;
  uint64_t base = uint64_t{1} << high;
  uint64_t step = uint64_t{1} << (high - 2);
  return base + (sub + 1) * step - 1;
}

void Histogram::record(uint64_t value) {
  ++counts_[bucket_of(value)];
  ++count_;
  sum_ += value;
  if (value > max_) max_ = value;
}

uint64_t Histogram::quantile(double q) const {
  if (count_ == 0) return 0;
  auto rank = static_cast<uint64_t>(q * static_cast<double>(count_ - 1)) + 1;
  uint64_t seen = 0;
  for (size_t b = 0; b < kBuckets; ++b) {
    seen += counts_[b];
    if (seen >= rank) return std::min(bucket_upper(b), max_);
  }
  return max_;
}

HistogramSummary Histogram::summary() const {
  return {count_, sum_, quantile(0.50), quantile(0.90), quantile(0.99), max_};
}

uint64_t Histogram::count_at_most(uint64_t value) const {
  uint64_t seen = 0;
  for (size_t b = 0; b <= bucket_of(UINT64_MAX) && bucket_upper(b) <= value; ++b) seen += counts_[b];
  return seen;
}

}  // namespace mesh
