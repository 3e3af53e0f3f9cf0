#pragma once
// Socket I/O helpers that keep system calls per request low.
//
// Reads go through async_read_some: Asio's epoll reactor remembers per socket
// whether the last read drained it and whether an edge came in since, so it
// skips the read that is bound to fail (right after sending a request the
// response is not there yet) without ever missing an edge. Writes are tried
// directly on the non-blocking socket and only a would-block goes through
// the reactor, which saves the completion hop of an async op that would have
// completed at once; a gathered write sends head and body in one sendmsg.

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>

#include <cstddef>
#include <span>
#include <system_error>

namespace ika::net {

/// Puts a freshly accepted or connected socket in the mode this file needs.
void prepare_socket(asio::ip::tcp::socket& s) noexcept;

/// Reads at most `size` bytes; 0 bytes with `asio::error::eof` when the
/// peer closed.
asio::awaitable<std::size_t> read_some(asio::ip::tcp::socket& s, char* data, std::size_t size,
                                       std::error_code& ec);

/// Writes all of `buffers` (gathered: one sendmsg for up to 64 buffers).
/// `buffers` is consumed (modified) as bytes go out.
asio::awaitable<std::error_code> write_all(asio::ip::tcp::socket& s, std::span<asio::const_buffer> buffers);

} // namespace ika::net
