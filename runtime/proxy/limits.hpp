#pragma once
// Limits and timeouts of the proxy, per listener. Defaults follow what
// nginx and Caddy users expect.

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace ika::proxy {

using namespace std::chrono_literals;

struct limits {
  std::size_t max_head_bytes = 16 * 1024; ///< request line + headers (431)
  std::size_t max_uri_bytes = 8 * 1024;   ///< request target (414)
  std::size_t max_headers = 100;          ///< header lines (431)
  std::uint64_t max_body = 64ull << 20;   ///< request body, unless the route says otherwise (413)

  std::chrono::milliseconds client_header_timeout = 10s; ///< a started head must complete (408)
  std::chrono::milliseconds client_idle_timeout = 60s;   ///< keep-alive wait for the next request
  std::chrono::milliseconds client_body_timeout = 60s;   ///< between two reads of a request body
  std::chrono::milliseconds send_timeout = 60s;          ///< a write that makes no progress

  std::chrono::milliseconds upstream_connect_timeout = 5s;   ///< then the next upstream, or 504
  std::chrono::milliseconds upstream_response_timeout = 60s; ///< head or body silent this long (504)
  std::chrono::milliseconds upstream_idle_timeout = 30s;     ///< pooled connection lifetime when idle
  std::size_t upstream_keepalive = 64; ///< idle connections kept per upstream per io thread

  std::chrono::milliseconds tunnel_idle_timeout = 600s; ///< WebSocket / Upgrade tunnels
};

} // namespace ika::proxy
