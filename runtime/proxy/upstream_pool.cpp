#include "runtime/proxy/upstream_pool.hpp"

#include <algorithm>

namespace ika::proxy {

upstream_connection::upstream_connection(asio::io_context& ctx, const asio::ip::tcp::endpoint& ep)
    : socket(ctx), endpoint(ep), parser(http::message_kind::response) {}

upstream_pool::upstream_pool(asio::io_context& ctx, net::deadline_list& ticker,
                             std::size_t max_idle_per_upstream, std::chrono::milliseconds idle_timeout)
    : ctx_(ctx), ticker_(ticker), max_idle_(max_idle_per_upstream), idle_timeout_(idle_timeout) {
  ticker_.on_tick(&upstream_pool::tick, this);
}

upstream_pool::~upstream_pool() {
  *alive_ = false;
  ticker_.on_tick(nullptr, nullptr);
  clear();
}

std::shared_ptr<upstream_connection> upstream_pool::take(const asio::ip::tcp::endpoint& ep) {
  auto it = idle_.find(ep);
  if (it == idle_.end() || it->second.empty())
    return nullptr;
  auto c = std::move(it->second.back());
  it->second.pop_back();
  --idle_count_;
  ++c->idle_generation;
  if (c->watched) {
    c->watched = false;
    std::error_code ignored;
    c->socket.cancel(ignored);
  }
  lend_buffer(*c);
  return c;
}

void upstream_pool::lend_buffer(upstream_connection& c) {
  if (c.buffer == nullptr)
    c.buffer = buffers_.take();
}

void upstream_pool::give_back(std::shared_ptr<upstream_connection> c) {
  if (max_idle_ == 0 || !c->socket.is_open())
    return;
  auto& l = idle_[c->endpoint];
  if (l.size() >= max_idle_) {
    // Full: the oldest one goes (it is the likeliest to be closed upstream).
    std::error_code ignored;
    l.front()->socket.close(ignored);
    l.erase(l.begin());
    --idle_count_;
  }
  ticker_.ensure_ticking(); // first: it refreshes now()
  c->idle_since = ticker_.now();
  buffers_.give_back(std::move(c->buffer));
  l.push_back(std::move(c));
  ++idle_count_;
}

void upstream_pool::watch(const std::shared_ptr<upstream_connection>& c) {
  c->watched = true;
  auto generation = c->idle_generation;
  c->socket.async_wait(asio::socket_base::wait_read,
                       [this, alive = alive_, c, generation](std::error_code ec) {
                         // Readable while idle: closed by the upstream, or it
                         // sent bytes nobody asked for. Either way, unusable.
                         if (ec || !*alive || c->idle_generation != generation)
                           return;
                         drop(c.get());
                       });
}

void upstream_pool::drop(upstream_connection* c) {
  auto it = idle_.find(c->endpoint);
  if (it == idle_.end())
    return;
  auto& l = it->second;
  auto pos = std::find_if(l.begin(), l.end(), [c](const auto& p) { return p.get() == c; });
  if (pos == l.end())
    return;
  std::error_code ignored;
  (*pos)->socket.close(ignored);
  l.erase(pos);
  --idle_count_;
}

void upstream_pool::clear() {
  for (auto& [ep, l] : idle_)
    for (auto& c : l) {
      std::error_code ignored;
      c->socket.close(ignored);
    }
  idle_.clear();
  idle_count_ = 0;
}

bool upstream_pool::tick(void* self) {
  auto& pool = *static_cast<upstream_pool*>(self);
  auto cutoff = pool.ticker_.now() - pool.idle_timeout_;
  for (auto& [ep, l] : pool.idle_) {
    // Oldest first: they were pushed in order.
    std::size_t expired = 0;
    while (expired < l.size() && l[expired]->idle_since <= cutoff) {
      std::error_code ignored;
      l[expired]->socket.close(ignored);
      ++expired;
    }
    if (expired > 0) {
      l.erase(l.begin(), l.begin() + static_cast<std::ptrdiff_t>(expired));
      pool.idle_count_ -= expired;
    }
    // Connections idle since before the previous tick get their watch.
    auto settled = pool.ticker_.now() - net::deadline_list::tick;
    for (auto& c : l)
      if (!c->watched && c->idle_since < settled)
        pool.watch(c);
  }
  return pool.idle_count_ > 0;
}

} // namespace ika::proxy
