// Unit tests of runtime/proxy/forward: the exact heads the proxy writes
// upstream and back to the client. Heads come from the real parser, as they
// do in a session.

#include "runtime/proxy/forward.hpp"

#include "runtime/http/parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace {

using ika::http::message_kind;
using ika::http::parse_event;
using ika::proxy::append_client_response_head;
using ika::proxy::append_upstream_request_head;
using ika::proxy::client_response_options;
using ika::proxy::named_in_connection;
using ika::proxy::out_framing;
using ika::proxy::upstream_request_options;

/// A parsed head and the bytes it points into.
struct parsed {
  parsed(message_kind kind, std::string in, bool skip_body = false) : input(std::move(in)), p(kind) {
    p.set_skip_body(skip_body);
    auto r = p.parse(input.data(), input.size());
    EXPECT_EQ(r.event, parse_event::head) << p.error().reason;
  }
  const ika::http::message_head& head() const { return p.head(); }

  std::string input;
  ika::http::parser p;
};

upstream_request_options request_options() {
  upstream_request_options o;
  o.client_ip = "10.0.0.7";
  o.proto = "http";
  o.request_id = "rid-1";
  o.fallback_host = "localhost";
  return o;
}

std::string upstream_head(std::string request, upstream_request_options o = request_options()) {
  parsed req{message_kind::request, std::move(request)};
  std::string out;
  append_upstream_request_head(out, req.head(), o);
  return out;
}

client_response_options response_options(out_framing framing = out_framing::length,
                                         std::uint64_t length = 0) {
  client_response_options o;
  o.request_id = "rid-1";
  o.framing = framing;
  o.content_length = length;
  return o;
}

std::string client_head(std::string response, client_response_options o, bool skip_body = false) {
  parsed res{message_kind::response, std::move(response), skip_body};
  std::string out;
  append_client_response_head(out, res.head(), o);
  return out;
}

/// The fields the proxy adds to every request for `host`.
std::string added(std::string_view host = "h") {
  std::string s = "X-Forwarded-For: 10.0.0.7\r\nX-Forwarded-Proto: http\r\n";
  if (!host.empty())
    s += "X-Forwarded-Host: " + std::string{host} + "\r\n";
  return s + "X-Request-ID: rid-1\r\n";
}

// --- the request sent upstream ----------------------------------------------------

TEST(forward_request, plain_get) {
  EXPECT_EQ(
      upstream_head("GET /p?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n"),
      "GET /p?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8\r\nAccept: */*\r\n" +
          added("example.com") + "\r\n");
}

// A field as it came ("Name: value") is copied as one run of bytes; any
// other spacing around the colon or the value is written as "Name: value".
TEST(forward_request, fields_are_written_as_name_colon_space_value) {
  EXPECT_EQ(upstream_head("GET / HTTP/1.1\r\nHost: h\r\nA:x\r\nB:   y  \r\nC:\t z\r\nD: w\r\nE:\r\n"
                          "F: \r\nUser-Agent: ua/1 (x; y)\r\n\r\n"),
            "GET / HTTP/1.1\r\nHost: h\r\nA: x\r\nB: y\r\nC: z\r\nD: w\r\nE: \r\nF: \r\n"
            "User-Agent: ua/1 (x; y)\r\n" +
                added() + "\r\n");
}

TEST(forward_request, removes_hop_by_hop_fields) {
  EXPECT_EQ(upstream_head(
                "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
                "Proxy-Authorization: Basic eA==\r\nProxy-Connection: keep-alive\r\nProxy: http://evil\r\n"
                "TE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\nAccept: a\r\n\r\n"),
            "GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\n" + added() + "\r\n");
}

TEST(forward_request, removes_fields_named_in_connection) {
  EXPECT_EQ(upstream_head("GET / HTTP/1.1\r\nHost: h\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\n"
                          "Accept: a\r\nx-secret: 2\r\n\r\n"),
            "GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\n" + added() + "\r\n");
}

TEST(forward_request, removes_every_field_named_in_connection_even_many) {
  std::string names, fields;
  for (int i = 0; i < 12; ++i) {
    names += (i ? ", X-H" : "X-H") + std::to_string(i);
    fields += "X-H" + std::to_string(i) + ": v\r\n";
  }
  EXPECT_EQ(upstream_head("GET / HTTP/1.1\r\nHost: h\r\nConnection: " + names + "\r\n" + fields + "\r\n"),
            "GET / HTTP/1.1\r\nHost: h\r\n" + added() + "\r\n");
}

TEST(forward_request, appends_client_to_a_new_x_forwarded_for) {
  auto head = upstream_head("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_NE(head.find("\r\nX-Forwarded-For: 10.0.0.7\r\n"), std::string::npos) << head;
}

TEST(forward_request, merges_x_forwarded_for_lines_and_appends_the_client) {
  EXPECT_EQ(
      upstream_head("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1\r\nAccept: a\r\n"
                    "x-forwarded-for: 2.2.2.2, 3.3.3.3\r\n\r\n"),
      "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.7\r\nAccept: a\r\n"
      "X-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nX-Request-ID: rid-1\r\n\r\n");
}

TEST(forward_request, skips_empty_x_forwarded_for_lines) {
  EXPECT_EQ(
      upstream_head("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For:\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n"),
      "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1, 10.0.0.7\r\n"
      "X-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nX-Request-ID: rid-1\r\n\r\n");
}

TEST(forward_request, x_forwarded_for_named_in_connection_keeps_only_the_client) {
  // Named in Connection, the incoming X-Forwarded-For is hop-by-hop: only
  // the address the proxy saw goes on.
  EXPECT_EQ(upstream_head("GET / HTTP/1.1\r\nHost: h\r\nConnection: X-Forwarded-For\r\n"
                          "X-Forwarded-For: 6.6.6.6\r\n\r\n"),
            "GET / HTTP/1.1\r\nHost: h\r\n" + added() + "\r\n");
}

TEST(forward_request, replaces_x_forwarded_proto_host_and_request_id) {
  EXPECT_EQ(
      upstream_head("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n"
                    "X-Request-ID: from-client\r\nAccept: a\r\n\r\n"),
      "GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\n" + added() + "\r\n");
}

TEST(forward_request, uses_the_given_proto) {
  auto o = request_options();
  o.proto = "https";
  auto head = upstream_head("GET / HTTP/1.1\r\nHost: h\r\n\r\n", o);
  EXPECT_NE(head.find("\r\nX-Forwarded-Proto: https\r\n"), std::string::npos) << head;
}

TEST(forward_request, writes_its_own_content_length) {
  auto o = request_options();
  o.framing = out_framing::length;
  o.content_length = 5;
  EXPECT_EQ(
      upstream_head("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Type: a/b\r\n\r\n", o),
      "POST /up HTTP/1.1\r\nHost: h\r\nContent-Type: a/b\r\n" + added() + "Content-Length: 5\r\n\r\n");
}

TEST(forward_request, writes_its_own_transfer_encoding) {
  auto o = request_options();
  o.framing = out_framing::chunked;
  EXPECT_EQ(upstream_head("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", o),
            "POST / HTTP/1.1\r\nHost: h\r\n" + added() + "Transfer-Encoding: chunked\r\n\r\n");
}

TEST(forward_request, drops_expect_which_the_proxy_answers) {
  auto o = request_options();
  o.framing = out_framing::length;
  o.content_length = 2;
  EXPECT_EQ(
      upstream_head("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", o),
      "POST / HTTP/1.1\r\nHost: h\r\n" + added() + "Content-Length: 2\r\n\r\n");
}

TEST(forward_request, upgrade_keeps_upgrade_and_says_connection_upgrade) {
  EXPECT_EQ(upstream_head("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                          "Sec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n\r\n"),
            "GET /ws HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n" + added() +
                "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n");
}

TEST(forward_request, http10_upgrade_is_not_forwarded) {
  EXPECT_EQ(upstream_head("GET /ws HTTP/1.0\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
            "GET /ws HTTP/1.1\r\nHost: h\r\n" + added() + "\r\n");
}

TEST(forward_request, http10_without_host_gets_the_fallback_host) {
  EXPECT_EQ(upstream_head("GET / HTTP/1.0\r\n\r\n"),
            "GET / HTTP/1.1\r\nHost: localhost\r\n" + added("") + "\r\n");
}

TEST(forward_request, absolute_form_is_sent_in_origin_form_to_its_host) {
  EXPECT_EQ(upstream_head("GET http://a.example/p?x HTTP/1.1\r\nHost: b.example\r\n\r\n"),
            "GET /p?x HTTP/1.1\r\nHost: a.example\r\n" + added("a.example") + "\r\n");
}

TEST(forward_request, keeps_host_port_as_sent) {
  EXPECT_EQ(upstream_head("GET / HTTP/1.1\r\nHost: Example.com:8080\r\n\r\n"),
            "GET / HTTP/1.1\r\nHost: Example.com:8080\r\n" + added("Example.com:8080") + "\r\n");
}

TEST(forward_request, appends_to_what_is_already_in_the_buffer) {
  parsed req{message_kind::request, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"};
  std::string out = "previous";
  append_upstream_request_head(out, req.head(), request_options());
  EXPECT_EQ(out, "previousGET / HTTP/1.1\r\nHost: h\r\n" + added() + "\r\n");
}

// --- the response sent to the client ------------------------------------------------

TEST(forward_response, plain_response_with_length) {
  EXPECT_EQ(
      client_head("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n",
                  response_options(out_framing::length, 5)),
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Request-ID: rid-1\r\nContent-Length: 5\r\n\r\n");
}

TEST(forward_response, keeps_the_reason_phrase) {
  EXPECT_EQ(client_head("HTTP/1.1 404 Nope Nope\r\nContent-Length: 0\r\n\r\n",
                        response_options(out_framing::length)),
            "HTTP/1.1 404 Nope Nope\r\nX-Request-ID: rid-1\r\nContent-Length: 0\r\n\r\n");
}

TEST(forward_response, http10_upstream_is_answered_as_http11) {
  EXPECT_EQ(
      client_head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", response_options(out_framing::length)),
      "HTTP/1.1 200 OK\r\nX-Request-ID: rid-1\r\nContent-Length: 0\r\n\r\n");
}

TEST(forward_response, removes_hop_by_hop_fields) {
  EXPECT_EQ(
      client_head(
          "HTTP/1.1 200 OK\r\nServer: s\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
          "Proxy-Authenticate: Basic\r\nTrailer: X-T\r\nUpgrade: h2\r\nTransfer-Encoding: chunked\r\n\r\n",
          response_options(out_framing::chunked)),
      "HTTP/1.1 200 OK\r\nServer: s\r\nX-Request-ID: rid-1\r\nTransfer-Encoding: chunked\r\n\r\n");
}

TEST(forward_response, removes_fields_named_in_connection) {
  EXPECT_EQ(client_head("HTTP/1.1 200 OK\r\nConnection: X-Internal\r\nX-Internal: 1\r\nServer: s\r\n"
                        "Content-Length: 0\r\n\r\n",
                        response_options(out_framing::length)),
            "HTTP/1.1 200 OK\r\nServer: s\r\nX-Request-ID: rid-1\r\nContent-Length: 0\r\n\r\n");
}

TEST(forward_response, replaces_the_upstream_request_id) {
  EXPECT_EQ(client_head("HTTP/1.1 200 OK\r\nX-Request-ID: upstream\r\nContent-Length: 0\r\n\r\n",
                        response_options(out_framing::length)),
            "HTTP/1.1 200 OK\r\nX-Request-ID: rid-1\r\nContent-Length: 0\r\n\r\n");
}

TEST(forward_response, writes_its_own_length_instead_of_the_upstream_one) {
  EXPECT_EQ(
      client_head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", response_options(out_framing::length, 7)),
      "HTTP/1.1 200 OK\r\nX-Request-ID: rid-1\r\nContent-Length: 7\r\n\r\n");
}

TEST(forward_response, chunked_from_a_length_response) {
  EXPECT_EQ(
      client_head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", response_options(out_framing::chunked)),
      "HTTP/1.1 200 OK\r\nX-Request-ID: rid-1\r\nTransfer-Encoding: chunked\r\n\r\n");
}

TEST(forward_response, keep_length_for_head_keeps_the_upstream_content_length) {
  EXPECT_EQ(client_head("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nETag: \"x\"\r\n\r\n",
                        response_options(out_framing::keep_length), true),
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nETag: \"x\"\r\nX-Request-ID: rid-1\r\n\r\n");
}

TEST(forward_response, keep_length_for_304_keeps_the_upstream_content_length) {
  EXPECT_EQ(client_head("HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n",
                        response_options(out_framing::keep_length)),
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\nX-Request-ID: rid-1\r\n\r\n");
}

TEST(forward_response, no_framing_drops_content_length) {
  EXPECT_EQ(client_head("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
                        response_options(out_framing::none)),
            "HTTP/1.1 204 No Content\r\nX-Request-ID: rid-1\r\n\r\n");
}

TEST(forward_response, close_framing_writes_no_length) {
  auto o = response_options(out_framing::close);
  o.close = true;
  EXPECT_EQ(client_head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", o),
            "HTTP/1.1 200 OK\r\nX-Request-ID: rid-1\r\nConnection: close\r\n\r\n");
}

TEST(forward_response, close_adds_connection_close) {
  auto o = response_options(out_framing::length, 0);
  o.close = true;
  EXPECT_EQ(client_head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", o),
            "HTTP/1.1 200 OK\r\nX-Request-ID: rid-1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

TEST(forward_response, http10_keep_alive_adds_connection_keep_alive) {
  auto o = response_options(out_framing::length, 0);
  o.http10_keep_alive = true;
  EXPECT_EQ(client_head("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", o),
            "HTTP/1.1 200 OK\r\nX-Request-ID: rid-1\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
}

TEST(forward_response, upstream_connection_close_is_not_passed_on) {
  EXPECT_EQ(client_head("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                        response_options(out_framing::length)),
            "HTTP/1.1 200 OK\r\nX-Request-ID: rid-1\r\nContent-Length: 0\r\n\r\n");
}

TEST(forward_response, switching_protocols_keeps_upgrade_and_says_connection_upgrade) {
  EXPECT_EQ(client_head("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Accept: abc\r\n\r\n",
                        response_options(out_framing::none)),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: abc\r\n"
            "X-Request-ID: rid-1\r\nConnection: upgrade\r\n\r\n");
}

TEST(forward_response, named_in_connection_ignores_case) {
  parsed res{message_kind::response,
             "HTTP/1.1 200 OK\r\nConnection: X-Internal, close\r\nContent-Length: 0\r\n\r\n"};
  EXPECT_TRUE(named_in_connection(res.head(), "x-internal"));
  EXPECT_TRUE(named_in_connection(res.head(), "X-INTERNAL"));
  EXPECT_FALSE(named_in_connection(res.head(), "close"));
  EXPECT_FALSE(named_in_connection(res.head(), "X-Intern"));
}

} // namespace
