#pragma once
// The gate in front of an on-demand app (`instances = 0`): requests that
// find no instance to take them wait here while the app's actor starts one.
//
// One gate per app, kept by the backend registry across route tables. A
// request that finds no usable instance enters the gate (refused past
// `max_waiters`), which asks the app's actor to start an instance (once per
// wake episode, however many requests wait), and suspends its coroutine on
// its own io thread until one of:
//
//   open     a listener published a table in which the app has an
//            instance (server::publish calls open(owner) for its waiters);
//            the request routes again on the newest table
//   failed   the actor could not start the instance (fail()): 502
//   timeout  `wait_timeout` passed: 504
//   gone     the client closed its connection meanwhile
//
// The outcome of a waiter is decided once, under the gate's lock, by
// whoever comes first; the io thread is then told with asio::post (a timer
// cancel), so opening costs one cross-thread post and no polling.

#include <asio/any_io_executor.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ika::proxy {

/// Called on an io thread when requests start waiting for `app` (once per
/// wake episode). Must not block: the app actor's handler sends wake_atom.
using wake_handler = std::function<void(const std::string& app)>;

class demand_gate {
public:
  static constexpr std::uint32_t default_max_waiters = 1000;
  static constexpr std::chrono::milliseconds default_wait_timeout{30000};

  enum class outcome : std::uint8_t { waiting, open, failed, timed_out, gone };

  /// One waiting request: shared by the gate and the waiting coroutine.
  struct waiter {
    asio::any_io_executor executor;
    const void* owner = nullptr; ///< the listener whose table it reads
    std::atomic<outcome> result{outcome::waiting};
    std::string reason;                  ///< for `failed`; written before `result`
    asio::steady_timer* timer = nullptr; ///< touched on the waiter's io thread only
  };

  explicit demand_gate(std::string app);
  demand_gate(const demand_gate&) = delete;
  demand_gate& operator=(const demand_gate&) = delete;

  const std::string& app() const noexcept { return app_; }

  /// Sets the limits (0: the defaults). Thread-safe; from bind().
  void configure(std::uint32_t max_waiters, std::chrono::milliseconds wait_timeout);
  std::chrono::milliseconds wait_timeout() const noexcept;

  /// Registers a waiter that will be woken on `executor`; null when
  /// `max_waiters` wait already (the request gets a 503). Calls the wake
  /// handler, outside the lock, if this starts a wake episode.
  std::shared_ptr<waiter> enter(asio::any_io_executor executor, const void* owner);

  /// Decides `w` as `why` (timed_out or gone) if nothing decided it yet;
  /// returns its outcome either way. Called by the waiter's own coroutine.
  outcome withdraw(waiter& w, outcome why);

  /// Opens the gate for the waiters of `owner` (nullptr: all of them): they
  /// route again on their listener's newest table. Ends the wake episode.
  void open(const void* owner);

  /// Every request waiting now fails with a 502 naming `reason`. Ends the
  /// wake episode. Thread-safe.
  void fail(const std::string& reason);

  /// Installs the wake handler; returns a token for clear_wake_handler. If
  /// requests already wait and no wake was sent, it is called at once.
  std::uint64_t set_wake_handler(wake_handler handler, std::uint64_t token);
  /// Removes the handler installed with `token` (not a newer one).
  void clear_wake_handler(std::uint64_t token);

  /// Requests waiting now.
  std::size_t waiting() const;
  /// Times the wake handler was called (for tests and status).
  std::uint64_t wakes() const noexcept { return wakes_.load(std::memory_order_relaxed); }

private:
  /// The handler to call when requests wait and no wake went out since the
  /// last open or failure (marks it sent); empty otherwise. Under mutex_.
  wake_handler take_wake_locked();
  /// Calls `wake` (if any) outside the lock, counting it.
  void send_wake(const wake_handler& wake);
  void settle(std::vector<std::shared_ptr<waiter>>& taken, outcome o, const std::string& reason);

  std::string app_;
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<waiter>> waiters_;
  std::uint32_t max_waiters_ = default_max_waiters;
  std::atomic<std::int64_t> wait_timeout_ms_{default_wait_timeout.count()};
  bool wake_sent_ = false;
  wake_handler handler_;
  std::uint64_t handler_token_ = 0;
  std::atomic<std::uint64_t> wakes_{0};
};

} // namespace ika::proxy
