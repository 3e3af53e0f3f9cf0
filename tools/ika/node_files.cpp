#include "tools/ika/node_files.hpp"

#include "protocol/records.hpp"
#include "runtime/crypto/credentials.hpp"
#include "runtime/net/endpoint.hpp"
#include "tools/ika/client.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/all.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace ika::tools {

using json = nlohmann::json;

std::string write_node_file(const std::string& data_dir, const node_file& f) {
  json j{{"pid", f.pid}, {"http", f.http}, {"admin", f.admin}};
  auto path = data_dir + "/node.json";
  auto tmp = path + ".tmp";
  {
    std::ofstream out{tmp, std::ios::trunc};
    out << j.dump(2) << "\n";
    if (!out.flush())
      return "cannot write " + tmp;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return "cannot rename " + tmp + " to " + path;
  return {};
}

std::variant<node_file, std::string> read_node_file(const std::string& data_dir) {
  auto path = data_dir + "/node.json";
  std::ifstream in{path};
  if (!in)
    return "no node found: " + path + " does not exist (is `ika serve` running with --data " + data_dir +
           "? or pass --node ADDR --credentials FILE)";
  std::stringstream text;
  text << in.rdbuf();
  auto j = json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("admin") || !j["admin"].is_string())
    return path + ": not a node file written by ika serve";
  node_file f;
  f.admin = j["admin"].get<std::string>();
  if (j.contains("pid") && j["pid"].is_number_integer())
    f.pid = j["pid"].get<int>();
  if (j.contains("http") && j["http"].is_array())
    for (const auto& h : j["http"])
      if (h.is_string())
        f.http.push_back(h.get<std::string>());
  return f;
}

std::string configure_client_tls(caf::actor_system_config& cfg, const client_options& o,
                                 std::optional<crypto::private_tls_files>& files) {
  cfg.load<caf::io::middleman>();
  cfg.load<caf::openssl::manager>();
  auto path = !o.credentials.empty()
                  ? std::filesystem::path{o.credentials}
                  : crypto::credentials_file_of(o.data_dir.empty() ? data_dir_default() : o.data_dir);
  auto id = crypto::load_client_credentials(path);
  if (auto* err = std::get_if<crypto::credential_error>(&id))
    return "admin credentials: " + err->to_string();
  auto split = crypto::private_tls_files::write(std::get<crypto::tls_identity>(id), crypto::tls_role::client);
  if (auto* err = std::get_if<crypto::credential_error>(&split))
    return "admin credentials: " + err->to_string();
  files.emplace(std::get<crypto::private_tls_files>(std::move(split)));
  if (auto err = crypto::configure_mutual_tls(cfg, files->files(), crypto::tls_role::client))
    return "admin credentials: " + err->to_string();
  return {};
}

std::string configure_node_tls(caf::actor_system_config& cfg, const std::string& data_dir) {
  cfg.load<caf::io::middleman>();
  cfg.load<caf::openssl::manager>();
  auto creds = crypto::ensure_node_credentials(data_dir);
  if (auto* err = std::get_if<crypto::credential_error>(&creds))
    return err->to_string();
  const auto& c = std::get<crypto::node_credentials>(creds);
  if (auto err = crypto::configure_mutual_tls(cfg, c.node_files, crypto::tls_role::server))
    return err->to_string();
  return {};
}

std::variant<protocol::admin_actor, std::string> connect_admin(caf::actor_system& sys,
                                                               const std::string& address) {
  auto ep = net::parse_endpoint(address);
  if (!ep || ep->port() == 0)
    return "invalid node address '" + address + "' (expected IP:PORT)";
  if (auto err = crypto::require_mutual_tls(sys))
    return err->to_string();
  auto handle = caf::openssl::remote_actor<protocol::admin_actor>(sys, ep->address().to_string(), ep->port());
  if (!handle) {
    const auto& err = handle.error();
    std::string why;
    if (err == caf::sec::cannot_connect_to_node)
      why = "nothing accepts connections there (is `ika serve` running with this admin address?)";
    else if (err == caf::sec::disconnect_during_handshake)
      why = "the mutual TLS handshake failed: these credentials are not from this node's CA (a node's "
            "admin credentials are admin-credentials.pem in its data dir)";
    else
      why = sys.render(err);
    return "cannot reach the node's admin endpoint at " + address + ": " + why;
  }
  return *handle;
}

std::string publish_admin(caf::actor_system& sys, const protocol::admin_actor& admin,
                          const std::string& address, std::string& bound) {
  auto ep = net::parse_endpoint(address);
  if (!ep)
    return "invalid admin address '" + address + "' (expected IP:PORT)";
  // Never the plain middleman: admin traffic is mutual TLS or nothing.
  if (auto err = crypto::require_mutual_tls(sys))
    return err->to_string();
  auto host = ep->address().to_string();
  auto port = caf::openssl::publish(admin, ep->port(), host.c_str(), false);
  if (!port)
    return "cannot listen for admin on " + address + ": " + sys.render(port.error());
  bound = net::to_string(asio::ip::tcp::endpoint{ep->address(), *port});
  return {};
}

std::string describe(caf::actor_system& sys, const caf::error& err) {
  auto text = protocol::error_context(err);
  return text.empty() ? sys.render(err) : text;
}

} // namespace ika::tools
