#pragma once
// Addresses as users write them: "127.0.0.1:8080", "[::1]:8080",
// "localhost:8080". Parsing never throws.

#include <asio/ip/tcp.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace ika::net {

/// Parses a numeric "ip:port" or "[ip6]:port". Port 0 is allowed.
std::optional<asio::ip::tcp::endpoint> parse_endpoint(std::string_view text) noexcept;

/// Like parse_endpoint, but also accepts a host name, resolved now (blocking:
/// for configuration time only, never on an io thread or in an actor). On
/// failure, `error` says why.
std::optional<asio::ip::tcp::endpoint> resolve_endpoint(std::string_view text, std::string& error);

/// "127.0.0.1:8080" / "[::1]:8080".
std::string to_string(const asio::ip::tcp::endpoint& ep);

} // namespace ika::net
