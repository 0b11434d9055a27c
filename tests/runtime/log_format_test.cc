// --log-format json: logfmt messages become JSON fields.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "node/runtime/log_format.h"

namespace mesh::test {
namespace {

nlohmann::json fields(const std::string& message) { return nlohmann::json::parse(logfmt_to_json(message)); }

TEST_CASE("log format: logfmt pairs become fields, quoted values unescaped, integers numbers") {
  auto j = fields("event=member_dead subject=\"n2 on \\\"host\\\"\" seq=17 ratio=0.5");
  CHECK(j["event"] == "member_dead");
  CHECK(j["subject"] == "n2 on \"host\"");
  CHECK(j["seq"] == 17);
  CHECK(j["ratio"] == "0.5");
}

TEST_CASE("log format: words that are not pairs are kept under msg; odd input never throws") {
  CHECK(fields("listening on all interfaces: set --advertise")["msg"] == "listening on all interfaces: set --advertise");
  auto mixed = fields("event=x hello world=1 =bare trailing");
  CHECK(mixed["event"] == "x");
  CHECK(mixed["world"] == 1);
  CHECK(mixed["msg"] == "hello =bare trailing");
  CHECK(fields("").empty());
  CHECK(fields("key=\"unterminated")["key"] == "unterminated");
  CHECK(fields("key=")["key"] == "");
  CHECK(fields("bytes=\xff\xfe")["bytes"].is_string());  // not UTF-8: replaced, not thrown on
}

TEST_CASE("log format: only logfmt and json are formats") {
  CHECK(parse_log_format("logfmt") == LogFormat::kLogfmt);
  CHECK(parse_log_format("json") == LogFormat::kJson);
  CHECK_FALSE(parse_log_format("JSON"));
  CHECK_FALSE(parse_log_format(""));
}

}  // namespace
}  // namespace mesh::test
