#pragma once
// An independent check of chunked framing (RFC 9112 §7.1), run over the
// bytes llhttp consumed for a chunked body.
//
// llhttp 8.1 (Debian's) is lenient where a proxy must not be: it takes any
// byte in place of the LF after a chunk size, and any two bytes in place of
// the CRLF after chunk data. Either lets a request smuggle a second one past
// a proxy that trusts the parser. This validator accepts only
//   chunk = 1*HEXDIG [ chunk-ext ] CRLF chunk-data CRLF
//   last  = 1*"0" [ chunk-ext ] CRLF *( field-line CRLF ) CRLF
// with no bare CR or LF anywhere in the framing; field and extension syntax
// is llhttp's (and the parser's) business.

#include <cstddef>
#include <cstdint>

namespace ika::http {

class chunked_framing {
public:
  /// Starts over, for a new body.
  void reset() noexcept { *this = chunked_framing{}; }

  /// Checks the next `size` bytes of the body. False: malformed (sticky).
  bool feed(const char* data, std::size_t size) noexcept;

  /// The final CRLF of the body has been seen.
  bool done() const noexcept { return state_ == state::done; }

private:
  enum class state : std::uint8_t {
    size_first,    // first hex digit of a chunk size
    size,          // more hex digits, ';', whitespace or CR
    extension,     // anything but CR, LF and CTLs, until CR
    size_lf,       // LF after the size line's CR
    data,          // `remaining_` bytes of chunk data
    data_cr,       // CR after the data
    data_lf,       // LF after the data
    trailer_start, // a field line or the final CR
    trailer_line,  // inside a field line
    trailer_lf,    // LF ending a field line
    final_lf,      // LF of the final CRLF
    done,
    bad,
  };
  state state_ = state::size_first;
  std::uint64_t size_ = 0;
  std::uint64_t remaining_ = 0;
  int digits_ = 0;
};

} // namespace ika::http
