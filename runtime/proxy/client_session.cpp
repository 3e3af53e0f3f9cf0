#include "runtime/proxy/client_session.hpp"

#include "runtime/proxy/demand_wait.hpp"

#include "runtime/http/chars.hpp"
#include "runtime/net/socket_io.hpp"
#include "runtime/proxy/error_page.hpp"
#include "runtime/proxy/forward.hpp"

#include <asio/connect.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include <sys/ioctl.h>

#include <array>
#include <cstring>
#include <utility>

namespace ika::proxy {

namespace {

constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view last_chunk = "0\r\n\r\n";
constexpr std::string_view acme_challenge_prefix = "/.well-known/acme-challenge/";
constexpr std::size_t small_body = 2048;

bool idempotent(std::uint8_t method) {
  switch (method) {
    case HTTP_GET:
    case HTTP_HEAD:
    case HTTP_OPTIONS:
    case HTTP_TRACE:
    case HTTP_PUT:
    case HTTP_DELETE:
      return true;
    default:
      return false;
  }
}

} // namespace

client_session::client_session(std::shared_ptr<listener_shared> shared, worker& w, std::size_t thread,
                               asio::ip::tcp::socket socket)
    : shared_(std::move(shared)), worker_(w), slot_(shared_->slots[thread]), limits_(shared_->config),
      client_(std::move(socket)), capacity_(worker::client_buffer_size(limits_)) {
  std::error_code ec;
  auto remote = client_.socket().remote_endpoint(ec);
  client_ip_ = ec ? std::string{"unknown"} : remote.address().to_string();
  set_owner(shared_.get());
  worker_.deadlines.add(*this);
  shared_->connections.fetch_add(1, std::memory_order_relaxed);
}

client_session::~client_session() {
  // No release_buffer() here: a session can be destroyed with its
  // io_context at shutdown, after the worker and its recyclers; its
  // buffers are then simply freed. A session that ran to its end gave them
  // back already (serve_connection).
  shared_->connections.fetch_sub(1, std::memory_order_relaxed);
}

void client_session::give_back_buffers() noexcept {
  begin_ = end_ = 0;
  release_buffer();
}

void client_session::hold_buffer() {
  if (buffer_ == nullptr)
    buffer_ = worker_.client_buffers.take();
}

void client_session::hold_request_parts() {
  hold_buffer();
  worker_.head_strings.take(out_);
  if (gather_ == nullptr)
    gather_ = worker_.gathers.take();
  if (parser_ == nullptr)
    parser_ = worker_.request_parsers.take();
  if (client_.secure() && !client_.holds_input())
    client_.lend_input(worker_.tls_buffers.take());
}

void client_session::release_buffer() noexcept {
  if (begin_ != end_)
    return;
  begin_ = end_ = 0;
  worker_.client_buffers.give_back(std::move(buffer_));
  worker_.request_parsers.give_back(std::move(parser_));
  if (client_.secure())
    worker_.tls_buffers.give_back(client_.release_input());
  // The heads written and the cache key: not kept while idle.
  worker_.head_strings.give_back(out_);
  worker_.gathers.give_back(std::move(gather_));
  std::string{}.swap(key_);
}

void client_session::begin_idle() noexcept {
  release_buffer();
  phase_ = phase::idle;
  arm(stopping_ ? drain_grace() : limits_.client_idle_timeout);
}

bool client_session::end_idle(std::error_code ec, std::size_t n) {
  disarm();
  if (ec || n == 0)
    return false;
  hold_request_parts();
  if (client_.secure()) {
    client_.add_ciphertext(landing_, n);
  } else {
    std::memcpy(buffer_.get(), landing_, n);
    begin_ = 0;
    end_ = n;
  }
  return true;
}

void client_session::expire() noexcept {
  timed_out_ = true;
  std::error_code ignored;
  client_.cancel(ignored);
  if (upstream_ != nullptr)
    upstream_->socket.cancel(ignored);
}

void client_session::stop(bool now) noexcept {
  stopping_ = true;
  if (now) {
    expire();
    return;
  }
  // Draining. A busy connection finishes its response and closes (the
  // response head says so). An idle keep-alive connection is not closed at
  // once: a client may be sending its next request right now, and closing
  // under it would fail that request. It gets a short grace period in
  // which a new request is served with `Connection: close`.
  if (phase_ == phase::idle)
    arm(drain_grace());
}

void client_session::set_request_id(std::string_view incoming) {
  if (clean_request_id(incoming)) {
    std::memcpy(request_id_, incoming.data(), incoming.size());
    request_id_size_ = incoming.size();
    return;
  }
  request_id_generator::id id;
  worker_.ids.next(id);
  std::memcpy(request_id_, id.data(), id.size());
  request_id_size_ = id.size();
}

asio::awaitable<void> client_session::run() {
  net::prepare_socket(client_.socket());
  if (shared_->tls) {
    // The handshake has the head's time limit.
    arm(limits_.client_header_timeout);
    // Start on the default certificate's context (SNI switches only when
    // it picks another one); the base context when there is none yet.
    const auto& fallback = slot_.handshakes.certificates().fallback();
    SSL_CTX* initial = fallback ? fallback->context.get() : shared_->tls.get();
    client_.lend_input(worker_.tls_buffers.take());
    std::error_code ec = co_await client_.accept_tls(initial, &slot_.handshakes);
    disarm();
    if (ec) {
      client_.close(ec);
      co_return;
    }
  }
  // g++ 12 miscompiles a co_await inside an if/while condition (the frame
  // resumes into an invalid state): every co_await here is a statement.
  for (;;) {
    // Nothing of the next request read yet: wait for its first bytes
    // holding no buffer. Raw bytes (ciphertext under TLS), read right here:
    // a coroutine frame less to keep per idle connection.
    if (begin_ == end_ && client_.buffered() == 0) {
      begin_idle();
      std::error_code ec;
      std::size_t n = co_await client_.socket().async_read_some(
          asio::buffer(landing_), asio::redirect_error(asio::use_awaitable, ec));
      if (!end_idle(ec, n))
        break;
    }
    next n = co_await serve_one();
    if (n == next::close)
      break;
  }
  co_await lingering_close();
}

asio::awaitable<void> client_session::lingering_close() {
  // Closing with unread input makes the kernel send a reset, which can
  // destroy the response the client has not read yet: shut down our side,
  // then drain what the client still sends for a short while.
  phase_ = phase::closing;
  std::error_code ec;
  if (!client_.is_open())
    co_return;
  if (!timed_out_ && client_.secure()) {
    arm(std::chrono::milliseconds{2000});
    co_await client_.close_notify();
  }
  // A complete exchange with nothing more from the client (nothing
  // buffered, nothing in the socket) closes at once, as nginx does; anything
  // else lingers.
  int pending = 0;
  bool quiet = (parser_ == nullptr || parser_->message_complete()) && begin_ == end_ &&
               client_.buffered() == 0 &&
               ::ioctl(client_.socket().native_handle(), FIONREAD, &pending) == 0 && pending == 0;
  client_.socket().shutdown(asio::socket_base::shutdown_send, ec);
  if (!ec && !timed_out_ && !quiet) {
    hold_buffer();
    arm(std::chrono::milliseconds{2000});
    std::size_t drained = 0;
    while (drained < (1u << 20)) {
      // Raw bytes: under TLS nothing needs decrypting to be thrown away.
      std::size_t n = co_await net::read_some(client_.socket(), buffer_.get(), capacity_, ec);
      if (ec || n == 0)
        break;
      drained += n;
    }
  }
  disarm();
  client_.close(ec);
}

asio::awaitable<client_session::next>
client_session::send_error(int status, bool close, std::string_view detail, std::string_view extra_headers) {
  phase_ = phase::response;
  out_.clear();
  bool head = parser_ != nullptr && parser_->head_complete();
  bool head_request = head && parser_->head().method_id == HTTP_HEAD;
  bool http10 = head && parser_->head().is_http10();
  bool keep = !close && !stopping_ && head && parser_->head().keep_alive;
  if (request_id_size_ == 0)
    set_request_id({});
  // A 503 (no instance to take it) is worth another try soon.
  std::string_view extra = status == 503 ? std::string_view{"Retry-After: 1\r\n"} : extra_headers;
  append_error_response(out_, status, request_id(), !keep, head_request, keep && http10, extra, detail);
  std::array<asio::const_buffer, 1> bufs{asio::buffer(out_)};
  arm(limits_.send_timeout);
  auto ec = co_await net::write_all(client_, bufs);
  disarm();
  co_return (ec || !keep) ? next::close : next::keep_alive;
}

asio::awaitable<client_session::next> client_session::send_challenge(exchange& x) {
  const std::string& answer = x.detail; // the key authorization
  phase_ = phase::response;
  bool keep = !stopping_ && x.client_keep_alive;
  out_.clear();
  out_.append("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ")
      .append(std::to_string(answer.size()))
      .append("\r\nCache-Control: no-store\r\n");
  if (!keep)
    out_.append("Connection: close\r\n");
  else if (x.http10)
    out_.append("Connection: keep-alive\r\n");
  out_.append("\r\n");
  if (!x.head_request)
    out_.append(answer);
  std::array<asio::const_buffer, 1> bufs{asio::buffer(out_)};
  arm(limits_.send_timeout);
  auto ec = co_await net::write_all(client_, bufs);
  disarm();
  co_return (ec || !keep) ? next::close : next::keep_alive;
}

asio::awaitable<client_session::next> client_session::send_https_redirect(exchange& x) {
  const auto& req = parser_->head();
  auto port = shared_->https_port.load(std::memory_order_relaxed);
  // The host was validated with the head; the target is origin-form.
  std::string extra;
  extra.reserve(64 + x.host_size + req.target.size());
  extra.append("Location: https://").append(x.host_view());
  if (port != 443)
    extra.append(":").append(std::to_string(port));
  // Origin-form as is; an absolute-form target keeps its path.
  std::string_view target = req.target;
  if (!target.starts_with('/')) {
    auto scheme = target.find("://");
    auto slash = scheme == std::string_view::npos ? scheme : target.find('/', scheme + 3);
    target = slash == std::string_view::npos ? std::string_view{"/"} : target.substr(slash);
  }
  extra.append(target).append("\r\n");
  int status = x.head_request || req.method_id == HTTP_GET ? 308 : 307;
  // A request body that was not read makes the connection close.
  bool close = x.has_body && !parser_->message_complete();
  co_return co_await send_error(status, close, {}, extra);
}

asio::awaitable<int> client_session::read_head() {
  hold_request_parts();
  parser_->reset();
  request_id_size_ = 0;
  // Pipelined bytes move to the front, so the head grows in place: the
  // parser's views into it stay valid until the message is done.
  if (begin_ > 0) {
    std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  bool started = end_ > 0;
  // client_header_timeout bounds the whole head from its first byte: a
  // client trickling a byte at a time does not extend it.
  if (started)
    arm(limits_.client_header_timeout);
  for (;;) {
    if (begin_ < end_) {
      auto r = parser_->parse(buffer_.get() + begin_, end_ - begin_);
      begin_ += r.consumed;
      if (r.event == http::parse_event::error) {
        disarm();
        co_return parser_->error().status;
      }
      if (r.event == http::parse_event::head) {
        disarm();
        co_return head_read;
      }
    }
    if (end_ == capacity_) {
      disarm();
      co_return 431;
    }
    phase_ = started ? phase::head : phase::idle;
    if (!started)
      arm(stopping_ ? drain_grace() : limits_.client_idle_timeout);
    std::error_code ec;
    std::size_t n = co_await net::read_some(client_, buffer_.get() + end_, capacity_ - end_, ec);
    if (ec || n == 0) {
      disarm();
      // A client that goes quiet mid-head gets a 408; one that closes or
      // idles out between requests just gets closed.
      if (timed_out_ && started && !stopping_)
        co_return 408;
      co_return close_now;
    }
    end_ += n;
    if (!started) {
      started = true;
      arm(limits_.client_header_timeout);
    }
  }
}

asio::awaitable<std::shared_ptr<upstream_connection>>
client_session::connect(const asio::ip::tcp::endpoint& ep, std::error_code& ec) {
  auto c = std::make_shared<upstream_connection>(worker_.context, ep);
  worker_.pool.lend_buffer(*c);
  upstream_ = c.get();
  phase_ = phase::upstream;
  arm(limits_.upstream_connect_timeout);
  co_await c->socket.async_connect(ep, asio::redirect_error(asio::use_awaitable, ec));
  disarm();
  upstream_ = nullptr;
  if (timed_out_) {
    timed_out_ = false;
    ec = asio::error::timed_out;
  }
  if (ec)
    co_return nullptr;
  net::prepare_socket(c->socket);
  co_return c;
}

asio::awaitable<client_session::next> client_session::serve_one() {
  int head = co_await read_head();
  if (head == close_now)
    co_return next::close;
  if (head != head_read) {
    // (Every status read_head gives closes the connection: the rest of
    // what the client sent cannot be framed.)
    next n = co_await send_error(head, true);
    co_return n;
  }
  slot_.requests.store(slot_.requests.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);

  exchange x;
  // A 404, 502 or 504 to a complete request keeps the connection; a request
  // over a limit or malformed, or whose body was not read to its end, does
  // not.
  auto must_close = [&](int status) {
    bool client_error = status >= 400 && status < 500 && status != 404;
    return client_error || (x.has_body && !parser_->message_complete());
  };
  int status = route_request(x);
  if (status == challenge) {
    next n = co_await send_challenge(x);
    co_return n;
  }
  if (status == to_https)
    co_return co_await send_https_redirect(x);
  if ((status == 0 || status == wait_instance) && x.cache && worker_.cache != nullptr) {
    // A hit is served before anything else: even an on-demand app with no
    // instance running is not woken for it.
    next result = next::close;
    int c = co_await cache_request(x, result);
    if (c == served)
      co_return result;
  }
  if (status == wait_instance)
    status = co_await wait_for_instance(x);
  if (status == 0)
    status = prepare_upstream(x);
  if (status == close_now)
    co_return next::close;
  if (status != 0)
    co_return co_await send_error(status, must_close(status), x.detail);

  // The upstream side, with failover to the next upstream when nothing was
  // sent, and one more try on a fresh connection when a pooled one turns
  // out to have been closed by the upstream.
  for (;;) {
    status = co_await send_request(x);
    if (status == wait_instance) {
      // Every instance of an on-demand app refused the connection (it is
      // stopping): nothing was sent, so the request waits for a fresh one.
      status = co_await wait_for_instance(x);
      if (status == 0)
        continue;
    }
    if (status == close_now)
      co_return next::close;
    if (status != 0)
      co_return co_await send_error(status, must_close(status), x.detail);
    status = co_await read_response_head(x);
    if (status == retry_fresh) {
      x.fresh_only = true;
      x.up.reset();
      continue;
    }
    if (status == retry_other) {
      // The instance died with the request: another one takes it.
      x.fresh_only = false;
      x.up.reset();
      if (next_upstream(x))
        continue;
      status = 502;
      if (x.app && x.app->gate && !stopping_) {
        // An on-demand app's last instance went away (stopped when idle):
        // the request waits for a fresh one.
        status = co_await wait_for_instance(x);
        if (status == 0)
          continue;
        if (status == close_now)
          co_return next::close;
      }
    }
    if (status != 0)
      co_return co_await send_error(status, status == 504 || !x.request_complete, x.detail);
    break;
  }
  if (x.up->parser.head().status == 101) {
    co_await tunnel(x);
    co_return next::close;
  }
  if (x.fill && cache_response_head(x) == served) {
    // A revalidation answered 304: the refreshed object answers the client
    // (the 304 had no body; its connection goes back to the pool).
    auto& rp = x.up->parser;
    if (x.request_complete && rp.message_complete() && rp.head().keep_alive && x.ubegin == x.uend)
      worker_.pool.give_back(std::move(x.up));
    upstream_ = nullptr;
    auto refreshed = std::move(x.revalidating);
    co_return co_await serve_object(x, *refreshed, "STALE");
  }
  co_return co_await send_response(x);
}

int client_session::route_request(exchange& x) {
  const auto& req = parser_->head();
  std::string_view incoming_id;
  for (const auto& h : req.headers)
    if (h.id == http::header_id::x_request_id) {
      incoming_id = h.value;
      break;
    }
  set_request_id(incoming_id);

  auto raw_host = http::host_without_port(req.host);
  x.host_size = std::min(raw_host.size(), sizeof x.host);
  for (std::size_t i = 0; i < x.host_size; ++i)
    x.host[i] = http::to_lower(raw_host[i]);
  x.path = req.target.substr(0, req.target.find('?'));
  x.has_body = req.framing != http::body_framing::none;
  x.head_request = req.method_id == HTTP_HEAD;
  x.http10 = req.is_http10();
  x.client_keep_alive = req.keep_alive;
  x.wants_upgrade = req.upgrade;
  x.expect_continue = req.expect_continue && !x.http10;
  x.retryable = idempotent(req.method_id);

  // A challenge token this node published is answered here; any other
  // path under the prefix goes to the route (an app may answer its own).
  if (shared_->challenges && x.path.starts_with(acme_challenge_prefix) && !x.has_body &&
      (req.method_id == HTTP_GET || x.head_request)) {
    if (auto answer = shared_->challenges->find(x.path.substr(acme_challenge_prefix.size()))) {
      x.detail = std::move(*answer);
      return challenge;
    }
  }
  return resolve_route(x);
}

int client_session::resolve_route(exchange& x) {
  const auto& req = parser_->head();
  x.release_backend();
  x.app.reset();
  x.tried = 0;
  x.attempts = 0;
  x.fresh_only = false;
  // Read before the table: a table published after this is newer than the
  // one matched below (a waiter compares it to know it missed an opening).
  x.table_version = shared_->routes.version();
  // `rt` points into this thread's snapshot: it is not kept past this
  // function (a suspended request must not hold a table that a publish
  // may free); what the exchange needs is copied.
  const route* rt = slot_.routes->get().match(x.host_view(), x.path);
  if (rt == nullptr)
    return 404;
  if (rt->https_redirect && x.host_size > 0 && !shared_->tls &&
      shared_->https_port.load(std::memory_order_relaxed) != 0 && !x.path.starts_with(acme_challenge_prefix))
    return to_https;
  x.max_body = rt->max_body != 0 ? rt->max_body : limits_.max_body;
  x.cache = rt->cache.get();
  x.cached = x.cache != nullptr;
  if (req.framing == http::body_framing::length && req.content_length > x.max_body)
    return 413;
  if (rt->app) {
    // An app: its instances, least in-flight first.
    x.app = rt->app;
    x.upstream_count = x.app->backends.size();
    if (!pick_backend(x))
      return x.app->gate ? wait_instance : 503;
  } else {
    x.upstream_count = rt->upstreams.size();
    x.endpoint = rt->upstreams[worker_.round_robin++ % x.upstream_count].endpoint;
  }
  return 0;
}

asio::awaitable<int> client_session::wait_for_instance(exchange& x) {
  // Routing again may find nothing yet (another listener's table opened
  // the gate, or the instance went again): then wait again, within the
  // same deadline.
  for (;;) {
    auto status = co_await wait_once_for_instance(x);
    if (status != wait_instance)
      co_return status;
  }
}

asio::awaitable<int> client_session::wait_once_for_instance(exchange& x) {
  // The binding may go with the next resolve_route: the gate stays.
  auto gate = x.app->gate;
  x.release_backend();
  auto now = std::chrono::steady_clock::now();
  if (!x.waited) {
    x.waited = true;
    x.wait_deadline = now + gate->wait_timeout();
  }
  if (now >= x.wait_deadline) {
    x.detail = "app " + gate->app() + " did not start in time";
    co_return 504;
  }
  auto w = gate->enter(worker_.context.get_executor(), shared_.get());
  if (!w) {
    x.detail = "too many requests are waiting for app " + gate->app() + " to start";
    co_return 503;
  }
  // A table published between routing and entering opened the gate before
  // this waiter was in it: route again at once.
  if (shared_->routes.version() != x.table_version)
    gate->withdraw(*w, demand_gate::outcome::open);
  phase_ = phase::waiting;
  disarm();
  auto result = co_await wait_at_gate(*gate, w, x.wait_deadline, &client_.socket());
  switch (result) {
    case demand_gate::outcome::open:
      co_return resolve_route(x);
    case demand_gate::outcome::failed:
      x.detail = "app " + gate->app() + " failed to start: " + w->reason;
      co_return 502;
    case demand_gate::outcome::timed_out:
      x.detail = "app " + gate->app() + " did not start in time";
      co_return 504;
    case demand_gate::outcome::gone:
    case demand_gate::outcome::waiting:
      break;
  }
  co_return close_now;
}

int client_session::prepare_upstream(exchange& x) {
  const auto& req = parser_->head();
  upstream_request_options opts;
  opts.client_ip = client_ip_;
  opts.proto = shared_->proto;
  opts.request_id = request_id();
  opts.fallback_host = x.host_size == 0 ? std::string_view{"localhost"} : x.host_view();
  opts.framing = req.framing == http::body_framing::chunked  ? out_framing::chunked
                 : req.framing == http::body_framing::length ? out_framing::length
                                                             : out_framing::none;
  opts.content_length = req.content_length;
  // Fetching for the cache: a full response (or a 304 to the cache's own
  // validators), whatever the client's conditionals.
  std::string validators;
  if (x.fill) {
    opts.strip_conditionals = true;
    if (x.revalidating) {
      const auto& lines = *x.revalidating->head;
      if (!lines.etag.empty())
        validators.append("If-None-Match: ").append(lines.etag).append("\r\n");
      if (!lines.last_modified.empty())
        validators.append("If-Modified-Since: ").append(lines.last_modified).append("\r\n");
      opts.extra = validators;
    }
  }
  out_.clear();
  append_upstream_request_head(out_, req, opts);

  // The body bytes that came with the head go out with it.
  parser_->set_output_chunked(req.framing == http::body_framing::chunked);
  if (x.has_body && !parser_->message_complete() && begin_ < end_) {
    auto r = parser_->parse(buffer_.get() + begin_, end_ - begin_);
    begin_ += r.consumed;
    if (r.event == http::parse_event::error)
      return parser_->error().status;
  }
  if (parser_->body_bytes() > x.max_body)
    return 413;
  return 0;
}

bool client_session::pick_backend(exchange& x) {
  x.release_backend();
  const auto& backends = x.app->backends;
  std::size_t n = backends.size();
  if (n == 0)
    return false;
  // Least in-flight among the instances not tried yet, suspects last; ties
  // go round robin (the scan starts at a rotating offset).
  std::size_t start = worker_.round_robin++ % n;
  std::size_t best = n;
  std::int32_t best_load = 0;
  bool best_suspect = true;
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t j = (start + i) % n;
    if (j < 64 && (x.tried & (std::uint64_t{1} << j)) != 0)
      continue;
    const auto& st = *backends[j].stats;
    bool suspect = st.suspect.load(std::memory_order_relaxed);
    std::int32_t load = st.in_flight.load(std::memory_order_relaxed);
    if (best == n || (best_suspect && !suspect) || (suspect == best_suspect && load < best_load)) {
      best = j;
      best_load = load;
      best_suspect = suspect;
    }
  }
  if (best == n)
    return false;
  if (best < 64)
    x.tried |= std::uint64_t{1} << best;
  x.backend = &backends[best];
  x.backend->stats->in_flight.fetch_add(1, std::memory_order_relaxed);
  x.endpoint = x.backend->endpoint;
  return true;
}

void client_session::exchange::release_backend() noexcept {
  if (backend != nullptr) {
    backend->stats->in_flight.fetch_sub(1, std::memory_order_relaxed);
    backend = nullptr;
  }
}

void client_session::report_connect_failure(exchange& x) {
  if (x.backend == nullptr)
    return;
  // Other requests stop choosing it at once; the app's actor checks it and
  // publishes a new set.
  x.backend->stats->suspect.store(true, std::memory_order_relaxed);
  if (x.app->on_connect_failure)
    x.app->on_connect_failure(x.app->app, x.backend->instance);
}

bool client_session::next_upstream(exchange& x) {
  if (x.app) {
    report_connect_failure(x);
    if (++x.attempts >= x.upstream_count || stopping_)
      return false;
    return pick_backend(x);
  }
  if (++x.attempts >= x.upstream_count || stopping_)
    return false;
  const route* again = slot_.routes->get().match(x.host_view(), x.path);
  if (again == nullptr || again->upstreams.empty())
    return false;
  x.endpoint = again->upstreams[worker_.round_robin++ % again->upstreams.size()].endpoint;
  return true;
}

asio::awaitable<int> client_session::send_request(exchange& x) {
  for (;;) {
    std::error_code ec;
    if (!x.fresh_only)
      x.up = worker_.pool.take(x.endpoint);
    if (!x.up) {
      x.up = co_await connect(x.endpoint, ec);
      if (!x.up) {
        // Nothing was sent: any method may go to the next upstream.
        if (next_upstream(x))
          continue;
        if (x.app && x.app->gate && ec != asio::error::timed_out && !stopping_)
          co_return wait_instance;
        co_return ec == asio::error::timed_out ? 504 : 502;
      }
    }
    x.reused = x.up->requests > 0 && !x.fresh_only;
    ++x.up->requests;
    upstream_ = x.up.get();
    phase_ = phase::upstream;
    gather& g = *gather_;
    g.clear();
    g.add(out_);
    g.add_pieces(*parser_, false);
    arm(limits_.send_timeout);
    ec = co_await net::write_all(x.up->socket, g.span());
    disarm();
    if (ec) {
      upstream_ = nullptr;
      x.up.reset();
      // A pooled connection the upstream closed just now: the request can
      // go again on a fresh one if repeating it is harmless.
      if (x.reused && x.retryable && !timed_out_ && parser_->message_complete()) {
        x.fresh_only = true;
        continue;
      }
      bool timed_out = std::exchange(timed_out_, false);
      co_return timed_out ? 504 : 502;
    }
    if (x.backend != nullptr)
      x.backend->stats->requests.fetch_add(1, std::memory_order_relaxed);
    break;
  }
  parser_->clear_pieces();

  // The rest of the request body, read from the client and streamed on.
  bool continue_sent = false;
  while (!parser_->message_complete()) {
    if (begin_ == end_) {
      begin_ = end_ = 0;
      std::error_code ec;
      if (x.expect_continue && !continue_sent) {
        continue_sent = true;
        std::array<asio::const_buffer, 1> c{asio::buffer(continue_response)};
        arm(limits_.send_timeout);
        ec = co_await net::write_all(client_, c);
        disarm();
        if (ec)
          co_return close_now;
      }
      phase_ = phase::request_body;
      arm(limits_.client_body_timeout);
      std::size_t n = co_await net::read_some(client_, buffer_.get(), capacity_, ec);
      disarm();
      if (ec || n == 0) {
        // The client gave up mid-body: the upstream must not take a
        // truncated request for a whole one, so its connection goes too.
        upstream_ = nullptr;
        co_return close_now;
      }
      end_ = n;
    }
    auto r = parser_->parse(buffer_.get() + begin_, end_ - begin_);
    begin_ += r.consumed;
    if (r.event == http::parse_event::error) {
      upstream_ = nullptr;
      co_return parser_->error().status;
    }
    if (parser_->body_bytes() > x.max_body) {
      upstream_ = nullptr;
      co_return 413;
    }
    gather& g = *gather_;
    g.clear();
    g.add_pieces(*parser_, false);
    phase_ = phase::upstream;
    arm(limits_.send_timeout);
    auto ec = co_await net::write_all(x.up->socket, g.span());
    disarm();
    parser_->clear_pieces();
    if (ec) {
      // The upstream stopped reading: it may have answered already (a 413
      // of its own, say); the response is read next.
      begin_ = end_ = 0;
      break;
    }
  }
  x.request_complete = parser_->message_complete();
  co_return 0;
}

asio::awaitable<int> client_session::read_response_head(exchange& x) {
  auto& up = *x.up;
  auto& rp = up.parser;
  char* ubuf = up.buffer.get();
  x.ubegin = x.uend = 0;
  rp.reset();
  rp.set_skip_body(x.head_request);
  phase_ = phase::response;
  bool any_bytes = false;
  for (;;) {
    if (x.ubegin < x.uend) {
      auto r = rp.parse(ubuf + x.ubegin, x.uend - x.ubegin);
      x.ubegin += r.consumed;
      if (r.event == http::parse_event::error) {
        upstream_ = nullptr;
        co_return 502;
      }
      if (r.event == http::parse_event::head) {
        int status = rp.head().status;
        if (status >= 100 && status < 200 && status != 101) {
          // Interim responses: the client already had its 100 from us.
          rp.reset();
          rp.set_skip_body(x.head_request);
          continue;
        }
        break;
      }
      continue;
    }
    x.ubegin = x.uend = 0;
    arm(limits_.upstream_response_timeout);
    std::error_code ec;
    std::size_t n = co_await net::read_some(up.socket, ubuf, upstream_connection::buffer_size, ec);
    disarm();
    if (ec || n == 0) {
      upstream_ = nullptr;
      if (std::exchange(timed_out_, false))
        co_return 504;
      // Closed before answering anything: a pooled connection the upstream
      // closed as we took it. A request without a body that is safe to
      // repeat goes again, once, on a fresh connection.
      if (!any_bytes && x.retryable && !x.has_body) {
        if (x.reused)
          co_return retry_fresh;
        // A fresh connection to an app instance that closed without a byte
        // of answer: the instance is going away (crashed, killed). Safe to
        // repeat elsewhere, as nginx's proxy_next_upstream does.
        if (x.app && (x.attempts + 1 < x.upstream_count || x.app->gate))
          co_return retry_other;
      }
      co_return 502;
    }
    any_bytes = true;
    x.uend = n;
  }
  if (rp.head().status == 101 && !x.wants_upgrade) {
    upstream_ = nullptr;
    co_return 502;
  }
  co_return 0;
}

asio::awaitable<client_session::next> client_session::send_response(exchange& x) {
  auto& up = *x.up;
  auto& rp = up.parser;
  char* ubuf = up.buffer.get();
  const auto& res = rp.head();
  client_response_options o;
  o.request_id = request_id();
  o.cache_route = x.cached;
  o.extra = x.cache_line;
  // An upstream that declines an upgrade answers like any request; the
  // connection goes on as HTTP (bytes the client sent meanwhile are parsed,
  // and refused, as HTTP).
  bool close_after = !x.client_keep_alive || stopping_ || !x.request_complete ||
                     shared_->draining.load(std::memory_order_relaxed);
  bool rechunk = false;
  switch (res.framing) {
    case http::body_framing::none:
      o.framing = (x.head_request || res.status == 304) ? out_framing::keep_length : out_framing::none;
      break;
    case http::body_framing::length:
      o.framing = out_framing::length;
      o.content_length = res.content_length;
      break;
    case http::body_framing::chunked:
      o.framing = x.http10 ? out_framing::close : out_framing::chunked;
      close_after |= x.http10;
      // Stored as it streams: the cache takes the decoded bytes, so the
      // client gets them re-chunked (trailers are not kept).
      rechunk = x.filling && !x.http10;
      break;
    case http::body_framing::until_close:
      // An HTTP/1.1 client keeps its connection: the body is re-chunked.
      o.framing = x.http10 ? out_framing::close : out_framing::chunked;
      rechunk = !x.http10;
      close_after |= x.http10;
      break;
  }
  o.close = close_after;
  o.http10_keep_alive = x.http10 && !close_after;
  out_.clear();
  append_client_response_head(out_, res, o);
  rp.set_output_chunked(o.framing == out_framing::chunked && !rechunk);

  bool first = true;
  bool upstream_clean = true;
  for (;;) {
    if (!rp.message_complete() && x.ubegin < x.uend) {
      auto r = rp.parse(ubuf + x.ubegin, x.uend - x.ubegin);
      x.ubegin += r.consumed;
      if (r.event == http::parse_event::error) {
        upstream_ = nullptr;
        if (first)
          co_return co_await send_error(502, true);
        co_return next::close; // mid-body: the client sees a truncated response
      }
    }
    if (x.filling)
      cache_body(x, rp);
    gather& g = *gather_;
    g.clear();
    if (first && !rechunk && rp.pieces_size() <= small_body) {
      // A small body rides in the head's buffer: one send(2) instead of a
      // sendmsg(2) of two buffers (the copy costs less than the iovec).
      for (auto& piece : rp.pieces())
        out_.append(piece.data, piece.size);
      rp.clear_pieces();
    }
    if (first)
      g.add(out_);
    g.add_pieces(rp, rechunk);
    if (rp.message_complete() && rechunk)
      g.add(last_chunk);
    if (g.count > 0) {
      phase_ = phase::response;
      arm(limits_.send_timeout);
      auto ec = co_await net::write_all(client_, g.span());
      disarm();
      first = false;
      rp.clear_pieces();
      if (ec) {
        upstream_ = nullptr;
        co_return next::close;
      }
    }
    if (rp.message_complete()) {
      if (x.filling)
        cache_complete(x);
      break;
    }
    if (x.ubegin < x.uend)
      continue; // the parser stopped early (piece list full)
    x.ubegin = x.uend = 0;
    arm(limits_.upstream_response_timeout);
    std::error_code ec;
    std::size_t n = co_await net::read_some(up.socket, ubuf, upstream_connection::buffer_size, ec);
    disarm();
    if (ec || n == 0) {
      timed_out_ = false;
      if (ec == asio::error::eof && rp.finish() == http::parse_event::complete) {
        // A body delimited by the upstream closing: complete now.
        upstream_clean = false;
        if (x.filling)
          cache_complete(x);
        if (rechunk) {
          std::array<asio::const_buffer, 1> last{asio::buffer(last_chunk)};
          arm(limits_.send_timeout);
          auto wec = co_await net::write_all(client_, last);
          disarm();
          if (wec)
            co_return next::close;
        }
        break;
      }
      upstream_ = nullptr;
      if (first)
        co_return co_await send_error(502, true);
      co_return next::close;
    }
    x.uend = n;
  }
  upstream_ = nullptr;
  if (upstream_clean && x.request_complete && res.keep_alive && x.ubegin == x.uend)
    worker_.pool.give_back(std::move(x.up));
  co_return close_after ? next::close : next::keep_alive;
}

namespace {
asio::ip::tcp::socket& raw(asio::ip::tcp::socket& s) noexcept {
  return s;
}
asio::ip::tcp::socket& raw(net::client_stream& s) noexcept {
  return s.socket();
}
} // namespace

template <class From, class To>
asio::awaitable<void> client_session::pump(From& from, To& to, char* buffer, std::size_t size) {
  for (;;) {
    std::error_code ec;
    arm(limits_.tunnel_idle_timeout);
    std::size_t n = co_await net::read_some(from, buffer, size, ec);
    if (ec || n == 0) {
      std::error_code ignored;
      if (ec == asio::error::eof)
        raw(to).shutdown(asio::socket_base::shutdown_send, ignored);
      else {
        raw(from).close(ignored);
        raw(to).close(ignored);
      }
      co_return;
    }
    std::array<asio::const_buffer, 1> b{asio::buffer(buffer, n)};
    ec = co_await net::write_all(to, b);
    if (ec) {
      std::error_code ignored;
      raw(from).close(ignored);
      raw(to).close(ignored);
      co_return;
    }
  }
}

asio::awaitable<void> client_session::tunnel(exchange& x) {
  using namespace asio::experimental::awaitable_operators;
  auto& up = *x.up;
  client_response_options o;
  o.request_id = request_id();
  o.framing = out_framing::none;
  out_.clear();
  append_client_response_head(out_, up.parser.head(), o);
  std::size_t up_begin = x.ubegin, up_end = x.uend;
  phase_ = phase::tunnel;
  upstream_ = &up;
  // The 101 head, with whatever the upstream sent right after it; then the
  // bytes the client sent after its request (the first frames, possibly).
  std::array<asio::const_buffer, 2> to_client{asio::buffer(out_),
                                              asio::buffer(up.buffer.get() + up_begin, up_end - up_begin)};
  arm(limits_.send_timeout);
  auto ec = co_await net::write_all(client_, to_client);
  if (!ec && begin_ < end_) {
    std::array<asio::const_buffer, 1> to_up{asio::buffer(buffer_.get() + begin_, end_ - begin_)};
    ec = co_await net::write_all(up.socket, to_up);
  }
  begin_ = end_ = 0;
  if (!ec)
    co_await (pump(client_, up.socket, buffer_.get(), capacity_) &&
              pump(up.socket, client_, up.buffer.get(), upstream_connection::buffer_size));
  disarm();
  std::error_code ignored;
  up.socket.close(ignored);
  upstream_ = nullptr;
}

asio::awaitable<void> serve_connection(std::shared_ptr<listener_shared> shared, worker* w, std::size_t thread,
                                       asio::ip::tcp::socket socket) {
  client_session session{std::move(shared), *w, thread, std::move(socket)};
  co_await session.run();
  session.give_back_buffers();
}

} // namespace ika::proxy
