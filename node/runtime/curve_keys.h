// CURVE keys and the files that hold them. A key is ZeroMQ's Z85 text (40
// characters). Key files are TOML: `public = "…"`, plus `secret = "…"` in a
// key pair's file, plus `role = "…"` in a client's allow-list entry.
//
// A node's keys directory (docs/SECURITY.md):
//   mesh.key            the mesh's server key pair, the same on every node
//   node.key            this node's own key pair: who it is to the others
//                       (or <node id>.key: one directory can serve the
//                       nodes of one host, as in the local demo and tests)
//   nodes/<id>.pub      the nodes allowed in, one file each, named by node id
//   clients/<name>.pub  the clients allowed in, each with a role
// A client holds its own key pair and mesh.pub, the mesh's public key.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "protocol/result.h"

namespace mesh {

struct CurveKeyPair {
  std::string public_key;
  std::string secret_key;
};

// What a client may ask: read (get, wait, list, inspection), submit (adds
// submit, cancel, retry), admin (everything; operator commands).
enum class ClientRole { kRead, kSubmit, kAdmin };
std::optional<ClientRole> parse_client_role(const std::string& name);
const char* client_role_name(ClientRole role);

// Who the other end of a connection proved to be, as ZAP tells the socket
// (its User-Id): "node:<id>", "client:<role>:<name>", or "" on plaintext.
struct Principal {
  bool authenticated = false;
  bool is_node = false;
  std::string name;  // node id or client name
  ClientRole role = ClientRole::kAdmin;

  std::string user_id() const;
  static Principal from_user_id(const std::string& user_id);
};

// The keys a connecting socket proves itself with: its own pair, and the
// public key of the server it expects (the mesh's).
struct CurveClientKeys {
  std::string server_public_key;
  std::string public_key;
  std::string secret_key;
};

CurveKeyPair generate_curve_key_pair();
// A client's keys from its key pair file and the mesh's public key file.
Result<CurveClientKeys> read_client_keys(const std::string& key_pair_file, const std::string& mesh_public_file);

Status write_key_pair_file(const std::string& path, const CurveKeyPair& keys);
// `role`: for a client's allow-list entry; empty for a node's or the mesh's.
Status write_public_key_file(const std::string& path, const std::string& public_key, const std::string& role = "");
Result<CurveKeyPair> read_key_pair_file(const std::string& path);
Result<std::string> read_public_key_file(const std::string& path);

struct AllowedClient {
  std::string name;
  ClientRole role = ClientRole::kRead;
};

// What `meshctl keygen` writes into `dir` (made if missing). Never replaces a
// file: kInvalidArgument if one is there.
//   mesh:   mesh.key (the nodes' shared server pair) and mesh.pub (for clients)
//   node:   <id>.key (the node's pair) and nodes/<id>.pub (its allow-list entry)
//   client: <name>.key and clients/<name>.pub (with the role)
Status keygen_mesh(const std::string& dir);
Status keygen_node(const std::string& dir, const std::string& node_id);
Status keygen_client(const std::string& dir, const std::string& name, ClientRole role);

// A node's keys directory, loaded and checked at start.
struct MeshKeys {
  CurveKeyPair mesh;
  CurveKeyPair node;
  std::map<std::string, std::string> node_ids_by_key;       // nodes/<id>.pub
  std::map<std::string, AllowedClient> clients_by_key;      // clients/<name>.pub

  // The principal a connecting public key is, or none: refused.
  std::optional<Principal> principal_of(const std::string& public_key) const;
};

// kInvalidArgument naming the file at fault. `node_id`: this node's id if
// known, to find <node id>.key when there is no node.key.
Result<MeshKeys> load_mesh_keys(const std::string& dir, const std::string& node_id);

}  // namespace mesh
