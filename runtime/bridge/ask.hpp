#pragma once
// The awaitable from the data plane to an actor.
//
// Design (CAF 0.17): every ask creates a tiny *sink* actor, a
// `caf::monitorable_actor` whose `enqueue` is the reply handler itself, and
// enqueues the request into the destination's mailbox straight from the io
// thread with the sink as sender. The reply (or the bounce of a dead
// receiver) reaches the sink on whatever thread delivers it, and the sink
// posts the completion to the handler's executor. No actor is spawned or
// scheduled for the caller: the only CAF scheduling is the destination's.
// Against the textbook design (spawn a short-lived event-based actor that
// does `request(...).then(...)`, in tests/bench/bridge_bench.cpp) it measured
// ~30 us vs ~77 us per round trip and ~3x less CPU with CAF's sharing
// policy, which ika uses. (With CAF's default work stealing both are
// dominated by the workers' polling back-off: ~140 us vs ~90 us.)
//
// The timeout is an Asio timer on the handler's executor (not CAF's clock,
// whose thread would be woken twice per ask). Reply and timeout race through
// one atomic exchange on the sink; the winner owns the operation.

#include <atomic>
#include <chrono>
#include <memory>
#include <type_traits>
#include <utility>

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/basic_waitable_timer.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include <caf/actor_cast.hpp>
#include <caf/actor_config.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/actor_system.hpp>
#include <caf/check_typed_input.hpp>
#include <caf/detail/implicit_conversions.hpp>
#include <caf/detail/type_list.hpp>
#include <caf/error.hpp>
#include <caf/exit_reason.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/make_actor.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>
#include <caf/message_id.hpp>
#include <caf/monitorable_actor.hpp>
#include <caf/response_type.hpp>
#include <caf/sec.hpp>
#include <caf/timespan.hpp>
#include <caf/unit.hpp>

namespace ika::bridge {
namespace detail {

/// The io-side half of one ask: owns the handler, the work guard and the
/// timer. Exactly one party (reply or timeout) takes it from the sink.
template <class Result>
class ask_op_base {
public:
  virtual ~ask_op_base() = default;

  /// Posts the handler with `result` to its executor; the posted function
  /// owns and deletes `*this`. Callable from any thread, at most once.
  virtual void complete(caf::expected<Result> result) = 0;
};

/// Converts a reply into the caller's result type.
template <class Result>
caf::expected<Result> reply_to_result(caf::mailbox_element& reply) {
  auto& xs = reply.content();
  if (xs.match_elements<caf::error>()) {
    auto err = xs.move_if_unshared<caf::error>(0);
    if (err)
      return err;
    return caf::make_error(caf::sec::unexpected_response);
  }
  if constexpr (std::is_void_v<Result>) {
    if (xs.empty() || xs.match_elements<caf::unit_t>())
      return caf::expected<void>{};
  } else if constexpr (std::is_same_v<Result, caf::message>) {
    return reply.move_content_to_message();
  } else {
    if (xs.match_elements<Result>())
      return xs.move_if_unshared<Result>(0);
  }
  return caf::make_error(caf::sec::unexpected_response);
}

/// The sender of one request: an actor without mailbox or scheduling whose
/// `enqueue` runs on the replying thread and hands the reply to the op.
template <class Result>
class ask_sink final : public caf::monitorable_actor {
public:
  explicit ask_sink(ask_op_base<Result>* op) : caf::monitorable_actor(sink_config()), op_(op) {}

  ~ask_sink() override {
    // Unreachable while the timer is armed (its handler holds a reference);
    // kept so that no path can leak the handler.
    delete take();
  }

  ask_sink(const ask_sink&) = delete;
  ask_sink& operator=(const ask_sink&) = delete;

  /// Takes ownership of the pending op; null if reply or timeout won.
  ask_op_base<Result>* take() noexcept { return op_.exchange(nullptr, std::memory_order_acq_rel); }

  /// Marks the sink terminated, releasing what CAF attached to it (e.g. the
  /// registry entry a remote request creates).
  void finish(caf::execution_unit* host) { cleanup(caf::make_error(caf::exit_reason::normal), host); }

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit* host) override {
    if (!what->mid.is_response()) {
      // Nobody should send to a sink; answer requests so no one waits on it.
      bounce(what);
      return;
    }
    if (auto* op = take())
      op->complete(reply_to_result<Result>(*what));
    finish(host);
  }

  const char* name() const override { return "ika.bridge.ask"; }

private:
  static caf::actor_config& sink_config() {
    // abstract_actor's constructor reads only the flags.
    static caf::actor_config cfg = [] {
      caf::actor_config x;
      x.add_flag(caf::abstract_channel::is_hidden_flag);
      return x;
    }();
    return cfg;
  }

  std::atomic<ask_op_base<Result>*> op_;
};

/// The timer's completion handler; holds the sink alive until it runs.
template <class Result>
class ask_timeout_handler {
public:
  explicit ask_timeout_handler(caf::strong_actor_ptr sink) : sink_(std::move(sink)) {}

  ask_timeout_handler(ask_timeout_handler&& other) noexcept = default;
  ask_timeout_handler& operator=(ask_timeout_handler&&) = delete;
  ask_timeout_handler(const ask_timeout_handler&) = delete;
  ask_timeout_handler& operator=(const ask_timeout_handler&) = delete;

  ~ask_timeout_handler() {
    // Destroyed without being called: the io_context is shutting down and
    // no completion can be posted any more, so drop the op here (on the
    // thread that destroys the io_context, never on a CAF thread).
    if (sink_)
      delete sink().take();
  }

  void operator()(const std::error_code&) {
    // Cancelled or expired: either way, the op is ours only if no reply won.
    if (auto* op = sink().take()) {
      op->complete(caf::make_error(caf::sec::request_timeout));
      sink().finish(nullptr);
    }
    sink_.reset();
  }

private:
  ask_sink<Result>& sink() { return static_cast<ask_sink<Result>&>(*sink_->get()); }

  caf::strong_actor_ptr sink_;
};

/// The io-side half for a concrete handler.
template <class Result, class Handler>
class ask_op final : public ask_op_base<Result> {
public:
  using executor_type = asio::associated_executor_t<Handler>;
  using timer_type = asio::basic_waitable_timer<std::chrono::steady_clock,
                                                asio::wait_traits<std::chrono::steady_clock>, executor_type>;

  explicit ask_op(Handler handler)
      : work_(asio::make_work_guard(asio::get_associated_executor(handler))), timer_(work_.get_executor()),
        handler_(std::move(handler)) {}

  /// Starts the timeout. The op may be gone when this returns.
  void arm(caf::timespan timeout, caf::strong_actor_ptr sink) {
    // Saturate instead of overflowing `now() + timeout` for "infinite".
    constexpr auto max_wait = std::chrono::hours{24 * 365};
    if (timeout > max_wait)
      timer_.expires_at(std::chrono::steady_clock::time_point::max());
    else
      timer_.expires_after(timeout);
    timer_.async_wait(ask_timeout_handler<Result>{std::move(sink)});
  }

  void complete(caf::expected<Result> result) override {
    auto ex = work_.get_executor();
    asio::post(ex, [self = std::unique_ptr<ask_op>{this}, r = std::move(result)]() mutable {
      finish(std::move(self), std::move(r));
    });
  }

private:
  static void finish(std::unique_ptr<ask_op> self, caf::expected<Result> result) {
    self->timer_.cancel();
    // Free the op before the upcall, as Asio does for its own operations.
    auto handler = std::move(self->handler_);
    self.reset();
    std::move(handler)(std::move(result));
  }

  asio::executor_work_guard<executor_type> work_;
  timer_type timer_;
  Handler handler_;
};

/// Maps `Result` to the output list a typed interface must declare for it.
template <class Result, class Outputs>
struct result_matches : std::is_same<Outputs, caf::detail::type_list<Result>> {};

template <class Outputs>
struct result_matches<void, Outputs>
    : std::bool_constant<std::is_same_v<Outputs, caf::detail::type_list<>> ||
                         std::is_same_v<Outputs, caf::detail::type_list<void>>> {};

template <class Outputs>
struct result_matches<caf::message, Outputs> : std::true_type {};

/// Compile-time check of `Ts...` against a typed handle (no-op for `caf::actor`).
template <class Result, class Handle, class... Ts>
constexpr void check_request() {
  static_assert(sizeof...(Ts) > 0, "no message to send");
  static_assert(!std::is_same_v<Result, caf::error>, "errors arrive as the error of caf::expected<Result>");
  using token = caf::detail::type_list<typename caf::detail::implicit_conversions<std::decay_t<Ts>>::type...>;
  using response = caf::response_type_unbox<caf::signatures_of_t<Handle>, token>;
  static_assert(response::valid, "receiver does not accept given message");
  if constexpr (!std::is_same_v<typename response::type, caf::message>)
    static_assert(result_matches<Result, typename response::type>::value,
                  "Result does not match the reply type of the typed interface");
}

/// Starts one ask for a concrete handler (runs in the initiating thread).
template <class Result>
struct ask_initiation {
  caf::actor_system* sys;

  template <class Handler>
  void operator()(Handler&& handler, const caf::strong_actor_ptr& dest, caf::timespan timeout,
                  caf::message msg) const {
    using op_type = ask_op<Result, std::decay_t<Handler>>;
    auto* op = new op_type(std::forward<Handler>(handler));
    if (!dest) {
      op->complete(caf::make_error(caf::sec::invalid_argument));
      return;
    }
    auto sink =
        caf::make_actor<ask_sink<Result>, caf::strong_actor_ptr>(sys->next_actor_id(), sys->node(), sys, op);
    // From here on, `op` belongs to whoever takes it from the sink.
    op->arm(timeout, sink);
    // A dead receiver bounces synchronously into the sink; the sink posts.
    dest->get()->enqueue(std::move(sink), caf::make_message_id<caf::message_priority::normal>(1),
                         std::move(msg), nullptr);
  }
};

} // namespace detail

/// Sends `xs...` as a request to `dest` (a `caf::actor` or a typed handle;
/// typed handles are checked at compile time) and completes `token` with the
/// reply as `caf::expected<Result>`.
///
/// - Thread: the handler runs on its associated executor, always through
///   `asio::post` (never inline, never on a CAF thread). With
///   `asio::use_awaitable` that is the coroutine's own executor, i.e. the io
///   thread that awaited. A plain callback needs `asio::bind_executor`;
///   without one it runs on Asio's system executor.
/// - Errors (never thrown): `sec::request_timeout` when no reply came within
///   `timeout` (a later reply is dropped); `sec::request_receiver_down` when
///   `dest` is dead or dies with the request in its mailbox;
///   `sec::invalid_argument` for a null handle; `sec::unexpected_message`
///   when an untyped `dest` has no handler for the message;
///   `sec::unexpected_response` when the reply is not a single `Result`
///   (empty or `unit` for `Result = void`; anything for `caf::message`);
///   otherwise the error the actor replied with.
/// - Work: outstanding work is held on the handler's executor while the
///   request is pending, so `io_context::run()` does not return early. The
///   io_context must outlive the ask (as for any Asio operation) and the
///   actor system must outlive the io_context's use of it.
/// - Arguments are copied into a `caf::message` when this is called; the
///   request is sent when the operation is initiated (at `co_await` for
///   awaitables). With g++ 12, build aggregate arguments in a named local:
///   a braced temporary inside a `co_await` expression is destroyed twice.
/// - Cost: a few small allocations, one mailbox enqueue (may wake a CAF
///   worker), one Asio timer, one post back (wakes the io thread): ~30 us
///   per round trip on the 2-core VMs with `scheduler.policy=sharing`
///   (tests/bench/bridge_bench.cpp). Not for the per-request hot path.
template <class Result, asio::completion_token_for<void(caf::expected<Result>)> CompletionToken, class Handle,
          class... Ts>
auto async_ask(caf::actor_system& sys, const Handle& dest, caf::timespan timeout, CompletionToken&& token,
               Ts&&... xs) {
  detail::check_request<Result, Handle, Ts...>();
  return asio::async_initiate<CompletionToken, void(caf::expected<Result>)>(
      detail::ask_initiation<Result>{&sys}, token, caf::actor_cast<caf::strong_actor_ptr>(dest), timeout,
      caf::make_message(std::forward<Ts>(xs)...));
}

/// `co_await bridge::ask<Result>(sys, dest, timeout, xs...)`: `async_ask`
/// with `asio::use_awaitable`; yields `caf::expected<Result>` on the
/// awaiting coroutine's executor. Same contract as `async_ask`.
template <class Result, class Handle, class... Ts>
auto ask(caf::actor_system& sys, const Handle& dest, caf::timespan timeout, Ts&&... xs) {
  return async_ask<Result>(sys, dest, timeout, asio::use_awaitable, std::forward<Ts>(xs)...);
}

} // namespace ika::bridge
