// The node and listener actors in a real actor system: start binds the
// listeners, route changes reach the io threads, drain and stop end cleanly.

#include "actors/node.hpp"
#include "protocol/types.hpp"
#include "tests/actors/actor_test_config.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace {

using namespace ika;
using namespace ika::protocol;
using namespace std::chrono_literals;

/// Sends one request on a new connection and returns the status line.
std::string status_line(const std::string& address, const std::string& host) {
  auto colon = address.rfind(':');
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
  ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return "connect failed";
  }
  std::string req = "GET / HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string got;
  char buf[4096];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    got.append(buf, static_cast<std::size_t>(n));
    if (got.find("\r\n") != std::string::npos)
      break;
  }
  ::close(fd);
  return got.substr(0, got.find("\r\n"));
}

/// A port nothing listens on: bound, then closed.
std::string dead_address() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return "127.0.0.1:" + std::to_string(ntohs(sa.sin_port));
}

struct node_fixture : ::testing::Test {
  node_fixture() : sys(test::actor_test_config()), self(sys) {}

  config::node_config base_config() {
    config::node_config c;
    c.workers = 2;
    c.listeners.push_back({"http", "127.0.0.1:0"});
    route_spec r;
    r.host = "app.test";
    r.upstreams = {dead_address()};
    c.routes.push_back(r);
    return c;
  }

  node_status start(const node_actor& n) {
    node_status result;
    self->request(n, 10s, start_atom::value)
        .receive([&](const node_status& s) { result = s; },
                 [&](const caf::error& e) { ADD_FAILURE() << sys.render(e); });
    return result;
  }

  void stop(const node_actor& n) {
    bool stopped = false;
    self->request(n, 10s, stop_atom::value)
        .receive([&](ok_atom) { stopped = true; },
                 [&](const caf::error& e) { ADD_FAILURE() << sys.render(e); });
    EXPECT_TRUE(stopped);
    self->send_exit(n, caf::exit_reason::user_shutdown);
  }

  caf::actor_system sys;
  caf::scoped_actor self;
};

TEST_F(node_fixture, start_binds_every_listener_and_reports_the_port) {
  auto c = base_config();
  c.listeners.push_back({"second", "127.0.0.1:0"});
  auto n = sys.spawn(actors::node, c, nullptr);
  auto status = start(n);
  ASSERT_EQ(status.listeners.size(), 2u);
  for (const auto& l : status.listeners) {
    EXPECT_NE(l.address, "127.0.0.1:0") << l.name;
    EXPECT_EQ(l.routes, 1u);
  }
  EXPECT_EQ(status.listeners[0].name, "http");
  EXPECT_EQ(status.listeners[1].name, "second");
  // Routed to a dead upstream: 502; unknown host: 404.
  EXPECT_EQ(status_line(status.listeners[0].address, "app.test"), "HTTP/1.1 502 Bad Gateway");
  EXPECT_EQ(status_line(status.listeners[1].address, "other.test"), "HTTP/1.1 404 Not Found");
  stop(n);
}

TEST_F(node_fixture, a_port_in_use_fails_the_start_with_its_name) {
  auto first = sys.spawn(actors::node, base_config(), nullptr);
  auto status = start(first);
  ASSERT_EQ(status.listeners.size(), 1u);

  auto c = base_config();
  c.listeners[0].address = status.listeners[0].address;
  c.listeners[0].name = "clash";
  auto second = sys.spawn(actors::node, c, nullptr);
  std::string error;
  self->request(second, 10s, start_atom::value)
      .receive([&](const node_status&) { ADD_FAILURE() << "second node bound a used port"; },
               [&](const caf::error& e) { error = sys.render(e); });
  EXPECT_NE(error.find("listener clash: cannot listen on " + status.listeners[0].address), std::string::npos)
      << error;
  // The first node still serves.
  EXPECT_EQ(status_line(status.listeners[0].address, "other.test"), "HTTP/1.1 404 Not Found");
  self->send_exit(second, caf::exit_reason::user_shutdown);
  stop(first);
}

TEST_F(node_fixture, new_routes_reach_the_io_threads) {
  auto n = sys.spawn(actors::node, base_config(), nullptr);
  auto status = start(n);
  auto address = status.listeners.at(0).address;
  EXPECT_EQ(status_line(address, "new.test"), "HTTP/1.1 404 Not Found");

  route_spec r;
  r.host = "new.test";
  r.upstreams = {dead_address()};
  std::vector<route_spec> routes{r};
  bool ok = false;
  self->request(n, 10s, routes_atom::value, routes)
      .receive([&](ok_atom) { ok = true; }, [&](const caf::error& e) { ADD_FAILURE() << sys.render(e); });
  ASSERT_TRUE(ok);
  // The reply means published: no waiting needed.
  EXPECT_EQ(status_line(address, "new.test"), "HTTP/1.1 502 Bad Gateway");
  EXPECT_EQ(status_line(address, "app.test"), "HTTP/1.1 404 Not Found");
  stop(n);
}

TEST_F(node_fixture, invalid_routes_are_refused_and_the_old_ones_stay) {
  auto n = sys.spawn(actors::node, base_config(), nullptr);
  auto status = start(n);
  route_spec bad;
  bad.host = "Bad Host";
  bad.upstreams = {"127.0.0.1:1"};
  std::vector<route_spec> routes{bad};
  std::string error;
  self->request(n, 10s, routes_atom::value, routes)
      .receive([&](ok_atom) { ADD_FAILURE() << "bad routes accepted"; },
               [&](const caf::error& e) { error = sys.render(e); });
  EXPECT_NE(error.find("invalid host pattern"), std::string::npos) << error;
  EXPECT_EQ(status_line(status.listeners.at(0).address, "app.test"), "HTTP/1.1 502 Bad Gateway");
  stop(n);
}

TEST_F(node_fixture, drain_without_connections_completes_and_closes_the_listener) {
  auto n = sys.spawn(actors::node, base_config(), nullptr);
  auto status = start(n);
  drain_result result;
  result.complete = false;
  self->request(n, 10s, drain_atom::value, caf::timespan{2s})
      .receive([&](const drain_result& r) { result = r; },
               [&](const caf::error& e) { ADD_FAILURE() << sys.render(e); });
  EXPECT_TRUE(result.complete);
  EXPECT_EQ(result.abandoned, 0u);
  EXPECT_EQ(status_line(status.listeners.at(0).address, "app.test"), "connect failed");
  stop(n);
}

TEST_F(node_fixture, status_counts_requests) {
  auto n = sys.spawn(actors::node, base_config(), nullptr);
  auto address = start(n).listeners.at(0).address;
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(status_line(address, "other.test"), "HTTP/1.1 404 Not Found");
  node_status status;
  self->request(n, 10s, status_atom::value)
      .receive([&](const node_status& s) { status = s; },
               [&](const caf::error& e) { ADD_FAILURE() << sys.render(e); });
  ASSERT_EQ(status.listeners.size(), 1u);
  EXPECT_EQ(status.listeners[0].requests, 3u);
  stop(n);
}

} // namespace
