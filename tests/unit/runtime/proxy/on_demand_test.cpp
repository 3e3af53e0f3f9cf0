// The data plane of an on-demand app, end to end through the real proxy
// server: requests to an app with no instance wait while a stand-in for the
// app's actor (woken by the registry's wake handler) starts a real upstream
// and publishes a table with it; failure, timeout and the waiter limit.

#include "runtime/net/io_pool.hpp"
#include "runtime/proxy/backends.hpp"
#include "runtime/proxy/route_table.hpp"
#include "runtime/proxy/server.hpp"
#include "tests/support/eventually.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace ika;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using ika::test::eventually;

/// A minimal HTTP/1.1 app on its own io thread: answers 200 with the path,
/// and counts the requests it got per path.
class test_app {
public:
  /// `hang_up`: accept connections and close them without answering (an
  /// instance going away).
  explicit test_app(bool hang_up = false) : hang_up_(hang_up) {
    acceptor_.open(asio::ip::tcp::v4());
    acceptor_.set_option(asio::socket_base::reuse_address{true});
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    asio::co_spawn(context_, accept_loop(), asio::detached);
    thread_ = std::thread{[this] { context_.run(); }};
  }
  ~test_app() {
    context_.stop();
    thread_.join();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }
  std::map<std::string, int> seen() {
    std::lock_guard<std::mutex> guard{mutex_};
    return seen_;
  }

private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      std::error_code ec;
      auto socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec)
        co_return;
      asio::co_spawn(context_, serve(std::move(socket)), asio::detached);
    }
  }
  asio::awaitable<void> serve(asio::ip::tcp::socket socket) {
    if (hang_up_) {
      std::error_code ignored;
      socket.close(ignored);
      co_return;
    }
    std::string in;
    char buf[4096];
    for (;;) {
      auto end = in.find("\r\n\r\n");
      if (end == std::string::npos) {
        std::error_code ec;
        auto n =
            co_await socket.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
        if (ec)
          co_return;
        in.append(buf, n);
        continue;
      }
      auto sp1 = in.find(' ');
      auto sp2 = in.find(' ', sp1 + 1);
      auto path = in.substr(sp1 + 1, sp2 - sp1 - 1);
      in.erase(0, end + 4);
      {
        std::lock_guard<std::mutex> guard{mutex_};
        ++seen_[path];
      }
      std::string out =
          "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(path.size()) + "\r\n\r\n" + path;
      std::error_code ec;
      co_await asio::async_write(socket, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
      if (ec)
        co_return;
    }
  }

  bool hang_up_ = false;
  asio::io_context context_;
  asio::ip::tcp::acceptor acceptor_{context_};
  std::thread thread_;
  std::mutex mutex_;
  std::map<std::string, int> seen_;
};

/// One blocking HTTP exchange: the whole response (until the body length
/// announced, or close).
std::string fetch(std::uint16_t port, const std::string& path, int* fd_out = nullptr) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  timeval tv{15, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return "connect failed";
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: demo.test\r\nConnection: close\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  if (fd_out != nullptr) {
    *fd_out = fd;
    return {};
  }
  std::string got;
  char buf[4096];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return got;
}

std::string status_line(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

struct on_demand_fixture : ::testing::Test {
  std::shared_ptr<proxy::backend_registry> registry = std::make_shared<proxy::backend_registry>();
  proxy::limits limits;
  std::unique_ptr<net::io_pool> pool;
  std::unique_ptr<proxy::workers> workers;
  std::shared_ptr<proxy::server> server;
  std::uint16_t port = 0;

  protocol::app_backends app(std::uint32_t max_waiters = 0, std::uint64_t timeout_ms = 0) {
    protocol::app_backends b;
    b.app = "demo";
    b.on_demand = true;
    b.max_waiters = max_waiters;
    b.wait_timeout_ms = timeout_ms;
    return b;
  }

  void publish(const protocol::app_backends& b) {
    protocol::route_spec r;
    r.app = "demo";
    auto table = std::make_shared<proxy::route_table>();
    auto err = proxy::route_table::compile({r}, {b}, *registry, *table);
    ASSERT_EQ(err, "");
    server->publish(table);
  }

  void start(const protocol::app_backends& b) {
    pool = std::make_unique<net::io_pool>(2);
    workers = std::make_unique<proxy::workers>(*pool, limits);
    server = std::make_shared<proxy::server>(
        *pool, *workers, "test", asio::ip::tcp::endpoint{asio::ip::make_address("127.0.0.1"), 0}, limits);
    ASSERT_FALSE(server->open());
    port = server->local_endpoint().port();
    publish(b);
    server->start();
    pool->start();
  }

  ~on_demand_fixture() override {
    if (pool) {
      pool->stop();
      server->release_io();
      workers.reset();
      pool.reset();
    }
  }
};

/// The app actor's part, played by a thread: woken by the wake handler
/// (which only signals, as an actor send would), it does `action`.
struct fake_actor {
  std::mutex mutex;
  std::condition_variable cv;
  int wakes = 0;
  bool stop = false;
  std::thread thread;

  void on_wake() {
    std::lock_guard<std::mutex> guard{mutex};
    ++wakes;
    cv.notify_all();
  }
  void run(std::function<void()> action) {
    thread = std::thread{[this, action] {
      std::unique_lock<std::mutex> lock{mutex};
      cv.wait(lock, [this] { return wakes > 0 || stop; });
      if (stop)
        return;
      lock.unlock();
      action();
    }};
  }
  ~fake_actor() {
    {
      std::lock_guard<std::mutex> guard{mutex};
      stop = true;
      cv.notify_all();
    }
    if (thread.joinable())
      thread.join();
  }
};

TEST_F(on_demand_fixture, concurrent_requests_wait_for_the_instance_and_are_served_once) {
  start(app());
  auto gate = registry->gate("demo");
  fake_actor actor;
  std::unique_ptr<test_app> upstream;
  constexpr int n = 20;
  clock_type::time_point published;
  actor.run([&] {
    // Everyone arrives first, then the instance is "ready".
    ASSERT_TRUE(eventually([&] { return gate->waiting() == n; }));
    upstream = std::make_unique<test_app>();
    auto b = app();
    b.backends.push_back({"demo-1", upstream->address()});
    published = clock_type::now();
    publish(b);
  });
  auto token = registry->set_wake_handler("demo", [&](const std::string& a) {
    EXPECT_EQ(a, "demo");
    actor.on_wake();
  });
  std::vector<std::string> responses(n);
  std::vector<clock_type::time_point> answered(n);
  std::vector<std::thread> clients;
  for (int i = 0; i < n; ++i)
    clients.emplace_back([&, i] {
      responses[i] = fetch(port, "/r/" + std::to_string(i));
      answered[i] = clock_type::now();
    });
  for (auto& c : clients)
    c.join();
  actor.thread.join();
  registry->clear_wake_handler("demo", token);
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(status_line(responses[i]), "HTTP/1.1 200 OK") << responses[i];
    EXPECT_NE(responses[i].find("\r\n\r\n/r/" + std::to_string(i)), std::string::npos);
  }
  auto seen = upstream->seen();
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(n));
  for (const auto& [path, count] : seen)
    EXPECT_EQ(count, 1) << path;
  EXPECT_EQ(actor.wakes, 1);
  EXPECT_EQ(gate->wakes(), 1u);
  EXPECT_EQ(gate->waiting(), 0u);
  std::vector<double> ms;
  for (auto t : answered)
    ms.push_back(std::chrono::duration<double, std::milli>(t - published).count());
  std::sort(ms.begin(), ms.end());
  std::printf("publish -> response read by client: first %.2f ms, median %.2f ms (%d waiters)\n", ms.front(),
              ms[ms.size() / 2], n);
  // The instance's request counter, for the app actor's idle check.
  EXPECT_EQ(registry->stats("demo-1")->requests.load(), static_cast<std::uint64_t>(n));
  // Warm now: the next request does not wait.
  EXPECT_EQ(status_line(fetch(port, "/warm")), "HTTP/1.1 200 OK");
  EXPECT_EQ(gate->wakes(), 1u);
}

TEST_F(on_demand_fixture, start_failure_answers_502_with_the_reason) {
  start(app());
  auto gate = registry->gate("demo");
  fake_actor actor;
  actor.run([&] {
    ASSERT_TRUE(eventually([&] { return gate->waiting() == 3; }));
    registry->fail_waiters("demo", "exited with status 1 before ready");
  });
  auto token = registry->set_wake_handler("demo", [&](const std::string&) { actor.on_wake(); });
  std::vector<std::string> responses(3);
  std::vector<std::thread> clients;
  for (int i = 0; i < 3; ++i)
    clients.emplace_back([&, i] { responses[i] = fetch(port, "/f"); });
  for (auto& c : clients)
    c.join();
  registry->clear_wake_handler("demo", token);
  for (auto& r : responses) {
    EXPECT_EQ(status_line(r), "HTTP/1.1 502 Bad Gateway") << r;
    EXPECT_NE(r.find("app demo failed to start: exited with status 1 before ready"), std::string::npos) << r;
  }
}

TEST_F(on_demand_fixture, no_instance_in_time_answers_504) {
  start(app(0, 150));
  auto token = registry->set_wake_handler("demo", [](const std::string&) {});
  auto begin = clock_type::now();
  auto r = fetch(port, "/slow");
  EXPECT_EQ(status_line(r), "HTTP/1.1 504 Gateway Timeout") << r;
  EXPECT_GE(clock_type::now() - begin, 150ms);
  EXPECT_EQ(registry->gate("demo")->waiting(), 0u);
  registry->clear_wake_handler("demo", token);
}

TEST_F(on_demand_fixture, too_many_waiters_answers_503_with_retry_after) {
  start(app(2, 10000));
  auto gate = registry->gate("demo");
  int fds[2];
  fetch(port, "/a", &fds[0]);
  fetch(port, "/b", &fds[1]);
  ASSERT_TRUE(eventually([&] { return gate->waiting() == 2; }));
  auto r = fetch(port, "/c");
  EXPECT_EQ(status_line(r), "HTTP/1.1 503 Service Unavailable") << r;
  EXPECT_NE(r.find("Retry-After: "), std::string::npos) << r;
  // Clients that leave while waiting leave the gate.
  ::close(fds[0]);
  ::close(fds[1]);
  ASSERT_TRUE(eventually([&] { return gate->waiting() == 0; }));
}

TEST_F(on_demand_fixture, instance_refusing_connections_is_replaced_by_a_fresh_one) {
  // The table still lists an instance that stopped (idle): its port refuses.
  auto stale = app(0, 10000);
  {
    asio::io_context ctx;
    asio::ip::tcp::acceptor a{ctx, {asio::ip::make_address("127.0.0.1"), 0}};
    stale.backends.push_back({"demo-old", "127.0.0.1:" + std::to_string(a.local_endpoint().port())});
  }
  start(stale);
  auto gate = registry->gate("demo");
  fake_actor actor;
  std::unique_ptr<test_app> upstream;
  actor.run([&] {
    upstream = std::make_unique<test_app>();
    auto b = app(0, 10000);
    b.backends.push_back({"demo-new", upstream->address()});
    publish(b);
  });
  auto token = registry->set_wake_handler("demo", [&](const std::string&) { actor.on_wake(); });
  auto r = fetch(port, "/again");
  actor.thread.join();
  registry->clear_wake_handler("demo", token);
  EXPECT_EQ(status_line(r), "HTTP/1.1 200 OK") << r;
  EXPECT_EQ(upstream->seen()["/again"], 1);
  EXPECT_TRUE(registry->stats("demo-old")->suspect.load());
}

TEST_F(on_demand_fixture, instance_hanging_up_without_an_answer_is_replaced_by_a_fresh_one) {
  test_app dying{true};
  auto stale = app(0, 10000);
  stale.backends.push_back({"demo-dying", dying.address()});
  start(stale);
  fake_actor actor;
  std::unique_ptr<test_app> upstream;
  actor.run([&] {
    upstream = std::make_unique<test_app>();
    auto b = app(0, 10000);
    b.backends.push_back({"demo-new", upstream->address()});
    publish(b);
  });
  auto token = registry->set_wake_handler("demo", [&](const std::string&) { actor.on_wake(); });
  auto r = fetch(port, "/retry");
  actor.thread.join();
  registry->clear_wake_handler("demo", token);
  EXPECT_EQ(status_line(r), "HTTP/1.1 200 OK") << r;
  EXPECT_EQ(upstream->seen()["/retry"], 1);
}

TEST_F(on_demand_fixture, a_cold_start_costs_the_data_plane_little) {
  // 20 cold starts of one request each: from the table with the instance
  // being published to the client reading the response's first byte (the
  // data plane's share of the cold-start overhead; the actor's and the
  // app's are not in it).
  start(app());
  auto gate = registry->gate("demo");
  std::vector<double> ms;
  for (int round = 0; round < 20; ++round) {
    fake_actor actor;
    std::unique_ptr<test_app> upstream;
    clock_type::time_point published;
    actor.run([&] {
      ASSERT_TRUE(eventually([&] { return gate->waiting() == 1; }));
      upstream = std::make_unique<test_app>();
      auto b = app();
      b.backends.push_back({"demo-" + std::to_string(round), upstream->address()});
      published = clock_type::now();
      publish(b);
    });
    auto token = registry->set_wake_handler("demo", [&](const std::string&) { actor.on_wake(); });
    int fd = -1;
    fetch(port, "/cold", &fd);
    char c;
    auto n = ::recv(fd, &c, 1, 0);
    auto first_byte = clock_type::now();
    ::close(fd);
    actor.thread.join();
    registry->clear_wake_handler("demo", token);
    ASSERT_EQ(n, 1);
    ms.push_back(std::chrono::duration<double, std::milli>(first_byte - published).count());
    publish(app()); // cold again
    upstream.reset();
  }
  std::sort(ms.begin(), ms.end());
  std::printf(
      "publish -> first byte, one waiter: median %.3f ms, p90 %.3f ms, max %.3f ms (20 cold starts)\n",
      ms[ms.size() / 2], ms[ms.size() * 9 / 10], ms.back());
  EXPECT_LT(ms[ms.size() / 2], 50.0); // generous for a busy 2-core machine; the print is the number
}

TEST_F(on_demand_fixture, an_app_that_is_not_on_demand_answers_503_at_once) {
  auto b = app();
  b.on_demand = false;
  start(b);
  auto r = fetch(port, "/none");
  EXPECT_EQ(status_line(r), "HTTP/1.1 503 Service Unavailable") << r;
  EXPECT_NE(r.find("Retry-After: 1"), std::string::npos) << r;
}

} // namespace
