#pragma once
// The header names the proxy acts on, looked up once per header while the
// head is parsed (h2o's token table, reduced to what ika needs). Everything
// else is `header_id::other` and is forwarded untouched.

#include <cstdint>
#include <string_view>

namespace ika::http {

enum class header_id : std::uint8_t {
  other,
  connection,
  content_length,
  expect,
  host,
  keep_alive,
  proxy_any, // "Proxy" and every "Proxy-*" (Proxy-Connection, httpoxy, ...)
  te,
  trailer,
  transfer_encoding,
  upgrade,
  x_forwarded_for,
  x_forwarded_host,
  x_forwarded_proto,
  x_request_id,
  // Fields the shared response cache reads (RFC 9111, RFC 9110 §13).
  age,
  authorization,
  cache_control,
  content_location,
  date,
  etag,
  expires,
  if_match,
  if_modified_since,
  if_none_match,
  if_range,
  if_unmodified_since,
  last_modified,
  pragma,
  range,
  set_cookie,
  vary,
};

/// Identifies `name` (any case). Never allocates.
header_id lookup_header(std::string_view name) noexcept;

/// Hop-by-hop headers of RFC 9110 §7.6.1 that a proxy never forwards
/// (in addition to the ones a Connection header names).
constexpr bool is_hop_by_hop(header_id id) noexcept {
  switch (id) {
    case header_id::connection:
    case header_id::keep_alive:
    case header_id::proxy_any:
    case header_id::te:
    case header_id::trailer:
    case header_id::transfer_encoding:
    case header_id::upgrade:
      return true;
    default:
      return false;
  }
}

} // namespace ika::http
