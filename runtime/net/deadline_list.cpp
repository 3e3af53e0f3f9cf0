#include "runtime/net/deadline_list.hpp"

namespace ika::net {

deadline_entry::~deadline_entry() {
  if (list_ != nullptr)
    list_->remove(*this);
}

deadline_list::deadline_list(asio::io_context& ctx) : timer_(ctx) {}

deadline_list::~deadline_list() {
  *alive_ = false;
  for (auto* e = head_; e != nullptr;) {
    auto* next = e->next_;
    e->list_ = nullptr;
    e->prev_ = e->next_ = nullptr;
    e = next;
  }
}

void deadline_list::add(deadline_entry& e) noexcept {
  if (e.list_ != nullptr)
    return;
  e.list_ = this;
  e.prev_ = nullptr;
  e.next_ = head_;
  if (head_ != nullptr)
    head_->prev_ = &e;
  head_ = &e;
  ++size_;
}

void deadline_list::remove(deadline_entry& e) noexcept {
  if (e.list_ != this)
    return;
  if (e.prev_ != nullptr)
    e.prev_->next_ = e.next_;
  else
    head_ = e.next_;
  if (e.next_ != nullptr)
    e.next_->prev_ = e.prev_;
  e.list_ = nullptr;
  e.prev_ = e.next_ = nullptr;
  --size_;
}

void deadline_list::schedule() noexcept {
  ticking_ = true;
  timer_.expires_after(tick);
  timer_.async_wait([this, alive = alive_](std::error_code ec) {
    if (!*alive || ec)
      return;
    run_tick();
  });
}

void deadline_list::run_tick() {
  now_ = clock::now();
  // Not ticking while entries run: an expire() that arms again (or arms
  // another entry) schedules the next tick itself.
  ticking_ = false;
  bool armed = false;
  for (auto* e = head_; e != nullptr;) {
    auto* next = e->next_;
    if (e->deadline_ <= now_) {
      e->deadline_ = clock::time_point::max();
      e->expire(); // may destroy `e`: not touched after this
    } else if (e->deadline_ != clock::time_point::max()) {
      armed = true;
    }
    e = next;
  }
  bool more = tick_fn_ != nullptr && tick_fn_(tick_arg_);
  // Tick only while something can time out: an idle node does not wake up.
  if ((armed || more) && !ticking_)
    schedule();
}

} // namespace ika::net
