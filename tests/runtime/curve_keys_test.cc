#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "node/runtime/curve_keys.h"
#include "tools/testkit/temp_dir.h"

namespace mesh {
namespace {

TEST_CASE("keys: a principal survives the trip through ZAP's user id") {
  Principal node{true, true, "n1", ClientRole::kAdmin};
  CHECK(node.user_id() == "node:n1");
  Principal back = Principal::from_user_id(node.user_id());
  CHECK(back.authenticated);
  CHECK(back.is_node);
  CHECK(back.name == "n1");
  Principal client = Principal::from_user_id("client:read:bob");
  CHECK(client.authenticated);
  CHECK_FALSE(client.is_node);
  CHECK(client.role == ClientRole::kRead);
  CHECK(client.name == "bob");
  CHECK(client.user_id() == "client:read:bob");
  CHECK_FALSE(Principal::from_user_id("").authenticated);
  CHECK_FALSE(Principal::from_user_id("client:root:eve").authenticated);
  CHECK_FALSE(Principal::from_user_id("client:read").authenticated);
}

TEST_CASE("keys: keygen writes what a node loads, and the allow-lists name who is who") {
  TempDir temp("keys-");
  std::string dir = temp.path() + "/keys";
  REQUIRE(keygen_mesh(dir).ok());
  REQUIRE(keygen_node(dir, "n1").ok());
  REQUIRE(keygen_node(dir, "n2").ok());
  REQUIRE(keygen_client(dir, "alice", ClientRole::kSubmit).ok());
  CHECK_FALSE(keygen_node(dir, "n1").ok());  // never replaces a key
  CHECK_FALSE(keygen_node(dir, "../n3").ok());
  CHECK((std::filesystem::status(dir + "/n1.key").permissions() & std::filesystem::perms::group_read) ==
        std::filesystem::perms::none);

  auto keys = load_mesh_keys(dir, "n1");
  REQUIRE_MESSAGE(keys.ok(), keys.status().message());
  auto n2 = read_key_pair_file(dir + "/n2.key");
  REQUIRE(n2.ok());
  auto who = keys.value().principal_of(n2.value().public_key);
  REQUIRE(who);
  CHECK(who->is_node);
  CHECK(who->name == "n2");
  auto alice = read_client_keys(dir + "/alice.key", dir + "/mesh.pub");
  REQUIRE(alice.ok());
  CHECK(alice.value().server_public_key == keys.value().mesh.public_key);
  who = keys.value().principal_of(alice.value().public_key);
  REQUIRE(who);
  CHECK_FALSE(who->is_node);
  CHECK(who->role == ClientRole::kSubmit);
  CHECK_FALSE(keys.value().principal_of(generate_curve_key_pair().public_key));

  // Without node.key and without a known id, or with a key nobody listed: refused, naming the file.
  CHECK(load_mesh_keys(dir, "").status().message().find("node.key") != std::string::npos);
  std::filesystem::remove(dir + "/nodes/n1.pub");
  CHECK(load_mesh_keys(dir, "n1").status().message().find("not among") != std::string::npos);
}

TEST_CASE("keys: a broken key file is refused with its name") {
  TempDir temp("keys-");
  std::string path = temp.path() + "/bad.pub";
  std::ofstream(path) << "public = \"short\"\n";
  auto key = read_public_key_file(path);
  REQUIRE_FALSE(key.ok());
  CHECK(key.status().message().find(path) != std::string::npos);
  CHECK(key.status().message().find("Z85") != std::string::npos);
  std::ofstream(path, std::ios::trunc) << "public = [\n";
  CHECK_FALSE(read_public_key_file(path).ok());
  std::string dir = temp.path() + "/keys";
  REQUIRE(keygen_mesh(dir).ok());
  REQUIRE(keygen_node(dir, "n1").ok());
  REQUIRE(keygen_client(dir, "carol", ClientRole::kRead).ok());
  std::string carol = dir + "/clients/carol.pub";
  std::string text;
  {
    std::ifstream in(carol);
    std::getline(in, text);
    std::getline(in, text);
  }
  std::ofstream(carol, std::ios::trunc) << text << "\nrole = \"root\"\n";
  CHECK(load_mesh_keys(dir, "n1").status().message().find("role must be") != std::string::npos);
}

}  // namespace
}  // namespace mesh
