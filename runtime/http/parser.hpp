#pragma once
// The llhttp wrapper used for both directions of the proxy.
//
// llhttp does the tokenising; this class adds what an intermediary must
// refuse on top of it (obs-fold, whitespace before a colon, CTLs, duplicate or
// malformed Host, transfer codings it will not forward, versions other than
// 1.0/1.1, dot-segments, oversize heads) and re-frames the body for the next
// hop without copying: body bytes come out as views into the input buffer,
// interleaved with the few framing bytes (chunk sizes, CRLFs) kept in a small
// scratch area of the parser.

#include "runtime/http/chunked_framing.hpp"
#include "runtime/http/head.hpp"

#include <llhttp.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ika::http {

/// Limits enforced while parsing a head (statuses in parentheses).
struct parser_limits {
  std::size_t max_head_bytes = 16 * 1024; ///< request line + headers (431)
  std::size_t max_uri_bytes = 8 * 1024;   ///< request target (414)
  std::size_t max_headers = 100;          ///< header lines (431)
};

/// Why a message was refused, and the status a server answers with.
struct parse_error {
  int status = 0;            ///< 400, 414, 431, 501, 505 (requests); 502 for responses
  std::string_view reason{}; ///< short, static, safe to log
};

/// A slice of output bytes for the next hop.
struct byte_view {
  const char* data;
  std::size_t size;
};

enum class message_kind : std::uint8_t { request, response };

/// What a call to `parser::parse` stopped at.
enum class parse_event : std::uint8_t {
  need_more, ///< all input consumed; feed more (body pieces may be ready)
  head,      ///< the head is complete (the message may be complete too)
  body,      ///< stopped early because the piece list is full; call again
  complete,  ///< the message is complete; bytes after it belong to the next
  error,     ///< malformed; see `error()`
};

class parser {
public:
  explicit parser(message_kind kind, parser_limits limits = {});
  parser(const parser&) = delete;
  parser& operator=(const parser&) = delete;

  /// Prepares for the next message on the same connection.
  void reset() noexcept;

  /// For a response: the request was HEAD (or the body must be ignored).
  void set_skip_body(bool skip) noexcept { skip_body_ = skip; }

  /// Chooses how body bytes are framed for the next hop: chunked (chunk
  /// sizes regenerated, extensions dropped, trailers kept) or as raw data.
  void set_output_chunked(bool chunked) noexcept { out_chunked_ = chunked; }

  /// Parses input; `consumed` tells how much of it belongs to this message
  /// so far. Body bytes come out through `pieces()`.
  struct result {
    parse_event event;
    std::size_t consumed;
  };
  result parse(const char* data, std::size_t size) noexcept;

  /// Signals the end of input (the peer closed). Completes a body delimited
  /// by close; anything else incomplete becomes an error.
  parse_event finish() noexcept;

  const message_head& head() const noexcept { return head_; }
  bool head_complete() const noexcept { return head_done_; }
  bool message_complete() const noexcept { return message_done_; }
  const parse_error& error() const noexcept { return error_; }
  /// Bytes of body received so far (decoded, without chunk framing).
  std::uint64_t body_bytes() const noexcept { return body_bytes_; }

  /// Output pieces produced since the last `clear_pieces()`.
  std::span<const byte_view> pieces() const noexcept { return {pieces_.data(), piece_count_}; }
  std::size_t pieces_size() const noexcept;
  void clear_pieces() noexcept;

private:
  static int on_message_begin(llhttp_t*);
  static int on_method(llhttp_t*, const char*, std::size_t);
  static int on_url(llhttp_t*, const char*, std::size_t);
  static int on_version(llhttp_t*, const char*, std::size_t);
  static int on_status(llhttp_t*, const char*, std::size_t);
  static int on_header_field(llhttp_t*, const char*, std::size_t);
  static int on_header_value(llhttp_t*, const char*, std::size_t);
  static int on_header_value_complete(llhttp_t*);
  static int on_headers_complete(llhttp_t*);
  static int on_body(llhttp_t*, const char*, std::size_t);
  static int on_chunk_header(llhttp_t*);
  static int on_chunk_complete(llhttp_t*);
  static int on_message_complete(llhttp_t*);
  static const llhttp_settings_t* settings();

  int fail(int status, std::string_view reason) noexcept;
  static bool unsupported_version(std::string_view input) noexcept;
  int finish_head() noexcept;
  int check_request_head() noexcept;
  int check_response_head() noexcept;
  /// What is wrong with the message's Transfer-Encoding, if anything: RFC
  /// 9112 §6.1 allows none in HTTP/1.0, and ika forwards a lone "chunked"
  /// that llhttp framed as chunked, nothing else.
  enum class coding_problem { none, in_http10, not_chunked, not_framed };
  coding_problem transfer_coding_problem() const noexcept;
  /// Sets head_.keep_alive from the version and the Connection options
  /// (collected by note_header); returns whether "upgrade" is one of them.
  bool read_connection_options() noexcept;
  int note_header(header_field& h) noexcept;
  void add_piece(const char* data, std::size_t size) noexcept;
  void add_framing(std::string_view bytes) noexcept;
  bool pieces_nearly_full() const noexcept;
  std::size_t head_bytes_so_far(const char* end) const noexcept;

  llhttp_t llhttp_{};
  message_kind kind_;
  parser_limits limits_;

  message_head head_;
  std::vector<header_field> headers_;
  std::array<std::string_view, 32> connection_tokens_{};
  std::size_t connection_token_count_ = 0;
  // The Connection options of the message, as note_header sees them.
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  bool connection_upgrade_ = false;
  const char* head_start_ = nullptr;
  // Which token llhttp is in: field names and values arrive in pieces.
  enum class in : std::uint8_t { start, field, value, value_done } in_ = in::start;
  bool head_done_ = false;
  bool head_reported_ = false;
  bool message_done_ = false;
  bool skip_body_ = false;
  bool out_chunked_ = false;
  bool in_trailers_ = false;
  int host_count_ = 0;
  int te_count_ = 0;
  std::string_view transfer_encoding_;
  parse_error error_{};
  std::uint64_t body_bytes_ = 0;
  std::uint64_t chunk_size_ = 0;
  std::string_view method_span_; ///< request method as it appeared
  bool version_seen_ = false;
  const char* input_end_ = nullptr; ///< end of the current parse() input
  chunked_framing framing_check_;
  std::size_t head_fed_ = 0; ///< bytes fed while the head was incomplete

  static constexpr std::size_t max_pieces = 64;
  std::array<byte_view, max_pieces> pieces_{};
  std::size_t piece_count_ = 0;
  std::array<char, max_pieces * 24> framing_{};
  std::size_t framing_used_ = 0;
  std::string trailers_; ///< re-encoded trailer section (rare: copied)
  std::size_t trailer_field_start_ = 0;
  // Where the last trailer piece ended, to tell a value split across two
  // inputs from an obs-fold continuation (llhttp reports both as more value).
  const char* input_start_ = nullptr;
  const char* trailer_piece_end_ = nullptr;
  bool trailer_piece_at_input_end_ = false;
  const char* trailer_input_end_ = nullptr;
};

/// Validates a Host header value or an absolute-form authority:
/// `host [":" port]`, no userinfo, port digits only.
bool valid_host(std::string_view host) noexcept;

/// Host without port, as it must be compared (case is left to the caller).
std::string_view host_without_port(std::string_view host) noexcept;

/// True if the path (before '?') has a "." or ".." segment, plain or
/// percent-encoded.
bool has_dot_segment(std::string_view target) noexcept;

} // namespace ika::http
