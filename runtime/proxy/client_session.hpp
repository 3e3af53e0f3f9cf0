#pragma once
// One client connection, from accept to close: a coroutine on the io thread
// that accepted it. A request's life, in order:
//
//   read_head     read and validate the head (llhttp + ika's strict rules);
//                 malformed -> 4xx and close, the upstream sees nothing
//   route         match host and path in this thread's route snapshot;
//                 no route -> 404, body over the limit -> 413
//   wait          an on-demand app with no instance (or none accepting
//                 connections): wait at its gate (demand_gate.hpp) until a
//                 table with an instance is published, then route again;
//                 too many waiting -> 503, start failed -> 502, timeout ->
//                 504. The request body is read only after the wait.
//   send_request  take a pooled upstream connection (or connect, 5 s), send
//                 the rewritten head and the body already buffered in one
//                 gathered write, then stream the rest of the body;
//                 connect failure -> next upstream; nothing left -> 502
//   read_response read the upstream head (1xx skipped, 101 -> tunnel),
//                 silent upstream -> 504, malformed -> 502
//   send_response write the rewritten head with the first body bytes, then
//                 stream the body; the upstream connection goes back to the
//                 pool when its response was complete and clean
//
// Timeouts come from the io thread's deadline list (one coarse tick, no
// timer per operation). The hot path never waits on an actor; what it
// allocates per request (coroutine frames, the head it writes) comes from
// malloc's per-thread caches.
//
// Between requests a connection holds no buffer, parser or TLS input (they
// go back to the io thread's recyclers, worker.hpp): it waits for the next
// request's first bytes in a 512-byte landing area, so an idle keep-alive
// connection costs about 2.8 KB (tools/bench/idle), not the 17 KB of a
// buffer kept per connection.

#include "runtime/cache/store.hpp"
#include "runtime/http/parser.hpp"
#include "runtime/net/client_stream.hpp"
#include "runtime/net/deadline_list.hpp"
#include "runtime/proxy/server.hpp"
#include "runtime/proxy/upstream_pool.hpp"
#include "runtime/proxy/worker.hpp"

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <memory>
#include <string>

namespace ika::proxy {

class client_session final : public net::deadline_entry {
public:
  client_session(std::shared_ptr<listener_shared> shared, worker& w, std::size_t thread,
                 asio::ip::tcp::socket socket);
  ~client_session() override;

  /// Serves requests until the connection ends.
  asio::awaitable<void> run();
  /// After run(), on the io thread: its buffers go back to the worker.
  void give_back_buffers() noexcept;

  void expire() noexcept override;
  void stop(bool now) noexcept override;

private:
  enum class phase : std::uint8_t { idle, head, waiting, request_body, upstream, response, tunnel, closing };
  enum class next : std::uint8_t { keep_alive, close };

  /// One request and its response: what the phases hand to each other.
  struct exchange {
    // From the request head (its views die when the buffer is reused).
    char host[256];
    std::size_t host_size = 0;
    std::string_view path; ///< valid while the head is (used for re-routing)
    bool has_body = false;
    bool head_request = false;
    bool http10 = false;
    bool client_keep_alive = true;
    bool wants_upgrade = false;
    bool expect_continue = false;
    bool retryable = false;
    std::uint64_t max_body = 0;
    // The upstream side.
    asio::ip::tcp::endpoint endpoint;
    std::size_t upstream_count = 0;
    std::size_t attempts = 0;
    std::shared_ptr<upstream_connection> up;
    bool reused = false;     ///< the connection came from the pool
    bool fresh_only = false; ///< the pool is not to be used (after a stale one)
    bool request_complete = false;
    std::size_t ubegin = 0, uend = 0; ///< unparsed response bytes in up->buffer
    // A route to an app: the binding (kept alive for the exchange), the
    // instance chosen (its in-flight count includes this request), and the
    // instances tried already.
    std::shared_ptr<const app_binding> app;
    const proxy::backend* backend = nullptr;
    std::uint64_t tried = 0;
    // Waiting for an on-demand app: the table version the route was
    // resolved on, the end of the wait, and why the app failed to start.
    std::uint64_t table_version = 0;
    bool waited = false;
    std::chrono::steady_clock::time_point wait_deadline{};
    std::string detail;
    // The cache, on a route that has it: the route's settings, the key's
    // shard and hash, the fill this request fetches for (others may wait
    // on it), the stale object it revalidates, and the X-Cache line of a
    // response that comes from upstream.
    const route_cache* cache = nullptr; ///< the route's; valid until routing's first co_await
    bool cached = false;                ///< the route caches
    route_cache fill_route;             ///< the route's settings, copied when this request fills
    cache::shard* shard = nullptr;
    std::uint64_t cache_hash = 0;
    std::shared_ptr<cache::fill> fill;
    bool filling = false; ///< the response is being stored
    cache::object_ref revalidating;
    std::string_view cache_line;
    std::int64_t request_time = 0;

    exchange() = default;
    exchange(const exchange&) = delete;
    exchange& operator=(const exchange&) = delete;
    ~exchange() {
      release_backend();
      drop_fill();
    }
    void release_backend() noexcept;
    /// Gives up the fill (if any): its waiters go upstream themselves.
    void drop_fill() noexcept;
    std::string_view host_view() const noexcept { return {host, host_size}; }
  };

  /// Results of the phases besides an HTTP status to answer with.
  static constexpr int close_now = -1;     ///< close the client connection
  static constexpr int retry_fresh = -2;   ///< send again on a fresh connection
  static constexpr int retry_other = -3;   ///< send again to another instance of the app
  static constexpr int wait_instance = -4; ///< wait at the app's gate, then route again
  static constexpr int served = -5;        ///< the cache answered (the result says how to go on)
  static constexpr int to_https = -6;      ///< redirect to the node's HTTPS listener
  static constexpr int challenge = -7;     ///< an ACME HTTP-01 challenge this node answers
  static constexpr int head_read = -8;     ///< a whole request head is parsed

  asio::awaitable<next> serve_one();
  /// head_read, close_now, or the status to answer before closing. (The
  /// caller answers: each co_await site here would grow this frame past
  /// what Asio recycles.)
  asio::awaitable<int> read_head();
  /// Request id and route. 0, wait_instance or a status.
  int route_request(exchange& x);
  /// Matches the route on the newest table and picks the upstream. 0,
  /// wait_instance or a status.
  int resolve_route(exchange& x);
  /// The upstream head and the body bytes that came with the head. 0 or a
  /// status.
  int prepare_upstream(exchange& x);
  /// Waits at the gate of the exchange's app until routing again finds an
  /// instance: 0, close_now or an error status (never wait_instance).
  asio::awaitable<int> wait_for_instance(exchange& x);
  /// One wait: 0, wait_instance (route again: still nothing), close_now or
  /// a status.
  asio::awaitable<int> wait_once_for_instance(exchange& x);
  bool next_upstream(exchange& x);
  /// Chooses an instance of the exchange's app; false: none left.
  bool pick_backend(exchange& x);
  void report_connect_failure(exchange& x);
  asio::awaitable<int> send_request(exchange& x);
  asio::awaitable<int> read_response_head(exchange& x);
  asio::awaitable<next> send_response(exchange& x);

  // The cache (cache_session.cpp).
  /// Looks the request up: a fresh object is served (`served`, `result`
  /// says how to go on), or a collapsed miss is served from another
  /// request's fill; otherwise 0: go upstream (maybe holding the fill).
  asio::awaitable<int> cache_request(exchange& x, next& result);
  /// Serves a request from a complete object (304 if the client's
  /// validators match).
  asio::awaitable<next> serve_object(exchange& x, const cache::object& o, std::string_view label);
  /// Waits on another request's fill of the key and streams from it; 0
  /// when the request must go upstream itself after all.
  asio::awaitable<int> serve_from_fill(exchange& x, std::shared_ptr<cache::fill> f, next& result);
  /// Called with the upstream's final response head: starts storing it,
  /// refreshes a revalidated object (`served`: answer from it), or lets it
  /// pass.
  int cache_response_head(exchange& x);
  /// Body bytes of a response being stored.
  void cache_body(exchange& x, const http::parser& p);
  /// The response being stored is complete.
  void cache_complete(exchange& x);
  asio::awaitable<next> send_error(int status, bool close, std::string_view detail = {},
                                   std::string_view extra_headers = {});
  /// 200 with the key authorization of the challenge's token (in x.detail).
  asio::awaitable<next> send_challenge(exchange& x);
  /// 308 (307 for methods other than GET and HEAD) to the same host and
  /// target over HTTPS.
  asio::awaitable<next> send_https_redirect(exchange& x);
  asio::awaitable<std::shared_ptr<upstream_connection>> connect(const asio::ip::tcp::endpoint& ep,
                                                                std::error_code& ec);
  asio::awaitable<void> tunnel(exchange& x);
  template <class From, class To>
  asio::awaitable<void> pump(From& from, To& to, char* buffer, std::size_t size);
  asio::awaitable<void> lingering_close();
  /// Between requests, with nothing of the next one read yet, run() waits
  /// for its first bytes holding no buffer (they land in landing_):
  /// begin_idle() gives the buffers back and arms the idle timeout,
  /// end_idle() takes what the read brought. False: the connection ended,
  /// idled out or its listener is draining it.
  void begin_idle() noexcept;
  bool end_idle(std::error_code ec, std::size_t n);
  /// Borrows a buffer from the io thread's recycler unless it holds one.
  void hold_buffer();
  /// What a request needs: the buffer, a parser, room for the heads, a
  /// scatter list for its writes and, under TLS, the ciphertext input.
  void hold_request_parts();
  /// Gives them back when the buffer holds no unread bytes.
  void release_buffer() noexcept;

  void arm(std::chrono::milliseconds timeout) noexcept { worker_.deadlines.arm(*this, timeout); }
  /// How long an idle connection stays open once its listener drains.
  std::chrono::milliseconds drain_grace() const noexcept {
    return std::min(limits_.client_idle_timeout, std::chrono::milliseconds{1000});
  }
  void disarm() noexcept { net::deadline_list::disarm(*this); }
  void set_request_id(std::string_view incoming);
  std::string_view request_id() const noexcept { return {request_id_, request_id_size_}; }

  std::shared_ptr<listener_shared> shared_;
  worker& worker_;
  listener_shared::thread_slot& slot_;
  const limits& limits_;
  net::client_stream client_;
  std::string client_ip_;

  // Held while a request is in progress, null while idle (worker.hpp).
  std::unique_ptr<char[]> buffer_;
  std::size_t capacity_;
  /// Where an idle connection's next bytes arrive: most request heads fit,
  /// the rest of a longer one follows in the buffer.
  char landing_[512];
  std::size_t begin_ = 0; ///< first unparsed byte
  std::size_t end_ = 0;   ///< one past the last byte read
  std::unique_ptr<http::parser> parser_;
  std::string out_;                ///< heads we write (freed while idle)
  std::unique_ptr<gather> gather_; ///< what a write is made of (none while idle)
  std::string key_;                ///< the cache key of the current request

  char request_id_[max_request_id];
  std::size_t request_id_size_ = 0;

  phase phase_ = phase::idle;
  bool timed_out_ = false;
  bool stopping_ = false;
  upstream_connection* upstream_ = nullptr; ///< the one in use, for expire()
};

/// Runs a session for an accepted socket (co_spawn'ed by the server).
asio::awaitable<void> serve_connection(std::shared_ptr<listener_shared> shared, worker* w, std::size_t thread,
                                       asio::ip::tcp::socket socket);

} // namespace ika::proxy
