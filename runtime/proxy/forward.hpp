#pragma once
// The heads a proxy writes: the request it sends upstream and the response
// it sends back. Pure functions over a parsed head, so every header rule is
// unit-tested on its own.
//
// Both directions drop hop-by-hop fields (RFC 9110 §7.6.1: Connection,
// Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade, and every
// field a Connection header names) and write their own framing header, so
// what the next hop sees is unambiguous whatever the previous hop sent.

#include "runtime/http/head.hpp"

#include <string>
#include <string_view>

namespace ika::proxy {

/// How a body is framed on the way out.
enum class out_framing : unsigned char {
  none,        ///< no body, no length header
  keep_length, ///< no body, but keep the upstream's Content-Length (HEAD, 304)
  length,      ///< Content-Length: n
  chunked,     ///< Transfer-Encoding: chunked
  close,       ///< delimited by closing the connection (HTTP/1.0 clients)
};

struct upstream_request_options {
  std::string_view client_ip;     ///< appended to X-Forwarded-For
  std::string_view proto;         ///< X-Forwarded-Proto ("http" / "https")
  std::string_view request_id;    ///< X-Request-ID sent upstream
  std::string_view fallback_host; ///< Host to send when the client sent none (HTTP/1.0)
  out_framing framing = out_framing::none;
  std::uint64_t content_length = 0;
  /// The cache fetches for itself: the client's If-None-Match and
  /// If-Modified-Since stay home (a 304 to them could not fill the cache),
  /// and `extra` lines (the cache's own validators) go instead.
  bool strip_conditionals = false;
  std::string_view extra;
};

/// Appends the head of the request sent upstream (HTTP/1.1, keep-alive).
void append_upstream_request_head(std::string& out, const http::message_head& request,
                                  const upstream_request_options& options);

struct client_response_options {
  std::string_view request_id;
  out_framing framing = out_framing::length;
  std::uint64_t content_length = 0;
  bool close = false;             ///< `Connection: close` (we close after it)
  bool http10_keep_alive = false; ///< `Connection: keep-alive` for an HTTP/1.0 client
  /// A cached route: the upstream's own X-Cache is dropped and `extra`
  /// lines ("X-Cache: MISS\r\n") are added.
  bool cache_route = false;
  std::string_view extra;
};

/// Appends the head of the response sent to the client (HTTP/1.1). A 101
/// keeps its Upgrade field and gets `Connection: upgrade`.
void append_client_response_head(std::string& out, const http::message_head& response,
                                 const client_response_options& options);

/// True if `name` is listed in the message's Connection header (and so is
/// hop-by-hop for this message).
bool named_in_connection(const http::message_head& head, std::string_view name) noexcept;

} // namespace ika::proxy
