// Status and Result<T>: expected failures as values, never exceptions.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "protocol/error_code.h"

namespace mesh {

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return {}; }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

// Reading the value of a failed Result is a bug: it says so and aborts
// (every build type) instead of reading an empty optional.
[[noreturn]] void abort_on_missing_value(const Status& status);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & {
    if (!value_) abort_on_missing_value(status_);
    return *value_;
  }
  const T& value() const& {
    if (!value_) abort_on_missing_value(status_);
    return *value_;
  }
  T&& value() && {
    if (!value_) abort_on_missing_value(status_);
    return std::move(*value_);
  }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace mesh
