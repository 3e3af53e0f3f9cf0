#include "runtime/config/node_config.hpp"

#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace ika::config {
namespace {

using namespace std::chrono_literals;
using ika::test::temp_dir;

// Lines 1-2 of most test files; what a test appends starts on line 3.
const std::string listener = "[[listener]]\naddress = \"127.0.0.1:0\"\n";

node_config parse_config_ok(const std::string& text) {
  auto result = parse_config(text, "ika.toml");
  if (auto* error = std::get_if<config_error>(&result)) {
    ADD_FAILURE() << "unexpected error: " << error->to_string();
    return {};
  }
  return std::get<node_config>(result);
}

config_error parse_config_error(const std::string& text) {
  auto result = parse_config(text, "ika.toml");
  if (auto* error = std::get_if<config_error>(&result))
    return *error;
  return config_error{"", 0, "", "parsed without an error"};
}

std::string error_of(const std::string& text) {
  return parse_config_error(text).to_string();
}

// ---------------------------------------------------------------- valid files

TEST(node_config, full_file) {
  auto config = parse_config_ok(R"([node]
workers = 4
shutdown_timeout = "30s"

[[listener]]
name = "public"
address = "0.0.0.0:8080"

[[listener]]
address = "[::1]:8443"

[limits]
max_head_bytes = "32KiB"
max_uri_bytes = 4096
max_headers = 50
max_body = "1GiB"
client_header_timeout = "5s"
client_idle_timeout = "2m"
client_body_timeout = "30s"
send_timeout = "45s"
upstream_connect_timeout = "250ms"
upstream_response_timeout = "1h"
upstream_idle_timeout = "15s"
upstream_keepalive = 0
tunnel_idle_timeout = "20m"

[[route]]
host = "Hello.Localhost"
path = "/api/*"
upstreams = ["127.0.0.1:9000", "[::1]:9001"]
max_body = "10MiB"

[[route]]
upstreams = ["127.0.0.1:9002"]
)");
  EXPECT_EQ(config.workers, 4u);
  EXPECT_EQ(config.shutdown_timeout, 30s);

  ASSERT_EQ(config.listeners.size(), 2u);
  EXPECT_EQ(config.listeners[0].name, "public");
  EXPECT_EQ(config.listeners[0].address, "0.0.0.0:8080");
  EXPECT_EQ(config.listeners[1].name, "http");
  EXPECT_EQ(config.listeners[1].address, "[::1]:8443");

  const auto& l = config.limits;
  EXPECT_EQ(l.max_head_bytes, 32u * 1024);
  EXPECT_EQ(l.max_uri_bytes, 4096u);
  EXPECT_EQ(l.max_headers, 50u);
  EXPECT_EQ(l.max_body, 1ull << 30);
  EXPECT_EQ(l.client_header_timeout, 5s);
  EXPECT_EQ(l.client_idle_timeout, 120s);
  EXPECT_EQ(l.client_body_timeout, 30s);
  EXPECT_EQ(l.send_timeout, 45s);
  EXPECT_EQ(l.upstream_connect_timeout, 250ms);
  EXPECT_EQ(l.upstream_response_timeout, 3600s);
  EXPECT_EQ(l.upstream_idle_timeout, 15s);
  EXPECT_EQ(l.upstream_keepalive, 0u);
  EXPECT_EQ(l.tunnel_idle_timeout, 1200s);

  ASSERT_EQ(config.routes.size(), 2u);
  EXPECT_EQ(config.routes[0].host, "hello.localhost");
  EXPECT_EQ(config.routes[0].path, "/api/*");
  EXPECT_EQ(config.routes[0].upstreams, (std::vector<std::string>{"127.0.0.1:9000", "[::1]:9001"}));
  EXPECT_EQ(config.routes[0].max_body, 10u << 20);
  EXPECT_EQ(config.routes[1].host, "*");
  EXPECT_EQ(config.routes[1].path, "/*");
  EXPECT_EQ(config.routes[1].upstreams, (std::vector<std::string>{"127.0.0.1:9002"}));
  EXPECT_EQ(config.routes[1].max_body, 0u);
}

TEST(node_config, defaults) {
  auto config = parse_config_ok(listener);
  EXPECT_EQ(config.workers, 0u);
  EXPECT_EQ(config.shutdown_timeout, 10s);
  ASSERT_EQ(config.listeners.size(), 1u);
  EXPECT_EQ(config.listeners[0].name, "http");
  EXPECT_EQ(config.listeners[0].address, "127.0.0.1:0");
  EXPECT_TRUE(config.routes.empty());

  const proxy::limits d;
  const auto& l = config.limits;
  EXPECT_EQ(l.max_head_bytes, d.max_head_bytes);
  EXPECT_EQ(l.max_uri_bytes, d.max_uri_bytes);
  EXPECT_EQ(l.max_headers, d.max_headers);
  EXPECT_EQ(l.max_body, d.max_body);
  EXPECT_EQ(l.client_header_timeout, d.client_header_timeout);
  EXPECT_EQ(l.client_idle_timeout, d.client_idle_timeout);
  EXPECT_EQ(l.client_body_timeout, d.client_body_timeout);
  EXPECT_EQ(l.send_timeout, d.send_timeout);
  EXPECT_EQ(l.upstream_connect_timeout, d.upstream_connect_timeout);
  EXPECT_EQ(l.upstream_response_timeout, d.upstream_response_timeout);
  EXPECT_EQ(l.upstream_idle_timeout, d.upstream_idle_timeout);
  EXPECT_EQ(l.upstream_keepalive, d.upstream_keepalive);
  EXPECT_EQ(l.tunnel_idle_timeout, d.tunnel_idle_timeout);
}

TEST(node_config, empty_tables_keep_defaults) {
  auto config = parse_config_ok("route = []\n[node]\n[limits]\n" + listener);
  EXPECT_EQ(config.workers, 0u);
  EXPECT_EQ(config.limits.max_body, proxy::limits{}.max_body);
  EXPECT_TRUE(config.routes.empty());
}

TEST(node_config, default_listener_names_skip_explicit_ones) {
  auto config = parse_config_ok(R"([[listener]]
address = "127.0.0.1:0"
[[listener]]
name = "http"
address = "127.0.0.1:0"
[[listener]]
address = "127.0.0.1:0"
[[listener]]
name = "http-3"
address = "127.0.0.1:0"
[[listener]]
address = "127.0.0.1:0"
)");
  ASSERT_EQ(config.listeners.size(), 5u);
  EXPECT_EQ(config.listeners[0].name, "http-2");
  EXPECT_EQ(config.listeners[1].name, "http");
  EXPECT_EQ(config.listeners[2].name, "http-4");
  EXPECT_EQ(config.listeners[3].name, "http-3");
  EXPECT_EQ(config.listeners[4].name, "http-5");
}

TEST(node_config, listener_addresses_are_normalised_and_port_zero_never_conflicts) {
  auto config = parse_config_ok(R"([[listener]]
address = "[0:0:0:0:0:0:0:1]:80"
[[listener]]
address = "0.0.0.0:0"
[[listener]]
address = "127.0.0.1:0"
[[listener]]
address = "127.0.0.1:81"
)");
  ASSERT_EQ(config.listeners.size(), 4u);
  EXPECT_EQ(config.listeners[0].address, "[::1]:80");
  EXPECT_EQ(config.listeners[1].address, "0.0.0.0:0");
  EXPECT_EQ(config.listeners[3].address, "127.0.0.1:81");
}

TEST(node_config, inline_tables_are_accepted) {
  auto config = parse_config_ok(R"(listener = [{ address = "127.0.0.1:0" }]
route = [{ host = "a.test", upstreams = ["127.0.0.1:1"] }]
)");
  ASSERT_EQ(config.routes.size(), 1u);
  EXPECT_EQ(config.routes[0].host, "a.test");
}

TEST(node_config, upstream_host_names_are_resolved) {
  auto config = parse_config_ok(listener + R"([[route]]
upstreams = ["localhost:9001", "127.0.0.1:9002"]
)");
  ASSERT_EQ(config.routes.size(), 1u);
  ASSERT_EQ(config.routes[0].upstreams.size(), 2u);
  const auto& resolved = config.routes[0].upstreams[0];
  EXPECT_TRUE(resolved == "127.0.0.1:9001" || resolved == "[::1]:9001") << resolved;
  EXPECT_EQ(config.routes[0].upstreams[1], "127.0.0.1:9002");
}

TEST(node_config, same_path_on_different_hosts_is_not_a_duplicate) {
  auto config = parse_config_ok(listener + R"([[route]]
host = "a.test"
upstreams = ["127.0.0.1:1"]
[[route]]
host = "*.a.test"
upstreams = ["127.0.0.1:1"]
[[route]]
host = "a.test"
path = "/x"
upstreams = ["127.0.0.1:1"]
)");
  EXPECT_EQ(config.routes.size(), 3u);
}

// ---------------------------------------------------------------- unknown keys

TEST(node_config, rejects_unknown_top_level_key) {
  EXPECT_EQ(error_of(listener + "\n[[routes]]\nupstreams = []\n"),
            "ika.toml:4: routes: unknown key (expected one of: node, listener, limits, route, cache, "
            "certificate, acme)");
}

TEST(node_config, reports_the_unknown_key_that_comes_first_in_the_file) {
  // toml++ iterates keys in sorted order; the error must still be the first one in the file.
  EXPECT_EQ(error_of("zzz = 1\naaa = 2\n" + listener), "ika.toml:1: zzz: unknown key (expected one of: node, "
                                                       "listener, limits, route, cache, certificate, acme)");
}

TEST(node_config, rejects_unknown_keys_in_every_table) {
  EXPECT_EQ(error_of(listener + "[node]\nworkers = 1\nthreads = 2\n"),
            "ika.toml:5: node.threads: unknown key (expected one of: workers, shutdown_timeout)");
  EXPECT_EQ(error_of(listener + "[[listener]]\naddress = \"127.0.0.1:0\"\nport = 80\n"),
            "ika.toml:5: listener[2].port: unknown key (expected one of: name, address, tls)");
  EXPECT_EQ(error_of(listener + "[limits]\nmax_body = 1\nmax_bodysize = 1\n"),
            "ika.toml:5: limits.max_bodysize: unknown key (expected one of: max_head_bytes, "
            "max_uri_bytes, max_headers, max_body, client_header_timeout, client_idle_timeout, "
            "client_body_timeout, send_timeout, upstream_connect_timeout, "
            "upstream_response_timeout, upstream_idle_timeout, upstream_keepalive, "
            "tunnel_idle_timeout)");
  EXPECT_EQ(error_of(listener + "[[route]]\nupstreams = [\"127.0.0.1:1\"]\n[[route]]\n"
                                "hosts = \"a\"\nupstreams = [\"127.0.0.1:1\"]\n"),
            "ika.toml:6: route[2].hosts: unknown key (expected one of: host, path, upstreams, "
            "max_body, cache, cache_max_object, cache_set_cookie, https_redirect, tls)");
  // A sub-table of a known table is an unknown key too.
  EXPECT_EQ(error_of(listener + "[limits.client]\nidle = \"1s\"\n"),
            "ika.toml:3: limits.client: unknown key (expected one of: max_head_bytes, "
            "max_uri_bytes, max_headers, max_body, client_header_timeout, client_idle_timeout, "
            "client_body_timeout, send_timeout, upstream_connect_timeout, "
            "upstream_response_timeout, upstream_idle_timeout, upstream_keepalive, "
            "tunnel_idle_timeout)");
}

// ---------------------------------------------------------------- wrong types

TEST(node_config, rejects_wrong_types) {
  EXPECT_EQ(error_of("node = 1\n" + listener), "ika.toml:1: node: expected a table, got an integer");
  EXPECT_EQ(error_of("[listener]\naddress = \"127.0.0.1:0\"\n"),
            "ika.toml:1: listener: expected an array of tables ([[listener]]), got a table");
  EXPECT_EQ(error_of("limits = [1]\n" + listener), "ika.toml:1: limits: expected a table, got an array");
  EXPECT_EQ(error_of("route = [1]\n" + listener), "ika.toml:1: route[1]: expected a table, got an integer");
  EXPECT_EQ(error_of(listener + "[node]\nworkers = \"2\"\n"),
            "ika.toml:4: node.workers: expected an integer, got a string");
  EXPECT_EQ(error_of("[[listener]]\nname = 1\naddress = \"127.0.0.1:0\"\n"),
            "ika.toml:2: listener[1].name: expected a string, got an integer");
  EXPECT_EQ(error_of("[[listener]]\naddress = 8080\n"),
            "ika.toml:2: listener[1].address: expected a string, got an integer");
  EXPECT_EQ(error_of(listener + "[[route]]\nhost = true\nupstreams = [\"127.0.0.1:1\"]\n"),
            "ika.toml:4: route[1].host: expected a string, got a boolean");
  EXPECT_EQ(error_of(listener + "[[route]]\npath = 1.5\nupstreams = [\"127.0.0.1:1\"]\n"),
            "ika.toml:4: route[1].path: expected a string, got a floating-point number");
  EXPECT_EQ(error_of(listener + "[[route]]\nupstreams = \"127.0.0.1:1\"\n"),
            "ika.toml:4: route[1].upstreams: expected an array of \"HOST:PORT\" strings, got a string");
  EXPECT_EQ(error_of(listener + "[[route]]\nupstreams = [\"127.0.0.1:1\", 2]\n"),
            "ika.toml:4: route[1].upstreams[2]: expected a string, got an integer");
  EXPECT_EQ(error_of(listener + "[limits]\nmax_headers = 1.0\n"),
            "ika.toml:4: limits.max_headers: expected an integer, got a floating-point number");
  EXPECT_EQ(error_of(listener + "[limits]\nmax_body = 1.5\n"),
            "ika.toml:4: limits.max_body: expected a size (an integer number of bytes or a string "
            "such as \"16KiB\"), got a floating-point number");
  EXPECT_EQ(error_of(listener + "[limits]\nsend_timeout = 1.5\n"),
            "ika.toml:4: limits.send_timeout: expected a duration such as \"10s\", got a "
            "floating-point number");
  EXPECT_EQ(error_of(listener + "[node]\nshutdown_timeout = 2024-01-01\n"),
            "ika.toml:4: node.shutdown_timeout: expected a duration such as \"10s\", got a date");
}

// ---------------------------------------------------------------- node

TEST(node_config, rejects_out_of_range_workers) {
  EXPECT_EQ(error_of(listener + "[node]\nworkers = -1\n"),
            "ika.toml:4: node.workers: must be between 0 and 1024, got -1");
  EXPECT_EQ(error_of(listener + "[node]\nworkers = 1025\n"),
            "ika.toml:4: node.workers: must be between 0 and 1024, got 1025");
  EXPECT_EQ(parse_config_ok(listener + "[node]\nworkers = 1024\n").workers, 1024u);
}

TEST(node_config, rejects_zero_shutdown_timeout) {
  EXPECT_EQ(error_of(listener + "[node]\nshutdown_timeout = \"0s\"\n"),
            "ika.toml:4: node.shutdown_timeout: must be greater than 0");
}

// ---------------------------------------------------------------- listeners

TEST(node_config, rejects_zero_listeners) {
  EXPECT_EQ(error_of(""), "ika.toml: listener: no listener: add at least one [[listener]] with an address");
  EXPECT_EQ(parse_config_error("[node]\nworkers = 1\n").line, 0);
  EXPECT_EQ(error_of("listener = []\n"),
            "ika.toml:1: listener: no listener: add at least one [[listener]] with an address");
}

TEST(node_config, rejects_listener_without_address) {
  EXPECT_EQ(error_of(listener + "\n[[listener]]\nname = \"admin\"\n"),
            "ika.toml:4: listener[2].address: required key is missing");
}

TEST(node_config, rejects_bad_listener_addresses) {
  auto address = [](const std::string& a) { return error_of("\n[[listener]]\naddress = \"" + a + "\"\n"); };
  EXPECT_EQ(address("localhost:8080"),
            "ika.toml:3: listener[1].address: invalid address 'localhost:8080' (a listener needs a "
            "numeric IP address, not a host name)");
  EXPECT_EQ(address("127.0.0.1:x"), "ika.toml:3: listener[1].address: invalid port 'x'");
  EXPECT_EQ(address("127.0.0.1:65536"), "ika.toml:3: listener[1].address: invalid port '65536'");
  EXPECT_EQ(address("127.0.0.1:"), "ika.toml:3: listener[1].address: invalid port ''");
  EXPECT_EQ(address("127.0.0.1:-1"), "ika.toml:3: listener[1].address: invalid port '-1'");
  EXPECT_EQ(address("127.0.0.1"),
            "ika.toml:3: listener[1].address: invalid address '127.0.0.1' (expected IP:PORT or "
            "[IPv6]:PORT)");
  EXPECT_EQ(address(""),
            "ika.toml:3: listener[1].address: invalid address '' (expected IP:PORT or [IPv6]:PORT)");
  EXPECT_EQ(address("::1:80"),
            "ika.toml:3: listener[1].address: invalid address '::1:80' (an IPv6 address goes in "
            "brackets: [::1]:8080)");
  EXPECT_EQ(address("[::1]"), "ika.toml:3: listener[1].address: invalid address '[::1]' (expected IP:PORT or "
                              "[IPv6]:PORT)");
  EXPECT_EQ(address("[127.0.0.1]:80"),
            "ika.toml:3: listener[1].address: invalid address '[127.0.0.1]:80' (a listener needs "
            "a numeric IP address, not a host name)");
  EXPECT_EQ(address("256.0.0.1:80"),
            "ika.toml:3: listener[1].address: invalid address '256.0.0.1:80' (a listener needs a "
            "numeric IP address, not a host name)");
}

TEST(node_config, rejects_bad_listener_names) {
  EXPECT_EQ(error_of("[[listener]]\nname = \"\"\naddress = \"127.0.0.1:0\"\n"),
            "ika.toml:2: listener[1].name: invalid listener name '' (1 to 64 letters, digits, '.', "
            "'_' or '-')");
  EXPECT_EQ(error_of("[[listener]]\nname = \"my listener\"\naddress = \"127.0.0.1:0\"\n"),
            "ika.toml:2: listener[1].name: invalid listener name 'my listener' (1 to 64 letters, "
            "digits, '.', '_' or '-')");
  EXPECT_EQ(
      parse_config_error("[[listener]]\nname = \"" + std::string(65, 'a') + "\"\naddress = \"127.0.0.1:0\"\n")
          .line,
      2);
  EXPECT_EQ(
      parse_config_ok("[[listener]]\nname = \"" + std::string(64, 'a') + "\"\naddress = \"127.0.0.1:0\"\n")
          .listeners[0]
          .name.size(),
      64u);
}

TEST(node_config, rejects_duplicate_listener_names) {
  EXPECT_EQ(error_of(R"([[listener]]
name = "web"
address = "127.0.0.1:0"

[[listener]]
name = "web"
address = "127.0.0.1:0"
)"),
            "ika.toml:6: listener[2].name: duplicate listener name 'web' (also listener[1])");
}

TEST(node_config, rejects_duplicate_listener_addresses) {
  EXPECT_EQ(error_of(R"([[listener]]
address = "127.0.0.1:8080"
[[listener]]
address = "127.0.0.1:8081"
[[listener]]
address = "127.0.0.1:8080"
)"),
            "ika.toml:6: listener[3].address: duplicate address '127.0.0.1:8080' (also "
            "listener[1].address)");
  // Compared after normalisation.
  EXPECT_EQ(error_of("[[listener]]\naddress = \"[::1]:80\"\n[[listener]]\naddress = \"[0::1]:80\"\n"),
            "ika.toml:4: listener[2].address: duplicate address '[::1]:80' (also "
            "listener[1].address)");
}

TEST(node_config, rejects_addresses_overlapping_a_wildcard) {
  EXPECT_EQ(error_of("[[listener]]\naddress = \"0.0.0.0:80\"\n[[listener]]\naddress = \"127.0.0.1:80\"\n"),
            "ika.toml:4: listener[2].address: address '127.0.0.1:80' overlaps listener[1].address "
            "('0.0.0.0:80')");
  EXPECT_EQ(error_of("[[listener]]\naddress = \"[::1]:80\"\n[[listener]]\naddress = \"[::]:80\"\n"),
            "ika.toml:4: listener[2].address: address '[::]:80' overlaps listener[1].address "
            "('[::1]:80')");
}

// ---------------------------------------------------------------- limits

TEST(node_config, rejects_bad_limit_values) {
  EXPECT_EQ(error_of(listener + "[limits]\nmax_body = 0\n"),
            "ika.toml:4: limits.max_body: must be greater than 0");
  EXPECT_EQ(error_of(listener + "[limits]\nmax_body = \"0B\"\n"),
            "ika.toml:4: limits.max_body: must be greater than 0");
  EXPECT_EQ(error_of(listener + "[limits]\nmax_body = -5\n"),
            "ika.toml:4: limits.max_body: must not be negative, got -5");
  EXPECT_EQ(error_of(listener + "[limits]\nmax_body = \"10MB\"\n"),
            "ika.toml:4: limits.max_body: invalid size '10MB' (expected bytes as an integer, or "
            "\"<n>B\", \"<n>KiB\", \"<n>MiB\", \"<n>GiB\")");
  EXPECT_EQ(error_of(listener + "[limits]\nmax_body = \"\"\n"),
            "ika.toml:4: limits.max_body: invalid size '' (expected bytes as an integer, or "
            "\"<n>B\", \"<n>KiB\", \"<n>MiB\", \"<n>GiB\")");
  EXPECT_EQ(error_of(listener + "[limits]\nmax_head_bytes = \"2MiB\"\n"),
            "ika.toml:4: limits.max_head_bytes: must be at most 1MiB, got 2MiB");
  EXPECT_EQ(error_of(listener + "[limits]\nmax_head_bytes = 1048577\n"),
            "ika.toml:4: limits.max_head_bytes: must be at most 1MiB, got 1048577B");
  EXPECT_EQ(error_of(listener + "[limits]\nmax_headers = 0\n"),
            "ika.toml:4: limits.max_headers: must be between 1 and 10000, got 0");
  EXPECT_EQ(error_of(listener + "[limits]\nmax_headers = 10001\n"),
            "ika.toml:4: limits.max_headers: must be between 1 and 10000, got 10001");
  EXPECT_EQ(error_of(listener + "[limits]\nupstream_keepalive = -1\n"),
            "ika.toml:4: limits.upstream_keepalive: must be between 0 and 10000, got -1");
  EXPECT_EQ(error_of(listener + "[limits]\nclient_idle_timeout = \"0ms\"\n"),
            "ika.toml:4: limits.client_idle_timeout: must be greater than 0");
  EXPECT_EQ(error_of(listener + "[limits]\nupstream_connect_timeout = \"8761h\"\n"),
            "ika.toml:4: limits.upstream_connect_timeout: invalid duration '8761h' (expected "
            "\"<n>ms\", \"<n>s\", \"<n>m\" or \"<n>h\", at most 8760h)");
  EXPECT_EQ(parse_config_ok(listener + "[limits]\nmax_head_bytes = \"1MiB\"\nmax_body = 1\n").limits.max_body,
            1u);
}

TEST(node_config, rejects_uri_limit_above_head_limit) {
  EXPECT_EQ(error_of(listener + "[limits]\nmax_uri_bytes = \"32KiB\"\n"),
            "ika.toml:4: limits.max_uri_bytes: max_uri_bytes (32KiB) exceeds max_head_bytes "
            "(16KiB): the request line is part of the head");
  // Only the head limit written, below the URI default: the URI limit
  // follows it instead of failing a config that never mentioned it.
  EXPECT_EQ(parse_config_ok(listener + "[limits]\nmax_head_bytes = \"4KiB\"\n").limits.max_uri_bytes, 4096u);
  EXPECT_EQ(parse_config_ok(listener + "[limits]\nmax_head_bytes = \"4KiB\"\nmax_uri_bytes = \"4KiB\"\n")
                .limits.max_uri_bytes,
            4096u);
}

TEST(node_config, rejects_durations_without_unit) {
  EXPECT_EQ(error_of(listener + "[limits]\nsend_timeout = 30\n"),
            "ika.toml:4: limits.send_timeout: a duration needs a unit: write \"30s\" (or ms, m, h)");
  EXPECT_EQ(error_of(listener + "[node]\nshutdown_timeout = \"10\"\n"),
            "ika.toml:4: node.shutdown_timeout: invalid duration '10' (expected \"<n>ms\", "
            "\"<n>s\", \"<n>m\" or \"<n>h\", at most 8760h)");
  EXPECT_EQ(error_of(listener + "[node]\nshutdown_timeout = \"1.5s\"\n"),
            "ika.toml:4: node.shutdown_timeout: invalid duration '1.5s' (expected \"<n>ms\", "
            "\"<n>s\", \"<n>m\" or \"<n>h\", at most 8760h)");
}

// ---------------------------------------------------------------- routes

TEST(node_config, rejects_bad_host_patterns) {
  auto host = [](const std::string& h) {
    return error_of(listener + "[[route]]\nupstreams = [\"127.0.0.1:1\"]\nhost = \"" + h + "\"\n");
  };
  EXPECT_EQ(host(""), "ika.toml:5: route[1].host: empty host pattern (use \"*\" for any host)");
  EXPECT_EQ(host("exa mple.com"),
            "ika.toml:5: route[1].host: invalid host pattern 'exa mple.com' (expected a host name "
            "without port, \"*.name\" or \"*\")");
  EXPECT_EQ(host("Example.com:8080"),
            "ika.toml:5: route[1].host: invalid host pattern 'example.com:8080' (expected a host "
            "name without port, \"*.name\" or \"*\")");
  EXPECT_EQ(host("a.*.com"),
            "ika.toml:5: route[1].host: invalid host pattern 'a.*.com' (expected a host name "
            "without port, \"*.name\" or \"*\")");
  EXPECT_EQ(host("*."), "ika.toml:5: route[1].host: invalid host pattern '*.' (expected a host name without "
                        "port, \"*.name\" or \"*\")");
}

TEST(node_config, rejects_bad_path_patterns) {
  auto path = [](const std::string& p) {
    return error_of(listener + "[[route]]\nupstreams = [\"127.0.0.1:1\"]\npath = \"" + p + "\"\n");
  };
  const std::string hint = "' (expected \"/*\", a prefix such as \"/api/*\" or an exact \"/path\")";
  EXPECT_EQ(path(""), "ika.toml:5: route[1].path: invalid path pattern '" + hint);
  EXPECT_EQ(path("api"), "ika.toml:5: route[1].path: invalid path pattern 'api" + hint);
  EXPECT_EQ(path("/a/*/b"), "ika.toml:5: route[1].path: invalid path pattern '/a/*/b" + hint);
  EXPECT_EQ(path("/api*"), "ika.toml:5: route[1].path: invalid path pattern '/api*" + hint);
  EXPECT_EQ(path("/a b"), "ika.toml:5: route[1].path: invalid path pattern '/a b" + hint);
}

TEST(node_config, rejects_missing_or_empty_upstreams) {
  EXPECT_EQ(error_of(listener + "\n[[route]]\nhost = \"a.test\"\n"),
            "ika.toml:4: route[1].upstreams: required key is missing");
  EXPECT_EQ(error_of(listener + "[[route]]\nhost = \"a.test\"\nupstreams = []\n"),
            "ika.toml:5: route[1].upstreams: empty upstream list");
}

TEST(node_config, rejects_bad_upstreams) {
  auto route = [](const std::string& u) {
    return error_of(listener + "[[route]]\nupstreams = [\n  \"127.0.0.1:1\",\n  \"" + u + "\",\n]\n");
  };
  EXPECT_EQ(route("127.0.0.1:x"), "ika.toml:6: route[1].upstreams[2]: invalid port 'x'");
  EXPECT_EQ(route("localhost:x"), "ika.toml:6: route[1].upstreams[2]: invalid port 'x'");
  EXPECT_EQ(route("127.0.0.1:0"), "ika.toml:6: route[1].upstreams[2]: port 0 is not allowed for an upstream");
  EXPECT_EQ(route("localhost:0"), "ika.toml:6: route[1].upstreams[2]: port 0 is not allowed for an upstream");
  EXPECT_EQ(route("127.0.0.1"),
            "ika.toml:6: route[1].upstreams[2]: expected HOST:PORT (an IPv6 address in brackets)");
  EXPECT_EQ(route("[nope]:80"), "ika.toml:6: route[1].upstreams[2]: invalid IPv6 address 'nope'");
  EXPECT_EQ(route("127.0.0.1:1"), "ika.toml:6: route[1].upstreams[2]: duplicate upstream '127.0.0.1:1' (also "
                                  "route[1].upstreams[1])");
  // RFC 6761: .invalid never resolves.
  auto unresolvable = parse_config_error(listener + "[[route]]\nupstreams = [\"no-such-host.invalid:80\"]\n");
  EXPECT_EQ(unresolvable.line, 4);
  EXPECT_EQ(unresolvable.key, "route[1].upstreams[1]");
  EXPECT_EQ(unresolvable.message.rfind("cannot resolve 'no-such-host.invalid'", 0), 0u)
      << unresolvable.message;
}

TEST(node_config, rejects_duplicate_routes) {
  EXPECT_EQ(error_of(listener + R"([[route]]
host = "a.test"
path = "/api/*"
upstreams = ["127.0.0.1:1"]

[[route]]
host = "b.test"
upstreams = ["127.0.0.1:1"]

[[route]]
host = "A.Test"
path = "/api/*"
upstreams = ["127.0.0.1:2"]
)"),
            "ika.toml:12: route[3]: duplicate route for host 'a.test' and path '/api/*' (also route[1])");
  // Defaults count: two routes without host and path are both "*" "/*".
  EXPECT_EQ(error_of(listener +
                     "[[route]]\nupstreams = [\"127.0.0.1:1\"]\n[[route]]\nupstreams = [\"127.0.0.1:2\"]\n"),
            "ika.toml:5: route[2]: duplicate route for host '*' and path '/*' (also route[1])");
}

TEST(node_config, rejects_bad_route_max_body) {
  EXPECT_EQ(error_of(listener + "[[route]]\nupstreams = [\"127.0.0.1:1\"]\nmax_body = 0\n"),
            "ika.toml:5: route[1].max_body: must be greater than 0");
  EXPECT_EQ(error_of(listener + "[[route]]\nupstreams = [\"127.0.0.1:1\"]\nmax_body = \"1TiB\"\n"),
            "ika.toml:5: route[1].max_body: invalid size '1TiB' (expected bytes as an integer, or "
            "\"<n>B\", \"<n>KiB\", \"<n>MiB\", \"<n>GiB\")");
  EXPECT_EQ(parse_config_ok(listener + "[[route]]\nupstreams = [\"127.0.0.1:1\"]\nmax_body = 1\n")
                .routes[0]
                .max_body,
            1u);
}

// ---------------------------------------------------------------- TOML syntax

TEST(node_config, reports_toml_syntax_errors_with_their_line) {
  auto error = parse_config_error(listener + "[node]\nworkers = \n");
  EXPECT_EQ(error.file, "ika.toml");
  EXPECT_EQ(error.line, 4);
  EXPECT_EQ(error.key, "");
  EXPECT_FALSE(error.message.empty());
  EXPECT_EQ(error.to_string(), "ika.toml:4: " + error.message);

  EXPECT_EQ(parse_config_error(listener + "[node]\nworkers = 1\nworkers = 2\n").line, 5);
  EXPECT_EQ(parse_config_error(listener + "[[route]\n").line, 3);
}

// ---------------------------------------------------------------- sizes

TEST(parse_size, accepts_units) {
  std::uint64_t out = 7;
  ASSERT_TRUE(parse_size("0B", out));
  EXPECT_EQ(out, 0u);
  ASSERT_TRUE(parse_size("1B", out));
  EXPECT_EQ(out, 1u);
  ASSERT_TRUE(parse_size("16KiB", out));
  EXPECT_EQ(out, 16384u);
  ASSERT_TRUE(parse_size("3MiB", out));
  EXPECT_EQ(out, 3u << 20);
  ASSERT_TRUE(parse_size("2GiB", out));
  EXPECT_EQ(out, 2ull << 30);
  ASSERT_TRUE(parse_size("007KiB", out));
  EXPECT_EQ(out, 7u * 1024);
  ASSERT_TRUE(parse_size("18446744073709551615B", out));
  EXPECT_EQ(out, 18446744073709551615ull);
  ASSERT_TRUE(parse_size("17179869183GiB", out)); // the largest that fits
  EXPECT_EQ(out, 17179869183ull << 30);
}

TEST(parse_size, rejects_everything_else) {
  for (const char* text : {"",
                           "B",
                           "KiB",
                           "16",
                           "16b",
                           "16kib",
                           "16KB",
                           "16K",
                           "16k",
                           "16 KiB",
                           " 16KiB",
                           "16KiB ",
                           "-1B",
                           "+1B",
                           "1.5KiB",
                           "16KiBx",
                           "1TiB",
                           "0x10B",
                           "1e3B",
                           "18446744073709551616B",
                           "17179869184GiB",
                           "99999999999999999999999MiB"}) {
    std::uint64_t out = 42;
    EXPECT_FALSE(parse_size(text, out)) << "'" << text << "'";
    EXPECT_EQ(out, 42u) << "'" << text << "'";
  }
}

// ---------------------------------------------------------------- durations

TEST(parse_duration, accepts_units) {
  std::chrono::milliseconds out{7};
  ASSERT_TRUE(parse_duration("0ms", out));
  EXPECT_EQ(out, 0ms);
  ASSERT_TRUE(parse_duration("250ms", out));
  EXPECT_EQ(out, 250ms);
  ASSERT_TRUE(parse_duration("5s", out));
  EXPECT_EQ(out, 5000ms);
  ASSERT_TRUE(parse_duration("2m", out));
  EXPECT_EQ(out, 120s);
  ASSERT_TRUE(parse_duration("1h", out));
  EXPECT_EQ(out, 3600s);
  ASSERT_TRUE(parse_duration("8760h", out));
  EXPECT_EQ(out, 8760h);
  ASSERT_TRUE(parse_duration("525600m", out));
  EXPECT_EQ(out, 8760h);
  ASSERT_TRUE(parse_duration("31536000000ms", out));
  EXPECT_EQ(out, 8760h);
}

TEST(parse_duration, rejects_everything_else) {
  for (const char* text : {"",
                           "s",
                           "5",
                           "5S",
                           "5MS",
                           "5sec",
                           "5 s",
                           " 5s",
                           "5s ",
                           "1d",
                           "1w",
                           "-1s",
                           "+1s",
                           "1.5s",
                           "1h30m",
                           "8761h",
                           "525601m",
                           "31536000001ms",
                           "99999999999999999999h",
                           "18446744073709551615ms"}) {
    std::chrono::milliseconds out{42};
    EXPECT_FALSE(parse_duration(text, out)) << "'" << text << "'";
    EXPECT_EQ(out, 42ms) << "'" << text << "'";
  }
}

// ---------------------------------------------------------------- errors and files

TEST(config_error, to_string_leaves_out_unknown_parts) {
  EXPECT_EQ((config_error{"a.toml", 3, "node.workers", "bad"}.to_string()), "a.toml:3: node.workers: bad");
  EXPECT_EQ((config_error{"a.toml", 0, "listener", "none"}.to_string()), "a.toml: listener: none");
  EXPECT_EQ((config_error{"a.toml", 2, "", "syntax"}.to_string()), "a.toml:2: syntax");
  EXPECT_EQ((config_error{"", 0, "", "oops"}.to_string()), "oops");
  EXPECT_EQ((config_error{"", 4, "k", "oops"}.to_string()), "line 4: k: oops");
}

TEST(load_config, reads_a_file) {
  temp_dir dir{"ika-config"};
  auto path = dir.write("ika.toml", listener + "[[route]]\nupstreams = [\"127.0.0.1:9000\"]\n");
  auto result = load_config(path);
  ASSERT_TRUE(std::holds_alternative<node_config>(result)) << std::get<config_error>(result).to_string();
  const auto& config = std::get<node_config>(result);
  ASSERT_EQ(config.routes.size(), 1u);
  EXPECT_EQ(config.routes[0].upstreams[0], "127.0.0.1:9000");
}

TEST(load_config, names_the_file_in_errors) {
  temp_dir dir{"ika-config"};
  auto path = dir.write("bad.toml", listener + "[node]\nworkerz = 2\n");
  auto result = load_config(path);
  ASSERT_TRUE(std::holds_alternative<config_error>(result));
  EXPECT_EQ(std::get<config_error>(result).to_string(),
            path + ":4: node.workerz: unknown key (expected one of: workers, shutdown_timeout)");

  auto syntax = dir.write("syntax.toml", "\n\n[node\n");
  result = load_config(syntax);
  ASSERT_TRUE(std::holds_alternative<config_error>(result));
  EXPECT_EQ(std::get<config_error>(result).file, syntax);
  EXPECT_EQ(std::get<config_error>(result).line, 3);
}

TEST(load_config, reports_a_missing_file) {
  temp_dir dir{"ika-config"};
  auto path = dir / "missing.toml";
  auto result = load_config(path);
  ASSERT_TRUE(std::holds_alternative<config_error>(result));
  const auto& error = std::get<config_error>(result);
  EXPECT_EQ(error.file, path);
  EXPECT_EQ(error.line, 0);
  EXPECT_EQ(error.to_string(), path + ": cannot open: No such file or directory");
}

TEST(load_config, reports_a_directory) {
  temp_dir dir{"ika-config"};
  auto result = load_config(dir.path().string());
  ASSERT_TRUE(std::holds_alternative<config_error>(result));
  EXPECT_EQ(std::get<config_error>(result).to_string(),
            dir.path().string() + ": cannot read: Is a directory");
}

TEST(node_config, cache_section_and_route_keys) {
  const std::string listener = "[[listener]]\naddress = \"127.0.0.1:0\"\n";
  auto c = parse_config_ok(
      listener + "[cache]\nmemory = \"2MiB\"\nshards = 3\nmax_object = \"64KiB\"\nlock_timeout = \"250ms\"\n"
                 "[[route]]\nupstreams = [\"127.0.0.1:1\"]\ncache = true\ncache_max_object = 4096\n"
                 "cache_set_cookie = true\n");
  EXPECT_EQ(c.cache.memory, 2u << 20);
  EXPECT_EQ(c.cache.shards, 3u);
  EXPECT_EQ(c.cache.max_object, 64u << 10);
  EXPECT_EQ(c.cache.lock_timeout, std::chrono::milliseconds{250});
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_TRUE(c.routes[0].cache);
  EXPECT_EQ(c.routes[0].cache_max_object, 4096u);
  EXPECT_TRUE(c.routes[0].cache_set_cookie);
  auto d = parse_config_ok(listener + "[[route]]\nupstreams = [\"127.0.0.1:1\"]\n");
  EXPECT_FALSE(d.routes[0].cache);
  EXPECT_EQ(d.cache.memory, 64u << 20);
  EXPECT_EQ(error_of(listener + "[cache]\nshards = 0\n"),
            "ika.toml:4: cache.shards: must be between 1 and 256, got 0");
  EXPECT_EQ(
      error_of(listener + "[cache]\nmemory = \"lots\"\n"),
      "ika.toml:4: cache.memory: invalid size 'lots' (expected bytes as an integer, or \"<n>B\", \"<n>KiB\", "
      "\"<n>MiB\", \"<n>GiB\")");
  EXPECT_EQ(error_of(listener + "[[route]]\nupstreams = [\"127.0.0.1:1\"]\ncache = \"yes\"\n"),
            "ika.toml:5: route[1].cache: expected true or false, got a string");
}

TEST(node_config, tls_listeners_certificates_and_acme) {
  auto c = parse_config_ok("[[listener]]\naddress = \"127.0.0.1:0\"\n"
                           "[[listener]]\naddress = \"127.0.0.1:0\"\ntls = true\n"
                           "[[listener]]\naddress = \"[::1]:0\"\ntls = true\n"
                           "[[certificate]]\ncert = \"/etc/a.crt\"\nkey = \"/etc/a.key\"\n"
                           "[acme]\ndirectory = \"https://127.0.0.1:14000/dir\"\nca_bundle = \"/x.pem\"\n"
                           "email = \"ops@example.test\"\n"
                           "[[route]]\nhost = \"a.test\"\nupstreams = [\"127.0.0.1:1\"]\ntls = \"acme\"\n"
                           "[[route]]\nhost = \"b.test\"\nupstreams = [\"127.0.0.1:1\"]\ntls = \"off\"\n"
                           "[[route]]\nhost = \"c.test\"\nupstreams = [\"127.0.0.1:1\"]\ntls = \"auto\"\n"
                           "https_redirect = false\n");
  ASSERT_EQ(c.listeners.size(), 3u);
  EXPECT_EQ(c.listeners[0].name, "http");
  EXPECT_FALSE(c.listeners[0].tls);
  EXPECT_EQ(c.listeners[1].name, "https");
  EXPECT_TRUE(c.listeners[1].tls);
  EXPECT_EQ(c.listeners[2].name, "https-2");
  ASSERT_EQ(c.certificates.size(), 1u);
  EXPECT_EQ(c.certificates[0].chain_file, "/etc/a.crt");
  EXPECT_EQ(c.certificates[0].key_file, "/etc/a.key");
  EXPECT_EQ(c.acme.directory, "https://127.0.0.1:14000/dir");
  EXPECT_EQ(c.acme.ca_bundle, "/x.pem");
  EXPECT_EQ(c.acme.email, "ops@example.test");
  ASSERT_EQ(c.routes.size(), 3u);
  EXPECT_EQ(c.routes[0].tls, "acme");
  EXPECT_TRUE(c.routes[0].https_redirect);
  EXPECT_EQ(c.routes[1].tls, "off");
  EXPECT_FALSE(c.routes[1].https_redirect); // nothing to redirect to
  EXPECT_EQ(c.routes[2].tls, "");           // auto
  EXPECT_FALSE(c.routes[2].https_redirect);
  auto d = parse_config_ok("[[listener]]\naddress = \"127.0.0.1:0\"\n");
  EXPECT_EQ(d.acme.directory, "https://acme-v02.api.letsencrypt.org/directory");
  EXPECT_TRUE(d.certificates.empty());

  const std::string listener = "[[listener]]\naddress = \"127.0.0.1:0\"\n";
  EXPECT_EQ(error_of(listener + "tls = \"yes\"\n"),
            "ika.toml:3: listener[1].tls: expected true or false, got a string");
  EXPECT_EQ(error_of(listener + "[[certificate]]\ncert = \"/a.crt\"\n"),
            "ika.toml:3: certificate[1].key: required key is missing");
  EXPECT_EQ(error_of(listener + "[[certificate]]\ncert = \"\"\nkey = \"/a.key\"\n"),
            "ika.toml:4: certificate[1].cert: empty path");
  EXPECT_EQ(error_of(listener + "[acme]\ndirectory = \"ftp://x\"\n"),
            "ika.toml:4: acme.directory: expected an https:// URL, got 'ftp://x'");
  EXPECT_EQ(error_of(listener + "[[route]]\nupstreams = [\"127.0.0.1:1\"]\ntls = \"letsencrypt\"\n"),
            "ika.toml:5: route[1].tls: unknown mode 'letsencrypt' (expected \"auto\", \"acme\", "
            "\"self-signed\" or \"off\")");
}

TEST(node_config, a_route_can_name_its_own_certificate_files) {
  // The route's files come after every [[certificate]] (the first of which
  // is the default), whatever the order in the file.
  auto c = parse_config_ok("[[listener]]\naddress = \"127.0.0.1:0\"\ntls = true\n"
                           "[[route]]\nhost = \"Own.Example.com\"\nupstreams = [\"127.0.0.1:1\"]\n"
                           "tls = { cert = \"/etc/own.crt\", key = \"/etc/own.key\" }\n"
                           "[[certificate]]\ncert = \"/etc/a.crt\"\nkey = \"/etc/a.key\"\n");
  ASSERT_EQ(c.certificates.size(), 2u);
  EXPECT_EQ(c.certificates[0].chain_file, "/etc/a.crt");
  EXPECT_EQ(c.certificates[0].route_host, "");
  EXPECT_EQ(c.certificates[1].chain_file, "/etc/own.crt");
  EXPECT_EQ(c.certificates[1].key_file, "/etc/own.key");
  EXPECT_EQ(c.certificates[1].route_host, "own.example.com");
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].tls, "");
  EXPECT_TRUE(c.routes[0].https_redirect);

  const std::string head = "[[listener]]\naddress = \"127.0.0.1:0\"\n[[route]]\nhost = \"a.test\"\n"
                           "upstreams = [\"127.0.0.1:1\"]\n";
  EXPECT_EQ(error_of(head + "tls = { cert = \"/a.crt\" }\n"),
            "ika.toml:6: route[1].tls.key: required key is missing");
  EXPECT_EQ(error_of(head + "tls = { cert = \"/a.crt\", key = \"/a.key\", chain = \"x\" }\n"),
            "ika.toml:6: route[1].tls.chain: unknown key (expected one of: cert, key)");
  EXPECT_EQ(error_of("[[listener]]\naddress = \"127.0.0.1:0\"\n[[route]]\nupstreams = [\"127.0.0.1:1\"]\n"
                     "tls = { cert = \"/a.crt\", key = \"/a.key\" }\n"),
            "ika.toml:5: route[1].tls: a route for every host has no name to serve a certificate for (use "
            "[[certificate]])");
}

} // namespace
} // namespace ika::config
