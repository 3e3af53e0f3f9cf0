// Unit tests of runtime/http/parser: the llhttp wrapper both directions of the
// proxy use. Every input is fed the way a connection would see it: as one
// contiguous buffer handed out in growing pieces (whole, byte by byte, or cut
// at one position), with the caller consuming the body pieces after each
// call. Whatever the cuts, the result must be the same.

#include "runtime/http/parser.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace std::string_literals;
using ika::http::body_framing;
using ika::http::has_dot_segment;
using ika::http::header_id;
using ika::http::host_without_port;
using ika::http::message_kind;
using ika::http::parse_event;
using ika::http::parser;
using ika::http::parser_limits;
using ika::http::valid_host;

// --- the feeding harness -----------------------------------------------------

/// One message as the parser reported it, copied out of the input.
struct message {
  bool has_head = false;
  std::string method;
  std::string target;
  std::string host;
  int status = 0;
  std::string reason;
  int version_major = 0;
  int version_minor = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<header_id> header_ids;
  body_framing framing = body_framing::none;
  std::uint64_t content_length = 0;
  bool keep_alive = false;
  bool upgrade = false;
  bool expect_continue = false;
  std::string upgrade_to;
  std::vector<std::string> connection_tokens;
  int x_forwarded_for_count = 0;

  std::string body;             ///< the output pieces, concatenated
  std::uint64_t body_bytes = 0; ///< parser::body_bytes() at the end
  bool complete = false;
  int error_status = 0;
  std::string error_reason;
  std::size_t consumed = 0; ///< input bytes that belong to this message
};

struct feed_options {
  parser_limits limits{};
  bool skip_body = false;     ///< a response to HEAD
  bool out_chunked = false;   ///< re-frame the body as chunked
  bool finish_at_end = false; ///< the peer closes after the input
  bool pipeline = true;       ///< parse the bytes after a complete message
};

struct feed_result {
  std::vector<message> messages;
  std::size_t consumed = 0;          ///< input bytes consumed in total
  std::size_t max_piece_count = 0;   ///< most pieces seen after one call
  std::size_t bytes_from_input = 0;  ///< output bytes that are views into the input
  std::size_t bytes_from_parser = 0; ///< output bytes from the parser's own storage
};

void capture_head(message& m, const parser& p) {
  const auto& h = p.head();
  m.has_head = true;
  m.method = std::string{h.method};
  m.target = std::string{h.target};
  m.host = std::string{h.host};
  m.status = h.status;
  m.reason = std::string{h.reason};
  m.version_major = h.version_major;
  m.version_minor = h.version_minor;
  for (const auto& f : h.headers) {
    m.headers.emplace_back(std::string{f.name}, std::string{f.value});
    m.header_ids.push_back(f.id);
  }
  m.framing = h.framing;
  m.content_length = h.content_length;
  m.keep_alive = h.keep_alive;
  m.upgrade = h.upgrade;
  m.expect_continue = h.expect_continue;
  m.upgrade_to = std::string{h.upgrade_to};
  for (auto t : h.connection_tokens)
    m.connection_tokens.emplace_back(t);
  m.x_forwarded_for_count = h.x_forwarded_for_count;
}

/// Feeds `input` to a fresh parser. `cuts` are the (increasing) offsets at
/// which more input becomes available: {} is the whole input at once.
feed_result feed(message_kind kind, std::string_view input, const std::vector<std::size_t>& cuts,
                 const feed_options& o = {}) {
  parser p{kind, o.limits};
  auto prepare = [&] {
    p.set_skip_body(o.skip_body);
    p.set_output_chunked(o.out_chunked);
  };
  prepare();
  feed_result out;
  message cur;
  std::size_t begin = 0, avail = 0, next_cut = 0, msg_start = 0;
  auto grow = [&] { avail = next_cut < cuts.size() ? cuts[next_cut++] : input.size(); };
  auto take_pieces = [&] {
    auto pieces = p.pieces();
    out.max_piece_count = std::max(out.max_piece_count, pieces.size());
    std::size_t total = 0;
    for (const auto& piece : pieces) {
      cur.body.append(piece.data, piece.size);
      total += piece.size;
      bool inside = piece.data >= input.data() && piece.data + piece.size <= input.data() + input.size();
      (inside ? out.bytes_from_input : out.bytes_from_parser) += piece.size;
    }
    EXPECT_EQ(p.pieces_size(), total);
    p.clear_pieces();
  };
  auto end_message = [&] {
    cur.body_bytes = p.body_bytes();
    cur.consumed = begin - msg_start;
    if (p.error().status != 0) {
      cur.error_status = p.error().status;
      cur.error_reason = std::string{p.error().reason};
    }
    if (!cur.has_head && p.head_complete())
      capture_head(cur, p);
    out.messages.push_back(std::move(cur));
    cur = message{};
    msg_start = begin;
    out.consumed = begin;
  };
  grow();
  for (int guard = 0; guard < 10'000'000; ++guard) {
    if (begin < avail) {
      auto r = p.parse(input.data() + begin, avail - begin);
      EXPECT_LE(r.consumed, avail - begin);
      begin += r.consumed;
      take_pieces();
      if (r.event == parse_event::head)
        capture_head(cur, p);
      if (r.event == parse_event::error) {
        end_message();
        return out;
      }
      if (p.message_complete()) {
        cur.complete = true;
        end_message();
        if (!o.pipeline || begin == input.size())
          return out;
        p.reset();
        prepare();
        continue;
      }
      if (r.event == parse_event::head || r.event == parse_event::body)
        continue;
    }
    if (avail == input.size()) {
      if (o.finish_at_end) {
        auto ev = p.finish();
        take_pieces();
        cur.complete = ev == parse_event::complete;
      }
      end_message();
      return out;
    }
    grow();
  }
  ADD_FAILURE() << "the parser made no progress";
  return out;
}

std::vector<std::size_t> byte_by_byte(std::string_view input) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < input.size(); ++i)
    cuts.push_back(i);
  return cuts;
}

const char* framing_name(body_framing f) {
  switch (f) {
    case body_framing::none:
      return "none";
    case body_framing::length:
      return "length";
    case body_framing::chunked:
      return "chunked";
    case body_framing::until_close:
      return "until_close";
  }
  return "?";
}

/// Everything about a feed, for comparing two feeds of the same input.
std::string describe(const feed_result& r) {
  std::string s;
  for (const auto& m : r.messages) {
    s += "[message head=" + std::to_string(m.has_head) + " method=" + m.method + " target=" + m.target +
         " host=" + m.host + " status=" + std::to_string(m.status) + " reason=" + m.reason +
         " version=" + std::to_string(m.version_major) + "." + std::to_string(m.version_minor) +
         " framing=" + framing_name(m.framing) + " length=" + std::to_string(m.content_length) +
         " keep_alive=" + std::to_string(m.keep_alive) + " upgrade=" + std::to_string(m.upgrade) +
         " expect=" + std::to_string(m.expect_continue) + " upgrade_to=" + m.upgrade_to +
         " xff=" + std::to_string(m.x_forwarded_for_count) + " tokens=";
    for (const auto& t : m.connection_tokens)
      s += t + ",";
    s += " headers=";
    for (std::size_t i = 0; i < m.headers.size(); ++i)
      s += m.headers[i].first + ":" + m.headers[i].second + "#" +
           std::to_string(static_cast<int>(m.header_ids[i])) + "|";
    s += " body=" + m.body + " body_bytes=" + std::to_string(m.body_bytes) +
         " complete=" + std::to_string(m.complete) + " error=" + std::to_string(m.error_status) + " " +
         m.error_reason + " consumed=" + std::to_string(m.consumed) + "]\n";
  }
  s += "consumed=" + std::to_string(r.consumed);
  return s;
}

/// The one message of a feed of the whole input.
message parse_one(message_kind kind, std::string_view input, feed_options o = {}) {
  o.pipeline = false;
  auto r = feed(kind, input, {}, o);
  EXPECT_EQ(r.messages.size(), 1u);
  return r.messages.empty() ? message{} : r.messages.front();
}

message request(std::string_view input, feed_options o = {}) {
  return parse_one(message_kind::request, input, o);
}

message response(std::string_view input, feed_options o = {}) {
  return parse_one(message_kind::response, input, o);
}

/// The status a request is refused with (0: accepted).
int request_status(std::string_view input, feed_options o = {}) {
  return request(input, o).error_status;
}

std::string get_with(std::string_view extra_headers) {
  return "GET / HTTP/1.1\r\nHost: example.com\r\n" + std::string{extra_headers} + "\r\n";
}

std::string get_target(std::string_view target) {
  return "GET " + std::string{target} + " HTTP/1.1\r\nHost: example.com\r\n\r\n";
}

std::string get_host(std::string_view host) {
  return "GET / HTTP/1.1\r\nHost: " + std::string{host} + "\r\n\r\n";
}

std::string repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += s;
  return out;
}

// --- the same result however the input is cut ---------------------------------

struct sample {
  const char* name;
  message_kind kind;
  std::string input;
  feed_options options;
};

feed_options chunked_out() {
  feed_options o;
  o.out_chunked = true;
  return o;
}

feed_options skip_body() {
  feed_options o;
  o.skip_body = true;
  return o;
}

feed_options finish_at_end() {
  feed_options o;
  o.finish_at_end = true;
  return o;
}

feed_options no_pipeline() {
  feed_options o;
  o.pipeline = false;
  return o;
}

std::vector<sample> samples() {
  return {
      {"get",
       message_kind::request,
       "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\nX-Forwarded-For: "
       "10.0.0.1\r\n\r\n",
       {}},
      {"post_with_length",
       message_kind::request,
       "POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\n\r\nhello world",
       {}},
      {"chunked_request_chunked_out", message_kind::request,
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
       "005;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Checksum: abc\r\nContent-Length: 1\r\n\r\n",
       chunked_out()},
      {"chunked_request_raw_out",
       message_kind::request,
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n",
       {}},
      {"pipelined_requests", message_kind::request,
       "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
       "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
       "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
       "GET /d HTTP/1.0\r\n\r\n",
       chunked_out()},
      {"many_tiny_chunks", message_kind::request,
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + repeat("1\r\nx\r\n", 150) +
           "0\r\n\r\n",
       chunked_out()},
      {"upgrade_with_frames_after", message_kind::request,
       "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"s,
       no_pipeline()},
      {"response_with_length",
       message_kind::response,
       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
       {}},
      {"response_chunked", message_kind::response,
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3;x=y\r\ndef\r\n0\r\nX-T: 1\r\n\r\n",
       chunked_out()},
      {"response_until_close", message_kind::response,
       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nabcdef", finish_at_end()},
      {"response_to_head", message_kind::response,
       "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 7\r\n\r\n",
       skip_body()},
      {"interim_then_final_response",
       message_kind::response,
       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
       {}},
  };
}

void PrintTo(const sample& s, std::ostream* os) {
  *os << s.name;
}

class parser_split : public testing::TestWithParam<sample> {};

TEST_P(parser_split, byte_by_byte_gives_the_same_result_as_whole) {
  const auto& s = GetParam();
  auto whole = feed(s.kind, s.input, {}, s.options);
  auto bytes = feed(s.kind, s.input, byte_by_byte(s.input), s.options);
  EXPECT_EQ(describe(whole), describe(bytes));
}

TEST_P(parser_split, a_cut_at_any_position_gives_the_same_result_as_whole) {
  const auto& s = GetParam();
  auto whole = feed(s.kind, s.input, {}, s.options);
  for (std::size_t cut = 1; cut < s.input.size(); ++cut) {
    auto split = feed(s.kind, s.input, {cut}, s.options);
    ASSERT_EQ(describe(whole), describe(split)) << "cut at " << cut;
  }
}

TEST_P(parser_split, every_message_completes_without_error) {
  const auto& s = GetParam();
  auto whole = feed(s.kind, s.input, {}, s.options);
  ASSERT_FALSE(whole.messages.empty());
  for (const auto& m : whole.messages) {
    EXPECT_TRUE(m.complete);
    EXPECT_EQ(m.error_status, 0) << m.error_reason;
  }
}

INSTANTIATE_TEST_SUITE_P(samples, parser_split, testing::ValuesIn(samples()),
                         [](const testing::TestParamInfo<sample>& i) { return std::string{i.param.name}; });

// --- rejections: the status, whatever the cuts ----------------------------------

struct rejection {
  const char* name;
  message_kind kind;
  std::string input;
  int status;
  feed_options options{};
};

feed_options limits(std::size_t head, std::size_t uri, std::size_t headers) {
  feed_options o;
  o.limits = parser_limits{head, uri, headers};
  return o;
}

std::string post_chunked(std::string_view body) {
  return "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string{body};
}

std::vector<rejection> rejections() {
  auto rq = message_kind::request;
  auto rs = message_kind::response;
  return {
      // Header syntax.
      {"obs_fold_space", rq, get_with("X-A: a\r\n b\r\n"), 400},
      {"obs_fold_tab", rq, get_with("X-A: a\r\n\tb\r\n"), 400},
      {"obs_fold_on_host", rq, "GET / HTTP/1.1\r\nHost: a\r\n .example.com\r\n\r\n", 400},
      {"whitespace_before_colon", rq, get_with("X-A : b\r\n"), 400},
      {"tab_before_colon", rq, get_with("X-A\t: b\r\n"), 400},
      {"whitespace_before_colon_in_host", rq, "GET / HTTP/1.1\r\nHost : example.com\r\n\r\n", 400},
      {"empty_header_name", rq, get_with(": b\r\n"), 400},
      {"separator_in_header_name", rq, get_with("X(A): b\r\n"), 400},
      // Names that begin like ones ika knows are checked all the same.
      {"separator_in_proxy_header_name", rq, get_with("Proxy-X(Y: b\r\n"), 400},
      {"space_in_proxy_header_name", rq, get_with("Proxy-A B: b\r\n"), 400},
      {"separator_after_a_known_name", rq, get_with("Host(: b\r\n"), 400},
      {"response_separator_in_header_name", rs, "HTTP/1.1 200 OK\r\nX(A): b\r\nContent-Length: 0\r\n\r\n",
       502},
      {"nul_in_value", rq, get_with("X-A: a\0b\r\n"s), 400},
      {"ctl_in_value", rq, get_with("X-A: a\x01z\r\n"), 400},
      {"escape_in_value", rq, get_with("X-A: a\x1bz\r\n"), 400},
      {"del_in_value", rq, get_with("X-A: a\x7fz\r\n"), 400},
      {"bare_cr_in_value", rq, get_with("X-A: a\rb\r\n"), 400},
      {"bare_cr_after_request_line", rq, "GET / HTTP/1.1\rHost: example.com\r\n\r\n", 400},
      {"bare_cr_ending_a_header", rq, get_with("X-A: b\r"), 400},
      {"bare_lf_line_endings", rq, "GET / HTTP/1.1\nHost: example.com\n\n", 400},
      {"bare_lf_ending_a_header", rq, get_with("X-A: b\nX-B: c\r\n"), 400},
      {"bare_lf_after_chunk_size", rq, post_chunked("5\nhello\r\n0\r\n\r\n"), 400},
      {"bare_lf_after_chunk_data", rq, post_chunked("5\r\nhello\n0\r\n\r\n"), 400},
      // Content-Length and Transfer-Encoding.
      {"content_length_and_chunked", rq,
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"chunked_and_content_length", rq,
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400},
      {"duplicate_content_length", rq,
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400},
      {"conflicting_content_length", rq,
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400},
      {"content_length_list", rq, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello", 400},
      {"negative_content_length", rq, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
      {"signed_content_length", rq, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello", 400},
      {"hex_content_length", rq, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\nhello", 400},
      {"content_length_with_letters", rq, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5a\r\n\r\nhello",
       400},
      {"empty_content_length", rq, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n", 400},
      {"content_length_overflow", rq,
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
      {"transfer_encoding_gzip", rq, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"transfer_encoding_identity", rq, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n",
       501},
      {"transfer_encoding_gzip_chunked", rq,
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
      {"transfer_encoding_chunked_then_gzip", rq,
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400},
      // Chunked applied twice is malformed framing rather than an unknown coding.
      {"transfer_encoding_chunked_twice", rq,
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0\r\n\r\n",
       400},
      {"transfer_encoding_chunked_twice_in_one_line", rq,
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400},
      {"transfer_encoding_in_http10", rq,
       "POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      // llhttp does not take "chunked<TAB>" as chunked: the body would be read as the next request.
      {"transfer_encoding_chunked_with_trailing_tab", rq,
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\t\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400},
      {"bad_chunk_size", rq, post_chunked("zz\r\nhello\r\n0\r\n\r\n"), 400},
      {"chunk_size_overflow", rq, post_chunked("fffffffffffffffffffff\r\nx\r\n0\r\n\r\n"), 400},
      {"chunk_data_longer_than_its_size", rq, post_chunked("3\r\nhello\r\n0\r\n\r\n"), 400},
      {"chunk_data_followed_by_garbage", rq, post_chunked("5\r\nhelloXY0\r\n\r\n"), 400},
      {"obs_fold_in_trailer", rq, post_chunked("0\r\nX-T: a\r\n b\r\n\r\n"), 400},
      {"ctl_in_trailer", rq, post_chunked("0\r\nX-T: a\x01z\r\n\r\n"), 400},
      // Versions.
      {"http_2_0", rq, "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
      {"http_1_2", rq, "GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505},
      // Host.
      {"missing_host", rq, "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400},
      {"duplicate_host", rq, "GET / HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n", 400},
      {"conflicting_host", rq, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"empty_host", rq, get_host(""), 400},
      {"host_with_userinfo", rq, get_host("user@example.com"), 400},
      {"host_with_user_and_password", rq, get_host("user:pw@example.com"), 400},
      {"host_port_with_letters", rq, get_host("example.com:8o"), 400},
      {"host_port_signed", rq, get_host("example.com:+80"), 400},
      {"host_empty_port", rq, get_host("example.com:"), 400},
      {"host_port_too_long", rq, get_host("example.com:123456"), 400},
      {"host_two_ports", rq, get_host("example.com:80:80"), 400},
      {"host_only_port", rq, get_host(":80"), 400},
      {"host_with_space", rq, get_host("exa mple.com"), 400},
      {"host_with_slash", rq, get_host("example.com/x"), 400},
      {"host_ipv6_unclosed", rq, get_host("[::1"), 400},
      {"host_ipv6_garbage_after", rq, get_host("[::1]x"), 400},
      {"host_ipv6_letters", rq, get_host("[::g]"), 400},
      {"host_ipv6_port_letters", rq, get_host("[::1]:8x"), 400},
      // Methods and targets.
      {"connect", rq, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405},
      {"asterisk_for_get", rq, get_target("*"), 400},
      {"fragment", rq, get_target("/a#frag"), 400},
      {"fragment_after_query", rq, get_target("/a?x=1#frag"), 400},
      {"dot_dot_segment", rq, get_target("/a/../b"), 400},
      {"dot_segment", rq, get_target("/a/./b"), 400},
      {"trailing_dot_dot", rq, get_target("/a/.."), 400},
      {"dot_dot_before_query", rq, get_target("/a/..?x=1"), 400},
      {"encoded_dot_dot", rq, get_target("/%2e%2e/etc/passwd"), 400},
      {"encoded_upper_dot", rq, get_target("/a/%2E/b"), 400},
      {"mixed_encoded_dot_dot", rq, get_target("/a/.%2e/b"), 400},
      {"absolute_form_with_dot_dot", rq, get_target("http://example.com/a/../b"), 400},
      {"absolute_form_ftp", rq, get_target("ftp://example.com/"), 400},
      {"absolute_form_userinfo", rq, get_target("http://user@example.com/"), 400},
      {"absolute_form_empty_authority", rq, get_target("http:///x"), 400},
      {"absolute_form_bad_port", rq, get_target("http://example.com:8o/"), 400},
      {"absolute_form_query_without_path", rq, get_target("http://example.com?x=1"), 400},
      {"authority_form_for_get", rq, get_target("example.com:80"), 400},
      {"non_ascii_byte_in_target", rq, get_target("/caf\xc3\xa9"), 400},
      {"two_spaces_before_target", rq, "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"two_spaces_before_version", rq, "GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"unsupported_expectation", rq, get_with("Expect: something\r\n"), 417},
      // Limits.
      {"head_too_large", rq, get_with("X-Big: " + std::string(300, 'a') + "\r\n"), 431, limits(256, 64, 10)},
      {"too_many_headers", rq, get_with("A: 1\r\nB: 2\r\nC: 3\r\n"), 431, limits(1024, 64, 3)},
      {"uri_too_long", rq, get_target("/" + std::string(64, 'a')), 414, limits(1024, 64, 10)},
      // Responses: a malformed one is a 502.
      {"response_content_length_and_chunked", rs,
       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 502},
      {"response_conflicting_content_length", rs,
       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 502},
      {"response_malformed_content_length", rs, "HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello", 502},
      {"response_transfer_encoding_gzip", rs, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc", 502},
      {"response_http_2_0", rs, "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", 502},
      {"response_http_1_2", rs, "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n", 502},
      {"response_bad_status", rs, "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", 502},
      {"response_two_digit_status", rs, "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n", 502},
      {"response_ctl_in_reason", rs, "HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n", 502},
      {"response_chunk_data_followed_by_garbage", rs,
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXY0\r\n\r\n", 502},
      {"response_obs_fold", rs, "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n", 502},
      {"response_whitespace_before_colon", rs, "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", 502},
      {"response_nul_in_value", rs, "HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n"s, 502},
      {"response_bare_cr", rs, "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n", 502},
      {"response_bad_chunk_size", rs, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", 502},
      {"response_too_many_headers", rs,
       "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nContent-Length: 0\r\n\r\n", 502, limits(1024, 64, 3)},
      {"response_head_too_large", rs,
       "HTTP/1.1 200 OK\r\nX-Big: " + std::string(300, 'a') + "\r\nContent-Length: 0\r\n\r\n", 502,
       limits(256, 64, 10)},
      {"response_chunked_with_trailing_tab", rs,
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\t\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 502},
      {"response_http10_transfer_encoding", rs,
       "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 502},
      {"response_closed_mid_head", rs, "HTTP/1.1 200 OK\r\nContent-Len", 502, finish_at_end()},
      {"response_closed_mid_length_body", rs, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", 502,
       finish_at_end()},
      {"response_closed_mid_chunked_body", rs,
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", 502, finish_at_end()},
      {"request_closed_mid_body", rq, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nhello", 400,
       finish_at_end()},
  };
}

void PrintTo(const rejection& r, std::ostream* os) {
  *os << r.name;
}

class parser_rejects : public testing::TestWithParam<rejection> {};

TEST_P(parser_rejects, with_its_status_when_fed_whole) {
  const auto& c = GetParam();
  auto r = feed(c.kind, c.input, {}, c.options);
  ASSERT_FALSE(r.messages.empty());
  EXPECT_EQ(r.messages.back().error_status, c.status) << describe(r);
}

TEST_P(parser_rejects, with_its_status_when_fed_byte_by_byte) {
  const auto& c = GetParam();
  auto r = feed(c.kind, c.input, byte_by_byte(c.input), c.options);
  ASSERT_FALSE(r.messages.empty());
  EXPECT_EQ(r.messages.back().error_status, c.status) << describe(r);
}

TEST_P(parser_rejects, with_its_status_when_cut_anywhere) {
  const auto& c = GetParam();
  for (std::size_t cut = 1; cut < c.input.size(); ++cut) {
    auto r = feed(c.kind, c.input, {cut}, c.options);
    ASSERT_FALSE(r.messages.empty());
    ASSERT_EQ(r.messages.back().error_status, c.status) << "cut at " << cut << "\n" << describe(r);
  }
}

INSTANTIATE_TEST_SUITE_P(cases, parser_rejects, testing::ValuesIn(rejections()),
                         [](const testing::TestParamInfo<rejection>& i) {
                           return std::string{i.param.name};
                         });

// --- requests ----------------------------------------------------------------------

TEST(parser_request, get_head_fields) {
  auto m = request("GET /index.html?q=1 HTTP/1.1\r\nHost: Example.com:8080\r\nUser-Agent: t\r\n\r\n");
  EXPECT_EQ(m.error_status, 0);
  EXPECT_EQ(m.method, "GET");
  EXPECT_EQ(m.target, "/index.html?q=1");
  EXPECT_EQ(m.host, "Example.com:8080");
  EXPECT_EQ(m.version_major, 1);
  EXPECT_EQ(m.version_minor, 1);
  EXPECT_EQ(m.framing, body_framing::none);
  EXPECT_TRUE(m.complete);
}

TEST(parser_request, headers_in_order_with_their_ids) {
  auto m = request(
      "GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: t\r\nX-Forwarded-For: 1.2.3.4\r\nTE: trailers\r\n\r\n");
  ASSERT_EQ(m.headers.size(), 4u);
  EXPECT_EQ(m.headers[0], (std::pair<std::string, std::string>{"Host", "h"}));
  EXPECT_EQ(m.headers[1], (std::pair<std::string, std::string>{"User-Agent", "t"}));
  EXPECT_EQ(m.headers[2], (std::pair<std::string, std::string>{"X-Forwarded-For", "1.2.3.4"}));
  EXPECT_EQ(m.headers[3], (std::pair<std::string, std::string>{"TE", "trailers"}));
  EXPECT_EQ(m.header_ids, (std::vector<header_id>{header_id::host, header_id::other,
                                                  header_id::x_forwarded_for, header_id::te}));
}

TEST(parser_request, header_values_lose_surrounding_whitespace) {
  auto m = request(get_with("X-A: \t padded value \t \r\n"));
  ASSERT_EQ(m.headers.size(), 2u);
  EXPECT_EQ(m.headers[1].second, "padded value");
}

TEST(parser_request, empty_header_value_is_accepted) {
  auto m = request(get_with("X-Empty:\r\nX-Spaces:   \r\n"));
  ASSERT_EQ(m.error_status, 0);
  ASSERT_EQ(m.headers.size(), 3u);
  EXPECT_EQ(m.headers[1], (std::pair<std::string, std::string>{"X-Empty", ""}));
  EXPECT_EQ(m.headers[2], (std::pair<std::string, std::string>{"X-Spaces", ""}));
}

TEST(parser_request, obs_text_and_tabs_in_values_are_accepted) {
  auto m = request(get_with("X-A: caf\xc3\xa9\tbar\r\n"));
  ASSERT_EQ(m.error_status, 0);
  EXPECT_EQ(m.headers[1].second, "caf\xc3\xa9\tbar");
}

TEST(parser_request, counts_x_forwarded_for_lines) {
  auto m = request(get_with("X-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2\r\n"));
  EXPECT_EQ(m.x_forwarded_for_count, 2);
}

TEST(parser_request, post_with_content_length_has_length_framing_and_body) {
  auto m = request("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(m.framing, body_framing::length);
  EXPECT_EQ(m.content_length, 5u);
  EXPECT_EQ(m.body, "hello");
  EXPECT_EQ(m.body_bytes, 5u);
  EXPECT_TRUE(m.complete);
}

TEST(parser_request, content_length_zero_completes_with_the_head) {
  auto m = request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(m.framing, body_framing::length);
  EXPECT_EQ(m.content_length, 0u);
  EXPECT_TRUE(m.complete);
}

TEST(parser_request, post_without_length_has_no_body) {
  auto m = request("POST / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(m.framing, body_framing::none);
  EXPECT_TRUE(m.complete);
}

TEST(parser_request, content_length_with_surrounding_whitespace_is_accepted) {
  auto m = request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:  3 \r\n\r\nabc");
  EXPECT_EQ(m.error_status, 0);
  EXPECT_EQ(m.content_length, 3u);
  EXPECT_EQ(m.body, "abc");
}

TEST(parser_request, head_event_comes_before_the_body) {
  std::string in = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
  parser p{message_kind::request};
  auto r = p.parse(in.data(), in.size());
  EXPECT_EQ(r.event, parse_event::head);
  EXPECT_EQ(r.consumed, in.size() - 5);
  EXPECT_TRUE(p.pieces().empty());
  EXPECT_FALSE(p.message_complete());
  auto r2 = p.parse(in.data() + r.consumed, in.size() - r.consumed);
  EXPECT_EQ(r2.event, parse_event::complete);
  EXPECT_EQ(r2.consumed, 5u);
}

TEST(parser_request, body_fed_in_parts_comes_out_in_parts) {
  std::string in = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789";
  parser p{message_kind::request};
  auto head = p.parse(in.data(), in.size() - 10);
  ASSERT_EQ(head.event, parse_event::head);
  const char* body = in.data() + in.size() - 10;
  auto r1 = p.parse(body, 4);
  EXPECT_EQ(r1.event, parse_event::need_more);
  EXPECT_EQ(p.pieces_size(), 4u);
  EXPECT_EQ(p.body_bytes(), 4u);
  p.clear_pieces();
  auto r2 = p.parse(body + 4, 6);
  EXPECT_EQ(r2.event, parse_event::complete);
  EXPECT_EQ(p.pieces_size(), 6u);
  EXPECT_EQ(p.body_bytes(), 10u);
}

TEST(parser_request, length_body_pieces_are_views_into_the_input) {
  std::string in = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789";
  parser p{message_kind::request};
  auto head = p.parse(in.data(), in.size());
  ASSERT_EQ(head.event, parse_event::head);
  auto r = p.parse(in.data() + head.consumed, in.size() - head.consumed);
  ASSERT_EQ(r.event, parse_event::complete);
  ASSERT_EQ(p.pieces().size(), 1u);
  EXPECT_EQ(p.pieces()[0].data, in.data() + in.size() - 10);
  EXPECT_EQ(p.pieces()[0].size, 10u);
}

TEST(parser_request, length_body_copies_nothing_whatever_the_cuts) {
  std::string in = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789";
  auto r = feed(message_kind::request, in, byte_by_byte(in));
  EXPECT_EQ(r.bytes_from_input, 10u);
  EXPECT_EQ(r.bytes_from_parser, 0u);
}

TEST(parser_request, pipelined_requests_come_out_in_order) {
  std::string in = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
                   "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                   "GET /c HTTP/1.1\r\nHost: h\r\n\r\n";
  auto r = feed(message_kind::request, in, {});
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0].target, "/a");
  EXPECT_EQ(r.messages[1].target, "/b");
  EXPECT_EQ(r.messages[1].body, "abc");
  EXPECT_EQ(r.messages[2].target, "/c");
  EXPECT_EQ(r.consumed, in.size());
}

TEST(parser_request, a_complete_request_consumes_only_its_own_bytes) {
  std::string first = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  std::string in = first + "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  parser p{message_kind::request};
  auto r = p.parse(in.data(), in.size());
  EXPECT_EQ(r.event, parse_event::head);
  EXPECT_TRUE(p.message_complete());
  EXPECT_EQ(r.consumed, first.size());
}

TEST(parser_request, parse_after_completion_consumes_nothing) {
  std::string in = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  parser p{message_kind::request};
  auto r = p.parse(in.data(), in.size());
  auto again = p.parse(in.data() + r.consumed, in.size() - r.consumed);
  EXPECT_EQ(again.event, parse_event::complete);
  EXPECT_EQ(again.consumed, 0u);
}

TEST(parser_request, reset_parses_the_next_request_afresh) {
  std::string in =
      "GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: b\r\n\r\n";
  parser p{message_kind::request};
  auto r = p.parse(in.data(), in.size());
  ASSERT_EQ(r.event, parse_event::head);
  p.reset();
  auto r2 = p.parse(in.data() + r.consumed, in.size() - r.consumed);
  ASSERT_EQ(r2.event, parse_event::head);
  EXPECT_EQ(p.head().target, "/b");
  EXPECT_EQ(p.head().host, "b");
  EXPECT_TRUE(p.head().keep_alive);
  EXPECT_EQ(p.head().headers.size(), 1u);
}

TEST(parser_request, error_is_sticky) {
  std::string in = get_target("/a/../b");
  parser p{message_kind::request};
  auto r = p.parse(in.data(), in.size());
  ASSERT_EQ(r.event, parse_event::error);
  auto again = p.parse(in.data(), in.size());
  EXPECT_EQ(again.event, parse_event::error);
  EXPECT_EQ(again.consumed, 0u);
  EXPECT_EQ(p.error().status, 400);
  EXPECT_FALSE(p.error().reason.empty());
}

TEST(parser_request, request_line_cut_inside_the_version_is_accepted) {
  // A read boundary can fall anywhere, e.g. between "HTTP/1" and ".1".
  std::string in = "GET /index HTTP/1.1\r\nHost: h\r\n\r\n";
  auto cut = in.find("HTTP/1") + 6;
  auto r = feed(message_kind::request, in, {cut});
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].error_status, 0) << r.messages[0].error_reason;
  EXPECT_EQ(r.messages[0].target, "/index");
}

TEST(parser_request, request_line_cut_after_the_version_dot_is_accepted) {
  std::string in = "GET /index HTTP/1.1\r\nHost: h\r\n\r\n";
  auto cut = in.find("HTTP/1.") + 7;
  auto r = feed(message_kind::request, in, {cut});
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].error_status, 0) << r.messages[0].error_reason;
}

TEST(parser_request, http10_without_host_is_accepted_with_an_empty_host) {
  auto m = request("GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(m.error_status, 0);
  EXPECT_EQ(m.host, "");
  EXPECT_EQ(m.version_minor, 0);
}

TEST(parser_request, ipv6_host_with_port_is_accepted) {
  auto m = request(get_host("[::1]:8080"));
  EXPECT_EQ(m.error_status, 0);
  EXPECT_EQ(m.host, "[::1]:8080");
}

TEST(parser_request, absolute_form_takes_the_host_from_the_target) {
  auto m = request("GET http://Other.example:8080/p/q?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
  ASSERT_EQ(m.error_status, 0);
  EXPECT_EQ(m.host, "Other.example:8080");
}

TEST(parser_request, absolute_form_target_is_rewritten_to_origin_form) {
  auto m = request("GET http://example.com/p/q?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
  ASSERT_EQ(m.error_status, 0);
  EXPECT_EQ(m.target, "/p/q?x=1");
}

TEST(parser_request, absolute_form_without_path_becomes_slash) {
  auto m = request("GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
  ASSERT_EQ(m.error_status, 0);
  EXPECT_EQ(m.target, "/");
  EXPECT_EQ(m.host, "example.com");
}

TEST(parser_request, asterisk_form_is_accepted_for_options) {
  auto m = request("OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n");
  EXPECT_EQ(m.error_status, 0);
  EXPECT_EQ(m.method, "OPTIONS");
  EXPECT_EQ(m.target, "*");
}

TEST(parser_request, dot_like_segments_that_are_not_dot_segments_are_accepted) {
  for (auto target :
       {"/.well-known/acme", "/a/..b/c", "/a/.../c", "/a/b.", "/x?p=../../etc", "/%2e%2ex", "/a/%2f"}) {
    EXPECT_EQ(request_status(get_target(target)), 0) << target;
  }
}

TEST(parser_request, head_at_the_size_limit_is_accepted) {
  std::string in = get_with("X-Big: aaaa\r\n");
  EXPECT_EQ(request_status(in, limits(in.size(), 64, 10)), 0);
}

TEST(parser_request, head_one_byte_over_the_size_limit_is_431) {
  std::string in = get_with("X-Big: aaaa\r\n");
  EXPECT_EQ(request_status(in, limits(in.size() - 1, 64, 10)), 431);
}

TEST(parser_request, body_bytes_do_not_count_toward_the_head_limit) {
  std::string in = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 500\r\n\r\n" + std::string(500, 'x');
  auto m = request(in, limits(128, 64, 10));
  EXPECT_EQ(m.error_status, 0);
  EXPECT_EQ(m.body.size(), 500u);
}

TEST(parser_request, header_count_at_the_limit_is_accepted) {
  EXPECT_EQ(request_status(get_with("A: 1\r\nB: 2\r\n"), limits(1024, 64, 3)), 0);
}

TEST(parser_request, uri_at_the_limit_is_accepted) {
  EXPECT_EQ(request_status(get_target("/" + std::string(63, 'a')), limits(1024, 64, 10)), 0);
}

TEST(parser_request, http11_is_keep_alive_by_default) {
  EXPECT_TRUE(request(get_with("")).keep_alive);
}

TEST(parser_request, http11_with_connection_close_is_not_keep_alive) {
  EXPECT_FALSE(request(get_with("Connection: close\r\n")).keep_alive);
}

TEST(parser_request, close_among_other_connection_tokens_wins) {
  EXPECT_FALSE(request(get_with("Connection: keep-alive, CLOSE\r\n")).keep_alive);
}

TEST(parser_request, close_in_a_second_connection_line_counts) {
  EXPECT_FALSE(request(get_with("Connection: keep-alive\r\nConnection: close\r\n")).keep_alive);
}

TEST(parser_request, http10_is_not_keep_alive_by_default) {
  EXPECT_FALSE(request("GET / HTTP/1.0\r\nHost: h\r\n\r\n").keep_alive);
}

TEST(parser_request, http10_with_connection_keep_alive_is_keep_alive) {
  EXPECT_TRUE(request("GET / HTTP/1.0\r\nHost: h\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
}

TEST(parser_request, http10_with_keep_alive_and_close_is_not_keep_alive) {
  EXPECT_FALSE(request("GET / HTTP/1.0\r\nHost: h\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
}

TEST(parser_request, http10_keep_alive_header_alone_is_not_keep_alive) {
  EXPECT_FALSE(request("GET / HTTP/1.0\r\nHost: h\r\nKeep-Alive: timeout=5\r\n\r\n").keep_alive);
}

TEST(parser_request, connection_tokens_list_the_named_fields) {
  auto m = request(get_with("Connection: close, X-Secret , x-other\r\n"));
  EXPECT_EQ(m.connection_tokens, (std::vector<std::string>{"X-Secret", "x-other"}));
}

TEST(parser_request, connection_tokens_gather_every_connection_line) {
  auto m = request(get_with("Connection: X-A\r\nConnection: keep-alive, X-B\r\n"));
  EXPECT_EQ(m.connection_tokens, (std::vector<std::string>{"X-A", "X-B"}));
}

TEST(parser_request, connection_naming_many_fields_lists_them_all_or_refuses) {
  // A field named in Connection that is not listed would be forwarded as if
  // it were end-to-end: either every name is kept or the request is refused.
  std::string names;
  for (int i = 0; i < 12; ++i)
    names += (i ? ", X-H" : "X-H") + std::to_string(i);
  auto m = request(get_with("Connection: " + names + "\r\n"));
  if (m.error_status == 0)
    EXPECT_EQ(m.connection_tokens.size(), 12u);
  else
    EXPECT_EQ(m.error_status, 400);
}

TEST(parser_request, http11_upgrade_request_is_an_upgrade) {
  auto m = request(get_with("Connection: Upgrade\r\nUpgrade: websocket\r\n"));
  EXPECT_TRUE(m.upgrade);
  EXPECT_EQ(m.upgrade_to, "websocket");
  EXPECT_TRUE(m.complete);
}

TEST(parser_request, upgrade_request_consumes_only_its_head) {
  std::string head = get_with("Connection: Upgrade\r\nUpgrade: websocket\r\n");
  std::string in = head + "\x81\x05hello";
  auto m = request(in);
  EXPECT_EQ(m.consumed, head.size());
}

TEST(parser_request, http10_upgrade_request_is_not_an_upgrade) {
  auto m = request("GET / HTTP/1.0\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  EXPECT_EQ(m.error_status, 0);
  EXPECT_FALSE(m.upgrade);
}

TEST(parser_request, upgrade_header_without_connection_upgrade_is_not_an_upgrade) {
  auto m = request(get_with("Upgrade: websocket\r\n"));
  EXPECT_EQ(m.error_status, 0);
  EXPECT_FALSE(m.upgrade);
}

TEST(parser_request, connection_upgrade_without_upgrade_header_is_not_an_upgrade) {
  auto m = request(get_with("Connection: upgrade\r\n"));
  EXPECT_EQ(m.error_status, 0);
  EXPECT_FALSE(m.upgrade);
}

TEST(parser_request, expect_100_continue_is_noted) {
  auto m = request("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(m.error_status, 0);
  EXPECT_TRUE(m.expect_continue);
}

TEST(parser_request, no_expect_means_no_continue) {
  EXPECT_FALSE(request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok").expect_continue);
}

TEST(parser_request, expect_continue_head_arrives_before_the_body) {
  std::string in = "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
  parser p{message_kind::request};
  auto r = p.parse(in.data(), in.size());
  EXPECT_EQ(r.event, parse_event::head);
  EXPECT_TRUE(p.head().expect_continue);
  EXPECT_FALSE(p.message_complete());
}

TEST(parser_request, finish_mid_head_is_400) {
  std::string in = "GET / HTTP/1.1\r\nHo";
  parser p{message_kind::request};
  p.parse(in.data(), in.size());
  EXPECT_EQ(p.finish(), parse_event::error);
  EXPECT_EQ(p.error().status, 400);
}

// --- request bodies: re-framing ----------------------------------------------------

TEST(parser_request, chunked_request_has_chunked_framing) {
  auto m = request(post_chunked("0\r\n\r\n"));
  EXPECT_EQ(m.framing, body_framing::chunked);
  EXPECT_TRUE(m.complete);
}

TEST(parser_request, chunked_out_regenerates_chunk_sizes) {
  auto m = request(post_chunked("005\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\n"), chunked_out());
  EXPECT_EQ(m.body, "5\r\nhello\r\na\r\n0123456789\r\n0\r\n\r\n");
  EXPECT_EQ(m.body_bytes, 15u);
}

TEST(parser_request, chunked_out_drops_chunk_extensions) {
  auto m = request(post_chunked("5;name=value\r\nhello\r\n0;last\r\n\r\n"), chunked_out());
  EXPECT_EQ(m.body, "5\r\nhello\r\n0\r\n\r\n");
}

TEST(parser_request, chunked_out_keeps_trailers) {
  auto m =
      request(post_chunked("5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other:  two \r\n\r\n"), chunked_out());
  EXPECT_EQ(m.body, "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Other: two \r\n\r\n");
}

TEST(parser_request, chunked_out_drops_forbidden_trailers) {
  auto m =
      request(post_chunked("0\r\nContent-Length: 5\r\nX-Checksum: abc\r\nHost: evil\r\nAuthorization: "
                           "x\r\nCookie: c\r\nSet-Cookie: s\r\nContent-Type: a/b\r\n"
                           "Content-Encoding: gzip\r\nConnection: close\r\nTE: trailers\r\nTrailer: X\r\n"
                           "X-Forwarded-For: 1.2.3.4\r\n\r\n"),
              chunked_out());
  EXPECT_EQ(m.body, "0\r\nX-Checksum: abc\r\n\r\n");
}

TEST(parser_request, chunked_raw_out_gives_the_decoded_body) {
  auto m = request(post_chunked("5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n"));
  EXPECT_EQ(m.body, "hello world");
  EXPECT_EQ(m.body_bytes, 11u);
}

TEST(parser_request, chunked_data_pieces_are_views_into_the_input) {
  std::string in = post_chunked("5\r\nhello\r\n0\r\n\r\n");
  auto r = feed(message_kind::request, in, {}, chunked_out());
  EXPECT_EQ(r.bytes_from_input, 5u);
  EXPECT_EQ(r.bytes_from_parser, std::string_view{"5\r\n\r\n0\r\n\r\n"}.size());
}

TEST(parser_request, many_tiny_chunks_pause_with_a_body_event) {
  std::string in = post_chunked(repeat("1\r\nx\r\n", 200) + "0\r\n\r\n");
  parser p{message_kind::request};
  p.set_output_chunked(true);
  auto head = p.parse(in.data(), in.size());
  ASSERT_EQ(head.event, parse_event::head);
  auto r = p.parse(in.data() + head.consumed, in.size() - head.consumed);
  EXPECT_EQ(r.event, parse_event::body);
  EXPECT_LT(head.consumed + r.consumed, in.size());
  EXPECT_GT(p.pieces().size(), 0u);
  EXPECT_LE(p.pieces().size(), 64u);
}

TEST(parser_request, many_tiny_chunks_come_out_whole_across_pauses) {
  std::string in = post_chunked(repeat("1\r\nx\r\n", 200) + "0\r\n\r\n");
  auto r = feed(message_kind::request, in, {}, chunked_out());
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_TRUE(r.messages[0].complete);
  EXPECT_EQ(r.messages[0].body, repeat("1\r\nx\r\n", 200) + "0\r\n\r\n");
  EXPECT_LE(r.max_piece_count, 64u);
}

TEST(parser_request, many_tiny_chunks_raw_out_come_out_whole_across_pauses) {
  std::string in = post_chunked(repeat("1\r\nx\r\n", 200) + "0\r\n\r\n");
  auto r = feed(message_kind::request, in, {});
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].body, std::string(200, 'x'));
  EXPECT_LE(r.max_piece_count, 64u);
}

// --- responses ------------------------------------------------------------------------

TEST(parser_response, status_line_fields) {
  auto m = response("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(m.status, 404);
  EXPECT_EQ(m.reason, "Not Found");
  EXPECT_TRUE(m.complete);
}

TEST(parser_response, length_body) {
  auto m = response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(m.framing, body_framing::length);
  EXPECT_EQ(m.content_length, 5u);
  EXPECT_EQ(m.body, "hello");
  EXPECT_TRUE(m.keep_alive);
}

TEST(parser_response, chunked_body_chunked_out) {
  auto m =
      response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
               chunked_out());
  EXPECT_EQ(m.framing, body_framing::chunked);
  EXPECT_EQ(m.body, "3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n");
}

TEST(parser_response, body_until_close_completes_on_finish) {
  auto m = response("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nabcdef", finish_at_end());
  EXPECT_EQ(m.framing, body_framing::until_close);
  EXPECT_EQ(m.body, "abcdef");
  EXPECT_TRUE(m.complete);
  EXPECT_EQ(m.error_status, 0);
}

TEST(parser_response, body_until_close_is_not_keep_alive) {
  auto m = response("HTTP/1.1 200 OK\r\n\r\nabc", finish_at_end());
  EXPECT_FALSE(m.keep_alive);
}

TEST(parser_response, body_until_close_is_not_complete_before_finish) {
  auto m = response("HTTP/1.1 200 OK\r\n\r\nabc");
  EXPECT_FALSE(m.complete);
  EXPECT_EQ(m.body, "abc");
}

TEST(parser_response, http10_without_length_is_until_close) {
  auto m = response("HTTP/1.0 200 OK\r\n\r\nabc", finish_at_end());
  EXPECT_EQ(m.framing, body_framing::until_close);
  EXPECT_EQ(m.body, "abc");
}

TEST(parser_response, to_head_has_no_body_despite_content_length) {
  std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
  auto m = response(head + "HTTP/1.1 200 OK\r\n", skip_body());
  EXPECT_EQ(m.framing, body_framing::none);
  EXPECT_TRUE(m.complete);
  EXPECT_EQ(m.consumed, head.size());
}

TEST(parser_response, to_head_has_no_body_despite_chunked) {
  std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  auto m = response(head, skip_body());
  EXPECT_EQ(m.framing, body_framing::none);
  EXPECT_TRUE(m.complete);
  EXPECT_TRUE(m.keep_alive);
}

TEST(parser_response, no_content_204_has_no_body) {
  std::string head = "HTTP/1.1 204 No Content\r\n\r\n";
  auto m = response(head + "HTTP/1.1 200 OK\r\n");
  EXPECT_EQ(m.framing, body_framing::none);
  EXPECT_TRUE(m.complete);
  EXPECT_EQ(m.consumed, head.size());
  EXPECT_TRUE(m.keep_alive);
}

TEST(parser_response, not_modified_304_has_no_body_despite_content_length) {
  std::string head = "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n";
  auto m = response(head + "HTTP/1.1 200 OK\r\n");
  EXPECT_EQ(m.framing, body_framing::none);
  EXPECT_TRUE(m.complete);
  EXPECT_EQ(m.consumed, head.size());
}

TEST(parser_response, interim_100_is_its_own_message) {
  std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  auto r = feed(message_kind::response, interim + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", {});
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].status, 100);
  EXPECT_EQ(r.messages[0].framing, body_framing::none);
  EXPECT_EQ(r.messages[0].consumed, interim.size());
  EXPECT_EQ(r.messages[1].status, 200);
  EXPECT_EQ(r.messages[1].body, "ok");
}

TEST(parser_response, switching_protocols_101_is_an_upgrade_without_body) {
  std::string head = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
  auto m = response(head + "\x81\x02hi");
  EXPECT_EQ(m.status, 101);
  EXPECT_TRUE(m.upgrade);
  EXPECT_EQ(m.framing, body_framing::none);
  EXPECT_TRUE(m.complete);
  EXPECT_EQ(m.consumed, head.size());
}

TEST(parser_response, http11_with_connection_close_is_not_keep_alive) {
  EXPECT_FALSE(response("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").keep_alive);
}

TEST(parser_response, http10_is_not_keep_alive_by_default) {
  EXPECT_FALSE(response("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
}

TEST(parser_response, http10_with_keep_alive_is_keep_alive) {
  EXPECT_TRUE(response("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").keep_alive);
}

TEST(parser_response, connection_tokens_list_the_named_fields) {
  auto m = response("HTTP/1.1 200 OK\r\nConnection: X-Internal\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(m.connection_tokens, (std::vector<std::string>{"X-Internal"}));
}

TEST(parser_response, set_skip_body_is_cleared_by_reset) {
  std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  parser p{message_kind::response};
  p.set_skip_body(true);
  p.reset();
  auto r = p.parse(in.data(), in.size());
  ASSERT_EQ(r.event, parse_event::head);
  EXPECT_EQ(p.head().framing, body_framing::length);
}

// --- helpers ---------------------------------------------------------------------------

TEST(parser_valid_host, accepts_names_addresses_and_ports) {
  for (auto h : {"example.com", "EXAMPLE.com", "a-b.example", "127.0.0.1", "example.com:8080", "[::1]",
                 "[::1]:443", "[2001:db8::1]", "localhost:1"}) {
    EXPECT_TRUE(valid_host(h)) << h;
  }
}

TEST(parser_valid_host, refuses_userinfo_bad_ports_and_bad_brackets) {
  for (auto h : {"", "u@h", "h:", "h:x", "h:1x", "h:123456", "h:1:2", ":80", "[::1", "[::1]x",
                 "[::1]:", "[::z]", "a b", "a/b", "a\\b"}) {
    EXPECT_FALSE(valid_host(h)) << h;
  }
}

TEST(parser_host_without_port, strips_the_port) {
  EXPECT_EQ(host_without_port("example.com:8080"), "example.com");
  EXPECT_EQ(host_without_port("example.com"), "example.com");
  EXPECT_EQ(host_without_port("[::1]:8080"), "[::1]");
  EXPECT_EQ(host_without_port("[::1]"), "[::1]");
}

TEST(parser_has_dot_segment, finds_plain_and_encoded_dot_segments) {
  for (auto t : {"/.", "/..", "/a/./b", "/a/../b", "/a/..", "/%2e", "/%2E%2e/x", "/.%2E/", "/a/..?q"}) {
    EXPECT_TRUE(has_dot_segment(t)) << t;
  }
}

TEST(parser_has_dot_segment, ignores_other_dots_and_the_query) {
  for (auto t : {"/", "/a.b", "/...", "/.a", "/a..", "/%2e%2e%2e", "/x?y=/../", "/%2", "*"}) {
    EXPECT_FALSE(has_dot_segment(t)) << t;
  }
}

} // namespace
