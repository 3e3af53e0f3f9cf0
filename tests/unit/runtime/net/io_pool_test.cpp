#include "runtime/net/io_pool.hpp"

#include <asio/post.hpp>
#include <gtest/gtest.h>

#include <pthread.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <utility>

namespace ika::net {
namespace {

TEST(IoPool, EachContextRunsOnItsOwnNamedThread) {
  io_pool pool{2};
  ASSERT_EQ(pool.size(), 2u);
  pool.start();
  EXPECT_EQ(io_pool::current_index(), -1); // not an io thread
  for (std::size_t i = 0; i < pool.size(); ++i) {
    // Shared: an assertion below may return before the handler has run.
    auto seen = std::make_shared<std::promise<std::pair<int, std::string>>>();
    asio::post(pool.context(i), [seen] {
      char name[16] = {};
      pthread_getname_np(pthread_self(), name, sizeof name);
      seen->set_value({io_pool::current_index(), name});
    });
    auto answer = seen->get_future();
    ASSERT_EQ(answer.wait_for(std::chrono::seconds{10}), std::future_status::ready);
    auto [index, name] = answer.get();
    EXPECT_EQ(index, static_cast<int>(i));
    EXPECT_EQ(name, "ika-io-" + std::to_string(i));
  }
  pool.stop();
  pool.stop(); // idempotent
}

} // namespace
} // namespace ika::net
