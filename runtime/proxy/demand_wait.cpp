#include "runtime/proxy/demand_wait.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <sys/socket.h>

#include <cerrno>

namespace ika::proxy {

asio::awaitable<demand_gate::outcome> wait_at_gate(demand_gate& gate, std::shared_ptr<demand_gate::waiter> w,
                                                   std::chrono::steady_clock::time_point deadline,
                                                   asio::ip::tcp::socket* client) {
  using namespace asio::experimental::awaitable_operators;
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer{executor, deadline};
  // However the frame ends (done, or destroyed with its io context), the
  // waiter leaves the gate and no post reaches the timer afterwards.
  struct leave_guard {
    demand_gate& gate;
    demand_gate::waiter& w;
    ~leave_guard() {
      gate.withdraw(w, demand_gate::outcome::gone);
      w.timer = nullptr;
    }
  } guard{gate, *w};
  w->timer = &timer;
  bool watch_client = client != nullptr;
  auto result = demand_gate::outcome::waiting;
  // g++ 12: every co_await is a statement of its own.
  for (;;) {
    result = w->result.load(std::memory_order_acquire);
    if (result != demand_gate::outcome::waiting)
      break;
    if (std::chrono::steady_clock::now() >= deadline) {
      result = gate.withdraw(*w, demand_gate::outcome::timed_out);
      break;
    }
    std::error_code timer_ec;
    if (!watch_client) {
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, timer_ec));
      continue;
    }
    std::error_code client_ec;
    auto which = co_await (timer.async_wait(asio::redirect_error(asio::use_awaitable, timer_ec)) ||
                           client->async_wait(asio::socket_base::wait_read,
                                              asio::redirect_error(asio::use_awaitable, client_ec)));
    if (which.index() != 1)
      continue;
    if (client_ec) {
      // Cancelled by the session (closing now) or a socket error.
      result = gate.withdraw(*w, demand_gate::outcome::gone);
      break;
    }
    char c;
    auto n = ::recv(client->native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      result = gate.withdraw(*w, demand_gate::outcome::gone);
      break;
    }
    // Bytes (a body, a pipelined request) stay in the socket until the
    // wait is over; a close behind them is noticed when they are read.
    if (n > 0)
      watch_client = false;
  }
  co_return result;
}

} // namespace ika::proxy
