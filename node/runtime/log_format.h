// How meshd's log lines look. Every line's message is logfmt
// (`event=member_dead subject="n2" ...`); `--log-format json` turns each into
// one JSON object per line, its logfmt pairs as fields, for log shippers.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mesh {

enum class LogFormat { kLogfmt, kJson };

std::optional<LogFormat> parse_log_format(std::string_view name);

// The pairs of a logfmt message as one JSON object
// (`event=member_dead subject="n2"` gives `{"event":"member_dead","subject":"n2"}`).
// Integers become numbers; words that are not pairs are kept, in order, under "msg".
std::string logfmt_to_json(std::string_view message);

// Installs the format on spdlog's default logger: time with zone offset,
// level, "meshd", then the message (logfmt), or all of it as JSON.
void use_log_format(LogFormat format);

}  // namespace mesh
