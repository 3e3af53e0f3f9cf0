// The health prober against real sockets on 127.0.0.1: a tiny server thread
// answers each connection with the bytes a test gives it and records what
// it received.

#include "runtime/health/prober.hpp"

#include "runtime/net/io_pool.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>

namespace ika::health {
namespace {

using namespace std::chrono_literals;

/// Accepts connections on 127.0.0.1:0; answers each with `reply` (or
/// nothing, holding the connection, when `silent`).
class tiny_server {
public:
  explicit tiny_server(std::string reply, bool silent = false) : reply_{std::move(reply)}, silent_{silent} {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread{[this] { run(); }};
  }

  ~tiny_server() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }

  std::uint16_t port() const { return port_; }

  std::string received() {
    std::lock_guard<std::mutex> g{mutex_};
    return received_;
  }

private:
  void run() {
    for (;;) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0)
        return;
      char buf[4096];
      auto n = ::recv(c, buf, sizeof buf, 0);
      if (n > 0) {
        std::lock_guard<std::mutex> g{mutex_};
        received_.append(buf, static_cast<std::size_t>(n));
      }
      if (!silent_)
        ::send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
      else
        ::recv(c, buf, sizeof buf, 0); // until the prober gives up
      ::close(c);
    }
  }

  std::string reply_;
  bool silent_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::string received_;
};

class prober_test : public ::testing::Test {
protected:
  prober_test() { pool_.start(); }
  ~prober_test() override { pool_.stop(); }

  probe_result run(probe_spec spec) {
    std::promise<probe_result> done;
    auto f = done.get_future();
    prober_.probe(std::move(spec), [&done](probe_result r) { done.set_value(std::move(r)); });
    EXPECT_EQ(f.wait_for(10s), std::future_status::ready);
    return f.get();
  }

  static probe_spec spec_for(std::uint16_t port, std::string path = "/health") {
    probe_spec s;
    s.endpoint = {asio::ip::address_v4::loopback(), port};
    s.path = std::move(path);
    s.host = "app.ika.internal";
    s.token = "t0ken";
    s.timeout = 300ms;
    return s;
  }

  net::io_pool pool_{1};
  prober prober_{pool_.context(0)};
};

TEST_F(prober_test, two_hundred_is_healthy_and_the_request_names_host_and_token) {
  tiny_server server{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"};
  auto r = run(spec_for(server.port()));
  EXPECT_TRUE(r.ok) << r.detail;
  auto req = server.received();
  EXPECT_EQ(req.rfind("GET /health HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("\r\nHost: app.ika.internal\r\n"), std::string::npos) << req;
  EXPECT_NE(req.find("\r\nX-Ika-Health: t0ken\r\n"), std::string::npos) << req;
}

TEST_F(prober_test, other_statuses_are_unhealthy) {
  tiny_server server{"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"};
  auto r = run(spec_for(server.port()));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.detail, "status 503");
}

TEST_F(prober_test, a_refused_connection_is_unhealthy) {
  std::uint16_t port;
  {
    tiny_server gone{""};
    port = gone.port();
  }
  auto r = run(spec_for(port));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("connect"), std::string::npos) << r.detail;
}

TEST_F(prober_test, no_answer_within_the_timeout_is_unhealthy) {
  tiny_server server{"", true};
  auto started = std::chrono::steady_clock::now();
  auto r = run(spec_for(server.port()));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("timed out"), std::string::npos) << r.detail;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST_F(prober_test, a_garbled_answer_is_unhealthy) {
  tiny_server server{"HTTX/9 what\r\n\r\n"};
  auto r = run(spec_for(server.port()));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.detail, "invalid response");
}

TEST_F(prober_test, without_a_path_a_connect_is_the_check) {
  tiny_server server{""};
  EXPECT_TRUE(run(spec_for(server.port(), "")).ok);
  EXPECT_EQ(server.received(), "");
}

} // namespace
} // namespace ika::health
