#include "runtime/bridge/snapshot.hpp"

#include <atomic>
#include <cstdint>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace {

using ika::bridge::snapshot_cell;
using ika::bridge::snapshot_reader;

/// A value that counts its live instances.
struct tracked {
  tracked(int v, std::shared_ptr<std::atomic<int>> live) : value(v), live_(std::move(live)) { ++*live_; }
  tracked(const tracked&) = delete;
  tracked& operator=(const tracked&) = delete;
  ~tracked() { --*live_; }

  int value;

private:
  std::shared_ptr<std::atomic<int>> live_;
};

TEST(snapshot_test, starts_with_a_default_value_at_version_zero) {
  snapshot_cell<std::string> cell;
  snapshot_reader<std::string> reader{cell};
  EXPECT_EQ(cell.version(), 0u);
  EXPECT_EQ(reader.get(), "");
}

TEST(snapshot_test, reader_sees_every_new_version) {
  snapshot_cell<int> cell{std::make_shared<const int>(1)};
  snapshot_reader<int> reader{cell};
  EXPECT_EQ(reader.get(), 1);
  EXPECT_EQ(reader.get(), 1);
  for (int v = 2; v < 10; ++v) {
    cell.publish(std::make_shared<const int>(v));
    EXPECT_EQ(cell.version(), static_cast<std::uint64_t>(v - 1));
    EXPECT_EQ(reader.get(), v);
  }
  EXPECT_EQ(*cell.load(), 9);
}

TEST(snapshot_test, value_held_by_a_reader_survives_a_publish) {
  auto live = std::make_shared<std::atomic<int>>(0);
  snapshot_cell<tracked> cell{std::make_shared<const tracked>(1, live)};
  snapshot_reader<tracked> slow{cell};
  snapshot_reader<tracked> fast{cell};
  const tracked& held = slow.get();
  std::shared_ptr<const tracked> loaded = cell.load();
  ASSERT_EQ(held.value, 1);

  cell.publish(std::make_shared<const tracked>(2, live));
  EXPECT_EQ(fast.get().value, 2);
  // The slow reader has not called get() again: its value is still alive
  // (ASan would flag a read of freed memory here).
  EXPECT_EQ(held.value, 1);
  EXPECT_EQ(live->load(), 2);

  cell.publish(std::make_shared<const tracked>(3, live));
  EXPECT_EQ(held.value, 1);
  EXPECT_EQ(live->load(), 3); // 1 (slow reader + load()), 2 (fast reader), 3 (cell)

  EXPECT_EQ(fast.get().value, 3);
  EXPECT_EQ(live->load(), 2); // nobody holds 2 any more
  EXPECT_EQ(slow.get().value, 3);
  EXPECT_EQ(loaded->value, 1); // a load() result keeps its own reference
  loaded.reset();
  EXPECT_EQ(live->load(), 1);
}

/// Published by the concurrent test: `items` has `seq` copies of `seq`, so a
/// torn or freed value is visible.
struct payload {
  int writer = -1;
  int seq = -1;
  std::vector<int> items;
};

TEST(snapshot_test, concurrent_publish_and_get) {
  constexpr int writers = 2;
  constexpr int readers = 3;
  constexpr int publishes_per_writer = 10000;
  snapshot_cell<payload> cell;
  std::atomic<int> writers_running{writers};
  std::latch start{writers + readers}; // makes publishes and gets overlap
  std::vector<std::thread> threads;

  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      start.arrive_and_wait();
      for (int seq = 0; seq < publishes_per_writer; ++seq) {
        auto p = std::make_shared<payload>();
        p->writer = w;
        p->seq = seq;
        p->items.assign(static_cast<std::size_t>(seq % 64), seq);
        cell.publish(std::move(p));
      }
      --writers_running;
    });
  }

  struct reader_report {
    long gets = 0;
    int torn = 0;
    int went_back = 0;
  };
  std::vector<reader_report> reports(readers);
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&, r] {
      snapshot_reader<payload> reader{cell};
      std::vector<int> last_seq(writers, -1);
      auto& report = reports[static_cast<std::size_t>(r)];
      start.arrive_and_wait();
      bool last_round = false;
      while (!last_round) {
        last_round = writers_running.load() == 0;
        const payload& p = reader.get();
        ++report.gets;
        if (p.writer < 0)
          continue; // the initial value
        if (p.items.size() != static_cast<std::size_t>(p.seq % 64))
          ++report.torn;
        for (int item : p.items)
          if (item != p.seq)
            ++report.torn;
        // One writer publishes in order; a reader must never see it go back.
        auto& seen = last_seq[static_cast<std::size_t>(p.writer)];
        if (p.seq < seen)
          ++report.went_back;
        seen = p.seq;
      }
      // After all publishes, a reader sees the final value.
      if (&reader.get() != cell.load().get())
        ++report.torn;
    });
  }
  for (auto& t : threads)
    t.join();

  EXPECT_EQ(cell.version(), static_cast<std::uint64_t>(writers * publishes_per_writer));
  for (const auto& report : reports) {
    EXPECT_EQ(report.torn, 0);
    EXPECT_EQ(report.went_back, 0);
    EXPECT_GT(report.gets, 0);
  }
}

} // namespace
