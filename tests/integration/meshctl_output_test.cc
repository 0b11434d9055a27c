// meshctl's output formats against a real meshd: -o json is one JSON
// document and --json the same, -o jsonl one object a line for each listed
// item, -o wide more columns than the table, and an unknown format a usage
// error (exit 2).
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "tests/integration/test_node.h"

namespace mesh::test {
namespace {

constexpr int kExitUsage = 2;

// What one meshctl run printed, stdout and stderr apart: JSON is read from
// stdout alone.
struct Ctl {
  int code = -1;
  std::string out;
  std::string err;
};

Ctl meshctl_in(const std::string& dir, const std::string& endpoint, const std::string& args) {
  const std::string err_path = dir + "/meshctl.stderr";
  std::string command = "timeout 60 " + std::string(MESHCTL_PATH) + " --addr " + endpoint + " " + args + " 2>" + err_path;
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  Ctl ctl;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) ctl.out.append(buf, n);
  int status = ::pclose(pipe);
  ctl.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream err(err_path);
  ctl.err.assign(std::istreambuf_iterator<char>(err), std::istreambuf_iterator<char>());
  return ctl;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// A line's cells: text apart by two spaces or more, as meshctl aligns columns
// (a cell such as "partition 0" keeps its single space).
size_t cells(const std::string& line) {
  size_t count = 0;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i == line.size()) break;
    ++count;
    while (i < line.size() && !(line[i] == ' ' && i + 1 < line.size() && line[i + 1] == ' ')) ++i;
  }
  return count;
}

// The first line that starts with `prefix`; empty when none does.
std::string line_starting(const std::string& text, const std::string& prefix) {
  for (const auto& line : lines_of(text)) {
    if (line.rfind(prefix, 0) == 0) return line;
  }
  return {};
}

// stdout must be exactly one JSON value.
nlohmann::json one_document(const Ctl& ctl) {
  INFO("stdout: " << ctl.out << "\nstderr: " << ctl.err);
  REQUIRE(nlohmann::json::accept(ctl.out));
  return nlohmann::json::parse(ctl.out);
}

// stdout must be lines that each parse as one JSON object.
std::vector<nlohmann::json> object_lines(const Ctl& ctl) {
  std::vector<nlohmann::json> objects;
  for (const auto& line : lines_of(ctl.out)) {
    INFO("line: " << line);
    REQUIRE(nlohmann::json::accept(line));
    objects.push_back(nlohmann::json::parse(line));
    CHECK(objects.back().is_object());
  }
  return objects;
}

void check_usage_error(const Ctl& ctl) {
  INFO("stdout: " << ctl.out << "\nstderr: " << ctl.err);
  CHECK(ctl.code == kExitUsage);
  CHECK(ctl.out.empty());
  CHECK(ctl.err.find("--output") != std::string::npos);
}

TEST_CASE("meshctl -o: validated, shown in --help, and --json goes with no other format") {
  TempDir temp("meshctl-out-");
  REQUIRE(!temp.path().empty());
  // No node: a usage error is found before anything is asked.
  const std::string nowhere = "tcp://127.0.0.1:1";
  Ctl help = meshctl_in(temp.path(), nowhere, "--help");
  CHECK(help.code == 0);
  CHECK_MESSAGE(help.out.find("-o,--output") != std::string::npos, help.out);
  CHECK_MESSAGE(help.out.find("{table,wide,json,jsonl}=table") != std::string::npos, help.out);
  check_usage_error(meshctl_in(temp.path(), nowhere, "-o bogus stats"));
  check_usage_error(meshctl_in(temp.path(), nowhere, "stats -o bogus"));
  check_usage_error(meshctl_in(temp.path(), nowhere, "--output= stats"));
  Ctl both = meshctl_in(temp.path(), nowhere, "--json -o wide stats");
  CHECK_MESSAGE(both.code == kExitUsage, both.err);
}

TEST_CASE("meshctl -o: get, list and wait in every format") {
  TestNode node({"--slots", "2"});
  node.start();
  const std::string ep = node.process().endpoint();
  auto ctl = [&](const std::string& args) { return meshctl_in(node.dir(), ep, args); };

  Ctl submitted = ctl("submit --handler noop --payload hello --id out --count 3 --wait");
  REQUIRE_MESSAGE(submitted.code == 0, (submitted.out + submitted.err));
  const std::string ids = "out-0 out-1 out-2";

  SUBCASE("list") {
    Ctl json = ctl("-o json list");
    nlohmann::json doc = one_document(json);
    REQUIRE(doc.at("tasks").size() == 3);
    CHECK(doc.at("more") == false);
    CHECK(ctl("--json list").out == json.out);  // finished tasks: nothing changes between the two

    std::vector<nlohmann::json> lines = object_lines(ctl("-o jsonl list"));
    REQUIRE(lines.size() == 3);
    for (size_t i = 0; i < lines.size(); ++i) CHECK(lines[i] == doc.at("tasks")[i]);

    Ctl table = ctl("list");
    Ctl wide = ctl("-o wide list");
    Ctl wide_after = ctl("list -o wide");  // a global option after the command too
    INFO("table:\n" << table.out << "wide:\n" << wide.out);
    REQUIRE(lines_of(table.out).size() == 3);  // no header: the table is as it always was
    CHECK(line_starting(table.out, "out-0").find("COMPLETED  attempts=1  result=hello") != std::string::npos);
    REQUIRE(lines_of(wide.out).size() == 4);  // a header, then a row per task
    const std::string header = lines_of(wide.out)[0];
    CHECK(header.rfind("ID", 0) == 0);
    CHECK(cells(header) > cells(lines_of(table.out)[0]));
    CHECK(cells(line_starting(wide.out, "out-0")) == cells(header));
    CHECK(wide_after.out == wide.out);

    check_usage_error(ctl("-o bogus list"));
  }

  SUBCASE("get") {
    Ctl json = ctl("-o json get " + ids);
    nlohmann::json doc = one_document(json);
    REQUIRE(doc.at("tasks").size() == 3);
    CHECK(doc.at("missing").empty());
    CHECK(ctl("--json get " + ids).out == json.out);

    std::vector<nlohmann::json> lines = object_lines(ctl("-o jsonl get " + ids));
    REQUIRE(lines.size() == 3);
    for (const auto& line : lines) CHECK(line.at("result") == "hello");

    // A task missing: jsonl stays task lines, the missing id goes to stderr.
    Ctl missing = ctl("-o jsonl get out-0 no-such-task");
    CHECK(missing.code == 1);
    CHECK(object_lines(missing).size() == 1);
    CHECK(missing.err.find("no-such-task") != std::string::npos);

    // get shows one task as fields, one a line ("name:  value"), not as a
    // table: wide shows more fields than table.
    Ctl table = ctl("get out-0");
    Ctl wide = ctl("-o wide get out-0");
    INFO("table:\n" << table.out << "wide:\n" << wide.out);
    auto fields = [](const std::string& text) {
      size_t n = 0;
      for (const auto& line : lines_of(text)) n += line[0] != ' ' && line.find(':') != std::string::npos;
      return n;
    };
    CHECK(fields(wide.out) > fields(table.out));
    CHECK(line_starting(wide.out, "key:") != "");
    CHECK(line_starting(wide.out, "finished:") != "");
    CHECK(line_starting(table.out, "key:") == "");

    check_usage_error(ctl("-o bogus get out-0"));
  }

  SUBCASE("wait") {
    Ctl json = ctl("-o json wait " + ids);
    CHECK(json.code == 0);
    CHECK(one_document(json).at("tasks").size() == 3);
    CHECK(ctl("--json wait " + ids).out == json.out);
    CHECK(object_lines(ctl("-o jsonl wait " + ids)).size() == 3);
    Ctl table = ctl("wait " + ids);
    Ctl wide = ctl("-o wide wait " + ids);
    INFO("table:\n" << table.out << "wide:\n" << wide.out);
    CHECK(cells(line_starting(wide.out, "ID")) > cells(line_starting(table.out, "out-0")));
    CHECK(line_starting(wide.out, "done:") == line_starting(table.out, "done:"));
    check_usage_error(ctl("-o bogus wait " + ids));
  }
}

TEST_CASE("meshctl -o: members of a two-node mesh in every format") {
  TempDir temp("meshctl-out-");
  REQUIRE(!temp.path().empty());
  auto nodes = start_mesh(2, "out-", temp.path(), {});
  const std::string ep = nodes[0]->process().endpoint();
  auto ctl = [&](const std::string& args) { return meshctl_in(temp.path(), ep, args); };
  for (const auto& node : nodes) {
    REQUIRE_MESSAGE(wait_until([&] { return alive_members(*node->client()) == 2; }), node->log());
  }

  Ctl json = ctl("-o json members");
  nlohmann::json doc = one_document(json);
  const nlohmann::json& members = doc.at("members");
  REQUIRE(members.size() == 2);

  // A member's load, state and incarnation move with gossip between two
  // runs; its id, address and replica id do not.
  auto steady = [](nlohmann::json d) {
    for (auto& m : d.at("members")) {
      for (const char* moving : {"load", "state", "state_since_ms", "incarnation"}) m.erase(moving);
    }
    return d;
  };
  CHECK(steady(one_document(ctl("--json members"))) == steady(doc));

  std::vector<nlohmann::json> lines = object_lines(ctl("-o jsonl members"));
  REQUIRE(lines.size() == members.size());
  for (size_t i = 0; i < lines.size(); ++i) CHECK(lines[i].at("id") == members[i].at("id"));

  Ctl table = ctl("members");
  Ctl wide = ctl("-o wide members");
  INFO("table:\n" << table.out << "wide:\n" << wide.out);
  const std::string table_header = line_starting(table.out, "ID");
  const std::string wide_header = line_starting(wide.out, "ID");
  REQUIRE(!table_header.empty());
  REQUIRE(!wide_header.empty());
  CHECK(cells(wide_header) > cells(table_header));
  for (const auto& m : members) {
    CHECK(cells(line_starting(wide.out, m.at("id").get<std::string>() + " ")) == cells(wide_header));
  }

  check_usage_error(ctl("-o bogus members"));

  // The health adaptive placement weighs is shown with the load.
  for (const auto& m : members) {
    CHECK(m.at("load").contains("run_us"));
    CHECK(m.at("load").contains("failure_permille"));
  }
  Ctl load = ctl("load");
  Ctl load_wide = ctl("-o wide load");
  INFO("load:\n" << load.out << "wide:\n" << load_wide.out);
  const std::string load_header = line_starting(load.out, "ID");
  CHECK(load_header.find("RUN_MS") != std::string::npos);
  CHECK(load_header.find("FAILED") != std::string::npos);
  CHECK(line_starting(load_wide.out, "ID").find("FAIL_PERMILLE") != std::string::npos);
  for (const auto& m : members) {
    CHECK(cells(line_starting(load.out, m.at("id").get<std::string>() + " ")) == cells(load_header));
  }
}

TEST_CASE("meshctl -o: events in every format") {
  TestNode node;
  node.start();
  const std::string ep = node.process().endpoint();
  auto ctl = [&](const std::string& args) { return meshctl_in(node.dir(), ep, args); };
  // A founder gains the leadership of its partitions: events to show.
  Ctl seen;
  REQUIRE_MESSAGE(wait_until([&] { return (seen = ctl("events")).out.find("leader_gained") != std::string::npos; }),
                  (seen.out + seen.err));

  // Events only ever come after the ones read: what a later run prints
  // begins with what an earlier one did.
  auto begins_with = [](const nlohmann::json& later, const nlohmann::json& earlier) {
    if (later.size() < earlier.size()) return false;
    for (size_t i = 0; i < earlier.size(); ++i) {
      if (later[i] != earlier[i]) return false;
    }
    return true;
  };

  Ctl json = ctl("-o json events");
  nlohmann::json doc = one_document(json);
  const nlohmann::json& events = doc.at("events");
  REQUIRE(!events.empty());
  CHECK(doc.at("node_id").is_string());
  nlohmann::json alias = one_document(ctl("--json events"));
  CHECK(alias.at("node_id") == doc.at("node_id"));
  CHECK(begins_with(alias.at("events"), events));

  std::vector<nlohmann::json> lines = object_lines(ctl("-o jsonl events"));
  CHECK(begins_with(nlohmann::json(lines), events));
  // Numbered after the last event read: exactly the events that came since.
  nlohmann::json since = one_document(ctl("-o json events --after " + events.back().at("seq").dump()));
  std::vector<nlohmann::json> lines_since = object_lines(ctl("-o jsonl events --after " + events.back().at("seq").dump()));
  CHECK(begins_with(nlohmann::json(lines_since), since.at("events")));

  // --kind keeps the events of the kinds named, and only those.
  nlohmann::json led = one_document(ctl("-o json events --kind leader_gained"));
  CHECK(!led.at("events").empty());
  for (const auto& e : led.at("events")) CHECK(e.at("kind") == "leader_gained");
  CHECK(one_document(ctl("-o json events --kind no_such_kind")).at("events").empty());

  // Every alive member's events, merged: each line names its node.
  nlohmann::json all = one_document(ctl("-o json events --all"));
  CHECK(all.at("nodes").size() == 1);
  CHECK(all.at("silent").empty());
  CHECK(all.at("events").size() >= events.size());
  for (const auto& line : object_lines(ctl("-o jsonl events --all"))) CHECK(line.at("node") == doc.at("node_id"));

  Ctl table = ctl("events");
  Ctl wide = ctl("-o wide events");
  INFO("table:\n" << table.out << "wide:\n" << wide.out);
  const std::string wide_header = lines_of(wide.out).at(0);
  CHECK(wide_header.rfind("NODE", 0) == 0);
  CHECK(cells(wide_header) > cells(lines_of(table.out).at(0)));
  CHECK(lines_of(wide.out).size() >= lines_of(table.out).size() + 1);

  check_usage_error(ctl("-o bogus events"));
}

}  // namespace
}  // namespace mesh::test
