#pragma once
// The node's configuration file (TOML, parsed with toml++), validated at the
// boundary: unknown keys, wrong types, bad addresses, bad patterns, duplicate
// listeners or routes and out-of-range values are errors that name the file,
// the line and the key. Parsing stops at the first error.
//
//   [node]
//   workers = 2                  # io threads, 0..1024; 0 or absent: one per core
//   shutdown_timeout = "10s"     # SIGTERM: how long in-flight requests get
//
//   [[listener]]                 # at least one
//   name = "http"                # optional; unique; [A-Za-z0-9._-], at most 64
//   address = "127.0.0.1:8080"   # IP:PORT or [IPv6]:PORT; port 0 = any free port
//
//   [limits]                     # optional; every key of proxy::limits
//   max_head_bytes = "16KiB"     # sizes: integer bytes or "<n>B|KiB|MiB|GiB"
//   client_idle_timeout = "60s"  # durations: "<n>ms|s|m|h"
//
//   tls = false                  # optional: HTTPS (certificates by SNI)
//
//   [[certificate]]              # optional: a certificate kept in files
//   cert = "/etc/ika/example.crt"  # PEM chain, leaf first
//   key = "/etc/ika/example.key"   # PEM private key (mode 0600)
//
//   [acme]                       # optional: where certificates for public names come from
//   directory = "https://acme-v02.api.letsencrypt.org/directory"
//   ca_bundle = "/path/ca.pem"   # optional: CAs to trust for the directory's HTTPS
//   email = "ops@example.com"    # optional: the account's contact
//
//   [[route]]                    # optional; none: every request gets 404
//   host = "hello.localhost"     # exact, "*.example.com", or "*" (default)
//   path = "/*"                  # "/*" (default), "/api/*", "/exact"
//   upstreams = ["127.0.0.1:9000", "localhost:9001"]   # names resolved at load
//   max_body = "10MiB"           # optional, overrides limits.max_body
//   cache = true                 # optional: store what Cache-Control allows (RFC 9111)
//   cache_max_object = "1MiB"    # optional: largest response stored (default cache.max_object)
//   cache_set_cookie = false     # optional: also store responses with Set-Cookie
//   https_redirect = true        # optional: plain HTTP goes to the HTTPS listener (if any)
//   tls = "auto"                 # optional: the host's certificate: "auto" (ACME for public
//                                # names, the local CA for local ones), "acme", "self-signed", "off",
//                                # or { cert = "chain.pem", key = "key.pem" } (files, watched)
//
//   [cache]                      # optional: the node's response cache
//   memory = "64MiB"             # byte budget of everything cached (default 64MiB)
//   shards = 2                   # 1..256; absent: one per io thread
//   max_object = "8MiB"          # default largest response stored
//   lock_timeout = "5s"          # a miss waits this long for a concurrent fetch of its key
//
// Rules beyond the shape above:
// - Listeners: default names are "http", "http-2", "http-3", ... skipping
//   explicit names. Two listeners may not bind the same port on the same
//   address or on a wildcard address ("0.0.0.0", "[::]"); port 0 never
//   conflicts. Addresses are stored normalised ("[::1]:8080").
// - Routes: the host is lower-cased; (host, path) must be unique. Upstreams
//   are resolved once, at load (blocking), to numeric "ip:port" (the first
//   address of a name); port 0 and duplicates within a route are errors.
// - Sizes are > 0. max_head_bytes and max_uri_bytes are at most 1MiB and
//   max_uri_bytes <= max_head_bytes (when only max_head_bytes is set below
//   the URI default, the URI limit follows it); max_headers is 1..10000;
//   upstream_keepalive is 0..10000 (0: no pooling).
// - Durations are strings with a unit (a bare integer is an error), > 0 and
//   at most 8760h.
//
// Errors: `FILE:LINE: KEY: MESSAGE`. KEY is a dotted path whose array indices
// count from 1, as a reader counts blocks in the file: "route[2].upstreams[1]"
// is the first upstream of the second [[route]]. LINE is the line of the
// offending key or value; for a missing key, the line of its table; a TOML
// syntax error gives the line toml++ reports and no key.

#include "protocol/messages.hpp"
#include "runtime/proxy/limits.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ika::config {

struct listener_config {
  std::string name;
  std::string address; ///< numeric "ip:port" (validated)
  bool tls = false;    ///< HTTPS: certificates chosen by SNI
};

/// The ACME CA the node orders certificates from.
struct acme_config {
  std::string directory = "https://acme-v02.api.letsencrypt.org/directory";
  std::string ca_bundle; ///< PEM CAs to trust for the CA's API; "": the system's
  std::string email;     ///< account contact; optional
};

/// A certificate the user keeps in files (chain leaf first, and its key).
struct certificate_config {
  std::string chain_file;
  std::string key_file;
  /// Set for a route's own certificate (`tls = { cert, key }`): the route's
  /// host, which the certificate must cover; such a one is never the default.
  std::string route_host;
};

/// The node's response cache (used by routes that turn caching on).
struct cache_config {
  std::uint64_t memory = 64u << 20; ///< byte budget of the whole cache; 0: no cache
  unsigned shards = 0;              ///< 0: one per io thread
  std::uint64_t max_object = 8u << 20;
  std::chrono::milliseconds lock_timeout{5000};
};

/// The most io threads a node may be given (`workers`; 0 means one per core).
inline constexpr unsigned max_workers = 1024;

struct node_config {
  unsigned workers = 0; ///< 0: one io thread per core, at most max_workers
  std::chrono::milliseconds shutdown_timeout = std::chrono::seconds{10};
  std::vector<listener_config> listeners;
  proxy::limits limits;
  /// Routes with upstreams resolved to numeric "ip:port", host patterns in
  /// lower case.
  std::vector<protocol::route_spec> routes;
  cache_config cache;
  /// Certificates from files, for the names they cover; the first one is
  /// also the default for names without a certificate.
  std::vector<certificate_config> certificates;
  acme_config acme;
  /// The node's data dir ("" for `ika proxy`): its local CA makes the
  /// default certificate when no file gives one.
  std::string data_dir;
};

/// A configuration error: where it is and what is wrong.
struct config_error {
  std::string file; ///< the path as given, or a name for in-memory text
  int line = 0;     ///< 1-based; 0 when not tied to a line
  std::string key;  ///< dotted key path, 1-based indices ("route[2].upstreams[1]"); may be empty
  std::string message;

  /// "FILE:LINE: KEY: MESSAGE" (parts left out when unknown).
  std::string to_string() const;
};

using config_result = std::variant<node_config, config_error>;

/// Parses TOML text. `source` names it in errors.
config_result parse_config(std::string_view text, std::string_view source);

/// Reads and parses a file (a missing or unreadable file is an error).
config_result load_config(const std::string& path);

/// "16KiB" -> 16384: digits and a unit (B, KiB, MiB, GiB), nothing else.
/// Returns false (and leaves `out` alone) on anything else or on overflow.
/// (In the file, a TOML integer is a size in bytes; that is handled by
/// parse_config.)
bool parse_size(std::string_view text, std::uint64_t& out);

/// "250ms", "5s", "2m", "1h" -> milliseconds: digits and a unit, at most
/// 8760h; "0s" parses (callers decide whether 0 makes sense). Returns false
/// (and leaves `out` alone) on error.
bool parse_duration(std::string_view text, std::chrono::milliseconds& out);

} // namespace ika::config
