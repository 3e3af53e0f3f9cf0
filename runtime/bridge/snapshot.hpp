#pragma once
// Publication of immutable snapshots from actors to io threads.
//
// An actor builds a new immutable value and publishes it; every io thread
// keeps its own reader, which costs one atomic load per use while nothing
// changes and takes a short lock only when a new version was published.
// Readers never block writers for longer than a shared_ptr copy.
//
// Rule for users on the data plane: a reference obtained from `get()` is
// valid until the next `get()` on the same reader. Never keep it across a
// co_await; copy what the request needs (an endpoint, a limit) instead.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

namespace ika::bridge {

/// The published value. Thread-safe.
template <class T>
class snapshot_cell {
public:
  explicit snapshot_cell(std::shared_ptr<const T> initial = std::make_shared<const T>())
      : current_(std::move(initial)) {}

  /// Makes `next` the value every reader sees from its next `get()` on.
  void publish(std::shared_ptr<const T> next) {
    std::shared_ptr<const T> old;
    {
      std::lock_guard<std::mutex> guard{mutex_};
      old = std::exchange(current_, std::move(next));
      version_.fetch_add(1, std::memory_order_release);
    }
    // `old` dies here, outside the lock, unless a reader still holds it.
  }

  /// The current value (takes the lock: not for the hot path).
  std::shared_ptr<const T> load() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return current_;
  }

  /// Increases by one with every publish.
  std::uint64_t version() const noexcept { return version_.load(std::memory_order_acquire); }

private:
  mutable std::mutex mutex_;
  std::shared_ptr<const T> current_;
  std::atomic<std::uint64_t> version_{0};
};

/// One thread's view of a cell. Not thread-safe: one reader per io thread.
template <class T>
class snapshot_reader {
public:
  explicit snapshot_reader(const snapshot_cell<T>& cell) : cell_(&cell) {}

  /// The newest published value.
  const T& get() {
    auto v = cell_->version();
    if (v != seen_ || !cached_) {
      cached_ = cell_->load();
      seen_ = v;
    }
    return *cached_;
  }

private:
  const snapshot_cell<T>* cell_;
  std::shared_ptr<const T> cached_;
  std::uint64_t seen_ = ~std::uint64_t{0};
};

} // namespace ika::bridge
