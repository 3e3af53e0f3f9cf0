#pragma once
// The node actor: one per process. It owns the io threads and spawns the
// listeners, and it starts and stops everything in dependency order:
// start = io pool -> listeners (bound, routes published, accepting);
// stop  = listeners drained or closed -> io threads joined -> memory freed.

#include "protocol/interfaces.hpp"
#include "runtime/acme/challenge_tokens.hpp"
#include "runtime/cache/store.hpp"
#include "runtime/config/node_config.hpp"
#include "runtime/net/io_pool.hpp"
#include "runtime/proxy/server.hpp"
#include "runtime/proxy/worker.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ika::actors {

struct node_state {
  static inline const char* name = "ika.node";

  config::node_config config;
  std::unique_ptr<net::io_pool> pool;
  std::unique_ptr<proxy::workers> workers;
  std::vector<std::shared_ptr<proxy::server>> servers;
  std::vector<protocol::listener_actor> listeners;
  std::shared_ptr<cache::store> cache;
  std::vector<protocol::cache_shard_actor> cache_shards;
  bool started = false;

  // Routing: the static routes (config.routes), the routes each app claimed,
  // and the instances each app offers. Every change goes to every listener.
  std::map<std::string, std::vector<protocol::route_spec>> app_routes;
  std::map<std::string, protocol::app_backends> backends;
  std::shared_ptr<proxy::backend_registry> registry = std::make_shared<proxy::backend_registry>();

  /// Checks that `routes` conflict with neither the static routes nor
  /// another app's; "" when `app` may have them, else a message naming the
  /// owner.
  std::string check_claim(const std::string& app, const std::vector<protocol::route_spec>& routes) const;
  std::vector<protocol::route_spec> all_routes() const;
  std::vector<protocol::app_backends> all_backends() const;

  // HTTPS: the certificates by name ("" is the fallback for names without
  // one), and what each certificate actor last said.
  std::map<std::string, std::shared_ptr<const net::tls_certificate>> certificates;
  std::map<std::string, protocol::certificate_status> certificate_news;
  /// Names the configured certificate files cover (no actor makes one).
  std::set<std::string> file_names;
  /// One actor per name that needs a certificate (hosts of routes).
  std::map<std::string, protocol::certificate_actor> certificate_actors;
  std::map<std::string, std::string> certificate_sources; ///< of each name's current actor
  /// ACME HTTP-01 answers, served by the plain HTTP listeners.
  std::shared_ptr<acme::challenge_tokens> challenges = std::make_shared<acme::challenge_tokens>();
  /// Where `ika certs add` keeps certificates (as a data dir of its own:
  /// <data>/added/certs/<host>/certificate.pem).
  std::filesystem::path added_certificates_dir() const {
    return std::filesystem::path{config.data_dir} / "added";
  }
  /// The port of the first HTTPS listener (0: none).
  std::uint16_t https_port = 0;
  /// Reads a chain and key and makes them the certificate for `name`, or
  /// for every name in the certificate (`all_names`), and the default too
  /// (`fallback`), with `ocsp_staple` stapled if it is a current answer
  /// about this chain's leaf (else a warning, and no staple). The names, or
  /// nothing with `error` set.
  std::optional<std::vector<std::string>>
  load_certificate(const std::string& name, const std::string& chain_file, const std::string& key_file,
                   bool all_names, bool fallback, std::string& error, const std::string& ocsp_staple = {});
  /// The configured certificate files and the name their actor goes by.
  struct file_certificate {
    std::string name;
    config::certificate_config files;
  };
  std::vector<file_certificate> file_certificates;
  /// The certificates of the node's configuration and the default one.
  std::string load_configured_certificates();
  /// Sends the certificate table to every HTTPS listener.
  void publish_certificates();

  /// Binds every listener; on failure, an error message and nothing bound.
  std::string open_listeners();
  /// Stops the io threads and frees what runs on them. Idempotent.
  void shut_down_io();
  ~node_state();
};

using node_pointer = protocol::node_actor::stateful_pointer<node_state>;

/// Where the certificate of a route's host comes from: "acme",
/// "self-signed", or "" when none is made for it (tls off, "*", a wildcard,
/// a name that is not a valid certificate name).
std::string certificate_source(const protocol::route_spec& route);

/// Spawns a certificate actor for every route host that needs one and has
/// none yet (only with an HTTPS listener and a data dir).
void ensure_certificates(node_pointer self);

/// Spawns the files actor of a certificate added with `ika certs add`.
void spawn_added_certificate(node_pointer self, const std::string& name);

/// `registry` holds the apps' per-instance counters; the node makes its own
/// when none is given.
protocol::node_actor::behavior_type node(node_pointer self, config::node_config config,
                                         std::shared_ptr<proxy::backend_registry> registry = nullptr);

} // namespace ika::actors
