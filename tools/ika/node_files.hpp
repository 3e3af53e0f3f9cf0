#pragma once
// What a node leaves in its data dir for clients: the addresses it bound
// (node.json) and the admin credentials; and how both sides set up the
// mutual-TLS admin channel from them.
//
//   <data>/node.json   {"pid": 123, "http": ["127.0.0.1:8080"], "admin": "127.0.0.1:7700"}

#include "protocol/interfaces.hpp"
#include "runtime/crypto/mutual_tls.hpp"

#include <caf/fwd.hpp>

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace ika::tools {

struct client_options;

struct node_file {
  int pid = 0;
  std::vector<std::string> http;
  std::string admin;
};

/// Writes <data>/node.json atomically (temp file + rename).
std::string write_node_file(const std::string& data_dir, const node_file& f);

/// Reads <data>/node.json, or says why it cannot (no node has run there).
std::variant<node_file, std::string> read_node_file(const std::string& data_dir);

/// Loads the middleman and mutual TLS into a client's config, with the
/// credentials of --credentials or of the data dir (split into `files`,
/// which must outlive the actor system); "" or an error.
std::string configure_client_tls(caf::actor_system_config& cfg, const client_options& o,
                                 std::optional<crypto::private_tls_files>& files);

/// Creates (first start) or loads the node's credentials and sets the
/// node's config up for mutual TLS with them; "" or an error.
std::string configure_node_tls(caf::actor_system_config& cfg, const std::string& data_dir);

/// Connects to the admin actor at "ip:port".
std::variant<protocol::admin_actor, std::string> connect_admin(caf::actor_system& sys,
                                                               const std::string& address);

/// Publishes the admin actor over mutual TLS at "ip:port" (port 0: any);
/// sets `bound` to the address bound, or returns an error.
std::string publish_admin(caf::actor_system& sys, const protocol::admin_actor& admin,
                          const std::string& address, std::string& bound);

/// What to tell a user about an error from the node: the text the node put
/// into it, or CAF's rendering when it carries none.
std::string describe(caf::actor_system& sys, const caf::error& err);

} // namespace ika::tools
