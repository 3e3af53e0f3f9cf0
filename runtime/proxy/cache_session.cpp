// The client session's cache steps (client_session.hpp): look up, serve a
// hit, wait on another request's fill, store a response from upstream.
//
//   lookup     a fresh object the request may use -> HIT, served from
//              memory (no upstream, no actor: see runtime/cache/store.hpp)
//   stale      an object past its lifetime with validators -> this request
//              revalidates it upstream (If-None-Match / If-Modified-Since);
//              a 304 refreshes it -> STALE; a new response replaces it
//   miss       the fill lock: the first request fetches (MISS) and stores
//              while it streams to its client; concurrent requests for the
//              key wait and stream the same bytes as they arrive (HIT), or
//              go upstream themselves when the response turns out not
//              cacheable or the lock times out (MISS)
//   bypass     methods other than GET/HEAD, requests with a body, Range,
//              no-store, upgrades -> BYPASS, straight upstream

#include "runtime/proxy/client_session.hpp"

#include "runtime/cache/http_date.hpp"
#include "runtime/cache/rules.hpp"
#include "runtime/net/socket_io.hpp"

#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include <array>
#include <charconv>
#include <ctime>

namespace ika::proxy {

namespace {

constexpr std::string_view miss_line = "X-Cache: MISS\r\n";
constexpr std::string_view bypass_line = "X-Cache: BYPASS\r\n";
constexpr std::size_t small_cached_body = 2048;

std::int64_t unix_now() noexcept {
  return static_cast<std::int64_t>(std::time(nullptr));
}

void append_number(std::string& out, std::uint64_t n) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}

/// May `o` answer `r` without asking upstream (RFC 9111 §4.2, §5.2.1)?
bool usable(const cache::object& o, const cache::request_rules& r, std::int64_t now) noexcept {
  if (r.revalidate || !o.fresh(now))
    return false;
  std::int64_t age = o.age(now);
  if (r.max_age >= 0 && age > r.max_age)
    return false;
  return r.min_fresh < 0 || o.lifetime - age >= r.min_fresh;
}

/// The shared lines of a stored response: status line, stored fields, and
/// what a 304 repeats.
std::shared_ptr<const cache::stored_lines> make_lines(int status, std::string_view reason,
                                                      const cache::stored_head& h) {
  auto lines = std::make_shared<cache::stored_lines>();
  lines->status = status;
  lines->text.reserve(16 + reason.size() + h.fields.size());
  lines->text.append("HTTP/1.1 ");
  append_number(lines->text, static_cast<std::uint64_t>(status));
  lines->text.append(" ").append(reason).append("\r\n");
  lines->fields_at = lines->text.size();
  lines->text.append(h.fields);
  lines->not_modified = cache::not_modified_fields(h);
  lines->etag = h.etag;
  lines->last_modified = h.last_modified;
  lines->text.shrink_to_fit();
  lines->not_modified.shrink_to_fit();
  return lines;
}

/// The stored head of an object, as the rules take it.
cache::stored_head head_of(const cache::object& o) {
  cache::stored_head h;
  h.fields = o.head->text.substr(o.head->fields_at);
  h.date = o.date;
  h.etag = o.head->etag;
  h.last_modified = o.head->last_modified;
  return h;
}

} // namespace

void client_session::exchange::drop_fill() noexcept {
  filling = false;
  if (!fill)
    return;
  fill->abandon();
  shard->release(fill);
  fill.reset();
}

asio::awaitable<int> client_session::cache_request(exchange& x, next& result) {
  const auto& req = parser_->head();
  auto& store = *worker_.cache;
  x.request_time = unix_now();
  auto rules = cache::classify_request(req);
  if (!rules.cacheable || rules.no_store || x.has_body || x.wants_upgrade) {
    x.cache_line = bypass_line;
    store.at(0).count(worker_.index).bypass.fetch_add(1, std::memory_order_relaxed);
    co_return 0;
  }
  // The key: scheme, host (lower case, without port), path and query.
  key_.clear();
  key_.append(shared_->proto).append("://").append(x.host_view()).append(req.target);
  x.cache_hash = store.hash(key_);
  x.shard = &store.shard_for(x.cache_hash);
  auto& counters = x.shard->count(worker_.index);
  auto obj = x.shard->lookup(x.cache_hash, key_, req);
  if (obj && usable(*obj, rules, x.request_time)) {
    cache::touch(obj->node);
    counters.hits.fetch_add(1, std::memory_order_relaxed);
    result = co_await serve_object(x, *obj, "HIT");
    co_return served;
  }
  x.cache_line = miss_line;
  if (x.head_request) {
    // A HEAD response has no body to store: it neither fills nor waits.
    counters.misses.fetch_add(1, std::memory_order_relaxed);
    co_return 0;
  }
  bool owner = false;
  cache::object_ref stale;
  auto f = x.shard->acquire(x.cache_hash, key_, req, x.request_time, owner, stale);
  if (f && !owner) {
    counters.collapsed.fetch_add(1, std::memory_order_relaxed);
    int r = co_await serve_from_fill(x, std::move(f), result);
    if (r == served)
      co_return served;
  } else if (f) {
    // Still before this request's first co_await: the route is alive.
    x.fill_route = *x.cache;
    x.fill = std::move(f);
    // What to revalidate: the stored object, or a completed fill's that
    // is not admitted yet.
    if (!obj || (stale && !obj->has_validators()))
      obj = std::move(stale);
    if (obj && obj->has_validators())
      x.revalidating = std::move(obj);
  }
  counters.misses.fetch_add(1, std::memory_order_relaxed);
  co_return 0;
}

asio::awaitable<client_session::next> client_session::serve_object(exchange& x, const cache::object& o,
                                                                   std::string_view label) {
  const auto& req = parser_->head();
  const auto& lines = *o.head;
  std::int64_t now = unix_now();
  bool close_after = !x.client_keep_alive || stopping_ || shared_->draining.load(std::memory_order_relaxed);
  bool not_modified = cache::not_modified(req, lines.etag, lines.last_modified);
  bool with_body = !not_modified && !x.head_request && lines.status != 204;
  out_.clear();
  if (not_modified) {
    out_.append("HTTP/1.1 304 Not Modified\r\n").append(lines.not_modified);
  } else {
    out_.append(lines.text);
  }
  char date[29];
  cache::format_http_date(o.date >= 0 ? o.date : o.born, date);
  out_.append("Date: ").append(date, sizeof date).append("\r\n");
  if (!not_modified && lines.status != 204) {
    out_.append("Content-Length: ");
    append_number(out_, o.body_size);
    out_.append("\r\n");
  }
  out_.append("Age: ");
  append_number(out_, static_cast<std::uint64_t>(o.age(now)));
  out_.append("\r\nX-Cache: ").append(label).append("\r\nX-Request-ID: ").append(request_id()).append("\r\n");
  if (close_after)
    out_.append("Connection: close\r\n");
  else if (x.http10)
    out_.append("Connection: keep-alive\r\n");
  out_.append("\r\n");
  std::array<asio::const_buffer, 2> bufs{asio::buffer(out_), asio::const_buffer{}};
  std::size_t count = 1;
  if (with_body) {
    // A small body rides in the head's buffer: one send(2).
    if (o.body_size <= small_cached_body)
      out_.append(o.body(), o.body_size);
    else
      bufs[count++] = asio::const_buffer{o.body(), o.body_size};
    bufs[0] = asio::buffer(out_);
  }
  phase_ = phase::response;
  arm(limits_.send_timeout);
  std::span<asio::const_buffer> out{bufs.data(), count};
  auto ec = co_await net::write_all(client_, out);
  disarm();
  co_return (ec || close_after) ? next::close : next::keep_alive;
}

asio::awaitable<int> client_session::serve_from_fill(exchange& x, std::shared_ptr<cache::fill> f,
                                                     next& result) {
  const auto& req = parser_->head();
  auto executor = worker_.context.get_executor();
  asio::steady_timer timer{executor};
  auto w = std::make_shared<cache::fill::waiter>();
  w->executor = executor;
  w->timer = &timer;
  struct leave_guard {
    cache::fill& f;
    cache::fill::waiter& w;
    ~leave_guard() {
      f.leave(w);
      w.timer = nullptr;
    }
  } guard{*f, *w};
  auto lock_deadline = std::chrono::steady_clock::now() + worker_.cache->config().lock_timeout;
  bool head_sent = false;
  std::uint64_t sent = 0;
  bool close_after = !x.client_keep_alive || stopping_ || shared_->draining.load(std::memory_order_relaxed);
  phase_ = phase::waiting;
  for (;;) {
    auto p = f->read(w, sent);
    if (p.st == cache::fill::state::abandoned) {
      if (!head_sent)
        co_return 0;        // not cacheable after all: upstream, at once
      result = next::close; // mid-body: the client sees a short response
      co_return served;
    }
    if (p.obj && !head_sent) {
      // The filled response may vary on something this request differs in.
      if (p.obj->vary && cache::variant_of(req, p.obj->vary->names) != p.obj->vary->variant)
        co_return 0;
      // Complete, or the client's validators match what is arriving (a
      // 304 needs no body): answered like a hit.
      const auto& lines = *p.obj->head;
      if (p.st == cache::fill::state::complete || cache::not_modified(req, lines.etag, lines.last_modified)) {
        result = co_await serve_object(x, *p.obj, "HIT");
        co_return served;
      }
    }
    if (p.obj && p.available > sent) {
      // Streaming: the head (with the final length) first, then the body
      // bytes that are in. They never change once written.
      std::array<asio::const_buffer, 2> bufs;
      std::size_t count = 0;
      if (!head_sent) {
        const auto& lines = *p.obj->head;
        out_.clear();
        out_.append(lines.text);
        char date[29];
        cache::format_http_date(p.obj->date >= 0 ? p.obj->date : p.obj->born, date);
        out_.append("Date: ").append(date, sizeof date).append("\r\nContent-Length: ");
        append_number(out_, p.obj->capacity());
        out_.append("\r\nAge: 0\r\nX-Cache: HIT\r\nX-Request-ID: ").append(request_id()).append("\r\n");
        if (close_after)
          out_.append("Connection: close\r\n");
        else if (x.http10)
          out_.append("Connection: keep-alive\r\n");
        out_.append("\r\n");
        bufs[count++] = asio::buffer(out_);
        head_sent = true;
      }
      bufs[count++] = asio::const_buffer{p.obj->body() + sent, p.available - sent};
      phase_ = phase::response;
      arm(limits_.send_timeout);
      std::span<asio::const_buffer> out{bufs.data(), count};
      auto ec = co_await net::write_all(client_, out);
      disarm();
      if (ec) {
        result = next::close;
        co_return served;
      }
      sent = p.available;
      if (sent == p.obj->capacity()) {
        result = close_after ? next::close : next::keep_alive;
        co_return served;
      }
      continue;
    }
    // Nothing new: wait to be woken, within the lock timeout until the
    // head is out, then within the upstream's response timeout.
    auto now = std::chrono::steady_clock::now();
    if (!head_sent && now >= lock_deadline)
      co_return 0; // the fetch takes too long: fetch for ourselves
    timer.expires_at(head_sent ? now + limits_.upstream_response_timeout : lock_deadline);
    std::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && head_sent) {
      result = next::close; // the filling upstream stalled mid-body
      co_return served;
    }
  }
}

int client_session::cache_response_head(exchange& x) {
  if (!x.cached) {
    // Routed again (after waiting for an instance) to a route that does
    // not cache.
    x.drop_fill();
    return 0;
  }
  const auto& req = parser_->head();
  const auto& res = x.up->parser.head();
  const auto& config = worker_.cache->config();
  std::int64_t now = unix_now();
  cache::store_options so;
  so.allow_set_cookie = x.fill_route.allow_set_cookie;
  so.request_time = x.request_time;
  so.response_time = now;

  if (x.revalidating && res.status == 304) {
    // Still valid: the stored body with the 304's updated fields.
    const cache::object& old = *x.revalidating;
    auto refreshed = cache::refresh_head(head_of(old), res);
    auto fresh = cache::refreshed_freshness(req, res, refreshed, so);
    auto obj = cache::object::make(old.key(), old.body_size);
    x.shard->set_head(*obj, make_lines(old.head->status, old.head->reason(), refreshed));
    obj->app = old.app;
    if (old.vary)
      obj->vary = std::make_unique<cache::vary_info>(*old.vary);
    obj->date = refreshed.date;
    obj->born = now - fresh.initial_age;
    obj->lifetime = fresh.lifetime;
    obj->revalidate_each_use = fresh.revalidate_each_use;
    x.fill->start(obj, true);
    x.fill->append(old.body(), old.body_size, old.body_size);
    x.fill->finish();
    x.shard->release(x.fill);
    x.fill.reset();
    x.revalidating = std::move(obj);
    x.shard->count(worker_.index).stale.fetch_add(1, std::memory_order_relaxed);
    return served;
  }

  auto decision = cache::decide_store(req, res, so);
  std::uint64_t max_object = x.fill_route.max_object != 0 ? x.fill_route.max_object : config.max_object;
  bool too_big = res.framing == http::body_framing::length && res.content_length > max_object;
  if (!decision.store || too_big) {
    // Requests for this key go upstream side by side for a while instead
    // of queueing behind each other's fetches.
    x.drop_fill();
    x.shard->mark_pass(x.cache_hash,
                       now + std::chrono::duration_cast<std::chrono::seconds>(config.pass_ttl).count());
    return 0;
  }
  auto cc = cache::parse_cache_control(res);
  auto stored = cache::store_head(res, cc);
  auto vary = cache::parse_vary(res);
  bool length_known = res.framing == http::body_framing::length || res.framing == http::body_framing::none;
  auto obj = cache::object::make(key_, res.framing == http::body_framing::length ? res.content_length : 0);
  x.shard->set_head(*obj, make_lines(res.status, res.reason, stored));
  obj->app = x.fill_route.app;
  obj->date = stored.date;
  obj->born = now - decision.initial_age;
  obj->lifetime = decision.lifetime;
  obj->revalidate_each_use = decision.revalidate_each_use;
  if (!vary.names.empty())
    obj->vary =
        std::make_unique<cache::vary_info>(cache::vary_info{vary.names, cache::variant_of(req, vary.names)});
  x.fill->start(std::move(obj), length_known);
  x.filling = true;
  return 0;
}

void client_session::cache_body(exchange& x, const http::parser& p) {
  std::uint64_t max_object =
      x.fill_route.max_object != 0 ? x.fill_route.max_object : worker_.cache->config().max_object;
  for (const auto& piece : p.pieces())
    if (!x.fill->append(piece.data, piece.size, max_object)) {
      x.drop_fill();
      return;
    }
}

void client_session::cache_complete(exchange& x) {
  x.filling = false;
  x.fill->finish();
  x.shard->release(x.fill);
  x.fill.reset();
}

} // namespace ika::proxy
