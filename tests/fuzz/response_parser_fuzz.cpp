// libFuzzer target for the response side of the HTTP parser: the bytes an
// upstream sends back go through ika::http::parser (message_kind::response)
// the way client_session reads them: in pieces, interim 1xx responses (reset,
// and the next head) before the final one, set_skip_body for a HEAD request,
// finish() when the upstream closes (which completes only a body delimited by
// close), and the next response on a kept-alive connection. Every accepted
// head and message is checked against what the parser promises, so that a
// response whose framing is bad is refused (a 502), never forwarded
// ambiguously.
//
// Input layout: byte 0 chooses how the rest is split into reads (low two bits:
// the mode, upper six bits: its parameter) and two flags: bit 5 set, the
// request was HEAD; bit 7 set, a chunked body is forwarded de-chunked instead
// of re-chunked. Bytes 1.. are what the upstream sends. Printable selectors
// for seeds: '@' whole input, 'A' byte by byte, 'B' reads of 17 bytes, 'C'
// reads of pseudo-random sizes (1..32); the lower-case '`', 'a', 'b', 'c' are
// the same for a response to HEAD.
//
// Build and run: FUZZ_TARGET=response tests/fuzz/run (see tests/fuzz/README.md).

#include "tests/fuzz/fuzz_support.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

const char ika::fuzz::target_name[] = "response_parser_fuzz";

namespace {

using namespace ika;
using namespace ika::fuzz;

class response_handler final : public handler {
public:
  explicit response_handler(bool head_request) : head_request_(head_request) {}

  void prepare(http::parser& p) override { p.set_skip_body(head_request_); }

  void on_head(const http::message_head& h) override {
    if (trace)
      std::fprintf(stderr, "  head: HTTP/%d.%d %d '%.*s' framing %d length %llu keep-alive %d upgrade %d\n",
                   int(h.version_major), int(h.version_minor), h.status, int(h.reason.size()),
                   h.reason.data(), int(h.framing), static_cast<unsigned long long>(h.content_length),
                   int(h.keep_alive), int(h.upgrade));
    if (h.version_major != 1 || h.version_minor > 1)
      violated("accepted a version other than HTTP/1.0 or 1.1");
    if (h.status < 100 || h.status > 599)
      violated("accepted a status code outside 100-599");
    for (char c : h.reason)
      if (!http::is_field_vchar(c))
        violated("accepted a CTL in the reason phrase");
    touch(h.reason);
    auto n = check_fields(h);
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty
    // framing (the request side refuses it too).
    if (n.transfer_encodings > 0 && h.is_http10())
      violated("accepted an HTTP/1.0 response with Transfer-Encoding");
    // RFC 9112 §6.3: no body after HEAD, for 1xx, 204 and 304; without
    // Transfer-Encoding or Content-Length the body runs until close.
    bool bodiless = head_request_ || h.status < 200 || h.status == 204 || h.status == 304;
    check_framing(h, n, bodiless, http::body_framing::until_close);

    bool close = false, keep_alive = false;
    for (const auto& f : h.headers)
      if (f.id == http::header_id::connection)
        http::for_each_list_element(f.value, [&](std::string_view t) {
          close |= http::iequals(t, "close");
          keep_alive |= http::iequals(t, "keep-alive");
        });
    if (h.framing == http::body_framing::until_close && h.keep_alive)
      violated("a body delimited by close on a kept-alive connection");
    if (close && h.keep_alive)
      violated("kept alive despite Connection: close");
    if (h.is_http10() && !keep_alive && h.keep_alive)
      violated("an HTTP/1.0 response kept alive without Connection: keep-alive");
    if (h.upgrade != (h.status == 101))
      violated("upgrade without 101, or 101 without upgrade");
  }

  bool on_complete(const http::parser& p, std::uint64_t forwarded) override {
    const auto& h = p.head();
    if (h.framing == http::body_framing::none && (p.body_bytes() != 0 || forwarded != 0))
      violated("body bytes forwarded for a response without a body");
    if (h.status == 101)
      return false; // the connection becomes a tunnel
    if (h.status < 200)
      return true; // interim: the final response follows
    // The next exchange on a pooled connection reads its response next.
    return h.keep_alive;
  }

  void on_finish(const http::parser& p, http::parse_event ev) override {
    if (ev == http::parse_event::complete &&
        (!p.head_complete() || p.head().framing != http::body_framing::until_close))
      violated("finish() completed a response that is not delimited by close");
  }

  void on_error(const http::parse_error& e) override {
    // client_session answers 502 for any of them; the parser says 502 too.
    if (e.status != 502 || e.reason.empty())
      violated("a response refused without 502 and a reason");
  }

private:
  bool head_request_;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1)
    return 0;
  response_handler on{(data[0] & 0x20) != 0};
  drive(data, size, http::message_kind::response, on);
  return 0;
}
