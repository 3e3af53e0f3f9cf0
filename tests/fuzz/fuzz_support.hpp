#pragma once
// What the libFuzzer targets of ika::http::parser share (request_parser_fuzz,
// response_parser_fuzz): reading the input the way a connection does, in
// pieces, with the bytes not received yet poisoned for ASan; the checks that
// hold in both directions (field syntax, framing headers, body output,
// re-chunked output, an independent strict reading of chunk framing); and a
// `drive` loop that calls parse / finish / reset as a connection would, with a
// `handler` for what each direction checks and decides.
//
// Input layout (both targets): byte 0 chooses how the rest is split into
// reads (low two bits: the mode, upper six bits: its parameter; bit 7 also
// means "forward a chunked body de-chunked"), bytes 1.. are what the peer
// sends. Each target is one translation unit; it defines `target_name`.

#include "runtime/http/chars.hpp"
#include "runtime/http/parser.hpp"

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

namespace ika::fuzz {

/// The target's name, for messages ("request_parser_fuzz").
extern const char target_name[];

/// Marks `n` bytes at `p` as received (readable) or not yet (poisoned for
/// ASan, so that the parser reading them is reported at once).
inline void set_received(const char* p, std::size_t n, bool received) {
#ifdef IKA_FUZZ_ASAN
  if (received)
    ASAN_UNPOISON_MEMORY_REGION(p, n);
  else
    ASAN_POISON_MEMORY_REGION(p, n);
#else
  (void)p, (void)n, (void)received;
#endif
}

/// A broken promise of the parser: print what and abort, so that libFuzzer
/// keeps the input as a crash.
[[noreturn]] inline void violated(const char* what) {
  std::fprintf(stderr, "%s: contract violated: %s\n", target_name, what);
  std::abort();
}

/// IKA_FUZZ_TRACE=1 prints the events of each input (for triaging seeds and
/// crashes: `IKA_FUZZ_TRACE=1 build/fuzz/request_parser_fuzz FILE...`).
inline const bool trace = std::getenv("IKA_FUZZ_TRACE") != nullptr;

/// Reads every byte of a view (ASan checks each one is live and received).
inline volatile unsigned sink;
inline void touch(std::string_view s) {
  unsigned h = 0;
  for (char c : s)
    h = h * 31 + static_cast<unsigned char>(c);
  sink = sink + h;
}

/// Yields the size of each successive read for the chosen split mode.
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

/// Consumes the body pieces produced so far (they go to the next hop); keeps
/// a copy of them in `out` when given.
inline std::uint64_t drain(http::parser& p, std::string* out = nullptr) {
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

/// The re-framed chunked body must parse back, as the next hop will parse
/// it (a request for the upstream, a response for the client), to exactly
/// the body that came in.
inline void check_reframed(http::message_kind kind, const std::string& body, std::uint64_t expected_bytes) {
  std::string msg = kind == http::message_kind::request
                        ? "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                        : "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  msg += body;
  http::parser q{kind};
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

/// An independent, strict reading of the chunk framing (RFC 9112 §7.1) of
/// the raw body bytes the parser accepted: every chunk's data is followed by
/// exactly CRLF, and no line of the framing (chunk-size lines, trailer lines)
/// holds a CR that is not followed by LF. A bare LF is tolerated as a line end
/// (RFC 9112 §2.2); extensions and trailer fields are left to llhttp and the
/// wrapper. Returns nullptr if the framing is sound.
inline const char* strict_chunk_framing(std::string_view raw) {
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

/// Framing header fields of an accepted head.
struct field_counts {
  int content_lengths = 0;
  int transfer_encodings = 0;
};

/// Checks what the parser promises about the header fields of any head it
/// accepted: names are tokens with the right id, values have no CTLs, a
/// Transfer-Encoding is a lone "chunked", not both Transfer-Encoding and
/// Content-Length, and chunked framing comes from exactly one
/// Transfer-Encoding.
inline field_counts check_fields(const http::message_head& h) {
  field_counts n;
  for (const auto& f : h.headers) {
    if (!http::is_token(f.name))
      violated("accepted an invalid header field name");
    for (char c : f.value)
      if (!http::is_field_vchar(c))
        violated("accepted a CTL in a header field value");
    if (f.id != http::lookup_header(f.name))
      violated("header id does not match its name");
    if (f.id == http::header_id::transfer_encoding && !http::iequals(http::trim_ows(f.value), "chunked"))
      violated("accepted a transfer coding other than a lone chunked");
    n.content_lengths += f.id == http::header_id::content_length;
    n.transfer_encodings += f.id == http::header_id::transfer_encoding;
  }
  for (auto t : h.connection_tokens)
    touch(t);
  touch(h.upgrade_to);
  if (n.transfer_encodings > 0 && n.content_lengths > 0)
    violated("accepted both Transfer-Encoding and Content-Length");
  if (h.framing == http::body_framing::chunked && n.transfer_encodings != 1)
    violated("chunked framing without exactly one Transfer-Encoding");
  return n;
}

/// A Content-Length value as RFC 9110 §8.6 has it (1*DIGIT) that fits 64 bits.
inline bool content_length_of(std::string_view v, std::uint64_t& n) {
  n = 0;
  for (char c : v) {
    auto digit = std::uint64_t(c - '0');
    if (!http::is_digit(c) || n > (UINT64_MAX - digit) / 10)
      return false;
    n = n * 10 + digit;
  }
  return !v.empty();
}

/// Checks that the body is read the way the head's fields say (RFC 9112
/// §6.3): no body when the message has none whatever it says (`bodiless`: a
/// response to HEAD, 1xx, 204, 304); else chunked with Transfer-Encoding,
/// the Content-Length with one, and `otherwise` without either (none for a
/// request, until close for a response).
inline void check_framing(const http::message_head& h, field_counts n, bool bodiless,
                          http::body_framing otherwise) {
  auto expected = bodiless                   ? http::body_framing::none
                  : n.transfer_encodings > 0 ? http::body_framing::chunked
                  : n.content_lengths > 0    ? http::body_framing::length
                                             : otherwise;
  if (h.framing != expected) {
    if (bodiless)
      violated("body framing on a message without a body (response to HEAD, 1xx, 204, 304)");
    if (n.transfer_encodings > 0)
      violated("Transfer-Encoding accepted, but the body is not read as chunked");
    if (n.content_lengths > 0)
      violated("Content-Length accepted, but the body is not read by length");
    violated("body framing without Content-Length or Transfer-Encoding");
  }
  if (h.framing != http::body_framing::length)
    return;
  for (const auto& f : h.headers) {
    std::uint64_t length = 0;
    if (f.id == http::header_id::content_length &&
        (!content_length_of(f.value, length) || length != h.content_length))
      violated("content_length differs from the Content-Length field");
  }
}

/// What one direction checks and decides while `drive` feeds the parser.
class handler {
public:
  /// Before the first message and after each reset (set_skip_body, ...).
  virtual void prepare(http::parser&) {}
  /// The head is complete: check it (and do what the proxy does with it).
  virtual void on_head(const http::message_head& h) = 0;
  /// The message is complete and its body passed the shared checks
  /// (`forwarded`: body bytes output). True: read the next message on the
  /// same connection (the driver resets the parser and calls `prepare`).
  virtual bool on_complete(const http::parser& p, std::uint64_t forwarded) = 0;
  /// The input ended and `finish()` returned `ev` (the body checks of a
  /// message it completed come next).
  virtual void on_finish(const http::parser& p, http::parse_event ev) = 0;
  /// The parser refused the input.
  virtual void on_error(const http::parse_error& e) = 0;

protected:
  ~handler() = default;
};

/// Feeds the input `data[1..size)` to a parser of `kind` in the reads the
/// selector `data[0]` chooses, as a connection does: more bytes only after
/// need_more, parse() again after the other events, finish() when the input
/// ends, reset() between messages. Checks on the way what holds for both
/// directions.
inline void drive(const std::uint8_t* data, std::size_t size, http::message_kind kind, handler& on) {
  if (size < 1)
    return;
  // Scaled-down limits so that inputs of a few KiB reach the size refusals
  // (431 and 414 for a request, 502 for a response; the production defaults
  // are 16 KiB, 8 KiB and 100 headers).
  http::parser_limits limits;
  limits.max_head_bytes = 2048;
  limits.max_uri_bytes = 512;
  limits.max_headers = 24;
  http::parser p{kind, limits};
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
  set_received(buf, n, false);

  std::size_t received = 0; // bytes the "socket" has delivered
  std::size_t pos = 0;      // bytes the parser has consumed
  std::uint64_t body_out = 0;
  std::size_t body_start = 0; // where the current message's body begins in buf
  bool out_chunked = false;
  std::string reframed; // chunked output of the current message
  // Every parse() call consumes input or reports an event that changes the
  // state; allow generous slack before calling it a livelock.
  std::size_t budget = 8 * n + 64;

  // The body checks of a complete message.
  auto check_body = [&] {
    const auto& h = p.head();
    if (h.framing == http::body_framing::chunked) {
      if (const char* why = strict_chunk_framing(std::string_view{buf + body_start, pos - body_start})) {
        if (trace)
          std::fprintf(stderr, "  chunked body accepted with bad framing: %s\n", why);
        violated("accepted a chunked body with malformed framing (see the trace)");
      }
    }
    if (out_chunked)
      check_reframed(kind, reframed, p.body_bytes());
    else if (body_out != p.body_bytes())
      violated("raw body output differs from the body bytes received");
    if (h.framing == http::body_framing::length && p.body_bytes() != h.content_length)
      violated("body length differs from Content-Length");
  };

  on.prepare(p);
  bool done = false;
  // A connection reads more only after need_more; after the other events it
  // calls parse() again on what it has (possibly nothing).
  bool need_input = true;
  while (!done) {
    if (need_input) {
      if (received == n) {
        // The peer closed: the proxy calls finish().
        auto ev = p.finish();
        if (trace)
          std::fprintf(stderr, "  closed: finish() -> %d%s%.*s\n", int(ev),
                       ev == http::parse_event::error ? " " : "", int(p.error().reason.size()),
                       p.error().reason.data());
        if (ev == http::parse_event::complete && !p.message_complete())
          violated("finish() reported complete for an incomplete message");
        body_out += drain(p, out_chunked ? &reframed : nullptr);
        on.on_finish(p, ev);
        if (ev == http::parse_event::complete)
          check_body();
        break;
      }
      std::size_t k = split.next(n - received);
      set_received(buf + received, k, true);
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
        on.on_head(h);
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
        body_out += drain(p, out_chunked ? &reframed : nullptr);
        if (trace)
          std::fprintf(stderr, "  complete: body %llu bytes, %llu forwarded (%s)\n",
                       static_cast<unsigned long long>(p.body_bytes()),
                       static_cast<unsigned long long>(body_out), out_chunked ? "chunked" : "raw");
        check_body();
        if (!on.on_complete(p, body_out)) {
          done = true;
          break;
        }
        p.reset(); // the next message starts at pos
        on.prepare(p);
        body_out = 0;
        out_chunked = false;
        reframed.clear();
        break;
      }
      case http::parse_event::error: {
        const auto& e = p.error();
        touch(e.reason);
        if (trace)
          std::fprintf(stderr, "  error: %d %.*s (at byte %zu of %zu)\n", e.status, int(e.reason.size()),
                       e.reason.data(), pos, n);
        on.on_error(e);
        done = true;
        break;
      }
    }
  }
  set_received(buf, n, true); // as the allocator left it
}

} // namespace ika::fuzz
