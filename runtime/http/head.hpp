#pragma once
// A parsed HTTP/1.x message head: views into the connection's read buffer,
// valid until the connection reuses that buffer for the next message.

#include "runtime/http/header_names.hpp"

#include <cstdint>
#include <span>
#include <string_view>

namespace ika::http {

/// One header line as received (value without surrounding whitespace).
struct header_field {
  std::string_view name;
  std::string_view value;
  header_id id = header_id::other;
};

/// How the body of a message is delimited on the wire (RFC 9112 §6.3).
enum class body_framing : std::uint8_t {
  none,        ///< no body (GET without length, HEAD response, 204, 304, 1xx)
  length,      ///< Content-Length
  chunked,     ///< Transfer-Encoding: chunked
  until_close, ///< response delimited by the upstream closing the connection
};

/// Everything the proxy needs to know about a request or response head.
struct message_head {
  // Request line (requests only).
  std::string_view method;
  std::uint8_t method_id = 0; ///< llhttp_method_t
  std::string_view target;
  // Status line (responses only).
  int status = 0;
  std::string_view reason;

  std::uint8_t version_major = 1;
  std::uint8_t version_minor = 1;
  std::span<const header_field> headers;

  body_framing framing = body_framing::none;
  std::uint64_t content_length = 0;
  /// The peer allows another message on this connection after this one.
  bool keep_alive = true;
  /// A request asking for a protocol switch (HTTP/1.1 Connection: upgrade +
  /// Upgrade), or a 101 response.
  bool upgrade = false;
  bool expect_continue = false;
  std::string_view host;       ///< request Host header value (validated)
  std::string_view upgrade_to; ///< Upgrade header value
  /// Header names listed in Connection (besides close / keep-alive /
  /// upgrade): hop-by-hop for this message only.
  std::span<const std::string_view> connection_tokens;
  /// Number of headers that RFC 9110 lets us combine when forwarding.
  std::uint16_t x_forwarded_for_count = 0;

  bool is_http10() const noexcept { return version_major == 1 && version_minor == 0; }
};

} // namespace ika::http
