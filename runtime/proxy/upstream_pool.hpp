#pragma once
// Idle keep-alive connections to upstreams, one pool per io thread (no
// locks: a connection never leaves its thread). Reusing connections is the
// biggest single lever of a proxy on loopback: connecting per request was
// measured 3.3x slower at 100 B.
//
// A connection that stays idle for more than one tick (100 ms) gets a
// read-readiness wait armed: if the upstream closes it (or sends anything)
// while it sits in the pool, it is dropped at once instead of failing the
// next request. The wait is not armed at once because arming one costs an
// epoll_ctl system call (Asio re-arms the edge-triggered registration for
// non-speculative waits), which under load would be one more system call
// per request for connections that are reused within microseconds. The race
// that remains (the upstream closes just as a request is sent) is covered by
// the session's retry of requests that are safe to retry.

#include "runtime/http/parser.hpp"
#include "runtime/net/deadline_list.hpp"
#include "runtime/net/recycler.hpp"

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <unordered_map>
#include <vector>

namespace ika::proxy {

/// One connection to an upstream, with the buffer its responses are read
/// into: 64 KiB of body plus room for the head, so a 64 KiB response comes
/// in one read and goes out in one write (16 KiB buffers cost 20-25% at
/// 64 KiB bodies). A connection idle in the pool holds no buffer: the pool
/// lends one with take() (and to new connections, lend_buffer()).
struct upstream_connection {
  static constexpr std::size_t buffer_size = 72 * 1024;

  upstream_connection(asio::io_context& ctx, const asio::ip::tcp::endpoint& ep);

  asio::ip::tcp::socket socket;
  asio::ip::tcp::endpoint endpoint;
  std::unique_ptr<char[]> buffer; ///< buffer_size bytes, null while pooled
  http::parser parser;
  std::uint64_t requests = 0;                       ///< requests sent on it so far
  net::deadline_list::clock::time_point idle_since; ///< when it entered the pool
  std::uint64_t idle_generation = 0;                ///< bumped on every take
  bool watched = false;                             ///< an idle wait is armed
};

class upstream_pool {
public:
  upstream_pool(asio::io_context& ctx, net::deadline_list& ticker, std::size_t max_idle_per_upstream,
                std::chrono::milliseconds idle_timeout);
  ~upstream_pool();
  upstream_pool(const upstream_pool&) = delete;
  upstream_pool& operator=(const upstream_pool&) = delete;

  /// The most recently used idle connection to `ep`, or nullptr.
  std::shared_ptr<upstream_connection> take(const asio::ip::tcp::endpoint& ep);

  /// Returns a connection whose last response was read completely.
  void give_back(std::shared_ptr<upstream_connection> c);

  /// Closes every idle connection.
  void clear();

  /// Gives a connection without a buffer (a new one) a buffer.
  void lend_buffer(upstream_connection& c);

  std::size_t idle() const noexcept { return idle_count_; }

private:
  using list = std::vector<std::shared_ptr<upstream_connection>>;
  void watch(const std::shared_ptr<upstream_connection>& c);
  void drop(upstream_connection* c);
  static bool tick(void* self);

  asio::io_context& ctx_;
  net::deadline_list& ticker_;
  std::size_t max_idle_;
  std::chrono::milliseconds idle_timeout_;
  /// The buffers of pooled connections, for the next connection in use.
  net::buffer_recycler buffers_{net::make_buffer{upstream_connection::buffer_size}};
  std::unordered_map<asio::ip::tcp::endpoint, list> idle_;
  std::size_t idle_count_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace ika::proxy
