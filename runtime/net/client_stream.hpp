#pragma once
// A client connection's byte stream: a TCP socket, plain or under TLS.
//
// TLS runs OpenSSL over memory: a BIO of ours hands OpenSSL the ciphertext
// read from the socket and collects what it writes. The socket itself is
// read and written exactly as a plain one (socket_io.hpp: reads through
// Asio's reactor, which skips reads bound to fail; writes tried directly), so
// a TLS connection costs the same system calls as a plain one: one recv per
// batch of records, one send per response. Coalesced writes: a head and a
// small body go out as one TLS record.
//
// read_some / write_all below pick the plain or the TLS path per call with
// no extra coroutine frame for the plain one. A stream is used by one io
// thread; a read and a write may be in progress at the same time (a
// tunnel), nothing more.

#include "runtime/net/socket_io.hpp"

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <openssl/ssl.h>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace ika::net {

class client_stream {
public:
  explicit client_stream(asio::ip::tcp::socket socket) noexcept : socket_(std::move(socket)) {}
  ~client_stream();
  client_stream(const client_stream&) = delete;
  client_stream& operator=(const client_stream&) = delete;

  asio::ip::tcp::socket& socket() noexcept { return socket_; }
  bool secure() const noexcept { return ssl_ != nullptr; }
  /// Bytes read from the socket and not yet returned by a read (ciphertext
  /// ours or OpenSSL's, which reads ahead); 0 means nothing is pending.
  std::size_t buffered() const noexcept {
    return in_end_ - in_begin_ + (ssl_ != nullptr && SSL_has_pending(ssl_) ? 1 : 0);
  }

  /// The server side of a TLS handshake on `context`, with `app_data` as
  /// the SSL's app data (what the context's callbacks read). An error ends
  /// the connection.
  asio::awaitable<std::error_code> accept_tls(SSL_CTX* context, void* app_data);

  /// The name the client asked for (SNI), empty without one or before the
  /// handshake.
  std::string_view server_name() const noexcept;
  /// "TLSv1.3" and the like (empty for plain).
  std::string_view tls_version() const noexcept;

  /// TLS only: see read_some / write_all.
  asio::awaitable<std::size_t> tls_read_some(char* data, std::size_t size, std::error_code& ec);
  asio::awaitable<std::error_code> tls_write_all(std::span<asio::const_buffer> buffers);

  /// TLS only: ciphertext the caller read from socket() itself (an idle
  /// connection's first bytes), to be decrypted by the next read.
  void add_ciphertext(const char* data, std::size_t size);

  /// TLS's input buffer (ciphertext not yet decrypted), input_capacity
  /// bytes. An idle connection need not hold one: release_input() gives it
  /// up when nothing is pending in it, lend_input() hands one back (else the
  /// next read allocates its own).
  static constexpr std::size_t input_capacity = 18 * 1024;
  bool holds_input() const noexcept { return in_ != nullptr; }
  std::unique_ptr<char[]> release_input() noexcept;
  void lend_input(std::unique_ptr<char[]> buffer) noexcept;

  /// Queues TLS's close_notify and sends it (nothing for plain).
  asio::awaitable<void> close_notify();

  void cancel(std::error_code& ec) noexcept { socket_.cancel(ec); }
  void close(std::error_code& ec) noexcept { socket_.close(ec); }
  bool is_open() const noexcept { return socket_.is_open(); }

private:
  friend struct stream_bio;
  asio::awaitable<std::error_code> flush();
  /// Makes sure in_ exists and, when it is full, moves its unread
  /// ciphertext to the front.
  void make_room();
  /// Reads more ciphertext from the socket into in_.
  asio::awaitable<void> fill(std::error_code& ec);
  /// Hands `size` plaintext bytes to OpenSSL (they end up in out_).
  bool encrypt(const void* data, std::size_t size) noexcept;

  asio::ip::tcp::socket socket_;
  SSL* ssl_ = nullptr;
  std::unique_ptr<char[]> in_; ///< ciphertext read, not yet taken by OpenSSL
  std::size_t in_begin_ = 0, in_end_ = 0;
  std::string out_; ///< ciphertext to send
  std::size_t out_sent_ = 0;
  std::string coalesce_; ///< small buffers joined into one record
};

/// Reads at most `size` bytes of plaintext; 0 with `asio::error::eof` once
/// the peer closed.
inline asio::awaitable<std::size_t> read_some(client_stream& s, char* data, std::size_t size,
                                              std::error_code& ec) {
  if (!s.secure())
    return read_some(s.socket(), data, size, ec);
  return s.tls_read_some(data, size, ec);
}

/// Writes all of `buffers` (consumed as they go out).
inline asio::awaitable<std::error_code> write_all(client_stream& s, std::span<asio::const_buffer> buffers) {
  if (!s.secure())
    return write_all(s.socket(), buffers);
  return s.tls_write_all(buffers);
}

} // namespace ika::net
