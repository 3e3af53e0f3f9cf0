// Unit tests of runtime/proxy/route_table: compiling route specs (and the
// errors for bad ones) and matching a host and path to the most specific
// route.

#include "runtime/proxy/route_table.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using ika::protocol::route_spec;
using ika::proxy::route;
using ika::proxy::route_table;
using ika::proxy::valid_host_pattern;
using ika::proxy::valid_path_pattern;

route_spec spec(std::string host, std::string path, std::string upstream = "127.0.0.1:9000") {
  route_spec s;
  s.host = std::move(host);
  s.path = std::move(path);
  s.upstreams = {std::move(upstream)};
  return s;
}

/// Compiles `specs`, failing the test on an error.
route_table compile(const std::vector<route_spec>& specs) {
  route_table t;
  auto err = route_table::compile(specs, t);
  EXPECT_EQ(err, "");
  return t;
}

/// The error for `specs` ("" if they compile).
std::string compile_error(const std::vector<route_spec>& specs) {
  route_table t;
  return route_table::compile(specs, t);
}

/// The upstream of the route matched, as configured ("" for no match). Each
/// test gives its routes distinct upstream ports to tell them apart.
std::string match(const route_table& t, std::string_view host, std::string_view path) {
  const route* r = t.match(host, path);
  return r == nullptr ? std::string{} : r->upstreams.at(0).name;
}

// --- compiling --------------------------------------------------------------------

TEST(route_table_compile, accepts_good_routes) {
  auto t = compile({spec("example.com", "/"), spec("*.example.com", "/api/*"), spec("*", "/*")});
  EXPECT_EQ(t.size(), 3u);
}

TEST(route_table_compile, keeps_upstreams_in_order_with_their_names) {
  route_spec s = spec("example.com", "/*");
  s.upstreams = {"127.0.0.1:9001", "[::1]:9002"};
  auto t = compile({s});
  const route* r = t.match("example.com", "/");
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->upstreams.size(), 2u);
  EXPECT_EQ(r->upstreams[0].name, "127.0.0.1:9001");
  EXPECT_EQ(r->upstreams[0].endpoint.port(), 9001);
  EXPECT_EQ(r->upstreams[0].endpoint.address().to_string(), "127.0.0.1");
  EXPECT_EQ(r->upstreams[1].endpoint.address().to_string(), "::1");
  EXPECT_EQ(r->upstreams[1].endpoint.port(), 9002);
}

TEST(route_table_compile, keeps_max_body) {
  route_spec s = spec("example.com", "/*");
  s.max_body = 1234;
  auto t = compile({s});
  ASSERT_NE(t.match("example.com", "/x"), nullptr);
  EXPECT_EQ(t.match("example.com", "/x")->max_body, 1234u);
}

TEST(route_table_compile, an_error_names_the_route_by_position) {
  auto err = compile_error({spec("a.com", "/*"), spec("Bad Host", "/*")});
  EXPECT_NE(err.find("route 2 (Bad Host /*)"), std::string::npos) << err;
  EXPECT_NE(err.find("invalid host pattern 'Bad Host'"), std::string::npos) << err;
}

TEST(route_table_compile, refuses_bad_host_patterns) {
  for (auto host : {"", "Example.com", "exa mple.com", "*example.com", "*.", "*.*.example.com", "a..b",
                    ".a.com", "a.com.", "foo/bar", "a.*.com", "user@a.com", "a.com:80", "[::1", "[zz]"}) {
    auto err = compile_error({spec(host, "/*")});
    EXPECT_NE(err.find("invalid host pattern"), std::string::npos) << "'" << host << "': " << err;
  }
}

TEST(route_table_compile, refuses_bad_path_patterns) {
  for (auto path : {"", "api", "/a//b", "/a*", "/*/x", "/a/*/*", "*", "/a?b", "/a#b", "/a b", "/a\x01"}) {
    auto err = compile_error({spec("example.com", path)});
    EXPECT_NE(err.find("invalid path pattern"), std::string::npos) << "'" << path << "': " << err;
  }
}

TEST(route_table_compile, refuses_duplicate_routes) {
  auto err = compile_error({spec("a.com", "/api/*", "127.0.0.1:1"), spec("a.com", "/api/*", "127.0.0.1:2")});
  EXPECT_NE(err.find("route 2"), std::string::npos) << err;
  EXPECT_NE(err.find("duplicate route"), std::string::npos) << err;
}

TEST(route_table_compile, same_path_on_different_hosts_is_not_a_duplicate) {
  EXPECT_EQ(compile_error({spec("a.com", "/*"), spec("b.com", "/*"), spec("*.a.com", "/*"), spec("*", "/*")}),
            "");
}

TEST(route_table_compile, refuses_a_route_without_upstreams) {
  route_spec s = spec("a.com", "/*");
  s.upstreams.clear();
  EXPECT_NE(compile_error({s}).find("no upstreams"), std::string::npos);
}

TEST(route_table_compile, refuses_bad_upstream_addresses) {
  for (auto up : {"127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:http", "::1:80",
                  "[::1]", "localhost:80", "", "256.0.0.1:80"}) {
    auto err = compile_error({spec("a.com", "/*", up)});
    EXPECT_NE(err.find("invalid upstream address '" + std::string{up} + "'"), std::string::npos)
        << "'" << up << "': " << err;
  }
}

TEST(route_table_compile, a_failed_compile_leaves_the_table_untouched) {
  route_table t = compile({spec("a.com", "/*")});
  auto err = route_table::compile({spec("b.com", "nope")}, t);
  EXPECT_NE(err, "");
  EXPECT_EQ(t.size(), 1u);
  EXPECT_NE(t.match("a.com", "/"), nullptr);
}

TEST(route_table_patterns, valid_host_patterns) {
  for (auto host :
       {"*", "a.com", "*.a.com", "localhost", "127.0.0.1", "[::1]", "[2001:db8::1]", "x_y.a-b.com"})
    EXPECT_TRUE(valid_host_pattern(host)) << host;
}

TEST(route_table_patterns, valid_path_patterns) {
  for (auto path : {"/", "/*", "/api", "/api/", "/api/*", "/a/b/c/*", "/a.b", "/%20"})
    EXPECT_TRUE(valid_path_pattern(path)) << path;
}

// --- matching ---------------------------------------------------------------------

TEST(route_table_match, no_route_is_nullptr) {
  auto t = compile({spec("a.com", "/*")});
  EXPECT_EQ(t.match("b.com", "/"), nullptr);
}

TEST(route_table_match, empty_table_matches_nothing) {
  route_table t;
  EXPECT_EQ(t.match("a.com", "/"), nullptr);
  EXPECT_EQ(t.size(), 0u);
}

TEST(route_table_match, exact_host_beats_wildcard_and_catch_all) {
  auto t = compile({spec("*", "/*", "127.0.0.1:1"), spec("*.example.com", "/*", "127.0.0.1:2"),
                    spec("www.example.com", "/*", "127.0.0.1:3")});
  EXPECT_EQ(match(t, "www.example.com", "/x"), "127.0.0.1:3");
}

TEST(route_table_match, wildcard_beats_catch_all) {
  auto t = compile({spec("*", "/*", "127.0.0.1:1"), spec("*.example.com", "/*", "127.0.0.1:2")});
  EXPECT_EQ(match(t, "api.example.com", "/x"), "127.0.0.1:2");
}

TEST(route_table_match, catch_all_takes_any_host) {
  auto t = compile({spec("*", "/*", "127.0.0.1:1")});
  EXPECT_EQ(match(t, "anything.test", "/x"), "127.0.0.1:1");
  EXPECT_EQ(match(t, "", "/"), "127.0.0.1:1");
}

TEST(route_table_match, longest_wildcard_suffix_wins_whatever_the_order) {
  auto t =
      compile({spec("*.example.com", "/*", "127.0.0.1:1"), spec("*.b.example.com", "/*", "127.0.0.1:2")});
  EXPECT_EQ(match(t, "a.b.example.com", "/"), "127.0.0.1:2");
  EXPECT_EQ(match(t, "a.c.example.com", "/"), "127.0.0.1:1");
}

TEST(route_table_match, wildcard_matches_several_labels) {
  auto t = compile({spec("*.example.com", "/*", "127.0.0.1:1")});
  EXPECT_EQ(match(t, "a.b.c.example.com", "/"), "127.0.0.1:1");
}

TEST(route_table_match, wildcard_never_matches_the_apex) {
  auto t = compile({spec("*.example.com", "/*", "127.0.0.1:1")});
  EXPECT_EQ(t.match("example.com", "/"), nullptr);
}

TEST(route_table_match, wildcard_matches_only_at_a_label_boundary) {
  auto t = compile({spec("*.example.com", "/*", "127.0.0.1:1")});
  EXPECT_EQ(t.match("badexample.com", "/"), nullptr);
  EXPECT_EQ(t.match("example.com.evil", "/"), nullptr);
}

TEST(route_table_match, exact_path_beats_prefix) {
  auto t = compile({spec("a.com", "/api/*", "127.0.0.1:1"), spec("a.com", "/api", "127.0.0.1:2")});
  EXPECT_EQ(match(t, "a.com", "/api"), "127.0.0.1:2");
  EXPECT_EQ(match(t, "a.com", "/api/x"), "127.0.0.1:1");
}

TEST(route_table_match, longer_prefix_beats_shorter_whatever_the_order) {
  auto t = compile({spec("a.com", "/*", "127.0.0.1:1"), spec("a.com", "/api/*", "127.0.0.1:2"),
                    spec("a.com", "/api/v1/*", "127.0.0.1:3")});
  EXPECT_EQ(match(t, "a.com", "/api/v1/users"), "127.0.0.1:3");
  EXPECT_EQ(match(t, "a.com", "/api/v2/users"), "127.0.0.1:2");
  EXPECT_EQ(match(t, "a.com", "/other"), "127.0.0.1:1");
}

TEST(route_table_match, prefix_matches_whole_segments_only) {
  auto t = compile({spec("a.com", "/api/*", "127.0.0.1:1")});
  EXPECT_EQ(match(t, "a.com", "/api"), "127.0.0.1:1");
  EXPECT_EQ(match(t, "a.com", "/api/"), "127.0.0.1:1");
  EXPECT_EQ(match(t, "a.com", "/api/x/y"), "127.0.0.1:1");
  EXPECT_EQ(t.match("a.com", "/apix"), nullptr);
  EXPECT_EQ(t.match("a.com", "/ap"), nullptr);
  EXPECT_EQ(t.match("a.com", "/"), nullptr);
}

TEST(route_table_match, root_prefix_matches_every_path) {
  auto t = compile({spec("a.com", "/*", "127.0.0.1:1")});
  EXPECT_EQ(match(t, "a.com", "/"), "127.0.0.1:1");
  EXPECT_EQ(match(t, "a.com", "/a/b/c"), "127.0.0.1:1");
}

TEST(route_table_match, exact_path_matches_only_itself) {
  auto t = compile({spec("a.com", "/health", "127.0.0.1:1")});
  EXPECT_EQ(match(t, "a.com", "/health"), "127.0.0.1:1");
  EXPECT_EQ(t.match("a.com", "/health/"), nullptr);
  EXPECT_EQ(t.match("a.com", "/health/x"), nullptr);
  EXPECT_EQ(t.match("a.com", "/healthz"), nullptr);
}

TEST(route_table_match, exact_root_matches_only_root) {
  auto t = compile({spec("a.com", "/", "127.0.0.1:1")});
  EXPECT_EQ(match(t, "a.com", "/"), "127.0.0.1:1");
  EXPECT_EQ(t.match("a.com", "/x"), nullptr);
}

TEST(route_table_match, exact_host_without_matching_path_falls_through_to_wildcard) {
  auto t = compile({spec("www.example.com", "/api/*", "127.0.0.1:1"),
                    spec("*.example.com", "/*", "127.0.0.1:2"), spec("*", "/*", "127.0.0.1:3")});
  EXPECT_EQ(match(t, "www.example.com", "/static/x"), "127.0.0.1:2");
}

TEST(route_table_match, wildcard_without_matching_path_falls_through_to_shorter_wildcard) {
  auto t =
      compile({spec("*.b.example.com", "/api/*", "127.0.0.1:1"), spec("*.example.com", "/*", "127.0.0.1:2")});
  EXPECT_EQ(match(t, "a.b.example.com", "/other"), "127.0.0.1:2");
}

TEST(route_table_match, falls_through_to_catch_all) {
  auto t = compile({spec("a.com", "/api/*", "127.0.0.1:1"), spec("*", "/*", "127.0.0.1:2")});
  EXPECT_EQ(match(t, "a.com", "/other"), "127.0.0.1:2");
}

TEST(route_table_match, catch_all_paths_follow_the_same_precedence) {
  auto t = compile(
      {spec("*", "/*", "127.0.0.1:1"), spec("*", "/api/*", "127.0.0.1:2"), spec("*", "/api", "127.0.0.1:3")});
  EXPECT_EQ(match(t, "x.com", "/api"), "127.0.0.1:3");
  EXPECT_EQ(match(t, "x.com", "/api/y"), "127.0.0.1:2");
  EXPECT_EQ(match(t, "x.com", "/y"), "127.0.0.1:1");
}

TEST(route_table_match, exact_host_is_compared_as_given) {
  // The caller lower-cases the host and strips the port.
  auto t = compile({spec("example.com", "/*", "127.0.0.1:1")});
  EXPECT_EQ(match(t, "example.com", "/"), "127.0.0.1:1");
  EXPECT_EQ(t.match("example.com:8080", "/"), nullptr);
}

TEST(route_table_match, ipv6_literal_host) {
  auto t = compile({spec("[::1]", "/*", "127.0.0.1:1")});
  EXPECT_EQ(match(t, "[::1]", "/"), "127.0.0.1:1");
}

TEST(route_table_match, route_knows_its_patterns) {
  auto t = compile({spec("*.a.com", "/api/*", "127.0.0.1:1")});
  const route* r = t.match("x.a.com", "/api/q");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->host, "*.a.com");
  EXPECT_EQ(r->path, "/api/*");
  EXPECT_EQ(r->prefix, "/api");
  EXPECT_FALSE(r->exact_path);
}

} // namespace
