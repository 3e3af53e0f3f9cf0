#include "runtime/proxy/demand_gate.hpp"

#include <asio/post.hpp>

#include <algorithm>

namespace ika::proxy {

demand_gate::demand_gate(std::string app) : app_(std::move(app)) {}

void demand_gate::configure(std::uint32_t max_waiters, std::chrono::milliseconds wait_timeout) {
  std::lock_guard<std::mutex> guard{mutex_};
  max_waiters_ = max_waiters == 0 ? default_max_waiters : max_waiters;
  auto t = wait_timeout.count() <= 0 ? default_wait_timeout : wait_timeout;
  wait_timeout_ms_.store(t.count(), std::memory_order_relaxed);
}

std::chrono::milliseconds demand_gate::wait_timeout() const noexcept {
  return std::chrono::milliseconds{wait_timeout_ms_.load(std::memory_order_relaxed)};
}

wake_handler demand_gate::take_wake_locked() {
  if (waiters_.empty() || wake_sent_ || !handler_)
    return {};
  wake_sent_ = true;
  return handler_;
}

void demand_gate::send_wake(const wake_handler& wake) {
  if (!wake)
    return;
  wakes_.fetch_add(1, std::memory_order_relaxed);
  wake(app_);
}

std::shared_ptr<demand_gate::waiter> demand_gate::enter(asio::any_io_executor executor, const void* owner) {
  auto w = std::make_shared<waiter>();
  w->executor = std::move(executor);
  w->owner = owner;
  wake_handler wake;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (waiters_.size() >= max_waiters_)
      return nullptr;
    waiters_.push_back(w);
    wake = take_wake_locked();
  }
  send_wake(wake);
  return w;
}

demand_gate::outcome demand_gate::withdraw(waiter& w, outcome why) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto decided = w.result.load(std::memory_order_acquire);
  if (decided != outcome::waiting)
    return decided;
  w.result.store(why, std::memory_order_release);
  auto it = std::find_if(waiters_.begin(), waiters_.end(), [&](const auto& p) { return p.get() == &w; });
  if (it != waiters_.end())
    waiters_.erase(it);
  // Nobody waits any more: the next request asks again (the app ignores a
  // wake while an instance is starting, and one it dropped is not lost).
  if (waiters_.empty())
    wake_sent_ = false;
  return why;
}

void demand_gate::settle(std::vector<std::shared_ptr<waiter>>& taken, outcome o, const std::string& reason) {
  // Under the lock: the outcome is decided here, once. Each waiter is
  // woken on its own io thread (the timer belongs to it); posting under the
  // lock means a waiter whose frame goes away (wait_at_gate's guard takes
  // the lock) is never posted to after its io context is gone.
  for (auto& w : taken) {
    if (o == outcome::failed)
      w->reason = reason;
    w->result.store(o, std::memory_order_release);
    asio::post(w->executor, [w] {
      if (w->timer != nullptr)
        w->timer->cancel();
    });
  }
}

void demand_gate::open(const void* owner) {
  std::vector<std::shared_ptr<waiter>> taken;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    wake_sent_ = false;
    if (owner == nullptr) {
      taken.swap(waiters_);
    } else {
      auto mid = std::stable_partition(waiters_.begin(), waiters_.end(),
                                       [owner](const auto& w) { return w->owner != owner; });
      taken.assign(std::make_move_iterator(mid), std::make_move_iterator(waiters_.end()));
      waiters_.erase(mid, waiters_.end());
    }
    settle(taken, outcome::open, {});
  }
}

void demand_gate::fail(const std::string& reason) {
  std::vector<std::shared_ptr<waiter>> taken;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    wake_sent_ = false;
    taken.swap(waiters_);
    settle(taken, outcome::failed, reason);
  }
}

std::uint64_t demand_gate::set_wake_handler(wake_handler handler, std::uint64_t token) {
  wake_handler wake;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    handler_ = std::move(handler);
    handler_token_ = token;
    wake = take_wake_locked();
  }
  send_wake(wake);
  return token;
}

void demand_gate::clear_wake_handler(std::uint64_t token) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (handler_token_ == token) {
    handler_ = nullptr;
    handler_token_ = 0;
    // A later handler is told about the requests waiting now.
    wake_sent_ = false;
  }
}

std::size_t demand_gate::waiting() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return waiters_.size();
}

} // namespace ika::proxy
