// libFuzzer target for the request-head parser path: the bytes a client sends
// go through ika::http::parser (message_kind::request) the way a connection
// reads them, in pieces; a completed head is checked against what the parser
// promises to have refused, and its host and target go through valid_host,
// has_dot_segment and route_table::match as the proxy does next.
//
// Input layout: byte 0 chooses how the rest is split into reads (low two bits:
// the mode, upper six bits: its parameter; bit 7 set: a chunked body is
// forwarded de-chunked), bytes 1.. are what the client sends. Printable
// selectors for seeds: '@' whole input, 'A' byte by byte, 'B' reads of 17
// bytes, 'C' reads of pseudo-random sizes (1..32).
//
// Bytes not yet "received" are poisoned for ASan, so the parser reading past
// what it was given, or a view outliving its bytes, is reported at once. The
// reading loop and the checks shared with response_parser_fuzz.cpp are in
// fuzz_support.hpp.
//
// Build and run: tests/fuzz/run (see tests/fuzz/README.md).

#include "runtime/proxy/route_table.hpp"
#include "tests/fuzz/fuzz_support.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

const char ika::fuzz::target_name[] = "request_parser_fuzz";

namespace {

using namespace ika;
using namespace ika::fuzz;

// The routes a small node could have: exact hosts with exact and prefix
// paths, wildcards of two depths, an IPv6 literal, and a catch-all.
const proxy::route_table& routes() {
  static const proxy::route_table table = [] {
    std::vector<protocol::route_spec> specs;
    auto add = [&](const char* host, const char* path) {
      protocol::route_spec s;
      s.host = host;
      s.path = path;
      s.upstreams = {"127.0.0.1:9000", "[::1]:9001"};
      specs.push_back(s);
    };
    add("example.com", "/");
    add("example.com", "/api/*");
    add("example.com", "/api/v1/*");
    add("example.com", "/up");
    add("*.example.com", "/*");
    add("*.a.example.com", "/static/*");
    add("[::1]", "/*");
    add("127.0.0.1", "/*");
    add("*", "/health");
    proxy::route_table t;
    auto err = proxy::route_table::compile(specs, t);
    if (!err.empty()) {
      std::fprintf(stderr, "request_parser_fuzz: route table: %s\n", err.c_str());
      std::abort();
    }
    return t;
  }();
  return table;
}

// What the proxy does with a request the parser accepted, plus checks of
// what the parser promises about it.
class request_handler final : public handler {
public:
  void on_head(const http::message_head& h) override {
    if (trace)
      std::fprintf(stderr, "  head: %.*s %.*s host '%.*s' framing %d length %llu keep-alive %d upgrade %d\n",
                   int(h.method.size()), h.method.data(), int(h.target.size()), h.target.data(),
                   int(h.host.size()), h.host.data(), int(h.framing),
                   static_cast<unsigned long long>(h.content_length), int(h.keep_alive), int(h.upgrade));
    if (h.version_major != 1 || h.version_minor > 1)
      violated("accepted a version other than HTTP/1.0 or 1.1");
    if (!h.host.empty() && !http::valid_host(h.host))
      violated("accepted a host that valid_host refuses");
    if (h.host.empty() && !h.is_http10())
      violated("accepted an HTTP/1.1 request without a host");
    if (h.target.empty())
      violated("accepted an empty target");
    if (http::has_dot_segment(h.target))
      violated("accepted a target with a dot-segment");
    // The target is forwarded verbatim in the upstream's request line: no
    // whitespace (a TAB would split it for a whitespace-tolerant upstream) and
    // no control bytes (RFC 9112 §3.2).
    for (char c : h.target) {
      auto u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u == 0x7f)
        violated("accepted a request target with whitespace or a control byte");
    }
    touch(h.method);
    touch(h.target);
    check_framing(h, check_fields(h), false, http::body_framing::none);
    if (h.framing == http::body_framing::until_close)
      violated("a request body delimited by close");

    // Routing: host lower-cased without port, path without query.
    auto host = http::host_without_port(h.host);
    char lower[256];
    if (host.size() > sizeof lower)
      violated("a validated host longer than 255 bytes");
    for (std::size_t i = 0; i < host.size(); ++i)
      lower[i] = http::to_lower(host[i]);
    auto path = h.target.substr(0, h.target.find('?'));
    if (const auto* r = routes().match(std::string_view{lower, host.size()}, path)) {
      if (r->upstreams.empty() || !r->matches_path(path))
        violated("route_table::match returned a route that does not match");
    }
  }

  bool on_complete(const http::parser& p, std::uint64_t) override {
    const auto& h = p.head();
    if (h.framing == http::body_framing::none && p.body_bytes() != 0)
      violated("a body on a request without framing");
    // Pipelined: the next request follows, unless the connection closes or
    // becomes a tunnel.
    return h.keep_alive && !h.upgrade;
  }

  void on_finish(const http::parser& p, http::parse_event ev) override {
    // Only a message that needs no more bytes may complete at close.
    auto f = p.head().framing;
    if (ev == http::parse_event::complete &&
        (f == http::body_framing::chunked || f == http::body_framing::length))
      violated("finish() completed a request whose body has a length");
  }

  void on_error(const http::parse_error& e) override {
    if (e.status < 400 || e.status > 599 || e.reason.empty())
      violated("error without a 4xx/5xx status and a reason");
  }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1)
    return 0;
  request_handler on;
  drive(data, size, http::message_kind::request, on);

  // Whatever the head looked like, the helpers must cope with raw bytes too.
  std::string_view all{reinterpret_cast<const char*>(data + 1), size - 1};
  (void)http::valid_host(all.substr(0, 300));
  (void)http::has_dot_segment(all);
  (void)http::host_without_port(all);
  return 0;
}
