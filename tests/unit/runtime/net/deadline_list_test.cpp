// Unit tests of runtime/net/deadline_list: coarse timeouts on a real
// io_context. Nothing sleeps: the context runs until the awaited condition
// holds, with a generous deadline so that a failure cannot hang the suite.

#include "runtime/net/deadline_list.hpp"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace {

using namespace std::chrono_literals;
using ika::net::deadline_entry;
using ika::net::deadline_list;
using clock_type = deadline_entry::clock;

/// Counts its expiries.
struct probe : deadline_entry {
  int expired = 0;
  clock_type::time_point expired_at{};
  void expire() noexcept override {
    ++expired;
    expired_at = clock_type::now();
  }
};

/// Deletes itself when it expires (as a session whose timeout ends it).
struct self_deleting : deadline_entry {
  explicit self_deleting(int& count) : count_(count) {}
  void expire() noexcept override {
    ++count_;
    delete this;
  }
  int& count_;
};

/// Runs `ctx` until `done()` or `limit` passes; false on timeout or when the
/// context ran out of work first.
template <class F>
bool run_until(asio::io_context& ctx, F done, std::chrono::milliseconds limit = 5000ms) {
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

/// Runs `ctx` until it has no work left or `limit` passes; true if it ran
/// out of work (io_context::run() would have returned).
bool runs_out_of_work(asio::io_context& ctx, std::chrono::milliseconds limit = 3000ms) {
  ctx.restart();
  ctx.run_for(limit);
  return ctx.stopped();
}

TEST(deadline_list, entry_expires_after_its_deadline) {
  asio::io_context ctx;
  deadline_list list{ctx};
  probe e;
  auto armed = clock_type::now();
  list.add(e);
  list.arm(e, 150ms);
  ASSERT_TRUE(run_until(ctx, [&] { return e.expired == 1; }));
  EXPECT_GE(e.expired_at - armed, 150ms);
}

TEST(deadline_list, entry_expires_once) {
  asio::io_context ctx;
  deadline_list list{ctx};
  probe e;
  int ticks_after = -1;
  list.on_tick(
      [](void* arg) {
        auto& t = *static_cast<int*>(arg);
        if (t >= 0)
          ++t;
        return true;
      },
      &ticks_after);
  list.add(e);
  list.arm(e, 0ms);
  ASSERT_TRUE(run_until(ctx, [&] { return e.expired == 1; }));
  ticks_after = 0;
  ASSERT_TRUE(run_until(ctx, [&] { return ticks_after >= 3; }));
  EXPECT_EQ(e.expired, 1);
}

TEST(deadline_list, disarmed_entry_does_not_expire) {
  asio::io_context ctx;
  deadline_list list{ctx};
  probe a, b;
  list.add(a);
  list.add(b);
  list.arm(a, 50ms);
  list.arm(b, 300ms);
  deadline_list::disarm(a);
  ASSERT_TRUE(run_until(ctx, [&] { return b.expired == 1; }));
  EXPECT_EQ(a.expired, 0);
}

TEST(deadline_list, rearming_moves_the_deadline) {
  asio::io_context ctx;
  deadline_list list{ctx};
  probe e;
  auto armed = clock_type::now();
  list.add(e);
  list.arm(e, 50ms);
  list.arm(e, 400ms);
  ASSERT_TRUE(run_until(ctx, [&] { return e.expired == 1; }));
  EXPECT_GE(e.expired_at - armed, 400ms);
}

TEST(deadline_list, earlier_deadline_expires_first) {
  asio::io_context ctx;
  deadline_list list{ctx};
  probe soon, late;
  list.add(late);
  list.add(soon);
  list.arm(late, 400ms);
  list.arm(soon, 100ms);
  ASSERT_TRUE(run_until(ctx, [&] { return soon.expired == 1; }));
  EXPECT_EQ(late.expired, 0);
  ASSERT_TRUE(run_until(ctx, [&] { return late.expired == 1; }));
  EXPECT_LT(soon.expired_at, late.expired_at);
}

TEST(deadline_list, arming_after_a_quiet_period_waits_the_full_timeout) {
  // Whatever the ticker did while nothing could time out, a deadline counts
  // from the moment it is armed.
  asio::io_context ctx;
  deadline_list list{ctx};
  probe e;
  list.add(e);
  asio::steady_timer quiet{ctx, 400ms};
  bool quiet_over = false;
  quiet.async_wait([&](std::error_code) { quiet_over = true; });
  ASSERT_TRUE(run_until(ctx, [&] { return quiet_over; }));
  auto armed = clock_type::now();
  list.arm(e, 200ms);
  ASSERT_TRUE(run_until(ctx, [&] { return e.expired == 1; }));
  EXPECT_GE(e.expired_at - armed, 200ms - deadline_list::tick);
}

TEST(deadline_list, add_links_and_counts) {
  asio::io_context ctx;
  deadline_list list{ctx};
  probe a, b;
  list.add(a);
  list.add(b);
  EXPECT_TRUE(a.linked());
  EXPECT_EQ(list.size(), 2u);
}

TEST(deadline_list, adding_twice_links_once) {
  asio::io_context ctx;
  deadline_list list{ctx};
  probe a;
  list.add(a);
  list.add(a);
  EXPECT_EQ(list.size(), 1u);
}

TEST(deadline_list, remove_unlinks) {
  asio::io_context ctx;
  deadline_list list{ctx};
  probe a, b, c;
  list.add(a);
  list.add(b);
  list.add(c);
  list.remove(b);
  list.remove(b);
  EXPECT_FALSE(b.linked());
  EXPECT_EQ(list.size(), 2u);
  int visited = 0;
  list.for_each([&](deadline_entry&) { ++visited; });
  EXPECT_EQ(visited, 2);
}

TEST(deadline_list, destroying_an_entry_removes_it) {
  asio::io_context ctx;
  deadline_list list{ctx};
  probe kept;
  list.add(kept);
  {
    probe gone;
    list.add(gone);
    EXPECT_EQ(list.size(), 2u);
  }
  EXPECT_EQ(list.size(), 1u);
  int visited = 0;
  list.for_each([&](deadline_entry& e) {
    ++visited;
    EXPECT_EQ(&e, &kept);
  });
  EXPECT_EQ(visited, 1);
}

TEST(deadline_list, entry_may_destroy_itself_when_it_expires) {
  asio::io_context ctx;
  deadline_list list{ctx};
  int count = 0;
  probe other;
  list.add(other);
  auto* e = new self_deleting{count};
  list.add(*e);
  list.arm(*e, 0ms);
  list.arm(other, 0ms);
  ASSERT_TRUE(run_until(ctx, [&] { return count == 1 && other.expired == 1; }));
  EXPECT_EQ(list.size(), 1u);
}

TEST(deadline_list, destroying_the_list_unlinks_its_entries) {
  asio::io_context ctx;
  probe e;
  {
    deadline_list list{ctx};
    list.add(e);
    list.arm(e, 100ms);
  }
  EXPECT_FALSE(e.linked());
}

TEST(deadline_list, destroyed_list_leaves_no_tick_behind) {
  asio::io_context ctx;
  probe e;
  {
    deadline_list list{ctx};
    list.add(e);
    list.arm(e, 0ms);
  }
  EXPECT_TRUE(runs_out_of_work(ctx));
  EXPECT_EQ(e.expired, 0);
}

TEST(deadline_list, for_each_may_remove_the_current_entry) {
  asio::io_context ctx;
  deadline_list list{ctx};
  probe a, b, c;
  list.add(a);
  list.add(b);
  list.add(c);
  int visited = 0;
  list.for_each([&](deadline_entry& e) {
    ++visited;
    list.remove(e);
  });
  EXPECT_EQ(visited, 3);
  EXPECT_EQ(list.size(), 0u);
}

TEST(deadline_list, ticker_stops_when_the_list_empties) {
  asio::io_context ctx;
  deadline_list list{ctx};
  {
    probe e;
    list.add(e);
  }
  EXPECT_TRUE(runs_out_of_work(ctx));
}

TEST(deadline_list, ticker_stops_when_nothing_is_armed) {
  // Linked but never armed: nothing can time out, so nothing should tick.
  asio::io_context ctx;
  deadline_list list{ctx};
  probe e;
  list.add(e);
  EXPECT_TRUE(runs_out_of_work(ctx));
}

TEST(deadline_list, ticker_runs_while_on_tick_needs_it) {
  asio::io_context ctx;
  deadline_list list{ctx};
  int calls = 0;
  list.on_tick(
      [](void* arg) {
        auto& n = *static_cast<int*>(arg);
        return ++n < 3;
      },
      &calls);
  list.ensure_ticking();
  EXPECT_TRUE(runs_out_of_work(ctx));
  EXPECT_EQ(calls, 3);
}

TEST(deadline_list, ensure_ticking_restarts_a_stopped_ticker) {
  asio::io_context ctx;
  deadline_list list{ctx};
  int calls = 0;
  list.on_tick(
      [](void* arg) {
        ++*static_cast<int*>(arg);
        return false;
      },
      &calls);
  list.ensure_ticking();
  ASSERT_TRUE(runs_out_of_work(ctx));
  ASSERT_EQ(calls, 1);
  ctx.restart();
  list.ensure_ticking();
  EXPECT_TRUE(runs_out_of_work(ctx));
  EXPECT_EQ(calls, 2);
}

TEST(deadline_list, ensure_ticking_twice_ticks_once) {
  asio::io_context ctx;
  deadline_list list{ctx};
  int calls = 0;
  list.on_tick(
      [](void* arg) {
        ++*static_cast<int*>(arg);
        return false;
      },
      &calls);
  list.ensure_ticking();
  list.ensure_ticking();
  EXPECT_TRUE(runs_out_of_work(ctx));
  EXPECT_EQ(calls, 1);
}

TEST(deadline_list, each_tick_updates_now) {
  asio::io_context ctx;
  deadline_list list{ctx};
  auto before = list.now();
  int calls = 0;
  list.on_tick(
      [](void* arg) {
        ++*static_cast<int*>(arg);
        return false;
      },
      &calls);
  list.ensure_ticking();
  ASSERT_TRUE(run_until(ctx, [&] { return calls == 1; }));
  EXPECT_GE(list.now() - before, deadline_list::tick);
}

TEST(deadline_list, owner_is_kept) {
  probe e;
  int owner = 0;
  EXPECT_EQ(e.owner(), nullptr);
  e.set_owner(&owner);
  EXPECT_EQ(e.owner(), &owner);
}

} // namespace
