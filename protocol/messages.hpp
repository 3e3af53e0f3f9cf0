#pragma once
// Message types of the control plane. Each one is default- and
// copy-constructible, has an inspect() overload, and is registered under a
// stable name in register_types() (protocol/types.hpp), so that it can cross
// a node boundary as soon as nodes talk to each other.

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace ika::protocol {

/// One route: which requests (host and path pattern) go to which upstreams.
///
/// - `host`: an exact name ("example.com", lower case, no port), a wildcard
///   for the subdomains of a name ("*.example.com", not the apex), or "*"
///   (any host).
/// - `path`: "/*" (everything), a prefix by whole segments ("/api/*" matches
///   "/api", "/api/" and "/api/x", never "/apix"), or an exact path ("/up").
/// - `upstreams`: numeric "ip:port" / "[ip6]:port" addresses, balanced round
///   robin (a static route), or
/// - `app`: the id ("name/env") of a deployed app whose healthy instances
///   serve the route, balanced by least in-flight requests; then
///   `upstreams` is empty.
struct route_spec {
  std::string host = "*";
  std::string path = "/*";
  std::vector<std::string> upstreams;
  /// Largest request body accepted (bytes); 0 means the listener default.
  std::uint64_t max_body = 0;
  std::string app;
  /// Responses on this route may be cached (RFC 9111; only what the
  /// upstream marks cacheable), each up to `cache_max_object` bytes (0: the
  /// node's default); `cache_set_cookie` lets responses with Set-Cookie in.
  bool cache = false;
  std::uint64_t cache_max_object = 0;
  bool cache_set_cookie = false;
  /// Plain HTTP to this route is redirected to the node's HTTPS listener
  /// (when it has one), except ACME's HTTP-01 challenges.
  bool https_redirect = true;
  /// Where the host's certificate comes from: "" (auto: ACME for public
  /// names, the node's local CA for local ones), "acme", "self-signed", or
  /// "off" (no certificate is made for it).
  std::string tls;

  /// The same host and path: the same place in the route table, which one
  /// owner holds at a time.
  bool same_place(const route_spec& o) const { return host == o.host && path == o.path; }

  friend bool operator==(const route_spec&, const route_spec&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, route_spec& x) {
  return f(caf::meta::type_name("ika.route_spec"), x.host, x.path, x.upstreams, x.max_body, x.app, x.cache,
           x.cache_max_object, x.cache_set_cookie, x.https_redirect, x.tls);
}

/// One instance of an app that may take traffic.
struct backend_spec {
  std::string instance; ///< instance id, unique within the node ("hello-production-3")
  std::string address;  ///< numeric "127.0.0.1:port" it listens on
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, backend_spec& x) {
  return f(caf::meta::type_name("ika.backend_spec"), x.instance, x.address);
}

/// The instances an app currently offers to the data plane.
struct app_backends {
  std::string app;
  std::vector<backend_spec> backends;
  /// An on-demand app: with no backend, requests wait (at most
  /// `max_waiters` of them, each up to `wait_timeout_ms`) while the app
  /// starts an instance, instead of failing at once.
  bool on_demand = false;
  std::uint32_t max_waiters = 0;
  std::uint64_t wait_timeout_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, app_backends& x) {
  return f(caf::meta::type_name("ika.app_backends"), x.app, x.backends, x.on_demand, x.max_waiters,
           x.wait_timeout_ms);
}

/// What a listener reports about itself.
struct listener_status {
  std::string name;
  std::string address;           ///< the address actually bound ("127.0.0.1:43121")
  std::uint64_t connections = 0; ///< client connections open now
  std::uint64_t requests = 0;    ///< requests answered since start
  std::uint32_t routes = 0;      ///< routes in the published table
  bool tls = false;              ///< HTTPS
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, listener_status& x) {
  return f(caf::meta::type_name("ika.listener_status"), x.name, x.address, x.connections, x.requests,
           x.routes, x.tls);
}

/// What a node reports about itself.
struct node_status {
  std::string version;
  std::vector<listener_status> listeners;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_status& x) {
  return f(caf::meta::type_name("ika.node_status"), x.version, x.listeners);
}

/// The outcome of a drain: whether every in-flight request finished in time.
struct drain_result {
  bool complete = true;
  std::uint64_t abandoned = 0; ///< connections closed at the deadline
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, drain_result& x) {
  return f(caf::meta::type_name("ika.drain_result"), x.complete, x.abandoned);
}

/// One cache shard's numbers (ika cache stats).
struct cache_shard_status {
  std::uint32_t shard = 0;
  std::uint64_t objects = 0;
  std::uint64_t bytes = 0; ///< charged against the budget
  std::uint64_t budget = 0;
  std::uint64_t hits = 0, misses = 0, stale = 0, bypass = 0, collapsed = 0;
  std::uint64_t stored = 0, refused = 0, evicted = 0, purged = 0, fills = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_shard_status& x) {
  return f(caf::meta::type_name("ika.cache_shard_status"), x.shard, x.objects, x.bytes, x.budget, x.hits,
           x.misses, x.stale, x.bypass, x.collapsed, x.stored, x.refused, x.evicted, x.purged, x.fills);
}

/// The node's response cache (no shards: the node has no cache).
struct cache_status {
  std::uint64_t budget = 0;
  std::uint64_t max_object = 0;
  std::vector<cache_shard_status> shards;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cache_status& x) {
  return f(caf::meta::type_name("ika.cache_status"), x.budget, x.max_object, x.shards);
}

/// One certificate as its actor sees it: for `ika certs`, and for the node,
/// which loads the files named here into the listeners' certificate table
/// whenever `generation` changes. Never any key material: the key stays in
/// its file (0600) in the data dir or where the user keeps it.
struct certificate_status {
  std::string name;   ///< host name or "*.parent"
  std::string source; ///< "acme", "self-signed" or "files"
  /// "pending" (none yet), "valid", "renewing" (valid, a renewal runs),
  /// "failed" (none, the last attempt failed), "expired".
  std::string state = "pending";
  std::string issuer;
  std::int64_t not_before = 0; ///< unix seconds; 0: none yet
  std::int64_t not_after = 0;
  std::string chain_file;        ///< PEM chain (leaf first); "" while there is none
  std::string key_file;          ///< PEM key (may be the same file as the chain)
  std::uint64_t generation = 0;  ///< +1 for every new certificate (or changed files)
  std::string error;             ///< the last failure ("" after a success)
  std::int64_t next_attempt = 0; ///< unix seconds of the next renewal or retry; 0: none planned
  /// OCSP stapling: "" (the certificate names no OCSP responder), "pending",
  /// "good" (a current response is stapled) or "failed" (none; see ocsp_error).
  std::string ocsp;
  std::string ocsp_staple;     ///< the stapled OCSPResponse (DER bytes); "" while there is none
  std::int64_t ocsp_until = 0; ///< unix seconds the staple is current until
  std::string ocsp_error;      ///< the last failed attempt ("" after a success)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, certificate_status& x) {
  return f(caf::meta::type_name("ika.certificate_status"), x.name, x.source, x.state, x.issuer, x.not_before,
           x.not_after, x.chain_file, x.key_file, x.generation, x.error, x.next_attempt, x.ocsp,
           x.ocsp_staple, x.ocsp_until, x.ocsp_error);
}

} // namespace ika::protocol
