#include "node/runtime/curve_keys.h"

#include <fcntl.h>
#include <unistd.h>
#include <zmq.h>

#include <cstring>
#include <filesystem>
#include <toml.hpp>

namespace mesh {

namespace {

constexpr size_t kZ85KeyChars = 40;

Status invalid(const std::string& message) { return Status(ErrorCode::kInvalidArgument, message); }

// Creates `path` with `text`; never replaces a key that is there already.
Status write_new_file(const std::string& path, const std::string& text, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return invalid("cannot create " + path + ": " + std::strerror(errno));
  bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!written || !synced) return invalid("cannot write " + path);
  return Status::Ok();
}

bool is_z85_key(const std::string& key) {
  uint8_t binary[32];
  return key.size() == kZ85KeyChars && zmq_z85_decode(binary, key.c_str()) != nullptr;
}

Result<toml::value> parse_key_file(const std::string& path) {
  try {
    return toml::parse(path);
  } catch (const std::exception& e) {
    return invalid("key file " + path + ": " + e.what());
  }
}

Result<std::string> key_field(const toml::value& file, const std::string& path, const std::string& field) {
  if (!file.is_table() || !file.contains(field) || !file.at(field).is_string()) {
    return invalid("key file " + path + " has no " + field + " key");
  }
  std::string key = std::string(file.at(field).as_string());
  if (!is_z85_key(key)) return invalid("key file " + path + ": " + field + " is not a 40-character Z85 key");
  return key;
}

// The *.pub files of `dir`, by file name without the extension.
std::map<std::string, std::string> public_key_files(const std::filesystem::path& dir) {
  std::map<std::string, std::string> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".pub") files[entry.path().stem().string()] = entry.path().string();
  }
  return files;
}

}  // namespace

std::optional<ClientRole> parse_client_role(const std::string& name) {
  if (name == "read") return ClientRole::kRead;
  if (name == "submit") return ClientRole::kSubmit;
  if (name == "admin") return ClientRole::kAdmin;
  return std::nullopt;
}

const char* client_role_name(ClientRole role) {
  switch (role) {
    case ClientRole::kRead: return "read";
    case ClientRole::kSubmit: return "submit";
    case ClientRole::kAdmin: return "admin";
  }
  return "read";
}

std::string Principal::user_id() const {
  if (!authenticated) return "";
  return is_node ? "node:" + name : std::string("client:") + client_role_name(role) + ":" + name;
}

Principal Principal::from_user_id(const std::string& user_id) {
  Principal p;
  if (user_id.rfind("node:", 0) == 0) {
    p.authenticated = true;
    p.is_node = true;
    p.name = user_id.substr(5);
  } else if (user_id.rfind("client:", 0) == 0) {
    size_t colon = user_id.find(':', 7);
    auto role = parse_client_role(user_id.substr(7, colon == std::string::npos ? colon : colon - 7));
    if (role && colon != std::string::npos) {
      p.authenticated = true;
      p.role = *role;
      p.name = user_id.substr(colon + 1);
    }
  }
  return p;
}

CurveKeyPair generate_curve_key_pair() {
  char public_key[kZ85KeyChars + 1];
  char secret_key[kZ85KeyChars + 1];
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    throw std::runtime_error("this libzmq has no CURVE support (built without libsodium)");
  }
  return {public_key, secret_key};
}

Status write_key_pair_file(const std::string& path, const CurveKeyPair& keys) {
  return write_new_file(path,
                        "# meshwork CURVE key pair: keep it secret\npublic = \"" + keys.public_key + "\"\nsecret = \"" +
                            keys.secret_key + "\"\n",
                        0600);
}

Status write_public_key_file(const std::string& path, const std::string& public_key, const std::string& role) {
  std::string text = "# meshwork CURVE public key\npublic = \"" + public_key + "\"\n";
  if (!role.empty()) text += "role = \"" + role + "\"\n";
  return write_new_file(path, text, 0644);
}

Result<CurveKeyPair> read_key_pair_file(const std::string& path) {
  auto file = parse_key_file(path);
  if (!file.ok()) return file.status();
  auto public_key = key_field(file.value(), path, "public");
  if (!public_key.ok()) return public_key.status();
  auto secret_key = key_field(file.value(), path, "secret");
  if (!secret_key.ok()) return secret_key.status();
  return CurveKeyPair{public_key.value(), secret_key.value()};
}

Result<std::string> read_public_key_file(const std::string& path) {
  auto file = parse_key_file(path);
  if (!file.ok()) return file.status();
  return key_field(file.value(), path, "public");
}

namespace {

Status make_directory(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return invalid("cannot create " + dir.string() + ": " + ec.message());
  return Status::Ok();
}

// <name>.key in `dir`, and its public half as <sub>/<name>.pub.
Status keygen_member(const std::string& dir, const std::string& sub, const std::string& name,
                     const std::string& role) {
  if (name.empty() || name.find('/') != std::string::npos || name[0] == '.') {
    return invalid("'" + name + "' cannot name a key file");
  }
  const std::filesystem::path root(dir);
  if (Status s = make_directory(root / sub); !s.ok()) return s;
  CurveKeyPair keys = generate_curve_key_pair();
  if (Status s = write_key_pair_file((root / (name + ".key")).string(), keys); !s.ok()) return s;
  return write_public_key_file((root / sub / (name + ".pub")).string(), keys.public_key, role);
}

}  // namespace

Status keygen_mesh(const std::string& dir) {
  const std::filesystem::path root(dir);
  if (Status s = make_directory(root); !s.ok()) return s;
  CurveKeyPair keys = generate_curve_key_pair();
  if (Status s = write_key_pair_file((root / "mesh.key").string(), keys); !s.ok()) return s;
  return write_public_key_file((root / "mesh.pub").string(), keys.public_key);
}

Status keygen_node(const std::string& dir, const std::string& node_id) {
  return keygen_member(dir, "nodes", node_id, "");
}

Status keygen_client(const std::string& dir, const std::string& name, ClientRole role) {
  return keygen_member(dir, "clients", name, client_role_name(role));
}

Result<CurveClientKeys> read_client_keys(const std::string& key_pair_file, const std::string& mesh_public_file) {
  auto own = read_key_pair_file(key_pair_file);
  if (!own.ok()) return own.status();
  auto server = read_public_key_file(mesh_public_file);
  if (!server.ok()) return server.status();
  return CurveClientKeys{server.value(), own.value().public_key, own.value().secret_key};
}

std::optional<Principal> MeshKeys::principal_of(const std::string& public_key) const {
  Principal p;
  p.authenticated = true;
  if (auto listed = node_ids_by_key.find(public_key); listed != node_ids_by_key.end()) {
    p.is_node = true;
    p.name = listed->second;
    return p;
  }
  if (auto client = clients_by_key.find(public_key); client != clients_by_key.end()) {
    p.name = client->second.name;
    p.role = client->second.role;
    return p;
  }
  return std::nullopt;
}

Result<MeshKeys> load_mesh_keys(const std::string& dir, const std::string& node_id) {
  const std::filesystem::path root(dir);
  MeshKeys keys;
  auto mesh = read_key_pair_file((root / "mesh.key").string());
  if (!mesh.ok()) return mesh.status();
  keys.mesh = mesh.value();
  std::filesystem::path node_key = root / "node.key";
  if (!std::filesystem::exists(node_key) && !node_id.empty()) node_key = root / (node_id + ".key");
  auto node = read_key_pair_file(node_key.string());
  if (!node.ok()) return node.status();
  keys.node = node.value();
  for (const auto& [id, path] : public_key_files(root / "nodes")) {
    auto key = read_public_key_file(path);
    if (!key.ok()) return key.status();
    keys.node_ids_by_key[key.value()] = id;
  }
  for (const auto& [name, path] : public_key_files(root / "clients")) {
    auto file = parse_key_file(path);
    if (!file.ok()) return file.status();
    auto key = key_field(file.value(), path, "public");
    if (!key.ok()) return key.status();
    const toml::value& entry = file.value();
    std::string role_name = entry.contains("role") && entry.at("role").is_string() ? std::string(entry.at("role").as_string())
                                                                                    : std::string();
    auto role = parse_client_role(role_name);
    if (!role) return invalid("key file " + path + ": role must be read, submit or admin");
    if (keys.node_ids_by_key.count(key.value())) return invalid("key file " + path + " is also a node's key");
    keys.clients_by_key[key.value()] = AllowedClient{name, *role};
  }
  bool node_listed = false;
  for (const auto& [key, id] : keys.node_ids_by_key) node_listed = node_listed || key == keys.node.public_key;
  if (!node_listed) return invalid("the key of " + node_key.string() + " is not among " + (root / "nodes").string() + "/*.pub");
  return keys;
}

}  // namespace mesh
