#include "runtime/net/io_pool.hpp"

#include <spdlog/spdlog.h>

#include <pthread.h>

#include <string>

namespace ika::net {

namespace {
thread_local int current_io_index = -1;
}

unsigned io_pool::thread_count(unsigned threads) noexcept {
  return threads != 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
}

io_pool::io_pool(unsigned threads) {
  threads = thread_count(threads);
  for (unsigned i = 0; i < threads; ++i)
    workers_.push_back(std::make_unique<worker>());
}

io_pool::~io_pool() {
  stop();
}

void io_pool::start() {
  if (started_)
    return;
  started_ = true;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    auto& w = *workers_[i];
    w.guard.emplace(w.context.get_executor());
    w.thread = std::thread{[&w, i] {
      current_io_index = static_cast<int>(i);
      // "ika-io-N" in top -H, perf and /proc/PID/task/*/comm (15 chars at most).
      std::string name = "ika-io-" + std::to_string(i);
      name.resize(std::min<std::size_t>(name.size(), 15));
      pthread_setname_np(pthread_self(), name.c_str());
      for (;;) {
        try {
          w.context.run();
          break;
        } catch (const std::exception& e) {
          // The data plane does not throw by design; if something does,
          // keep the thread serving the other connections.
          spdlog::error("io thread {}: unexpected exception: {}", i, e.what());
        }
      }
    }};
  }
}

void io_pool::stop() {
  for (auto& w : workers_) {
    w->guard.reset();
    w->context.stop();
  }
  for (auto& w : workers_)
    if (w->thread.joinable())
      w->thread.join();
}

int io_pool::current_index() noexcept {
  return current_io_index;
}

} // namespace ika::net
