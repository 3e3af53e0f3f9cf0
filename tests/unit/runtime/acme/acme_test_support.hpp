#pragma once
// Helpers shared by the ACME tests: free loopback ports, a tiny HTTP/1.1
// server thread (the HTTP-01 responder and the HTTP client's peer), and
// child processes killed by pid at scope end.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace ika::acme::test {

using namespace std::chrono_literals;

/// A loopback port that was free for TCP (and UDP, if asked) a moment ago.
inline std::uint16_t free_port(bool udp_too = false) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ::close(fd);
      continue;
    }
    ::close(fd);
    if (!udp_too)
      return ntohs(a.sin_port);
    int u = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    bool ok = ::bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(u);
    if (ok)
      return ntohs(a.sin_port);
  }
  return 0;
}

/// A tiny HTTP/1.1 server on 127.0.0.1 (port chosen by the kernel), one
/// request per connection, answered by `handler(method, path)` on its own
/// thread. `respond == false` makes it read requests and never answer.
class http_test_server {
public:
  struct reply {
    int status = 200;
    std::string body;
    std::string extra_headers; ///< full lines with CRLF
  };
  using handler_fn = std::function<reply(const std::string& method, const std::string& path)>;

  explicit http_test_server(handler_fn handler, bool respond = true)
      : handler_(std::move(handler)), respond_(respond) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd_, 64) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~http_test_server() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  http_test_server(const http_test_server&) = delete;
  http_test_server& operator=(const http_test_server&) = delete;

  std::uint16_t port() const { return port_; }
  int requests() const { return requests_.load(); }

private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0)
        continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0)
        continue;
      serve(c);
      ::close(c);
    }
  }

  void serve(int c) {
    std::string in;
    char buf[4096];
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (in.find("\r\n\r\n") == std::string::npos && !stop_ &&
           std::chrono::steady_clock::now() < deadline) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0)
        continue;
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0)
        return;
      in.append(buf, static_cast<std::size_t>(n));
    }
    ++requests_;
    if (!respond_) {
      while (!stop_) {
        pollfd p{c, POLLIN, 0};
        if (::poll(&p, 1, 20) > 0 && ::recv(c, buf, sizeof buf, 0) <= 0)
          return;
      }
      return;
    }
    std::istringstream line(in.substr(0, in.find("\r\n")));
    std::string method, path;
    line >> method >> path;
    reply r = handler_(method, path);
    std::string out = "HTTP/1.1 " + std::to_string(r.status) +
                      " X\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\nConnection: close\r\n" +
                      r.extra_headers + "\r\n";
    if (method != "HEAD")
      out += r.body;
    std::string_view rest = out;
    while (!rest.empty()) {
      ssize_t n = ::send(c, rest.data(), rest.size(), MSG_NOSIGNAL);
      if (n <= 0)
        return;
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  handler_fn handler_;
  bool respond_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

/// A child process started with posix_spawn (stdin /dev/null, stdout and
/// stderr appended to `log`), SIGKILLed and reaped by pid at scope end.
class child_process {
public:
  child_process(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                const std::string& log)
      : log_(log) {
    std::vector<char*> args;
    for (const auto& a : argv)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : env)
      envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (::posix_spawn(&pid_, argv[0].c_str(), &fa, nullptr, args.data(), envp.data()) != 0)
      pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~child_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }

  /// True while the child has not exited (reaps it if it has).
  bool running() {
    if (pid_ <= 0)
      return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

  std::string log_text() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

private:
  std::string log_;
  pid_t pid_ = -1;
};

/// This process's environment without PEBBLE_* variables, plus `extra`.
inline std::vector<std::string> child_env(const std::vector<std::string>& extra) {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e)
    if (std::string_view{*e}.rfind("PEBBLE_", 0) != 0)
      out.emplace_back(*e);
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

} // namespace ika::acme::test
