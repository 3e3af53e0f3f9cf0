// libFuzzer target for the request-head parser path: the bytes a client sends
// go through ika::http::parser (message_kind::request) the way a connection
// reads them, in pieces; a completed head is checked against what the parser
// promises to have refused, and its host and target go through valid_host,
// has_dot_segment and route_table::match as the proxy does next.
//
// Input layout: byte 0 chooses how the rest is split into reads (low two bits:
// the mode, upper six bits: its parameter), bytes 1.. are what the client
// sends. Printable selectors for seeds: '@' whole input, 'A' byte by byte,
// 'B' reads of 17 bytes, 'C' reads of pseudo-random sizes (1..32).
//
// Bytes not yet "received" are poisoned for ASan, so the parser reading past
// what it was given, or a view outliving its bytes, is reported at once.
//
// Build and run: tests/fuzz/run (see tests/fuzz/README.md).

#include "runtime/http/chars.hpp"
#include "runtime/http/parser.hpp"
#include "runtime/proxy/route_table.hpp"

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define IKA_FUZZ_ASAN 1
#endif
#endif

namespace {

using namespace ika;

void poison(const char* p, std::size_t n) {
#ifdef IKA_FUZZ_ASAN
  ASAN_POISON_MEMORY_REGION(p, n);
#else
  (void)p, (void)n;
#endif
}

void unpoison(const char* p, std::size_t n) {
#ifdef IKA_FUZZ_ASAN
  ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
  (void)p, (void)n;
#endif
}

// A broken promise of the parser: print what and abort, so that libFuzzer
// keeps the input as a crash.
[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "request_parser_fuzz: contract violated: %s\n", what);
  std::abort();
}

// IKA_FUZZ_TRACE=1 prints the events of each input (for triaging seeds and
// crashes: `IKA_FUZZ_TRACE=1 build/fuzz/request_parser_fuzz FILE...`).
const bool trace = std::getenv("IKA_FUZZ_TRACE") != nullptr;

// Reads every byte of a view (ASan checks each one is live and received).
volatile unsigned sink;
void touch(std::string_view s) {
  unsigned h = 0;
  for (char c : s)
    h = h * 31 + static_cast<unsigned char>(c);
  sink = sink + h;
}

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

// What the proxy does with a head the parser accepted, plus checks of what
// the parser promises about it.
void on_head(const http::message_head& h) {
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
  touch(h.upgrade_to);
  int content_lengths = 0, transfer_encodings = 0;
  for (const auto& f : h.headers) {
    if (!http::is_token(f.name))
      violated("accepted an invalid header field name");
    for (char c : f.value)
      if (!http::is_field_vchar(c))
        violated("accepted a CTL in a header field value");
    if (f.id != http::lookup_header(f.name))
      violated("header id does not match its name");
    content_lengths += f.id == http::header_id::content_length;
    transfer_encodings += f.id == http::header_id::transfer_encoding;
  }
  for (auto t : h.connection_tokens)
    touch(t);
  if (transfer_encodings > 0 && content_lengths > 0)
    violated("accepted both Transfer-Encoding and Content-Length");
  if (h.framing == http::body_framing::until_close)
    violated("a request body delimited by close");
  if (h.framing == http::body_framing::chunked && transfer_encodings != 1)
    violated("chunked framing without exactly one Transfer-Encoding");

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

// Consumes the body pieces produced so far (they go to the upstream); keeps
// a copy of them in `out` when given.
std::uint64_t drain(http::parser& p, std::string* out = nullptr) {
  std::uint64_t n = 0;
  for (auto piece : p.pieces()) {
    touch(std::string_view{piece.data, piece.size});
    if (out != nullptr)
      out->append(piece.data, piece.size);
    n += piece.size;
  }
  p.clear_pieces();
  return n;
}

// The re-framed chunked body must parse back, as the next hop will parse it,
// to exactly the body that came in.
void check_reframed(const std::string& body, std::uint64_t expected_bytes) {
  std::string msg = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  msg += body;
  http::parser q{http::message_kind::request};
  std::size_t pos = 0;
  for (int i = 0; i < 100000; ++i) {
    auto r = q.parse(msg.data() + pos, msg.size() - pos);
    pos += r.consumed;
    q.clear_pieces();
    if (r.event == http::parse_event::complete) {
      if (pos != msg.size())
        violated("re-framed chunked body has bytes after its end");
      if (q.body_bytes() != expected_bytes)
        violated("re-framed chunked body has a different length");
      return;
    }
    if (r.event == http::parse_event::error)
      violated("re-framed chunked body does not parse");
    if (r.event == http::parse_event::need_more)
      violated("re-framed chunked body is incomplete");
  }
  violated("re-framed chunked body: no progress");
}

// An independent, strict reading of the chunk framing (RFC 9112 §7.1) of
// the raw body bytes the parser accepted: every chunk's data is followed by
// exactly CRLF, and no line of the framing (chunk-size lines, trailer lines)
// holds a CR that is not followed by LF. A bare LF is tolerated as a line end
// (RFC 9112 §2.2); extensions and trailer fields are left to llhttp and the
// wrapper. Returns nullptr if the framing is sound.
const char* strict_chunk_framing(std::string_view raw) {
  std::size_t i = 0;
  // Skips to just after the LF ending the line at i; refuses a bare CR.
  auto end_of_line = [&]() -> const char* {
    for (; i < raw.size(); ++i) {
      if (raw[i] == '\n') {
        ++i;
        return nullptr;
      }
      if (raw[i] == '\r' && (i + 1 == raw.size() || raw[i + 1] != '\n'))
        return "bare CR in a chunk-size or trailer line";
    }
    return "framing line without LF";
  };
  for (;;) {
    std::uint64_t size = 0;
    std::size_t digits = 0;
    while (i < raw.size() && std::isxdigit(static_cast<unsigned char>(raw[i]))) {
      if (size >> 56)
        return "chunk size overflows";
      char c = raw[i++];
      size = size * 16 + std::uint64_t(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
      ++digits;
    }
    if (digits == 0)
      return "chunk size without hex digits";
    if (const char* bad = end_of_line())
      return bad;
    if (size == 0)
      break;
    if (raw.size() - i < size + 2)
      return "chunk data cut short";
    i += size;
    if (raw[i] != '\r' || raw[i + 1] != '\n')
      return "chunk data not followed by CRLF";
    i += 2;
  }
  // Trailer section: field lines, then an empty line that ends the message.
  for (;;) {
    if (i >= raw.size())
      return "trailer section without its final empty line";
    bool empty = raw[i] == '\n' || (raw[i] == '\r' && i + 1 < raw.size() && raw[i + 1] == '\n');
    if (const char* bad = end_of_line())
      return bad;
    if (empty)
      break;
  }
  return i == raw.size() ? nullptr : "bytes after the chunked body's end";
}

// Yields the size of each successive read for the chosen split mode.
struct splitter {
  std::uint8_t mode;
  std::uint8_t param;
  std::uint32_t state;

  explicit splitter(std::uint8_t selector)
      : mode(selector & 3), param(selector >> 2), state(0x9e3779b9u ^ selector) {}

  std::size_t next(std::size_t left) {
    std::size_t n = left;
    switch (mode) {
      case 0: // everything at once
        break;
      case 1: // byte by byte
        n = 1;
        break;
      case 2: // fixed reads of 1..64 bytes
        n = std::size_t{param} + 1;
        break;
      default: // reads of 1..32 bytes from a small LCG
        state = state * 1664525u + 1013904223u;
        n = ((state >> 16) & 31) + 1;
        break;
    }
    return n < left ? n : left;
  }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1)
    return 0;
  splitter split{data[0]};
  // A chunked body is forwarded re-chunked, or de-chunked (raw) when the
  // selector's top bit is set.
  const bool dechunk = (data[0] & 0x80) != 0;
  const std::size_t n = size - 1;

  // An exact-size copy so that ASan sees reads past the end, with the bytes
  // not received yet poisoned.
  std::unique_ptr<char[]> owned{new char[n == 0 ? 1 : n]};
  char* buf = owned.get();
  std::memcpy(buf, data + 1, n);
  poison(buf, n);

  // Scaled-down limits so that inputs of a few KiB reach the 431 and 414
  // paths (the production defaults are 16 KiB, 8 KiB and 100 headers).
  http::parser_limits limits;
  limits.max_head_bytes = 2048;
  limits.max_uri_bytes = 512;
  limits.max_headers = 24;
  http::parser p{http::message_kind::request, limits};

  std::size_t received = 0; // bytes the "socket" has delivered
  std::size_t pos = 0;      // bytes the parser has consumed
  std::uint64_t body_out = 0;
  std::size_t body_start = 0; // where the current message's body begins in buf
  bool out_chunked = false;
  std::string reframed; // chunked output of the current message
  bool done = false;
  // Every parse() call consumes input or reports an event that changes the
  // state; allow generous slack before calling it a livelock.
  std::size_t budget = 8 * n + 64;

  // A connection reads more only after need_more; after the other events it
  // calls parse() again on what it has (possibly nothing).
  bool need_input = true;
  while (!done) {
    if (need_input) {
      if (received == n) {
        // The client closed: the proxy calls finish().
        auto ev = p.finish();
        if (trace)
          std::fprintf(stderr, "  closed: finish() -> %d%s%.*s\n", int(ev),
                       ev == http::parse_event::error ? " " : "", int(p.error().reason.size()),
                       p.error().reason.data());
        if (ev == http::parse_event::complete && !p.message_complete())
          violated("finish() reported complete for an incomplete message");
        drain(p);
        if (ev == http::parse_event::complete) {
          // Only a message that needs no more bytes may complete at close.
          const auto& h = p.head();
          if (h.framing == http::body_framing::chunked || h.framing == http::body_framing::length)
            violated("finish() completed a request whose body has a length");
        }
        break;
      }
      std::size_t k = split.next(n - received);
      unpoison(buf + received, k);
      received += k;
      need_input = false;
    }
    if (budget-- == 0)
      violated("parse() makes no progress");
    auto r = p.parse(buf + pos, received - pos);
    if (r.consumed > received - pos)
      violated("consumed more than it was given");
    pos += r.consumed;
    switch (r.event) {
      case http::parse_event::need_more:
        if (pos != received)
          violated("need_more without consuming all input");
        body_out += drain(p, out_chunked ? &reframed : nullptr);
        need_input = true;
        break;
      case http::parse_event::head: {
        if (!p.head_complete())
          violated("head event before the head is complete");
        const auto& h = p.head();
        if (trace)
          std::fprintf(stderr,
                       "  head: %.*s %.*s host '%.*s' framing %d length %llu keep-alive %d upgrade %d\n",
                       int(h.method.size()), h.method.data(), int(h.target.size()), h.target.data(),
                       int(h.host.size()), h.host.data(), int(h.framing),
                       static_cast<unsigned long long>(h.content_length), int(h.keep_alive), int(h.upgrade));
        on_head(h);
        out_chunked = h.framing == http::body_framing::chunked && !dechunk;
        p.set_output_chunked(out_chunked);
        reframed.clear();
        body_start = pos;
        body_out = drain(p, out_chunked ? &reframed : nullptr);
        break;
      }
      case http::parse_event::body:
        body_out += drain(p, out_chunked ? &reframed : nullptr);
        break;
      case http::parse_event::complete: {
        if (!p.message_complete() || !p.head_complete())
          violated("complete event for an incomplete message");
        const auto& h = p.head();
        body_out += drain(p, out_chunked ? &reframed : nullptr);
        if (trace)
          std::fprintf(stderr, "  complete: body %llu bytes, %llu forwarded (%s)\n",
                       static_cast<unsigned long long>(p.body_bytes()),
                       static_cast<unsigned long long>(body_out), out_chunked ? "chunked" : "raw");
        if (h.framing == http::body_framing::chunked) {
          if (const char* why = strict_chunk_framing(std::string_view{buf + body_start, pos - body_start})) {
            if (trace)
              std::fprintf(stderr, "  chunked body accepted with bad framing: %s\n", why);
            violated("accepted a chunked body with malformed framing (see the trace)");
          }
        }
        if (out_chunked)
          check_reframed(reframed, p.body_bytes());
        else if (body_out != p.body_bytes())
          violated("raw body output differs from the body bytes received");
        if (h.framing == http::body_framing::length && p.body_bytes() != h.content_length)
          violated("body length differs from Content-Length");
        if (h.framing == http::body_framing::none && p.body_bytes() != 0)
          violated("a body on a request without framing");
        if (!h.keep_alive || h.upgrade) {
          done = true; // connection closes, or becomes a tunnel
          break;
        }
        p.reset(); // pipelined: the next request starts at pos
        body_out = 0;
        out_chunked = false;
        reframed.clear();
        break;
      }
      case http::parse_event::error: {
        const auto& e = p.error();
        if (e.status < 400 || e.status > 599 || e.reason.empty())
          violated("error without a 4xx/5xx status and a reason");
        touch(e.reason);
        if (trace)
          std::fprintf(stderr, "  error: %d %.*s (at byte %zu of %zu)\n", e.status, int(e.reason.size()),
                       e.reason.data(), pos, n);
        done = true;
        break;
      }
    }
  }

  // Whatever the head looked like, the helpers must cope with raw bytes too.
  unpoison(buf, n);
  std::string_view all{buf, n};
  (void)http::valid_host(all.substr(0, 300));
  (void)http::has_dot_segment(all);
  (void)http::host_without_port(all);
  return 0;
}
