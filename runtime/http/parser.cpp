#include "runtime/http/parser.hpp"

#include "runtime/http/chars.hpp"

#include <algorithm>
#include <cstring>
#include <functional>

namespace ika::http {

namespace {

parser& self_of(llhttp_t* p) {
  return *static_cast<parser*>(p->data);
}

// Extends `view` by a piece that llhttp reports right after it. Pieces of one
// token are contiguous because the caller feeds contiguous bytes and never
// moves a head that is still being parsed.
bool extend(std::string_view& view, const char* at, std::size_t n) {
  if (view.data() + view.size() != at)
    return false;
  view = std::string_view{view.data(), view.size() + n};
  return true;
}

} // namespace

parser::parser(message_kind kind, parser_limits limits) : kind_(kind), limits_(limits) {
  headers_.reserve(limits_.max_headers);
  llhttp_init(&llhttp_, kind == message_kind::request ? HTTP_REQUEST : HTTP_RESPONSE, settings());
  llhttp_.data = this;
  reset();
}

const llhttp_settings_t* parser::settings() {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t x;
    llhttp_settings_init(&x);
    x.on_message_begin = &parser::on_message_begin;
    x.on_method = &parser::on_method;
    x.on_url = &parser::on_url;
    x.on_version = &parser::on_version;
    x.on_status = &parser::on_status;
    x.on_header_field = &parser::on_header_field;
    x.on_header_value = &parser::on_header_value;
    x.on_header_value_complete = &parser::on_header_value_complete;
    x.on_headers_complete = &parser::on_headers_complete;
    x.on_body = &parser::on_body;
    x.on_chunk_header = &parser::on_chunk_header;
    x.on_chunk_complete = &parser::on_chunk_complete;
    x.on_message_complete = &parser::on_message_complete;
    return x;
  }();
  return &s;
}

void parser::reset() noexcept {
  llhttp_reset(&llhttp_);
  head_ = message_head{};
  headers_.clear();
  connection_token_count_ = 0;
  connection_close_ = connection_keep_alive_ = connection_upgrade_ = false;
  in_ = in::start;
  head_done_ = head_reported_ = message_done_ = false;
  skip_body_ = out_chunked_ = in_trailers_ = false;
  host_count_ = te_count_ = 0;
  transfer_encoding_ = {};
  error_ = {};
  body_bytes_ = 0;
  head_fed_ = 0;
  method_span_ = {};
  version_seen_ = false;
  framing_check_.reset();
  trailer_piece_end_ = nullptr;
  trailer_piece_at_input_end_ = false;
  trailers_.clear();
  clear_pieces();
}

void parser::clear_pieces() noexcept {
  piece_count_ = 0;
  framing_used_ = 0;
}

std::size_t parser::pieces_size() const noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < piece_count_; ++i)
    n += pieces_[i].size;
  return n;
}

bool parser::pieces_nearly_full() const noexcept {
  return piece_count_ + 4 > max_pieces || framing_used_ + 48 > framing_.size();
}

void parser::add_piece(const char* data, std::size_t size) noexcept {
  if (size == 0)
    return;
  if (piece_count_ > 0) {
    auto& last = pieces_[piece_count_ - 1];
    if (last.data + last.size == data) {
      last.size += size;
      return;
    }
  }
  pieces_[piece_count_++] = byte_view{data, size};
}

void parser::add_framing(std::string_view bytes) noexcept {
  char* dst = framing_.data() + framing_used_;
  std::memcpy(dst, bytes.data(), bytes.size());
  framing_used_ += bytes.size();
  add_piece(dst, bytes.size());
}

int parser::fail(int status, std::string_view reason) noexcept {
  if (error_.status == 0)
    error_ = parse_error{status, reason};
  return HPE_USER;
}

parser::result parser::parse(const char* data, std::size_t size) noexcept {
  if (error_.status != 0)
    return {parse_event::error, 0};
  if (message_done_)
    return {parse_event::complete, 0};
  bool head_was_done = head_done_;
  input_start_ = data;
  input_end_ = data + size;
  if (trailer_piece_end_ != nullptr) {
    // A new input: the last trailer piece ended in the previous one.
    trailer_piece_at_input_end_ = trailer_piece_end_ == trailer_input_end_;
    trailer_piece_end_ = nullptr;
  }
  auto err = llhttp_execute(&llhttp_, data, size);
  std::size_t consumed = size;
  if (err != HPE_OK) {
    const char* pos = llhttp_get_error_pos(&llhttp_);
    consumed = pos != nullptr && pos >= data && pos <= data + size ? std::size_t(pos - data) : 0;
  }
  if (head_was_done && head_.framing == body_framing::chunked && error_.status == 0) {
    // llhttp 8.1 is lenient about chunk framing: check it independently.
    if (!framing_check_.feed(data, consumed) || (message_done_ && !framing_check_.done()))
      fail(kind_ == message_kind::request ? 400 : 502, "malformed chunked framing");
  }
  if (!head_was_done) {
    head_fed_ += consumed;
    if (head_fed_ > limits_.max_head_bytes && error_.status == 0) {
      if (kind_ == message_kind::request)
        fail(431, "request header fields too large");
      else
        fail(502, "upstream header too large");
    }
  }
  if (error_.status != 0)
    return {parse_event::error, consumed};
  switch (err) {
    case HPE_OK:
      break;
    case HPE_PAUSED:
    case HPE_PAUSED_UPGRADE:
      llhttp_resume(&llhttp_);
      break;
    default: {
      // llhttp's HPE_INVALID_TRANSFER_ENCODING means chunked applied twice or
      // not last: malformed framing, a 400 (codings it does not know are
      // refused with 501 in check_request_head).
      int status = kind_ == message_kind::request ? 400 : 502;
      if (err == HPE_INVALID_VERSION && kind_ == message_kind::request) {
        // The request line from its start: the head is contiguous in the
        // caller's buffer (see the class comment).
        const char* line = data;
        auto* m = method_span_.data();
        if (m != nullptr && std::less_equal<>{}(m, data) && std::size_t(data - m) <= limits_.max_head_bytes)
          line = m;
        if (unsupported_version(std::string_view{line, std::size_t(data + size - line)}))
          status = 505; // "HTTP/1.2", "HTTP/3.0": valid syntax, not ours
      }
      fail(status, llhttp_errno_name(err));
      return {parse_event::error, consumed};
    }
  }
  if (head_done_ && !head_reported_) {
    head_reported_ = true;
    return {parse_event::head, consumed};
  }
  if (message_done_)
    return {parse_event::complete, consumed};
  if (err == HPE_PAUSED)
    return {parse_event::body, consumed};
  return {parse_event::need_more, consumed};
}

parse_event parser::finish() noexcept {
  if (message_done_)
    return parse_event::complete;
  if (error_.status != 0)
    return parse_event::error;
  if (head_done_ && head_.framing == body_framing::until_close) {
    auto err = llhttp_finish(&llhttp_);
    if (err == HPE_OK || err == HPE_PAUSED) {
      if (!message_done_)
        on_message_complete(&llhttp_);
      return parse_event::complete;
    }
  }
  fail(kind_ == message_kind::request ? 400 : 502, "connection closed mid-message");
  return parse_event::error;
}

bool parser::unsupported_version(std::string_view input) noexcept {
  // The request line's end: " HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3), then
  // CR or the end of what arrived so far, and not 1.0 or 1.1 (those fail
  // for another reason, a bare CR say).
  auto pos = input.find(" HTTP/");
  if (pos == std::string_view::npos || pos + 9 > input.size())
    return false;
  auto v = input.substr(pos + 6, 4);
  if (!(is_digit(v[0]) && v[1] == '.' && is_digit(v[2])) || (v.size() == 4 && v[3] != '\r'))
    return false;
  return !(v[0] == '1' && (v[2] == '0' || v[2] == '1'));
}

// --- llhttp callbacks -------------------------------------------------------

int parser::on_message_begin(llhttp_t*) {
  return 0;
}

int parser::on_method(llhttp_t* p, const char* at, std::size_t n) {
  auto& s = self_of(p);
  if (s.method_span_.empty())
    s.method_span_ = std::string_view{at, n};
  else if (!extend(s.method_span_, at, n))
    return s.fail(400, "request line moved");
  return 0;
}

int parser::on_url(llhttp_t* p, const char* at, std::size_t n) {
  auto& s = self_of(p);
  if (s.head_.target.empty()) {
    // Exactly one SP between method and target (llhttp takes several).
    if (at != s.method_span_.data() + s.method_span_.size() + 1)
      return s.fail(400, "malformed request line");
    s.head_.target = std::string_view{at, n};
  } else if (!extend(s.head_.target, at, n)) {
    return s.fail(400, "request target moved");
  }
  if (s.head_.target.size() > s.limits_.max_uri_bytes)
    return s.fail(414, "uri too long");
  // Only visible ASCII: bytes above 0x7f must be percent-encoded in a URI
  // (RFC 3986), and llhttp lets a TAB through.
  for (std::size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(at[i]);
    if (c <= 0x20 || c >= 0x7f)
      return s.fail(400, "invalid byte in request target");
  }
  return 0;
}

int parser::on_version(llhttp_t* p, const char* at, std::size_t) {
  auto& s = self_of(p);
  // "target SP HTTP/x.y": exactly one SP before the version (checked on the
  // first piece; the version may arrive in several).
  if (s.kind_ == message_kind::request && !s.version_seen_ &&
      at != s.head_.target.data() + s.head_.target.size() + 6)
    return s.fail(400, "malformed request line");
  s.version_seen_ = true;
  return 0;
}

int parser::on_status(llhttp_t* p, const char* at, std::size_t n) {
  auto& s = self_of(p);
  for (std::size_t i = 0; i < n; ++i)
    if (!is_field_vchar(at[i]))
      return s.fail(502, "invalid reason phrase");
  if (s.head_.reason.empty())
    s.head_.reason = std::string_view{at, n};
  else if (!extend(s.head_.reason, at, n))
    return s.fail(502, "status line moved");
  return 0;
}

int parser::on_header_field(llhttp_t* p, const char* at, std::size_t n) {
  auto& s = self_of(p);
  if (s.in_trailers_) {
    if (s.in_ != in::field) {
      s.trailer_field_start_ = s.trailers_.size();
      s.in_ = in::field;
    }
    s.trailers_.append(at, n);
    if (s.trailers_.size() > s.limits_.max_head_bytes)
      return s.fail(s.kind_ == message_kind::request ? 431 : 502, "trailers too large");
    return 0;
  }
  if (s.in_ == in::field) {
    if (!extend(s.headers_.back().name, at, n))
      return s.fail(400, "header name moved");
    return 0;
  }
  if (s.headers_.size() >= s.limits_.max_headers)
    return s.fail(s.kind_ == message_kind::request ? 431 : 502, "too many header fields");
  s.headers_.push_back(header_field{std::string_view{at, n}, std::string_view{}, header_id::other});
  s.in_ = in::field;
  return 0;
}

int parser::on_header_value(llhttp_t* p, const char* at, std::size_t n) {
  auto& s = self_of(p);
  int bad = s.kind_ == message_kind::request ? 400 : 502;
  // A value after a finished value is an obs-fold continuation line
  // (RFC 9112 §5.2): llhttp accepts it, an intermediary must not forward it.
  if (s.in_ == in::value_done || s.in_ == in::start)
    return s.fail(bad, "obsolete line folding");
  if (s.in_trailers_) {
    if (s.in_ == in::field) {
      s.trailers_.append(": ");
      s.in_ = in::value;
    } else {
      // More of the same value: it must continue exactly where the last
      // piece stopped (same input), or start a new input right after a
      // piece that ended its input. Anything else skipped a line break.
      bool same_input = s.trailer_piece_end_ != nullptr;
      bool continues =
          same_input ? at == s.trailer_piece_end_ : (s.trailer_piece_at_input_end_ && at == s.input_start_);
      if (!continues)
        return s.fail(bad, "obsolete line folding");
    }
    s.trailers_.append(at, n);
    s.trailer_piece_end_ = at + n;
    s.trailer_input_end_ = s.input_end_;
    if (s.trailers_.size() > s.limits_.max_head_bytes)
      return s.fail(s.kind_ == message_kind::request ? 431 : 502, "trailers too large");
    return 0;
  }
  auto& h = s.headers_.back();
  if (s.in_ == in::field) {
    h.value = std::string_view{at, n};
    s.in_ = in::value;
  } else if (!extend(h.value, at, n)) {
    return s.fail(bad, "obsolete line folding");
  }
  return 0;
}

int parser::on_header_value_complete(llhttp_t* p) {
  auto& s = self_of(p);
  int bad = s.kind_ == message_kind::request ? 400 : 502;
  if (s.in_ == in::field) {
    // "Name:" with an empty value.
    if (s.in_trailers_)
      s.trailers_.append(": ");
    else
      s.headers_.back().value =
          std::string_view{s.headers_.back().name.data() + s.headers_.back().name.size(), 0};
  }
  s.in_ = in::value_done;
  if (s.in_trailers_) {
    // Validate the trailer line just appended, drop the ones that must not
    // travel as trailers (framing, routing and hop-by-hop fields).
    std::string_view line{s.trailers_.data() + s.trailer_field_start_,
                          s.trailers_.size() - s.trailer_field_start_};
    auto colon = line.find(": ");
    auto name = line.substr(0, colon);
    auto value = trim_ows(line.substr(colon + 2));
    if (!is_token(name))
      return s.fail(bad, "invalid trailer field name");
    if (!is_field_value(value))
      return s.fail(bad, "invalid trailer field value");
    auto id = lookup_header(name);
    if (id != header_id::other || equals_lowercase(name, "authorization") ||
        equals_lowercase(name, "cookie") || equals_lowercase(name, "set-cookie") ||
        equals_lowercase(name, "content-type") || equals_lowercase(name, "content-encoding"))
      s.trailers_.resize(s.trailer_field_start_);
    else
      s.trailers_.append("\r\n");
    return 0;
  }
  return s.note_header(s.headers_.back());
}

int parser::note_header(header_field& h) noexcept {
  int bad = kind_ == message_kind::request ? 400 : 502;
  // llhttp lets a space before the colon and an empty name through. A
  // name lookup_header knows in full is a token already (letters and '-').
  h.id = lookup_header(h.name);
  if ((h.id == header_id::other || h.id == header_id::proxy_any) && !is_token(h.name))
    return fail(bad, "invalid header field name");
  h.value = trim_ows(h.value);
  if (!is_field_value(h.value))
    return fail(bad, "invalid header field value");
  switch (h.id) {
    case header_id::host:
      ++host_count_;
      head_.host = h.value;
      break;
    case header_id::transfer_encoding:
      ++te_count_;
      transfer_encoding_ = h.value;
      break;
    case header_id::connection: {
      bool overflow = false;
      for_each_list_element(h.value, [this, &overflow](std::string_view token) {
        if (equals_lowercase(token, "close")) {
          connection_close_ = true;
          return;
        }
        if (equals_lowercase(token, "keep-alive")) {
          connection_keep_alive_ = true;
          return;
        }
        if (equals_lowercase(token, "upgrade")) {
          connection_upgrade_ = true;
          return;
        }
        if (connection_token_count_ < connection_tokens_.size())
          connection_tokens_[connection_token_count_++] = token;
        else
          overflow = true;
      });
      // Every field named here must be dropped: one we could not remember
      // would be forwarded, so the message is refused instead.
      if (overflow)
        return fail(bad, "too many connection options");
      break;
    }
    case header_id::expect:
      if (kind_ == message_kind::request) {
        if (!equals_lowercase(h.value, "100-continue"))
          return fail(417, "unsupported expectation");
        head_.expect_continue = true;
      }
      break;
    case header_id::upgrade:
      head_.upgrade_to = h.value;
      break;
    case header_id::x_forwarded_for:
      ++head_.x_forwarded_for_count;
      break;
    default:
      break;
  }
  return 0;
}

int parser::check_request_head() noexcept {
  auto& h = head_;
  if (h.version_major != 1 || h.version_minor > 1)
    return fail(505, "http version not supported");
  if (h.method_id == HTTP_CONNECT)
    return fail(405, "CONNECT is not supported");
  switch (transfer_coding_problem()) {
    case coding_problem::none:
      break;
    case coding_problem::in_http10:
      return fail(400, "transfer-encoding in HTTP/1.0");
    case coding_problem::not_chunked:
      return fail(501, "transfer coding not implemented");
    case coding_problem::not_framed: // the body would be read as the next request
      return fail(400, "malformed transfer-encoding");
  }
  if (host_count_ > 1)
    return fail(400, "duplicate host");
  if (host_count_ == 0 && !h.is_http10())
    return fail(400, "missing host");
  if (host_count_ == 1 && !valid_host(h.host))
    return fail(400, "malformed host");
  auto target = h.target;
  if (target.empty())
    return fail(400, "empty request target");
  if (target.find('#') != std::string_view::npos)
    return fail(400, "fragment in request target");
  if (target == "*") {
    if (h.method_id != HTTP_OPTIONS)
      return fail(400, "asterisk-form is only for OPTIONS");
  } else if (target.front() != '/') {
    // absolute-form: "http://authority/path"; the authority replaces Host
    // (RFC 9112 §3.2.2).
    auto scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos || !(equals_lowercase(target.substr(0, scheme_end), "http") ||
                                                  equals_lowercase(target.substr(0, scheme_end), "https")))
      return fail(400, "malformed request target");
    auto rest = target.substr(scheme_end + 3);
    auto auth_end = rest.find_first_of("/?");
    auto authority = rest.substr(0, auth_end);
    if (authority.empty() || !valid_host(authority))
      return fail(400, "malformed authority");
    h.host = authority;
    h.target = auth_end == std::string_view::npos ? std::string_view{"/"} : rest.substr(auth_end);
    if (h.target.front() == '?')
      return fail(400, "malformed request target");
  }
  if (has_dot_segment(h.target))
    return fail(400, "dot-segment in path");

  bool upgrade = read_connection_options();
  // RFC 9110 §7.8: an Upgrade in an HTTP/1.0 request is ignored.
  h.upgrade = !h.is_http10() && upgrade && !h.upgrade_to.empty();
  if ((llhttp_.flags & F_CHUNKED) != 0)
    h.framing = body_framing::chunked;
  else if ((llhttp_.flags & F_CONTENT_LENGTH) != 0) {
    h.framing = body_framing::length;
    h.content_length = llhttp_.content_length;
  }
  return 0;
}

parser::coding_problem parser::transfer_coding_problem() const noexcept {
  if (te_count_ == 0)
    return coding_problem::none;
  if (head_.is_http10())
    return coding_problem::in_http10;
  if (te_count_ > 1 || !equals_lowercase(trim_ows(transfer_encoding_), "chunked"))
    return coding_problem::not_chunked;
  if ((llhttp_.flags & F_CHUNKED) == 0)
    return coding_problem::not_framed;
  return coding_problem::none;
}

bool parser::read_connection_options() noexcept {
  head_.keep_alive = head_.is_http10() ? (connection_keep_alive_ && !connection_close_) : !connection_close_;
  return connection_upgrade_;
}

int parser::check_response_head() noexcept {
  auto& h = head_;
  if (h.version_major != 1 || h.version_minor > 1)
    return fail(502, "upstream http version");
  // Three digits (llhttp takes "20"); 1xx-5xx only.
  if (h.status < 100 || h.status > 599)
    return fail(502, "upstream status code");
  // Faulty framing gets the client a 502 (RFC 9112 §6.1); "chunked<TAB>",
  // which llhttp does not frame, would be read until close, its chunk
  // framing included.
  switch (transfer_coding_problem()) {
    case coding_problem::none:
      break;
    case coding_problem::in_http10:
      return fail(502, "transfer-encoding in HTTP/1.0 response");
    case coding_problem::not_chunked:
    case coding_problem::not_framed:
      return fail(502, "upstream transfer coding");
  }
  read_connection_options();
  h.upgrade = h.status == 101;
  if (skip_body_ || (h.status >= 100 && h.status < 200) || h.status == 204 || h.status == 304) {
    h.framing = body_framing::none;
  } else if ((llhttp_.flags & F_CHUNKED) != 0) {
    h.framing = body_framing::chunked;
  } else if ((llhttp_.flags & F_CONTENT_LENGTH) != 0) {
    h.framing = body_framing::length;
    h.content_length = llhttp_.content_length;
  } else {
    h.framing = body_framing::until_close;
    h.keep_alive = false;
  }
  return 0;
}

int parser::finish_head() noexcept {
  head_.version_major = llhttp_.http_major;
  head_.version_minor = llhttp_.http_minor;
  head_.headers = std::span<const header_field>{headers_.data(), headers_.size()};
  head_.connection_tokens =
      std::span<const std::string_view>{connection_tokens_.data(), connection_token_count_};
  if (kind_ == message_kind::request) {
    head_.method_id = llhttp_.method;
    head_.method = llhttp_method_name(static_cast<llhttp_method_t>(llhttp_.method));
    return check_request_head();
  }
  head_.status = llhttp_.status_code;
  return check_response_head();
}

int parser::on_headers_complete(llhttp_t* p) {
  auto& s = self_of(p);
  if (s.in_ == in::field) {
    s.fail(s.kind_ == message_kind::request ? 400 : 502, "header without value");
    return -1;
  }
  if (s.finish_head() != 0)
    return -1; // the reason is in error_
  s.head_done_ = true;
  s.in_ = in::start;
  s.in_trailers_ = true; // header callbacks from now on are trailers
  if (s.head_.framing == body_framing::none ||
      (s.head_.framing == body_framing::length && s.head_.content_length == 0))
    return 1; // no body: llhttp completes the message right away
  return HPE_PAUSED;
}

int parser::on_body(llhttp_t* p, const char* at, std::size_t n) {
  auto& s = self_of(p);
  s.body_bytes_ += n;
  s.add_piece(at, n);
  return 0;
}

int parser::on_chunk_header(llhttp_t* p) {
  auto& s = self_of(p);
  std::uint64_t size = p->content_length;
  s.chunk_size_ = size;
  if (s.out_chunked_ && size > 0) {
    char line[24];
    std::size_t n = write_hex(line, size);
    line[n++] = '\r';
    line[n++] = '\n';
    s.add_framing(std::string_view{line, n});
  }
  return 0;
}

int parser::on_chunk_complete(llhttp_t* p) {
  auto& s = self_of(p);
  // The last chunk (size 0) ends in on_message_complete instead.
  if (s.out_chunked_ && s.chunk_size_ > 0)
    s.add_framing("\r\n");
  // Stop between chunks before the piece list overflows; the caller writes
  // what it has and calls parse() again.
  if (s.pieces_nearly_full())
    return HPE_PAUSED;
  return 0;
}

int parser::on_message_complete(llhttp_t* p) {
  auto& s = self_of(p);
  if (s.out_chunked_) {
    // Last chunk, forwarded trailers, final CRLF. Trailers are rare; they
    // are the only body bytes copied.
    s.add_framing("0\r\n");
    if (!s.trailers_.empty())
      s.add_piece(s.trailers_.data(), s.trailers_.size());
    s.add_framing("\r\n");
  }
  s.message_done_ = true;
  return HPE_PAUSED;
}

// --- helpers ----------------------------------------------------------------

bool valid_host(std::string_view host) noexcept {
  if (host.empty() || host.size() > 255)
    return false;
  std::string_view name = host;
  std::string_view port;
  if (host.front() == '[') {
    auto close = host.find(']');
    if (close == std::string_view::npos)
      return false;
    name = host.substr(0, close + 1);
    auto rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':')
        return false;
      port = rest.substr(1);
      if (port.empty())
        return false;
    }
    for (char c : name.substr(1, name.size() - 2))
      if (!(is_digit(c) || (to_lower(c) >= 'a' && to_lower(c) <= 'f') || c == ':' || c == '.'))
        return false;
  } else {
    auto colon = host.find(':');
    if (colon != std::string_view::npos) {
      name = host.substr(0, colon);
      port = host.substr(colon + 1);
      if (port.empty())
        return false;
    }
    if (name.empty())
      return false;
    for (char c : name)
      if (!is_host_char(c) || c == '[' || c == ']' || c == ':')
        return false;
  }
  if (port.size() > 5)
    return false;
  for (char c : port)
    if (!is_digit(c))
      return false;
  return true;
}

std::string_view host_without_port(std::string_view host) noexcept {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  auto colon = host.find(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

bool has_dot_segment(std::string_view target) noexcept {
  auto path = target.substr(0, target.find('?'));
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] != '/') {
      ++i;
      continue;
    }
    auto end = path.find('/', i + 1);
    auto seg = path.substr(i + 1, end == std::string_view::npos ? std::string_view::npos : end - i - 1);
    // Decode only what can spell a dot: "%2e" / "%2E".
    int dots = 0;
    bool only_dots = !seg.empty();
    for (std::size_t k = 0; k < seg.size() && only_dots;) {
      if (seg[k] == '.') {
        ++dots;
        ++k;
      } else if (seg[k] == '%' && seg.size() >= k + 3 && seg[k + 1] == '2' &&
                 (seg[k + 2] == 'e' || seg[k + 2] == 'E')) {
        ++dots;
        k += 3;
      } else {
        only_dots = false;
      }
    }
    if (only_dots && (dots == 1 || dots == 2))
      return true;
    if (end == std::string_view::npos)
      break;
    i = end;
  }
  return false;
}

} // namespace ika::http
