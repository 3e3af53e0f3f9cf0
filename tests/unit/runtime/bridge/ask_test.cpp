#include "runtime/bridge/ask.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <caf/all.hpp>

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
namespace bridge = ika::bridge;

// Upper bound for every wait: a broken bridge fails the test instead of hanging it.
constexpr auto deadline = 20s;

using add_atom = caf::atom_constant<caf::atom("add")>;
using echo_atom = caf::atom_constant<caf::atom("echo")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using release_atom = caf::atom_constant<caf::atom("release")>;

using calculator_actor =
    caf::typed_actor<caf::replies_to<add_atom, int, int>::with<int>,
                     caf::replies_to<echo_atom, std::string>::with<std::string>, caf::reacts_to<ping_atom>>;

// CAF 0.17 dereferences a null argument tuple when a function actor is
// spawned without arguments (UBSan reports it), so every test actor here
// takes at least one.

/// Adds `bias` to every sum.
calculator_actor::behavior_type calculator(int bias) {
  return {
      [bias](add_atom, int x, int y) { return x + y + bias; },
      [](echo_atom, std::string& s) { return std::move(s); },
      [](ping_atom) {},
  };
}

/// Replies `x * factor`; records the thread it ran on in `*ran_on` if given.
caf::behavior multiplier(int factor, std::atomic<std::thread::id>* ran_on) {
  return {[=](int x) {
    if (ran_on)
      *ran_on = std::this_thread::get_id();
    return x * factor;
  }};
}

/// One io_context run by one thread until destroyed.
class io_thread {
public:
  io_thread() : work_(asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}

  ~io_thread() {
    work_.reset();
    io_.stop();
    thread_.join();
  }

  io_thread(const io_thread&) = delete;
  io_thread& operator=(const io_thread&) = delete;

  asio::io_context& context() { return io_; }
  std::thread::id id() const { return thread_.get_id(); }

private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

/// What a coroutine saw around one ask.
template <class T>
struct outcome {
  std::thread::id before;
  std::thread::id after;
  std::optional<caf::expected<T>> result;
};

/// Runs `body` as a coroutine on `ex` and waits (bounded) for its value.
template <class T, class Body>
std::optional<T> run_coroutine(const asio::any_io_executor& ex, Body body) {
  auto done = std::make_shared<std::promise<T>>();
  auto result = done->get_future();
  asio::co_spawn(ex, std::move(body), [done](std::exception_ptr error, T value) {
    if (error)
      done->set_exception(error);
    else
      done->set_value(std::move(value));
  });
  if (result.wait_for(deadline) != std::future_status::ready)
    return std::nullopt;
  return result.get();
}

/// Waits (bounded) until everything posted to `io` before this call has run.
bool drain(asio::io_context& io) {
  std::promise<void> reached;
  auto f = reached.get_future();
  asio::post(io, [&reached] { reached.set_value(); });
  return f.wait_for(deadline) == std::future_status::ready;
}

/// An actor that holds every request until it gets `release_atom`, then
/// answers all of them with `value` and replies how many it released.
struct holder_state {
  std::vector<caf::response_promise> pending;
  std::shared_ptr<std::promise<void>> received; // set on the first request
};

caf::behavior holder(caf::stateful_actor<holder_state>* self, int value,
                     std::shared_ptr<std::promise<void>> received) {
  self->state.received = std::move(received);
  return {
      [=](int) {
        self->state.pending.push_back(self->make_response_promise());
        if (auto r = std::exchange(self->state.received, nullptr))
          r->set_value();
      },
      [=](release_atom) {
        auto n = static_cast<int>(self->state.pending.size());
        for (auto& rp : self->state.pending)
          rp.deliver(value);
        self->state.pending.clear();
        return n;
      },
  };
}

class ask_test : public ::testing::Test {
protected:
  ~ask_test() override {
    // Also on failed assertions: the actor system's destructor waits for
    // every actor, so a test actor left alive would hang the suite.
    for (auto& a : spawned_)
      caf::anon_send_exit(a, caf::exit_reason::kill);
  }

  /// Spawns an actor that the fixture kills at the end of the test.
  template <class... Ts>
  auto spawn(Ts&&... xs) {
    auto handle = sys_.spawn(std::forward<Ts>(xs)...);
    spawned_.push_back(caf::actor_cast<caf::actor>(handle));
    return handle;
  }

  caf::actor_system_config cfg_;
  caf::actor_system sys_{cfg_};
  caf::scoped_actor self_{sys_};
  std::vector<caf::actor> spawned_;

  /// Sends `release_atom` and returns once the holder has answered.
  void release(const caf::actor& holder_actor) {
    int released = 0;
    self_->request(holder_actor, caf::infinite, release_atom::value)
        .receive([&](int n) { released = n; }, [](caf::error&) {});
    ASSERT_EQ(released, 1);
  }

  /// Kills `a` and returns once it is gone.
  template <class Handle>
  void stop(const Handle& a) {
    self_->send_exit(a, caf::exit_reason::kill);
    self_->wait_for(a);
  }
};

TEST_F(ask_test, reply_resumes_the_coroutine_on_its_io_thread) {
  std::atomic<std::thread::id> actor_thread;
  auto doubler = spawn(multiplier, 2, &actor_thread);
  io_thread io;
  auto seen =
      run_coroutine<outcome<int>>(io.context().get_executor(), [&]() -> asio::awaitable<outcome<int>> {
        outcome<int> o;
        o.before = std::this_thread::get_id();
        o.result = co_await bridge::ask<int>(sys_, doubler, 5s, 21);
        o.after = std::this_thread::get_id();
        co_return o;
      });
  ASSERT_TRUE(seen);
  ASSERT_TRUE(seen->result && *seen->result) << sys_.render(seen->result->error());
  EXPECT_EQ(**seen->result, 42);
  EXPECT_EQ(seen->before, io.id());
  EXPECT_EQ(seen->after, io.id());
  // The reply really came from another thread: the bridge moved it back.
  EXPECT_NE(actor_thread.load(), io.id());
}

TEST_F(ask_test, typed_actor_replies) {
  auto calc = spawn(calculator, 0);
  io_thread io;
  struct typed_results {
    std::optional<caf::expected<int>> sum;
    std::optional<caf::expected<std::string>> echo;
    std::optional<caf::expected<void>> ping;
    std::optional<caf::expected<caf::message>> raw;
  };
  auto seen =
      run_coroutine<typed_results>(io.context().get_executor(), [&]() -> asio::awaitable<typed_results> {
        typed_results r;
        r.sum = co_await bridge::ask<int>(sys_, calc, 5s, add_atom::value, 2, 3);
        std::string text(1000, 'x'); // heap-allocated: a wrong move would show under ASan
        r.echo = co_await bridge::ask<std::string>(sys_, calc, 5s, echo_atom::value, text);
        r.ping = co_await bridge::ask<void>(sys_, calc, 5s, ping_atom::value);
        r.raw = co_await bridge::ask<caf::message>(sys_, calc, 5s, add_atom::value, 40, 2);
        co_return r;
      });
  ASSERT_TRUE(seen);
  ASSERT_TRUE(seen->sum && *seen->sum) << sys_.render(seen->sum->error());
  EXPECT_EQ(**seen->sum, 5);
  ASSERT_TRUE(seen->echo && *seen->echo) << sys_.render(seen->echo->error());
  EXPECT_EQ(**seen->echo, std::string(1000, 'x'));
  ASSERT_TRUE(seen->ping);
  EXPECT_TRUE(*seen->ping) << sys_.render(seen->ping->error());
  ASSERT_TRUE(seen->raw && *seen->raw) << sys_.render(seen->raw->error());
  ASSERT_TRUE((*seen->raw)->match_elements<int>());
  EXPECT_EQ((*seen->raw)->get_as<int>(0), 42);
}

TEST_F(ask_test, error_reply_arrives_as_the_error) {
  auto failing = spawn(
      [](caf::sec code) -> caf::behavior {
        return {
            [code](int) -> caf::result<int> { return caf::make_error(code); },
            [](const std::string&) { return 1; },
        };
      },
      caf::sec::runtime_error);
  io_thread io;
  struct results {
    std::optional<caf::expected<int>> error_reply;
    std::optional<caf::expected<int>> unhandled;
    std::optional<caf::expected<std::string>> wrong_type;
  };
  auto seen = run_coroutine<results>(io.context().get_executor(), [&]() -> asio::awaitable<results> {
    results r;
    r.error_reply = co_await bridge::ask<int>(sys_, failing, 5s, 1);
    r.unhandled = co_await bridge::ask<int>(sys_, failing, 5s, 1.5);
    r.wrong_type = co_await bridge::ask<std::string>(sys_, failing, 5s, "one");
    co_return r;
  });
  ASSERT_TRUE(seen);
  ASSERT_TRUE(seen->error_reply && !*seen->error_reply);
  EXPECT_EQ(seen->error_reply->error(), caf::sec::runtime_error);
  ASSERT_TRUE(seen->unhandled && !*seen->unhandled);
  EXPECT_EQ(seen->unhandled->error(), caf::sec::unexpected_message);
  ASSERT_TRUE(seen->wrong_type && !*seen->wrong_type);
  EXPECT_EQ(seen->wrong_type->error(), caf::sec::unexpected_response);
}

TEST_F(ask_test, timeout_completes_once_and_a_late_reply_is_dropped) {
  auto received = std::make_shared<std::promise<void>>();
  auto got_request = received->get_future();
  auto slow = spawn(holder, 7, received);
  io_thread io;
  std::promise<caf::expected<int>> first;
  auto first_result = first.get_future();
  std::atomic<int> calls{0};
  std::atomic<std::thread::id> handler_thread;
  constexpr auto timeout = 100ms;
  auto start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point completed;
  // A plain callback (not a coroutine): any completion token works.
  asio::post(io.context(), [&] {
    bridge::async_ask<int>(sys_, slow, timeout,
                           asio::bind_executor(io.context(),
                                               [&](caf::expected<int> r) {
                                                 handler_thread = std::this_thread::get_id();
                                                 if (calls++ == 0) {
                                                   completed = std::chrono::steady_clock::now();
                                                   first.set_value(std::move(r));
                                                 }
                                               }),
                           1);
  });
  ASSERT_EQ(got_request.wait_for(deadline), std::future_status::ready);
  ASSERT_EQ(first_result.wait_for(deadline), std::future_status::ready);
  auto r = first_result.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), caf::sec::request_timeout);
  EXPECT_GE(completed - start, timeout);
  EXPECT_EQ(handler_thread.load(), io.id());
  // Now the actor answers after all. `release` returns after the reply went
  // to the sink; anything the sink posted runs before a later post.
  release(slow);
  ASSERT_TRUE(drain(io.context()));
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(ask_test, dead_actor_and_null_handle_are_errors) {
  auto doomed = spawn(multiplier, 1, nullptr);
  stop(doomed);
  caf::actor null_handle;
  io_thread io;
  struct results {
    std::optional<caf::expected<int>> dead;
    std::optional<caf::expected<int>> null;
    std::thread::id after;
  };
  auto seen = run_coroutine<results>(io.context().get_executor(), [&]() -> asio::awaitable<results> {
    results r;
    r.dead = co_await bridge::ask<int>(sys_, doomed, 5s, 1);
    r.null = co_await bridge::ask<int>(sys_, null_handle, 5s, 1);
    r.after = std::this_thread::get_id();
    co_return r;
  });
  ASSERT_TRUE(seen);
  ASSERT_TRUE(seen->dead && !*seen->dead);
  EXPECT_EQ(seen->dead->error(), caf::sec::request_receiver_down);
  ASSERT_TRUE(seen->null && !*seen->null);
  EXPECT_EQ(seen->null->error(), caf::sec::invalid_argument);
  EXPECT_EQ(seen->after, io.id());
}

TEST_F(ask_test, many_concurrent_asks_from_coroutines_on_two_io_threads) {
  auto calc = spawn(calculator, 0);
  auto doubler = spawn(multiplier, 2, nullptr);
  constexpr int coroutines_per_thread = 4;
  constexpr int asks_per_coroutine = 250;
  io_thread io_a;
  io_thread io_b;
  struct tally {
    int ok = 0;
    int wrong_value = 0;
    int wrong_thread = 0;
    int failed = 0;
  };
  auto worker = [&](int seed, std::thread::id home) -> asio::awaitable<tally> {
    tally t;
    for (int i = 0; i < asks_per_coroutine; ++i) {
      auto x = seed * 10000 + i;
      auto r = (i % 2 == 0) ? co_await bridge::ask<int>(sys_, calc, 10s, add_atom::value, x, 1)
                            : co_await bridge::ask<int>(sys_, doubler, 10s, x);
      if (std::this_thread::get_id() != home)
        ++t.wrong_thread;
      if (!r)
        ++t.failed;
      else if (*r != ((i % 2 == 0) ? x + 1 : x * 2))
        ++t.wrong_value;
      else
        ++t.ok;
    }
    co_return t;
  };
  std::vector<std::future<tally>> results;
  for (int c = 0; c < coroutines_per_thread * 2; ++c) {
    auto& io = (c % 2 == 0) ? io_a : io_b;
    auto done = std::make_shared<std::promise<tally>>();
    results.push_back(done->get_future());
    asio::co_spawn(io.context(), worker(c, io.id()), [done](std::exception_ptr e, tally t) {
      if (e)
        done->set_exception(e);
      else
        done->set_value(t);
    });
  }
  int ok = 0;
  for (auto& f : results) {
    ASSERT_EQ(f.wait_for(deadline), std::future_status::ready);
    auto t = f.get();
    EXPECT_EQ(t.wrong_thread, 0);
    EXPECT_EQ(t.wrong_value, 0);
    EXPECT_EQ(t.failed, 0);
    ok += t.ok;
  }
  EXPECT_EQ(ok, coroutines_per_thread * 2 * asks_per_coroutine);
}

TEST_F(ask_test, io_context_run_by_two_threads_resumes_on_one_of_them) {
  auto doubler = spawn(multiplier, 2, nullptr);
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread t1([&] { io.run(); });
  std::thread t2([&] { io.run(); });
  const std::set<std::thread::id> io_threads{t1.get_id(), t2.get_id()};
  constexpr int coroutines = 8;
  std::atomic<int> foreign{0};
  std::atomic<int> good{0};
  std::vector<std::future<void>> done;
  for (int c = 0; c < coroutines; ++c) {
    auto p = std::make_shared<std::promise<void>>();
    done.push_back(p->get_future());
    asio::co_spawn(
        io,
        [&, c]() -> asio::awaitable<void> {
          for (int i = 0; i < 100; ++i) {
            auto r = co_await bridge::ask<int>(sys_, doubler, 10s, c + i);
            if (io_threads.count(std::this_thread::get_id()) == 0)
              ++foreign;
            if (r && *r == (c + i) * 2)
              ++good;
          }
        },
        [p](std::exception_ptr) { p->set_value(); });
  }
  bool all_done = true;
  for (auto& f : done)
    all_done = all_done && f.wait_for(deadline) == std::future_status::ready;
  work.reset();
  io.stop();
  t1.join();
  t2.join();
  ASSERT_TRUE(all_done);
  EXPECT_EQ(foreign.load(), 0);
  EXPECT_EQ(good.load(), coroutines * 100);
}

TEST_F(ask_test, run_does_not_return_while_an_ask_is_pending) {
  auto received = std::make_shared<std::promise<void>>();
  auto got_request = received->get_future();
  auto slow = spawn(holder, 9, received);
  asio::io_context io; // run by this thread only: every step is deterministic
  std::optional<caf::expected<int>> result;
  // A plain callback: co_spawn holds work of its own while a coroutine is
  // suspended, so only a callback shows whether the ask itself holds work.
  bridge::async_ask<int>(sys_, slow, 30s,
                         asio::bind_executor(io, [&](caf::expected<int> r) { result = std::move(r); }), 1);
  ASSERT_EQ(got_request.wait_for(deadline), std::future_status::ready);
  // Nothing is ready to run. Without outstanding work, poll() would find the
  // context out of work and stop it, exactly as run() would return.
  io.poll();
  EXPECT_FALSE(io.stopped());
  EXPECT_FALSE(result);
  release(slow);
  // run() returns once the reply ran the handler: the ask left no work behind.
  io.run_for(deadline);
  EXPECT_TRUE(io.stopped());
  ASSERT_TRUE(result);
  ASSERT_TRUE(*result) << sys_.render(result->error());
  EXPECT_EQ(**result, 9);
}

/// A message type with an aggregate initialiser (see the g++ 12 note).
struct point {
  int x = 0;
  int y = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, point& p) {
  return f(caf::meta::type_name("ika_test_point"), p.x, p.y);
}

TEST_F(ask_test, aggregate_argument_built_in_a_named_local) {
  auto summer = spawn(
      [](int bias) -> caf::behavior { return {[bias](const point& p) { return p.x + p.y + bias; }}; }, 0);
  io_thread io;
  auto seen = run_coroutine<std::optional<caf::expected<int>>>(
      io.context().get_executor(), [&]() -> asio::awaitable<std::optional<caf::expected<int>>> {
        // Named local, not `point{20, 22}` inside the co_await (g++ 12 bug).
        point p{20, 22};
        co_return co_await bridge::ask<int>(sys_, summer, 5s, p);
      });
  ASSERT_TRUE(seen && *seen);
  ASSERT_TRUE(**seen) << sys_.render((*seen)->error());
  EXPECT_EQ(***seen, 42);
}

} // namespace
