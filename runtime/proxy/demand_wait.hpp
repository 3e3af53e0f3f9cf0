#pragma once
// Waiting at an on-demand app's gate, for the data plane's coroutines. Apart
// from demand_gate.hpp so that code without coroutines (route tables, the
// fuzzers) never sees asio::awaitable.

#include "runtime/proxy/demand_gate.hpp"

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <chrono>
#include <memory>

namespace ika::proxy {

/// Suspends the calling coroutine (on `w`'s executor) until `w` is decided
/// or `deadline` passes (then it is withdrawn as timed_out). With `client`,
/// a client that closes its connection meanwhile withdraws it as gone (its
/// bytes are only peeked at: a request body stays in the socket).
asio::awaitable<demand_gate::outcome> wait_at_gate(demand_gate& gate, std::shared_ptr<demand_gate::waiter> w,
                                                   std::chrono::steady_clock::time_point deadline,
                                                   asio::ip::tcp::socket* client);

} // namespace ika::proxy
