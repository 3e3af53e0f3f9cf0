#pragma once
// The scatter list of one write of the proxy (see gather).

#include "runtime/http/chars.hpp"
#include "runtime/http/parser.hpp"

#include <asio/buffer.hpp>

#include <array>
#include <cstddef>
#include <span>
#include <string_view>

namespace ika::proxy {

/// Output of one step of body streaming: an optional head, an optional
/// chunk-size line, the parser's pieces, an optional CRLF; 64 pieces + 3 fit
/// one sendmsg. 1.2 KB: a connection borrows one from its io thread while
/// it has a request (worker.hpp) rather than keep it in a coroutine frame,
/// where it would make the frame too large for Asio to recycle and cost a
/// malloc and free per request.
struct gather {
  std::array<asio::const_buffer, 72> bufs;
  std::size_t count = 0;
  char chunk_line[20];

  void clear() noexcept { count = 0; }
  void add(const void* data, std::size_t size) {
    if (size > 0)
      bufs[count++] = asio::const_buffer{data, size};
  }
  void add(std::string_view s) { add(s.data(), s.size()); }
  std::span<asio::const_buffer> span() { return {bufs.data(), count}; }

  /// Adds the parser's pieces; with `rechunk`, wraps them in one chunk
  /// (used for bodies delimited by close, sent on to an HTTP/1.1 client).
  void add_pieces(const http::parser& p, bool rechunk) {
    auto pieces = p.pieces();
    if (pieces.empty())
      return;
    if (rechunk) {
      std::size_t n = http::write_hex(chunk_line, p.pieces_size());
      chunk_line[n++] = '\r';
      chunk_line[n++] = '\n';
      add(chunk_line, n);
    }
    for (auto& piece : pieces)
      add(piece.data, piece.size);
    if (rechunk)
      add("\r\n");
  }
};

} // namespace ika::proxy
