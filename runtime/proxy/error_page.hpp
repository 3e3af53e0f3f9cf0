#pragma once
// Responses the proxy makes itself: small, plain text, never cached.

#include <string>
#include <string_view>

namespace ika::proxy {

/// The reason phrase of the statuses ika produces ("Bad Gateway").
std::string_view reason_phrase(int status) noexcept;

/// Appends a whole error response (head and body) to `out`. `close` adds
/// `Connection: close`; `http10_keep_alive` adds `Connection: keep-alive`
/// for an HTTP/1.0 client that keeps the connection. `extra_headers` are
/// complete header lines ("Retry-After: 1\r\n"). A `detail` becomes a
/// second line of the body (control characters as spaces, at most 200).
void append_error_response(std::string& out, int status, std::string_view request_id, bool close,
                           bool head_request = false, bool http10_keep_alive = false,
                           std::string_view extra_headers = {}, std::string_view detail = {});

} // namespace ika::proxy
