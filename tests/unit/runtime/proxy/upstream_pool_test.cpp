// Unit tests of runtime/proxy/upstream_pool: idle keep-alive connections to
// upstreams. The upstream is a real listening socket on 127.0.0.1 port 0;
// nothing sleeps: the io_context runs until the awaited condition holds,
// with a generous deadline.

#include "runtime/proxy/upstream_pool.hpp"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <chrono>
#include <memory>
#include <vector>

namespace {

using namespace std::chrono_literals;
using asio::ip::tcp;
using ika::net::deadline_list;
using ika::proxy::upstream_connection;
using ika::proxy::upstream_pool;
using clock_type = std::chrono::steady_clock;

/// A real upstream: a listening socket, and the server side of every
/// connection made to it.
struct upstream {
  explicit upstream(asio::io_context& ctx)
      : acceptor(ctx, tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0}) {}

  tcp::endpoint endpoint() const { return acceptor.local_endpoint(); }

  tcp::acceptor acceptor;
  std::vector<tcp::socket> peers;
};

class upstream_pool_test : public testing::Test {
protected:
  /// A connected upstream_connection; its server side is `u.peers.back()`.
  std::shared_ptr<upstream_connection> connect(upstream& u) {
    auto c = std::make_shared<upstream_connection>(ctx, u.endpoint());
    c->socket.connect(u.endpoint());
    u.peers.push_back(u.acceptor.accept());
    return c;
  }

  /// Runs the context until `done()`; false after `limit` or when it ran out
  /// of work first.
  template <class F>
  bool run_until(F done, std::chrono::milliseconds limit = 5000ms) {
    ctx.restart();
    auto end = clock_type::now() + limit;
    while (!done()) {
      if (clock_type::now() >= end)
        return false;
      ctx.run_one_for(20ms);
      if (ctx.stopped() && !done())
        return false;
    }
    return true;
  }

  asio::io_context ctx;
  deadline_list ticker{ctx};
  upstream up{ctx};
};

TEST_F(upstream_pool_test, empty_pool_has_nothing_to_take) {
  upstream_pool pool{ctx, ticker, 4, 30s};
  EXPECT_EQ(pool.take(up.endpoint()), nullptr);
  EXPECT_EQ(pool.idle(), 0u);
}

TEST_F(upstream_pool_test, given_back_connection_is_taken_again) {
  upstream_pool pool{ctx, ticker, 4, 30s};
  auto c = connect(up);
  pool.give_back(c);
  EXPECT_EQ(pool.idle(), 1u);
  auto taken = pool.take(up.endpoint());
  EXPECT_EQ(taken, c);
  EXPECT_EQ(pool.idle(), 0u);
  EXPECT_TRUE(taken->socket.is_open());
}

TEST_F(upstream_pool_test, take_returns_the_most_recently_given_back) {
  upstream_pool pool{ctx, ticker, 4, 30s};
  auto c1 = connect(up);
  auto c2 = connect(up);
  pool.give_back(c1);
  pool.give_back(c2);
  EXPECT_EQ(pool.take(up.endpoint()), c2);
  EXPECT_EQ(pool.take(up.endpoint()), c1);
  EXPECT_EQ(pool.take(up.endpoint()), nullptr);
}

TEST_F(upstream_pool_test, connections_are_kept_per_endpoint) {
  upstream other{ctx};
  upstream_pool pool{ctx, ticker, 4, 30s};
  auto c = connect(up);
  auto d = connect(other);
  pool.give_back(c);
  pool.give_back(d);
  EXPECT_EQ(pool.take(other.endpoint()), d);
  EXPECT_EQ(pool.take(other.endpoint()), nullptr);
  EXPECT_EQ(pool.take(up.endpoint()), c);
}

TEST_F(upstream_pool_test, keeps_at_most_max_idle_per_upstream) {
  upstream_pool pool{ctx, ticker, 2, 30s};
  auto c1 = connect(up);
  auto c2 = connect(up);
  auto c3 = connect(up);
  pool.give_back(c1);
  pool.give_back(c2);
  pool.give_back(c3);
  EXPECT_EQ(pool.idle(), 2u);
}

TEST_F(upstream_pool_test, oldest_idle_connection_is_evicted_and_closed) {
  upstream_pool pool{ctx, ticker, 2, 30s};
  auto c1 = connect(up);
  auto c2 = connect(up);
  auto c3 = connect(up);
  pool.give_back(c1);
  pool.give_back(c2);
  pool.give_back(c3);
  EXPECT_FALSE(c1->socket.is_open());
  EXPECT_EQ(pool.take(up.endpoint()), c3);
  EXPECT_EQ(pool.take(up.endpoint()), c2);
  EXPECT_EQ(pool.take(up.endpoint()), nullptr);
}

TEST_F(upstream_pool_test, max_idle_applies_per_upstream) {
  upstream other{ctx};
  upstream_pool pool{ctx, ticker, 1, 30s};
  pool.give_back(connect(up));
  pool.give_back(connect(other));
  EXPECT_EQ(pool.idle(), 2u);
}

TEST_F(upstream_pool_test, max_idle_zero_keeps_nothing) {
  upstream_pool pool{ctx, ticker, 0, 30s};
  pool.give_back(connect(up));
  EXPECT_EQ(pool.idle(), 0u);
  EXPECT_EQ(pool.take(up.endpoint()), nullptr);
}

TEST_F(upstream_pool_test, closed_connection_is_not_kept) {
  upstream_pool pool{ctx, ticker, 4, 30s};
  auto c = connect(up);
  c->socket.close();
  pool.give_back(c);
  EXPECT_EQ(pool.idle(), 0u);
}

TEST_F(upstream_pool_test, idle_connection_expires_after_the_idle_timeout) {
  auto given_back = clock_type::now();
  upstream_pool pool{ctx, ticker, 4, 250ms};
  auto c = connect(up);
  pool.give_back(c);
  ASSERT_TRUE(run_until([&] { return pool.idle() == 0; }));
  EXPECT_GE(clock_type::now() - given_back, 250ms);
  EXPECT_FALSE(c->socket.is_open());
  EXPECT_EQ(pool.take(up.endpoint()), nullptr);
}

TEST_F(upstream_pool_test, idle_timeout_counts_from_give_back_even_after_the_ticker_slept) {
  upstream_pool pool{ctx, ticker, 4, 300ms};
  // The node sat idle (no ticks) for a while before this connection came
  // back to the pool.
  asio::steady_timer quiet{ctx, 500ms};
  bool quiet_over = false;
  quiet.async_wait([&](std::error_code) { quiet_over = true; });
  ASSERT_TRUE(run_until([&] { return quiet_over; }));
  auto c = connect(up);
  auto given_back = clock_type::now();
  pool.give_back(c);
  ASSERT_TRUE(run_until([&] { return pool.idle() == 0; }));
  EXPECT_GE(clock_type::now() - given_back, 300ms - deadline_list::tick);
}

TEST_F(upstream_pool_test, ticker_stops_once_the_pool_is_empty) {
  upstream_pool pool{ctx, ticker, 4, 100ms};
  pool.give_back(connect(up));
  ctx.run_for(5s);
  EXPECT_TRUE(ctx.stopped());
  EXPECT_EQ(pool.idle(), 0u);
}

TEST_F(upstream_pool_test, connection_closed_by_the_upstream_is_dropped) {
  upstream_pool pool{ctx, ticker, 4, 30s};
  auto c = connect(up);
  pool.give_back(c);
  up.peers.back().close();
  ASSERT_TRUE(run_until([&] { return pool.idle() == 0; }));
  EXPECT_FALSE(c->socket.is_open());
  EXPECT_EQ(pool.take(up.endpoint()), nullptr);
}

TEST_F(upstream_pool_test, only_the_connection_closed_by_the_upstream_is_dropped) {
  upstream_pool pool{ctx, ticker, 4, 30s};
  auto c1 = connect(up);
  auto c2 = connect(up);
  pool.give_back(c1);
  pool.give_back(c2);
  up.peers.front().close();
  ASSERT_TRUE(run_until([&] { return pool.idle() == 1; }));
  EXPECT_EQ(pool.take(up.endpoint()), c2);
}

TEST_F(upstream_pool_test, connection_with_unsolicited_bytes_is_dropped) {
  upstream_pool pool{ctx, ticker, 4, 30s};
  auto c = connect(up);
  pool.give_back(c);
  asio::write(up.peers.back(), asio::buffer(std::string_view{"HTTP/1.1 200 OK\r\n"}));
  ASSERT_TRUE(run_until([&] { return pool.idle() == 0; }));
  EXPECT_FALSE(c->socket.is_open());
}

TEST_F(upstream_pool_test, taken_connection_is_left_alone_when_the_upstream_closes) {
  upstream_pool pool{ctx, ticker, 4, 30s};
  auto c = connect(up);
  pool.give_back(c);
  auto taken = pool.take(up.endpoint());
  ASSERT_EQ(taken, c);
  up.peers.back().close();
  ctx.run_for(5s); // until the ticker has nothing left to do
  EXPECT_TRUE(ctx.stopped());
  EXPECT_TRUE(c->socket.is_open());
}

TEST_F(upstream_pool_test, take_bumps_the_idle_generation) {
  upstream_pool pool{ctx, ticker, 4, 30s};
  auto c = connect(up);
  auto before = c->idle_generation;
  pool.give_back(c);
  pool.take(up.endpoint());
  EXPECT_EQ(c->idle_generation, before + 1);
}

TEST_F(upstream_pool_test, clear_closes_every_idle_connection) {
  upstream other{ctx};
  upstream_pool pool{ctx, ticker, 4, 30s};
  auto c1 = connect(up);
  auto c2 = connect(other);
  pool.give_back(c1);
  pool.give_back(c2);
  pool.clear();
  EXPECT_EQ(pool.idle(), 0u);
  EXPECT_FALSE(c1->socket.is_open());
  EXPECT_FALSE(c2->socket.is_open());
  EXPECT_EQ(pool.take(up.endpoint()), nullptr);
}

TEST_F(upstream_pool_test, destroying_the_pool_closes_idle_connections) {
  auto c = connect(up);
  {
    upstream_pool pool{ctx, ticker, 4, 30s};
    pool.give_back(c);
  }
  EXPECT_FALSE(c->socket.is_open());
  ctx.run_for(5s); // pending waits and ticks must not touch the dead pool
  EXPECT_TRUE(ctx.stopped());
}

TEST_F(upstream_pool_test, connection_has_a_response_parser_and_buffer) {
  auto c = connect(up);
  EXPECT_EQ(c->buffer, nullptr);
  upstream_pool pool{ctx, ticker, 4, 30s};
  pool.lend_buffer(*c);
  EXPECT_NE(c->buffer, nullptr);
  EXPECT_EQ(c->endpoint, up.endpoint());
  EXPECT_EQ(c->requests, 0u);
}

// 72 KiB per connection idle in the pool would add up (64 kept per upstream
// and io thread): a pooled connection gives its buffer back, and the next
// one taken gets that very buffer.
TEST_F(upstream_pool_test, pooled_connections_hold_no_buffer) {
  upstream_pool pool{ctx, ticker, 4, 30s};
  auto c = connect(up);
  pool.lend_buffer(*c);
  const char* lent = c->buffer.get();
  auto* raw = c.get();
  pool.give_back(std::move(c));
  EXPECT_EQ(raw->buffer, nullptr);
  auto again = pool.take(up.endpoint());
  ASSERT_EQ(again.get(), raw);
  EXPECT_EQ(again->buffer.get(), lent);
}

} // namespace
