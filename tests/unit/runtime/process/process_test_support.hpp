#pragma once
// Helpers shared by the process tests: an event collector, and "is this pid
// gone" (zombies count as gone: the container's init may not reap orphans).

#include "runtime/process/process_supervisor.hpp"
#include "tests/support/eventually.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

namespace ika::process::test {

using namespace std::chrono_literals;

/// True when `pid` no longer runs (absent, or a zombie nobody reaped yet).
inline bool pid_gone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH)
    return true;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text))
    return true;
  auto close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size())
    return false;
  char state = text[close + 2];
  return state == 'Z' || state == 'X';
}

/// SIGKILLs `pid` at the end of the scope unless it is gone: a failing test
/// leaves no process behind.
struct pid_guard {
  pid_t pid = -1;
  explicit pid_guard(pid_t p) : pid(p) {}
  ~pid_guard() {
    if (pid > 1 && !pid_gone(pid))
      ::kill(pid, SIGKILL);
  }
  pid_guard(const pid_guard&) = delete;
  pid_guard& operator=(const pid_guard&) = delete;
};

/// Collects the events of children, thread-safely.
struct collector {
  std::mutex mu;
  std::vector<process_event> events;

  event_sink sink() {
    return [this](process_event ev) {
      std::lock_guard<std::mutex> lock(mu);
      events.push_back(std::move(ev));
    };
  }

  std::vector<process_event> snapshot() {
    std::lock_guard<std::mutex> lock(mu);
    return events;
  }

  bool has_exit() {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& e : events)
      if (std::holds_alternative<exit_event>(e))
        return true;
    return false;
  }

  /// Waits for the exit event and returns it.
  std::optional<exit_event> wait_exit(std::chrono::milliseconds timeout = 10s) {
    if (!ika::test::eventually([this] { return has_exit(); }, timeout))
      return std::nullopt;
    for (auto& e : snapshot())
      if (auto* x = std::get_if<exit_event>(&e))
        return *x;
    return std::nullopt;
  }

  std::vector<std::string> lines(output_stream s) {
    std::vector<std::string> out;
    for (auto& e : snapshot())
      if (auto* o = std::get_if<output_event>(&e); o != nullptr && o->stream == s)
        out.push_back(o->line);
    return out;
  }

  std::size_t line_count(output_stream s) { return lines(s).size(); }
};

} // namespace ika::process::test
