#include "node/runtime/log_format.h"

#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <ctime>

namespace mesh {

namespace {

constexpr const char* kLogfmtPattern = "%Y-%m-%dT%H:%M:%S.%e%z %l meshd %v";

// One logfmt value: "quoted, with \" and \\ escapes" or a bare word.
std::string read_value(std::string_view text, size_t& at) {
  std::string value;
  if (at < text.size() && text[at] == '"') {
    for (++at; at < text.size() && text[at] != '"'; ++at) {
      if (text[at] == '\\' && at + 1 < text.size()) ++at;
      value += text[at];
    }
    if (at < text.size()) ++at;  // the closing quote
    return value;
  }
  while (at < text.size() && text[at] != ' ') value += text[at++];
  return value;
}

nlohmann::json typed(const std::string& value) {
  int64_t number = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (!value.empty() && ec == std::errc() && end == value.data() + value.size()) return number;
  return value;
}

nlohmann::json fields_of(std::string_view message) {
  nlohmann::json fields = nlohmann::json::object();
  std::string words;
  size_t at = 0;
  while (at < message.size()) {
    if (message[at] == ' ') {
      ++at;
      continue;
    }
    size_t word_end = message.find(' ', at);
    size_t equals = message.find('=', at);
    bool pair = equals != std::string_view::npos && equals > at && (word_end == std::string_view::npos || equals < word_end);
    if (!pair) {
      size_t end = word_end == std::string_view::npos ? message.size() : word_end;
      if (!words.empty()) words += ' ';
      words += message.substr(at, end - at);
      at = end;
      continue;
    }
    std::string key(message.substr(at, equals - at));
    at = equals + 1;
    fields[key] = typed(read_value(message, at));
  }
  if (!words.empty()) fields["msg"] = words;
  return fields;
}

std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    nlohmann::json line = nlohmann::json::object();
    line["ts"] = timestamp(msg.time);
    line["level"] = std::string(spdlog::level::to_string_view(msg.level).data(),
                                spdlog::level::to_string_view(msg.level).size());
    line["service"] = "meshd";
    nlohmann::json fields = fields_of(std::string_view(msg.payload.data(), msg.payload.size()));
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      if (!line.contains(it.key())) line[it.key()] = it.value();
    }
    std::string text = dump(line);
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }

 private:
  static std::string timestamp(spdlog::log_clock::time_point time) {
    auto since_epoch = time.time_since_epoch();
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
    std::time_t t = seconds.count();
    std::tm local{};
    localtime_r(&t, &local);
    char date[32], zone[8];
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &local);
    std::strftime(zone, sizeof zone, "%z", &local);
    char out[48];
    std::snprintf(out, sizeof out, "%s.%03d%s", date, static_cast<int>(millis), zone);
    return out;
  }
};

}  // namespace

std::optional<LogFormat> parse_log_format(std::string_view name) {
  if (name == "logfmt") return LogFormat::kLogfmt;
  if (name == "json") return LogFormat::kJson;
  return std::nullopt;
}

std::string logfmt_to_json(std::string_view message) { return dump(fields_of(message)); }

void use_log_format(LogFormat format) {
  if (format == LogFormat::kJson) {
    spdlog::set_formatter(std::make_unique<JsonFormatter>());
  } else {
    spdlog::set_pattern(kLogfmtPattern);
  }
}

}  // namespace mesh
