#pragma once
// A small blocking HTTP/1.1 client for the ACME flow: http:// and https://
// URLs, GET/HEAD/POST, one keep-alive connection reused while the origin
// stays the same, a total deadline per request, responses parsed by llhttp.
//
// TLS verifies the server: against the CA bundle file given in the settings
// (or the system store when none), with SNI and a host name (or IP address)
// check. Blocking: run it on a dedicated thread, never on an io thread or in
// an actor handler. Not thread-safe: one client per thread.

#include "runtime/acme/jws.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ika::acme {

/// A URL split for a request.
struct url_parts {
  bool tls = false;
  std::string host; ///< without brackets for an IPv6 literal
  std::uint16_t port = 0;
  std::string target; ///< path and query, at least "/"
};

/// Parses "http(s)://host[:port][/path][?query]"; userinfo and fragments are
/// refused.
outcome<url_parts> parse_url(std::string_view url);

/// Parses a Retry-After value (delta-seconds or an HTTP-date, RFC 9110
/// §10.2.3) into seconds from now; nothing if it does not parse.
std::optional<std::uint32_t> parse_retry_after(std::string_view value);

struct http_client_settings {
  std::string ca_bundle;                     ///< PEM file of trusted CAs; empty: the system store
  std::chrono::milliseconds timeout{30'000}; ///< whole request: connect, TLS, send, receive
  std::size_t max_body = 1 << 20;            ///< larger responses are an error
};

struct http_response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers; ///< names lowercased, in order

  std::string body;

  /// The first value of a header (name in lower case); empty if absent.
  std::string_view header(std::string_view lower_name) const noexcept;
  /// Every value of a header (e.g. several Link headers).
  std::vector<std::string_view> header_values(std::string_view lower_name) const;
};

class https_client {
public:
  explicit https_client(http_client_settings settings);
  https_client(const https_client&) = delete;
  https_client& operator=(const https_client&) = delete;
  ~https_client();

  /// Sends one request and reads the whole response. `content_type` and
  /// `accept` are sent when not empty. Errors name the method, URL and why
  /// (DNS, connect, TLS verification, timeout, malformed response, too large).
  outcome<http_response> request(std::string_view method, std::string_view url, std::string_view body = {},
                                 std::string_view content_type = {}, std::string_view accept = {});

  /// Closes the kept-alive connection, if any.
  void close() noexcept;

private:
  struct connection;
  outcome<http_response> attempt(std::string_view method, const url_parts& url, std::string_view body,
                                 std::string_view content_type, std::string_view accept,
                                 std::chrono::steady_clock::time_point deadline, bool& reused,
                                 bool& nothing_received);

  http_client_settings settings_;
  std::unique_ptr<connection> conn_;
};

} // namespace ika::acme
