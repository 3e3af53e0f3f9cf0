#include "runtime/http/chunked_framing.hpp"

namespace ika::http {

namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

bool line_byte(char c) noexcept {
  auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

} // namespace

bool chunked_framing::feed(const char* data, std::size_t size) noexcept {
  std::size_t i = 0;
  while (i < size) {
    char c = data[i];
    switch (state_) {
      case state::size_first:
      case state::size: {
        int v = hex_value(c);
        if (v >= 0) {
          // 16 hex digits hold any size llhttp accepts; more is an overflow.
          if (++digits_ > 16)
            return state_ = state::bad, false;
          size_ = size_ * 16 + static_cast<unsigned>(v);
          state_ = state::size;
        } else if (state_ == state::size_first) {
          return state_ = state::bad, false;
        } else if (c == '\r') {
          state_ = state::size_lf;
        } else if (c == ';' || c == ' ' || c == '\t') {
          state_ = state::extension;
        } else {
          return state_ = state::bad, false;
        }
        ++i;
        break;
      }
      case state::extension:
        if (c == '\r')
          state_ = state::size_lf;
        else if (!line_byte(c))
          return state_ = state::bad, false;
        ++i;
        break;
      case state::size_lf:
        if (c != '\n')
          return state_ = state::bad, false;
        ++i;
        if (size_ == 0) {
          state_ = state::trailer_start;
        } else {
          remaining_ = size_;
          state_ = state::data;
        }
        size_ = 0;
        digits_ = 0;
        break;
      case state::data: {
        std::size_t n = size - i;
        if (n > remaining_)
          n = static_cast<std::size_t>(remaining_);
        i += n;
        remaining_ -= n;
        if (remaining_ == 0)
          state_ = state::data_cr;
        break;
      }
      case state::data_cr:
        if (c != '\r')
          return state_ = state::bad, false;
        state_ = state::data_lf;
        ++i;
        break;
      case state::data_lf:
        if (c != '\n')
          return state_ = state::bad, false;
        state_ = state::size_first;
        ++i;
        break;
      case state::trailer_start:
        if (c == '\r') {
          state_ = state::final_lf;
        } else if (line_byte(c)) {
          state_ = state::trailer_line;
        } else {
          return state_ = state::bad, false;
        }
        ++i;
        break;
      case state::trailer_line:
        if (c == '\r')
          state_ = state::trailer_lf;
        else if (!line_byte(c))
          return state_ = state::bad, false;
        ++i;
        break;
      case state::trailer_lf:
        if (c != '\n')
          return state_ = state::bad, false;
        state_ = state::trailer_start;
        ++i;
        break;
      case state::final_lf:
        if (c != '\n')
          return state_ = state::bad, false;
        state_ = state::done;
        ++i;
        break;
      case state::done:
        // Bytes after the body belong to the next message: the caller must
        // not feed them.
        return state_ = state::bad, false;
      case state::bad:
        return false;
    }
  }
  return true;
}

} // namespace ika::http
