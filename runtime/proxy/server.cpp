#include "runtime/proxy/server.hpp"

#include "runtime/proxy/client_session.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

namespace ika::proxy {

namespace {

asio::awaitable<void> accept_loop(asio::ip::tcp::acceptor& acceptor, std::shared_ptr<listener_shared> shared,
                                  worker* w, std::size_t thread) {
  for (;;) {
    std::error_code ec;
    auto socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open())
        co_return;
      // EMFILE and friends: back off a little instead of spinning.
      spdlog::warn("{}: accept failed: {}", shared->name, ec.message());
      asio::steady_timer pause{acceptor.get_executor(), std::chrono::milliseconds{50}};
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    asio::co_spawn(acceptor.get_executor(), serve_connection(shared, w, thread, std::move(socket)),
                   asio::detached);
  }
}

} // namespace

listener_shared::listener_shared(std::string n, const limits& l, std::size_t threads)
    : name(std::move(n)), config(l), slots(new thread_slot[threads]), slot_count(threads) {
  for (std::size_t i = 0; i < threads; ++i) {
    slots[i].routes.emplace(routes);
    slots[i].handshakes.reader.emplace(certificates);
    slots[i].handshakes.keys = &tickets;
  }
}

server::server(net::io_pool& pool, workers& w, std::string name, asio::ip::tcp::endpoint address,
               const limits& l)
    : pool_(pool), workers_(w), address_(address),
      shared_(std::make_shared<listener_shared>(std::move(name), l, pool.size())) {}

std::error_code server::open() {
  std::error_code ec;
  auto endpoint = address_;
  for (std::size_t i = 0; i < pool_.size(); ++i) {
    auto a = std::make_unique<asio::ip::tcp::acceptor>(pool_.context(i));
    a->open(endpoint.protocol(), ec);
    if (ec)
      return ec;
    a->set_option(asio::socket_base::reuse_address{true}, ec);
    if (endpoint.address().is_v6())
      a->set_option(asio::ip::v6_only{true}, ec);
    // SO_REUSEPORT: one acceptor per io thread, the kernel spreads
    // connections between them. The first acceptor binds without it, so a
    // port someone else holds (another ika too) is an error here instead of
    // a silently shared port; it sets the option before listen(), which is
    // when the kernel forms the group the others join.
    int one = 1;
    if (i > 0 && ::setsockopt(a->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
      return std::error_code{errno, std::system_category()};
    a->bind(endpoint, ec);
    if (ec)
      return ec;
    if (i == 0 && ::setsockopt(a->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
      return std::error_code{errno, std::system_category()};
    a->listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return ec;
    if (i == 0) {
      // Port 0: every other acceptor joins the port the first one got.
      endpoint = a->local_endpoint(ec);
      if (ec)
        return ec;
      bound_ = endpoint;
    }
    acceptors_.push_back(std::move(a));
    open_acceptors_.fetch_add(1, std::memory_order_acq_rel);
  }
  return {};
}

void server::start() {
  for (std::size_t i = 0; i < acceptors_.size(); ++i) {
    auto& ctx = pool_.context(i);
    asio::co_spawn(ctx, accept_loop(*acceptors_[i], shared_, &workers_.at(i), i), asio::detached);
  }
}

void server::publish(std::shared_ptr<const route_table> table) {
  // The table first, then the gates: a waiter woken here routes again on
  // this table (or a newer one), never on an older one.
  shared_->routes.publish(table);
  for (const auto& gate : table->ready_gates())
    gate->open(shared_.get());
}

bool server::enable_tls(std::string& error) {
  shared_->tls = net::make_listener_context(error);
  if (!shared_->tls)
    return false;
  shared_->proto = "https";
  return true;
}

void server::publish_certificates(std::shared_ptr<const net::certificate_table> table) {
  shared_->certificates.publish(std::move(table));
}

void server::drain() {
  close_acceptors(false);
}

void server::close_all() {
  close_acceptors(true);
}

void server::close_acceptors(bool now) {
  shared_->draining.store(true, std::memory_order_relaxed);
  // Each io thread closes its own acceptor and tells its own connections:
  // the acceptors and sessions belong to their threads.
  for (std::size_t i = 0; i < acceptors_.size(); ++i) {
    asio::post(pool_.context(i), [this, i, now, owner = shared_.get()] {
      std::error_code ignored;
      if (acceptors_[i]->is_open()) {
        acceptors_[i]->close(ignored);
        open_acceptors_.fetch_sub(1, std::memory_order_acq_rel);
      }
      workers_.at(i).deadlines.for_each([owner, now](net::deadline_entry& e) {
        if (e.owner() == owner)
          e.stop(now);
      });
    });
  }
}

std::uint64_t server::connections() const noexcept {
  return shared_->connections.load(std::memory_order_relaxed);
}

std::uint64_t server::requests() const noexcept {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < shared_->slot_count; ++i)
    total += shared_->slots[i].requests.load(std::memory_order_relaxed);
  return total;
}

std::size_t server::routes() const {
  return shared_->routes.load()->size();
}

} // namespace ika::proxy
