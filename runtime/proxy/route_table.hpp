#pragma once
// The immutable route table the io threads read (published by a listener
// actor through bridge::snapshot_cell). Matching allocates nothing.
//
// Precedence: an exact host beats a wildcard ("*.example.com", longest
// suffix first), which beats the catch-all "*"; within a host, an exact path
// beats a prefix, and a longer prefix beats a shorter one. A host whose
// routes match no path falls through to the next less specific host group.

#include "protocol/messages.hpp"
#include "runtime/proxy/backends.hpp"

#include <asio/ip/tcp.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ika::proxy {

/// One upstream address of a route.
struct upstream_target {
  asio::ip::tcp::endpoint endpoint;
  std::string name; ///< as configured, for logs and errors
};

/// A route whose responses may be cached.
struct route_cache {
  std::uint64_t max_object = 0; ///< 0: the cache's default
  bool allow_set_cookie = false;
  /// The app (or "" for a static route): purges by app find its entries.
  std::shared_ptr<const std::string> app;
};

/// A compiled route.
struct route {
  std::string host;   ///< pattern as configured (lower case)
  std::string path;   ///< pattern as configured
  std::string prefix; ///< for prefix routes: the path without "/*"
  bool exact_path = false;
  std::vector<upstream_target> upstreams; ///< a static route: round robin
  /// A route to an app: its instances, balanced by least in-flight requests
  /// (no instances: 503). Null for a static route.
  std::shared_ptr<const app_binding> app;
  std::uint64_t max_body = 0;               ///< 0: listener default
  std::shared_ptr<const route_cache> cache; ///< null: not cached
  bool https_redirect = true;               ///< plain HTTP goes to HTTPS (when the node has it)

  bool matches_path(std::string_view path) const noexcept;
};

class route_table {
public:
  route_table() = default;

  using app_map = std::map<std::string, std::shared_ptr<const app_binding>, std::less<>>;

  /// Validates and compiles `specs`; routes to an app take its binding from
  /// `apps` (an app missing there has no instances yet). Returns an empty
  /// string on success and fills `out`; otherwise a message naming the
  /// offending route.
  static std::string compile(const std::vector<protocol::route_spec>& specs, route_table& out,
                             const app_map& apps = {});

  /// The same, binding the apps' published instances through `registry`
  /// (which keeps their counters across tables).
  static std::string compile(const std::vector<protocol::route_spec>& specs,
                             const std::vector<protocol::app_backends>& backends, backend_registry& registry,
                             route_table& out);

  /// Finds the route for a host (lower case, without port) and a path
  /// (without query). nullptr: no route.
  const route* match(std::string_view host, std::string_view path) const noexcept;

  std::size_t size() const noexcept { return count_; }

  /// The gates of on-demand apps that have an instance in this table:
  /// publishing the table opens them (server::publish).
  const std::vector<std::shared_ptr<demand_gate>>& ready_gates() const noexcept { return ready_gates_; }

private:
  using group = std::vector<route>; // sorted: exact paths, then longer prefixes
  static const route* match_in(const group& g, std::string_view path) noexcept;

  std::map<std::string, group, std::less<>> exact_;
  std::vector<std::pair<std::string, group>> wildcard_; // ".example.com", longest first
  group any_;
  std::size_t count_ = 0;
  std::vector<std::shared_ptr<demand_gate>> ready_gates_;
};

/// Validates a host pattern: "*", "*.name", or a lower-case DNS name / IP.
bool valid_host_pattern(std::string_view host) noexcept;

/// Validates a path pattern: "/*", "/seg/.../*" or an exact "/path".
bool valid_path_pattern(std::string_view path) noexcept;

} // namespace ika::proxy
