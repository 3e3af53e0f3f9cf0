#pragma once
// Waiting for something another thread or process does.

#include <chrono>
#include <functional>
#include <thread>

namespace ika::test {

/// Polls `condition` every millisecond until it holds (true) or `timeout`
/// passes (false).
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::seconds{10}) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  return true;
}

} // namespace ika::test
