#pragma once
// An app's manifest: the `ika.toml` beside the app (TOML, parsed with
// toml++), validated at the boundary like the node config: unknown keys,
// wrong types, bad names and out-of-range values are errors that name the
// file, the line and the key (config_error). Parsing stops at the first error.
//
//   name = "hello"                   # required; [a-z][a-z0-9-]{0,62}, not ending in '-'
//   environment = "production"       # optional, default "production"; same rule
//   command = ["python3", "app.py"]  # required; argv, run without a shell
//   instances = 2                    # optional, 0..64, default 1; 0 = on demand
//   stop_timeout = "10s"             # SIGTERM -> SIGKILL grace; default 10s
//   start_timeout = "30s"            # until ready; default 30s
//
//   [[routes]]                       # at least one (or routes = [{host = ...}, ...])
//   host = "hello.localhost"         # required: exact, "*.example.com" or "*"
//   path = "/*"                      # "/*" (default), "/api/*" or an exact "/path"
//
//   [env]                            # optional; values are strings
//   GREETING = "hi"
//
//   [deploy]                         # optional: how a new release replaces the old
//   max_surge = 1                    # new instances started per batch, 1..64, default 1
//   hold = "1s"                      # healthy this long before serving; default 1s, "0s" allowed
//   drain_timeout = "30s"            # old instances' in-flight requests; default 30s
//
//   [on_demand]                      # optional; used when instances = 0
//   idle_timeout = "5m"              # no request this long: stop; default 5m
//   max_waiters = 1000               # requests waiting for a start; more get 503; 1..100000
//   wait_timeout = "30s"             # a waiting request gets 504 after this; default 30s
//
//   [cache]                          # optional: the node caches responses of these routes
//   enabled = true                   # default false; only what Cache-Control allows (RFC 9111)
//   max_object = "1MiB"              # largest response stored; default the node's (8MiB)
//   set_cookie = false               # also store responses with Set-Cookie; default false
//
//   [tls]                            # optional: HTTPS for the app's routes (node with an HTTPS listener)
//   mode = "auto"                    # "auto" (default): ACME for public names, the node's local CA
//                                    # for localhost, *.localhost, .test, .internal and single labels;
//                                    # "acme", "self-signed", or "off" (no certificate, no redirect)
//   redirect = true                  # plain HTTP redirects to HTTPS (308/307); default true
//
//   [health]                         # optional; without it, a TCP connect is the check
//   path = "/healthz"                # required in the table; an absolute path
//   interval = "10s"                 # default 10s
//   timeout = "2s"                   # default 2s; at most the interval
//   healthy_threshold = 2            # passes in a row to become healthy, 1..100, default 2
//   unhealthy_threshold = 3          # failures in a row to become unhealthy, 1..100, default 3
//
// Rules beyond the shape above:
// - The environment name is the key `environment`, not `env`: `[env]` is the
//   table of variables, and TOML cannot give one key both meanings. The app id
//   is "name/environment".
// - Route hosts are lower-cased; (host, path) pairs are unique. A host is
//   required: an app claims every host only by writing "*".
// - Variable names are [A-Za-z_][A-Za-z0-9_]*. Refused: PORT and HOST (ika
//   sets them per instance) and every name starting with IKA_ (ika's own).
//   PATH and HOME are allowed and replace the defaults ika gives an instance
//   (a virtualenv's bin/ first in PATH is a normal thing to want).
// - Arguments and values must not contain NUL (argv and the environment are
//   C strings).
// - Durations are strings with a unit as in the node config ("250ms", "10s",
//   "2m", "1h"), > 0 and at most 8760h.
//
// Errors: `FILE:LINE: KEY: MESSAGE`, with key paths and line rules as in
// node_config.hpp ("routes[2].host", "env.PORT", "command[1]"); a missing
// top-level key has no line.

#include "runtime/config/node_config.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ika::config {

/// One host+path an app claims.
struct app_route {
  std::string host; ///< pattern, lower case (proxy::valid_host_pattern)
  std::string path = "/*";

  friend bool operator==(const app_route&, const app_route&) = default;
};

/// Active health checking (ARCHITECTURE.md, "Health").
struct health_config {
  std::string path; ///< absolute request path, e.g. "/healthz"
  std::chrono::milliseconds interval = std::chrono::seconds{10};
  std::chrono::milliseconds timeout = std::chrono::seconds{2}; ///< <= interval
  unsigned healthy_threshold = 2;
  unsigned unhealthy_threshold = 3;
};

/// [deploy]: a rolling update's pace.
struct rollout_config {
  unsigned max_surge = 1;
  std::chrono::milliseconds hold = std::chrono::seconds{1};
  std::chrono::milliseconds drain_timeout = std::chrono::seconds{30};
};

/// [on_demand]: scale to zero.
struct demand_config {
  std::chrono::milliseconds idle_timeout = std::chrono::minutes{5};
  unsigned max_waiters = 1000;
  std::chrono::milliseconds wait_timeout = std::chrono::seconds{30};
};

/// [cache]: the app's routes cache responses as Cache-Control allows.
struct app_cache_config {
  bool enabled = false;
  std::uint64_t max_object = 0; ///< 0: the node's default
  bool set_cookie = false;      ///< responses with Set-Cookie may be stored
};

/// [tls]: the routes' certificates and the HTTP -> HTTPS redirect.
struct app_tls_config {
  std::string mode = "auto"; ///< auto, acme, self-signed, off
  bool redirect = true;
};

/// A validated ika.toml.
struct app_manifest {
  std::string name;
  std::string environment = "production";
  std::vector<std::string> command; ///< argv; at least the program
  unsigned instances = 1;
  std::vector<app_route> routes; ///< at least one, in file order
  std::map<std::string, std::string> env;
  std::optional<health_config> health;
  std::chrono::milliseconds stop_timeout = std::chrono::seconds{10};
  std::chrono::milliseconds start_timeout = std::chrono::seconds{30};
  rollout_config rollout;
  demand_config demand;
  app_cache_config cache;
  app_tls_config tls;

  /// "name/environment".
  std::string id() const { return name + "/" + environment; }
};

using manifest_result = std::variant<app_manifest, config_error>;

/// Most instances a manifest may ask for.
inline constexpr unsigned max_app_instances = 64;
/// Most requests that may wait for an on-demand app to start.
inline constexpr std::int64_t max_demand_waiters = 100'000;

/// Parses TOML text. `source` names it in errors.
manifest_result parse_app_manifest(std::string_view text, std::string_view source);

/// Reads and parses a file (a missing or unreadable file is an error).
manifest_result load_app_manifest(const std::string& path);

/// An app or environment name: [a-z][a-z0-9-]{0,62}, not ending in '-'.
bool valid_app_name(std::string_view name) noexcept;

/// An environment variable name: [A-Za-z_][A-Za-z0-9_]*.
bool valid_env_name(std::string_view name) noexcept;

/// What the instances of app `app_id` ("name/env") are called before their
/// sequence number: "name-env" (instance "name-env-3").
std::string instance_id_prefix(std::string_view app_id);

/// `given` as an instance id of `app_id`: a full id ("name-env-3") or just
/// its number ("3"). Empty when it is neither.
std::string instance_id_of(std::string_view app_id, std::string_view given);

/// Why ika will not let an app set variable `name` (PORT, HOST, IKA_*);
/// empty when it may.
std::string_view reserved_env_reason(std::string_view name) noexcept;

} // namespace ika::config
