// Unit tests of runtime/net/endpoint: addresses as users write them.

#include "runtime/net/endpoint.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using ika::net::parse_endpoint;
using ika::net::resolve_endpoint;
using ika::net::to_string;

TEST(endpoint_parse, ipv4_with_port) {
  auto ep = parse_endpoint("127.0.0.1:8080");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->address().to_string(), "127.0.0.1");
  EXPECT_EQ(ep->port(), 8080);
}

TEST(endpoint_parse, ipv6_in_brackets) {
  auto ep = parse_endpoint("[::1]:8080");
  ASSERT_TRUE(ep);
  EXPECT_TRUE(ep->address().is_v6());
  EXPECT_EQ(ep->address().to_string(), "::1");
  EXPECT_EQ(ep->port(), 8080);
}

TEST(endpoint_parse, full_ipv6_in_brackets) {
  auto ep = parse_endpoint("[2001:db8::a:1]:443");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->address().to_string(), "2001:db8::a:1");
  EXPECT_EQ(ep->port(), 443);
}

TEST(endpoint_parse, port_zero_is_allowed) {
  auto ep = parse_endpoint("0.0.0.0:0");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->port(), 0);
}

TEST(endpoint_parse, highest_port) {
  auto ep = parse_endpoint("127.0.0.1:65535");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->port(), 65535);
}

TEST(endpoint_parse, refuses_bad_ports) {
  for (auto text :
       {"127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:99999", "127.0.0.1:123456", "127.0.0.1:-1",
        "127.0.0.1:+80", "127.0.0.1:80a", "127.0.0.1:http", "127.0.0.1: 80", "127.0.0.1:8 0"}) {
    EXPECT_FALSE(parse_endpoint(text)) << text;
  }
}

TEST(endpoint_parse, refuses_names) {
  EXPECT_FALSE(parse_endpoint("localhost:80"));
  EXPECT_FALSE(parse_endpoint("example.com:80"));
}

TEST(endpoint_parse, refuses_unbracketed_ipv6) {
  EXPECT_FALSE(parse_endpoint("::1:80"));
  EXPECT_FALSE(parse_endpoint("2001:db8::1:80"));
}

TEST(endpoint_parse, refuses_bracketed_ipv4) {
  EXPECT_FALSE(parse_endpoint("[127.0.0.1]:80"));
}

TEST(endpoint_parse, refuses_malformed_brackets) {
  for (auto text : {"[::1]", "[::1]:", "[::1:80", "[::1]80", "[]:80", "[zz]:80", "::1]:80"})
    EXPECT_FALSE(parse_endpoint(text)) << text;
}

TEST(endpoint_parse, refuses_empty_and_missing_host) {
  EXPECT_FALSE(parse_endpoint(""));
  EXPECT_FALSE(parse_endpoint(":80"));
  EXPECT_FALSE(parse_endpoint("1.2.3:80"));
  EXPECT_FALSE(parse_endpoint("256.1.1.1:80"));
}

TEST(endpoint_resolve, numeric_address_needs_no_lookup) {
  std::string error;
  auto ep = resolve_endpoint("127.0.0.1:9000", error);
  ASSERT_TRUE(ep) << error;
  EXPECT_EQ(to_string(*ep), "127.0.0.1:9000");
  EXPECT_EQ(error, "");
}

TEST(endpoint_resolve, localhost_resolves_to_loopback) {
  std::string error;
  auto ep = resolve_endpoint("localhost:9000", error);
  ASSERT_TRUE(ep) << error;
  EXPECT_TRUE(ep->address().is_loopback()) << ep->address().to_string();
  EXPECT_EQ(ep->port(), 9000);
}

TEST(endpoint_resolve, missing_port_is_explained) {
  std::string error;
  EXPECT_FALSE(resolve_endpoint("localhost", error));
  EXPECT_EQ(error, "expected HOST:PORT (an IPv6 address in brackets)");
}

TEST(endpoint_resolve, bad_port_is_named) {
  std::string error;
  EXPECT_FALSE(resolve_endpoint("localhost:http", error));
  EXPECT_EQ(error, "invalid port 'http'");
}

TEST(endpoint_resolve, port_out_of_range_is_named) {
  std::string error;
  EXPECT_FALSE(resolve_endpoint("localhost:70000", error));
  EXPECT_EQ(error, "invalid port '70000'");
}

TEST(endpoint_resolve, bad_ipv6_is_named) {
  std::string error;
  EXPECT_FALSE(resolve_endpoint("[zz::1]:80", error));
  EXPECT_EQ(error, "invalid IPv6 address 'zz::1'");
}

TEST(endpoint_to_string, ipv4) {
  EXPECT_EQ(to_string(asio::ip::tcp::endpoint{asio::ip::make_address("10.1.2.3"), 80}), "10.1.2.3:80");
}

TEST(endpoint_to_string, ipv6_gets_brackets) {
  EXPECT_EQ(to_string(asio::ip::tcp::endpoint{asio::ip::make_address("::1"), 8443}), "[::1]:8443");
}

TEST(endpoint_to_string, round_trips_through_parse) {
  for (auto text : {"127.0.0.1:1", "[::1]:65535", "[2001:db8::1]:80", "0.0.0.0:0"}) {
    auto ep = parse_endpoint(text);
    ASSERT_TRUE(ep) << text;
    EXPECT_EQ(to_string(*ep), text);
  }
}

} // namespace
