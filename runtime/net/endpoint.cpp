#include "runtime/net/endpoint.hpp"

#include <asio/ip/address.hpp>

#include <charconv>
#include <netdb.h>
#include <sys/socket.h>

namespace ika::net {

namespace {

struct split_result {
  std::string_view host;
  std::string_view port;
  bool bracketed = false;
};

std::optional<split_result> split_host_port(std::string_view text) {
  if (text.empty())
    return std::nullopt;
  split_result r;
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    r.host = text.substr(1, close - 1);
    r.port = text.substr(close + 2);
    r.bracketed = true;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon)
      return std::nullopt;
    r.host = text.substr(0, colon);
    r.port = text.substr(colon + 1);
  }
  if (r.host.empty() || r.port.empty() || r.port.size() > 5)
    return std::nullopt;
  return r;
}

std::optional<unsigned short> parse_port(std::string_view text) {
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size() || value > 65535)
    return std::nullopt;
  return static_cast<unsigned short>(value);
}

} // namespace

std::optional<asio::ip::tcp::endpoint> parse_endpoint(std::string_view text) noexcept {
  auto parts = split_host_port(text);
  if (!parts)
    return std::nullopt;
  auto port = parse_port(parts->port);
  if (!port)
    return std::nullopt;
  std::error_code ec;
  auto addr = asio::ip::make_address(std::string{parts->host}, ec);
  if (ec || (addr.is_v6() != parts->bracketed))
    return std::nullopt;
  return asio::ip::tcp::endpoint{addr, *port};
}

std::optional<asio::ip::tcp::endpoint> resolve_endpoint(std::string_view text, std::string& error) {
  if (auto ep = parse_endpoint(text))
    return ep;
  auto parts = split_host_port(text);
  if (!parts) {
    error = "expected HOST:PORT (an IPv6 address in brackets)";
    return std::nullopt;
  }
  auto port = parse_port(parts->port);
  if (!port) {
    error = "invalid port '" + std::string{parts->port} + "'";
    return std::nullopt;
  }
  if (parts->bracketed) {
    error = "invalid IPv6 address '" + std::string{parts->host} + "'";
    return std::nullopt;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string host{parts->host};
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0 || found == nullptr) {
    error = "cannot resolve '" + host + "': " + ::gai_strerror(rc);
    return std::nullopt;
  }
  asio::ip::tcp::endpoint ep;
  if (found->ai_family == AF_INET) {
    ep = asio::ip::tcp::endpoint{
        asio::ip::make_address_v4(ntohl(reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr.s_addr)),
        *port};
  } else {
    asio::ip::address_v6::bytes_type bytes;
    auto* in6 = reinterpret_cast<sockaddr_in6*>(found->ai_addr);
    std::copy(std::begin(in6->sin6_addr.s6_addr), std::end(in6->sin6_addr.s6_addr), bytes.begin());
    ep = asio::ip::tcp::endpoint{asio::ip::address_v6{bytes}, *port};
  }
  ::freeaddrinfo(found);
  return ep;
}

std::string to_string(const asio::ip::tcp::endpoint& ep) {
  if (ep.address().is_v6())
    return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

} // namespace ika::net
