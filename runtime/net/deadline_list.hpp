#pragma once
// Timeouts without a timer per operation.
//
// Re-arming an asio timer per read would update the reactor's timerfd (a
// system call) on every request. Instead each io thread keeps an intrusive
// list of connections with a deadline each, and one ticker (every
// `tick` = 100 ms) expires the ones that are past it. Setting a deadline is
// a store of a coarse time stamp; the precision of a timeout is one tick.

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>

namespace ika::net {

class deadline_list;

/// Embedded in anything that can time out. Not copyable, not movable.
class deadline_entry {
public:
  using clock = std::chrono::steady_clock;

  deadline_entry() = default;
  deadline_entry(const deadline_entry&) = delete;
  deadline_entry& operator=(const deadline_entry&) = delete;
  virtual ~deadline_entry();

  /// Called on the io thread once the deadline has passed. The deadline is
  /// cleared before the call.
  virtual void expire() noexcept = 0;

  /// Called by the owner (see `owner()`) for drains and shutdowns: `now`
  /// false asks to finish the current work and close, `now` true to close
  /// at once.
  virtual void stop(bool now) noexcept { (void)now; }

  /// Who may `stop()` this entry (e.g. its listener).
  const void* owner() const noexcept { return owner_; }
  void set_owner(const void* owner) noexcept { owner_ = owner; }

  bool linked() const noexcept { return list_ != nullptr; }

private:
  friend class deadline_list;
  deadline_list* list_ = nullptr;
  deadline_entry* prev_ = nullptr;
  deadline_entry* next_ = nullptr;
  clock::time_point deadline_ = clock::time_point::max();
  const void* owner_ = nullptr;
};

/// One per io thread.
class deadline_list {
public:
  using clock = deadline_entry::clock;
  static constexpr std::chrono::milliseconds tick{100};

  explicit deadline_list(asio::io_context& ctx);
  ~deadline_list();
  deadline_list(const deadline_list&) = delete;
  deadline_list& operator=(const deadline_list&) = delete;

  void add(deadline_entry& e) noexcept;
  void remove(deadline_entry& e) noexcept;

  /// Expire `e` `timeout` from now (to one tick).
  void arm(deadline_entry& e, std::chrono::milliseconds timeout) noexcept {
    ensure_ticking();
    e.deadline_ = now_ + timeout;
  }
  static void disarm(deadline_entry& e) noexcept { e.deadline_ = clock::time_point::max(); }

  /// The time of the last tick (cheap; updated every tick).
  clock::time_point now() const noexcept { return now_; }

  /// Calls f(entry) for every entry (for drains and shutdowns). `f` may
  /// call expire() but must not remove entries other than the current one.
  template <class F>
  void for_each(F&& f) {
    for (auto* e = head_; e != nullptr;) {
      auto* next = e->next_;
      f(*e);
      e = next;
    }
  }

  std::size_t size() const noexcept { return size_; }

  /// Runs `f(arg)` on every tick (pools use it to expire idle
  /// connections); `f` returns whether it still needs ticks.
  void on_tick(bool (*f)(void*), void* arg) noexcept {
    tick_fn_ = f;
    tick_arg_ = arg;
  }

  /// Makes sure the ticker runs (after `on_tick`'s owner got work), and
  /// `now()` is current.
  void ensure_ticking() noexcept {
    if (!ticking_) {
      now_ = clock::now();
      schedule();
    }
  }

private:
  void schedule() noexcept;
  void run_tick();

  asio::steady_timer timer_;
  deadline_entry* head_ = nullptr;
  std::size_t size_ = 0;
  clock::time_point now_ = clock::now();
  bool ticking_ = false;
  bool (*tick_fn_)(void*) = nullptr;
  void* tick_arg_ = nullptr;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace ika::net
