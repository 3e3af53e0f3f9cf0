// Micro-benchmarks for runtime/bridge: the asio -> actor -> asio round trip
// and snapshot reads.
//
// Ask benchmarks report wall time per round trip (the benchmark thread runs
// the io_context and mostly waits) and the CPU time of the whole process
// (CAF workers included). The argument selects CAF's scheduler policy:
// 0 = stealing (CAF's default), 1 = sharing.

#include "runtime/bridge/ask.hpp"
#include "runtime/bridge/snapshot.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <utility>

#include <asio/bind_executor.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include <caf/all.hpp>

#include <benchmark/benchmark.h>

namespace {

using namespace std::chrono_literals;
namespace bridge = ika::bridge;

caf::behavior doubler(int factor) {
  return {[factor](int x) { return x * factor; }};
}

/// An actor system with the policy selected by the benchmark argument.
struct bench_system {
  explicit bench_system(const benchmark::State& state) : cfg(make_config(state)), sys(cfg) {
    dest = sys.spawn(doubler, 2);
  }

  ~bench_system() { caf::anon_send_exit(dest, caf::exit_reason::kill); }

  static caf::actor_system_config make_config(const benchmark::State& state) {
    caf::actor_system_config c;
    c.set("scheduler.policy", state.range(0) == 0 ? caf::atom("stealing") : caf::atom("sharing"));
    return c;
  }

  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::actor dest;
};

/// The textbook design, kept here only for comparison: one short-lived
/// event-based actor per ask that does `request(...).then(...)`. CAF 0.17
/// handlers must be copyable, so the move-only Asio handler sits in a
/// shared_ptr.
template <class Result, class Handle, class... Ts>
auto ask_via_spawn(caf::actor_system& sys, const Handle& dest, caf::timespan timeout, Ts... xs) {
  auto init = [&sys, dest, timeout](auto handler, auto... ys) {
    using handler_type = decltype(handler);
    auto ex = asio::get_associated_executor(handler);
    struct pending {
      handler_type handler;
      asio::executor_work_guard<decltype(ex)> work;
    };
    auto state = std::make_shared<pending>(pending{std::move(handler), asio::make_work_guard(ex)});
    auto complete = [state, ex](caf::expected<Result> r) {
      asio::post(ex, [state, r = std::move(r)]() mutable {
        auto h = std::move(state->handler);
        state->work.reset();
        std::move(h)(std::move(r));
      });
    };
    sys.spawn(
        [=](caf::event_based_actor* self, int) {
          self->request(dest, timeout, ys...)
              .then([=](Result& r) { complete(std::move(r)); },
                    [=](caf::error& e) { complete(std::move(e)); });
        },
        0);
  };
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(caf::expected<Result>)>(
      std::move(init), asio::use_awaitable, std::move(xs)...);
}

/// Runs sequential asks from one coroutine on an io_context driven by the
/// benchmark thread.
template <class Ask>
void run_sequential_asks(benchmark::State& state, Ask ask) {
  asio::io_context io;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        int x = 0;
        for (auto _ : state) {
          auto r = co_await ask(x);
          if (!r || *r != 2 * x) {
            state.SkipWithError("wrong reply");
            break;
          }
          ++x;
        }
      },
      asio::detached);
  io.run();
}

void bm_ask_round_trip(benchmark::State& state) {
  bench_system b{state};
  run_sequential_asks(state, [&](int x) { return bridge::ask<int>(b.sys, b.dest, 5s, x); });
}
BENCHMARK(bm_ask_round_trip)->ArgName("sharing")->Arg(0)->Arg(1)->UseRealTime()->MeasureProcessCPUTime();

void bm_ask_round_trip_spawn_per_ask(benchmark::State& state) {
  bench_system b{state};
  run_sequential_asks(state, [&](int x) { return ask_via_spawn<int>(b.sys, b.dest, 5s, x); });
}
BENCHMARK(bm_ask_round_trip_spawn_per_ask)
    ->ArgName("sharing")
    ->Arg(0)
    ->Arg(1)
    ->UseRealTime()
    ->MeasureProcessCPUTime();

/// `in_flight` asks at a time from one io thread (callbacks); reports asks/s.
void bm_ask_throughput(benchmark::State& state) {
  bench_system b{state};
  constexpr int in_flight = 32;
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  int pending = 0;
  int failed = 0;
  for (auto _ : state) {
    pending = in_flight;
    for (int i = 0; i < in_flight; ++i)
      bridge::async_ask<int>(b.sys, b.dest, 5s,
                             asio::bind_executor(io,
                                                 [&](const caf::expected<int>& r) {
                                                   --pending;
                                                   failed += r ? 0 : 1;
                                                 }),
                             i);
    while (pending > 0)
      io.run_one();
  }
  if (failed > 0)
    state.SkipWithError("failed asks");
  state.SetItemsProcessed(state.iterations() * in_flight);
}
BENCHMARK(bm_ask_throughput)->ArgName("sharing")->Arg(0)->Arg(1)->UseRealTime()->MeasureProcessCPUTime();

/// For reference: a blocking CAF request/receive from a scoped_actor.
void bm_caf_scoped_request(benchmark::State& state) {
  bench_system b{state};
  caf::scoped_actor self{b.sys};
  int x = 0;
  for (auto _ : state) {
    int got = 0;
    self->request(b.dest, 5s, x).receive([&](int r) { got = r; }, [](caf::error&) {});
    if (got != 2 * x) {
      state.SkipWithError("wrong reply");
      break;
    }
    ++x;
  }
}
BENCHMARK(bm_caf_scoped_request)->ArgName("sharing")->Arg(0)->Arg(1)->UseRealTime()->MeasureProcessCPUTime();

struct route_table_like {
  std::array<std::uint64_t, 16> data{};
};

void bm_snapshot_get_unchanged(benchmark::State& state) {
  bridge::snapshot_cell<route_table_like> cell;
  bridge::snapshot_reader<route_table_like> reader{cell};
  for (auto _ : state)
    benchmark::DoNotOptimize(&reader.get());
}
BENCHMARK(bm_snapshot_get_unchanged);

/// publish() alone (two preallocated values alternate, so no allocation).
void bm_snapshot_publish(benchmark::State& state) {
  bridge::snapshot_cell<route_table_like> cell;
  std::array<std::shared_ptr<const route_table_like>, 2> values{std::make_shared<const route_table_like>(),
                                                                std::make_shared<const route_table_like>()};
  std::size_t i = 0;
  for (auto _ : state)
    cell.publish(values[i++ & 1]);
}
BENCHMARK(bm_snapshot_publish);

/// publish() then get(): get() with a new version costs this minus
/// bm_snapshot_publish.
void bm_snapshot_publish_then_get(benchmark::State& state) {
  bridge::snapshot_cell<route_table_like> cell;
  bridge::snapshot_reader<route_table_like> reader{cell};
  std::array<std::shared_ptr<const route_table_like>, 2> values{std::make_shared<const route_table_like>(),
                                                                std::make_shared<const route_table_like>()};
  std::size_t i = 0;
  for (auto _ : state) {
    cell.publish(values[i++ & 1]);
    benchmark::DoNotOptimize(&reader.get());
  }
}
BENCHMARK(bm_snapshot_publish_then_get);

} // namespace

BENCHMARK_MAIN();
