// Unit tests of runtime/process/process_supervisor with real children
// (/bin/sh, python3, env, pwd). Every wait polls a condition with a deadline.

#include "runtime/process/process_supervisor.hpp"

#include "runtime/process/line_splitter.hpp"
#include "runtime/process/orphan_registry.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/runtime/process/process_test_support.hpp"

#include <caf/deep_to_string.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace {

using namespace ika::process;
using namespace ika::process::test;
using ika::test::eventually;
using ika::test::temp_dir;

const std::vector<std::string> base_env = {"PATH=/usr/local/bin:/usr/bin:/bin"};

spawn_spec sh(std::string script, int ready_fd = -1) {
  spawn_spec s;
  s.argv = {"/bin/sh", "-c", std::move(script)};
  s.env = base_env;
  s.ready_fd = ready_fd;
  if (ready_fd >= 0)
    s.env.push_back("IKA_READY_FD=" + std::to_string(ready_fd));
  return s;
}

spawn_spec python(std::string code) {
  spawn_spec s;
  s.argv = {"python3", "-c", std::move(code)};
  s.env = base_env;
  return s;
}

pid_t pid_of(const spawn_result& r) {
  if (auto* e = std::get_if<spawn_error>(&r)) {
    ADD_FAILURE() << "spawn failed: " << e->message;
    return -1;
  }
  return std::get<pid_t>(r);
}

/// Waits for the first stdout line and parses it as a pid.
pid_t first_line_pid(collector& c) {
  if (!eventually([&] { return c.line_count(output_stream::out) >= 1; }))
    return -1;
  return static_cast<pid_t>(std::stol(c.lines(output_stream::out).front()));
}

TEST(ProcessSupervisor, SpawnReportsExitCode) {
  process_supervisor sup;
  collector c;
  auto pid = pid_of(sup.spawn(sh("exit 7"), c.sink()));
  ASSERT_GT(pid, 0);
  auto exit = c.wait_exit();
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->pid, pid);
  EXPECT_EQ(exit->exit_code, 7);
  EXPECT_EQ(exit->signal, 0);
  EXPECT_TRUE(eventually([&] { return sup.live_children() == 0; }));
  EXPECT_FALSE(sup.terminate(pid)) << "a reaped child is never signalled";
}

TEST(ProcessSupervisor, SignalExitReportsTheSignal) {
  process_supervisor sup;
  collector c;
  ASSERT_GT(pid_of(sup.spawn(sh("kill -KILL $$"), c.sink())), 0);
  auto exit = c.wait_exit();
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->exit_code, -1);
  EXPECT_EQ(exit->signal, SIGKILL);
}

TEST(ProcessSupervisor, EnvironmentIsExactlyTheGivenOne) {
  ::setenv("IKA_TEST_LEAK", "should-not-be-seen", 1);
  process_supervisor sup;
  collector c;
  spawn_spec s;
  s.argv = {"env"}; // found through the default PATH: the env has none
  s.env = {"A=1", "B=two words", "EMPTY="};
  ASSERT_GT(pid_of(sup.spawn(s, c.sink())), 0);
  ASSERT_TRUE(c.wait_exit());
  auto lines = c.lines(output_stream::out);
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(lines, (std::vector<std::string>{"A=1", "B=two words", "EMPTY="}));
  ::unsetenv("IKA_TEST_LEAK");
}

TEST(ProcessSupervisor, RunsInTheGivenDirectory) {
  temp_dir dir{"ika-process"};
  process_supervisor sup;
  collector c;
  spawn_spec s;
  s.argv = {"/bin/pwd", "-P"};
  s.cwd = dir.path();
  ASSERT_GT(pid_of(sup.spawn(s, c.sink())), 0);
  ASSERT_TRUE(c.wait_exit());
  EXPECT_EQ(c.lines(output_stream::out),
            std::vector<std::string>{std::filesystem::canonical(dir.path()).string()});
}

TEST(ProcessSupervisor, RelativeProgramResolvesAgainstCwd) {
  temp_dir dir{"ika-process"};
  {
    std::ofstream script(dir / "app.sh");
    script << "#!/bin/sh\necho relative ok\n";
  }
  std::filesystem::permissions(dir / "app.sh", std::filesystem::perms::owner_all);
  process_supervisor sup;
  collector c;
  spawn_spec s;
  s.argv = {"./app.sh"};
  s.env = base_env;
  s.cwd = dir.path();
  ASSERT_GT(pid_of(sup.spawn(s, c.sink())), 0);
  ASSERT_TRUE(c.wait_exit());
  EXPECT_EQ(c.lines(output_stream::out), std::vector<std::string>{"relative ok"});
}

TEST(ProcessSupervisor, OwnProcessGroupAndOnlyTheExpectedFds) {
  // A descriptor without CLOEXEC in the parent must not reach the child.
  int leak[2];
  ASSERT_EQ(::pipe(leak), 0);
  process_supervisor sup;
  collector c;
  auto s = python("import os\n"
                  "fds = []\n"
                  "for f in range(1024):\n"
                  "    try:\n"
                  "        os.fstat(f); fds.append(str(f))\n"
                  "    except OSError:\n"
                  "        pass\n"
                  "print(' '.join(fds))\n"
                  "print(os.getpgrp() == os.getpid())\n"
                  "print(open('/proc/self/status').read().split('SigBlk:')[1].split()[0])\n"
                  "print(sys.stdin.read() == '' if (sys := __import__('sys')) else 0)\n");
  s.ready_fd = 5;
  ASSERT_GT(pid_of(sup.spawn(s, c.sink())), 0);
  ASSERT_TRUE(c.wait_exit());
  ::close(leak[0]);
  ::close(leak[1]);
  EXPECT_EQ(c.lines(output_stream::out),
            (std::vector<std::string>{"0 1 2 5", "True", "0000000000000000", "True"}));
  EXPECT_EQ(c.lines(output_stream::err), std::vector<std::string>{});
}

TEST(ProcessSupervisor, DefaultSignalDispositions) {
  // Ignored in the parent; must be back to "terminate" in the child.
  auto old = ::signal(SIGUSR1, SIG_IGN);
  process_supervisor sup;
  collector c;
  auto pid = pid_of(sup.spawn(sh("echo up; exec sleep 1000"), c.sink()));
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(eventually([&] { return c.line_count(output_stream::out) == 1; }));
  // `exec sleep` replaced the shell once sleep's comm is visible.
  ASSERT_TRUE(eventually([&] {
    std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
    std::string comm;
    std::getline(in, comm);
    return comm == "sleep";
  }));
  EXPECT_TRUE(sup.signal_group(pid, SIGUSR1));
  auto exit = c.wait_exit();
  ::signal(SIGUSR1, old);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->signal, SIGUSR1);
}

TEST(ProcessSupervisor, ReadyLineValid) {
  process_supervisor sup;
  collector c;
  auto pid = pid_of(sup.spawn(sh("echo \"READY 8080\" >&$IKA_READY_FD; echo 'READY 9090' >&3", 3), c.sink()));
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(c.wait_exit());
  std::vector<std::uint16_t> ports;
  int invalid = 0;
  for (auto& e : c.snapshot()) {
    if (auto* r = std::get_if<ready_event>(&e)) {
      EXPECT_EQ(r->pid, pid);
      ports.push_back(r->port);
    }
    invalid += std::holds_alternative<ready_invalid_event>(e) ? 1 : 0;
  }
  EXPECT_EQ(ports, std::vector<std::uint16_t>{8080}) << "only the first line counts";
  EXPECT_EQ(invalid, 0);
}

TEST(ProcessSupervisor, ReadyLineInvalid) {
  for (std::string line : {"hello", "READY 0", "READY 70000", "READY 80x", "READY"}) {
    process_supervisor sup;
    collector c;
    ASSERT_GT(pid_of(sup.spawn(sh("printf '%s\\nREADY 1\\n' '" + line + "' >&3", 3), c.sink())), 0);
    ASSERT_TRUE(c.wait_exit());
    std::vector<std::string> invalid;
    for (auto& e : c.snapshot()) {
      EXPECT_FALSE(std::holds_alternative<ready_event>(e)) << line;
      if (auto* r = std::get_if<ready_invalid_event>(&e))
        invalid.push_back(r->text);
    }
    EXPECT_EQ(invalid, std::vector<std::string>{line});
  }
}

TEST(ProcessSupervisor, ReadyNeverWritten) {
  process_supervisor sup;
  collector c;
  ASSERT_GT(pid_of(sup.spawn(sh("echo working", 3), c.sink())), 0);
  ASSERT_TRUE(c.wait_exit());
  for (auto& e : c.snapshot()) {
    EXPECT_FALSE(std::holds_alternative<ready_event>(e));
    EXPECT_FALSE(std::holds_alternative<ready_invalid_event>(e));
  }
  EXPECT_EQ(c.lines(output_stream::out), std::vector<std::string>{"working"});
}

TEST(ProcessSupervisor, StdoutAndStderrLinesInOrderPerStream) {
  process_supervisor sup;
  collector c;
  ASSERT_GT(pid_of(sup.spawn(sh("printf 'a\\nb\\r\\n'; printf 'x\\n' >&2; printf 'c\\n'; "
                                "printf 'y\\npartial' >&2; printf 'last'"),
                             c.sink())),
            0);
  ASSERT_TRUE(c.wait_exit());
  EXPECT_EQ(c.lines(output_stream::out), (std::vector<std::string>{"a", "b", "c", "last"}));
  EXPECT_EQ(c.lines(output_stream::err), (std::vector<std::string>{"x", "y", "partial"}));
  auto events = c.snapshot();
  ASSERT_FALSE(events.empty());
  EXPECT_TRUE(std::holds_alternative<exit_event>(events.back())) << "exit comes after all output";
}

TEST(ProcessSupervisor, AllOutputArrivesBeforeExit) {
  process_supervisor sup;
  collector c;
  ASSERT_GT(pid_of(sup.spawn(sh("seq 1 20000; seq 1 5000 >&2"), c.sink())), 0);
  ASSERT_TRUE(c.wait_exit());
  auto out = c.lines(output_stream::out);
  ASSERT_EQ(out.size(), 20000u);
  EXPECT_EQ(out.front(), "1");
  EXPECT_EQ(out.back(), "20000");
  EXPECT_EQ(c.line_count(output_stream::err), 5000u);
  EXPECT_TRUE(std::holds_alternative<exit_event>(c.snapshot().back()));
}

TEST(ProcessSupervisor, LongLineIsTruncated) {
  process_supervisor sup;
  collector c;
  ASSERT_GT(pid_of(sup.spawn(python("print('x' * 40000); print('next')"), c.sink())), 0);
  ASSERT_TRUE(c.wait_exit());
  std::vector<output_event> out;
  for (auto& e : c.snapshot())
    if (auto* o = std::get_if<output_event>(&e))
      out.push_back(*o);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].line, std::string(max_line_bytes, 'x'));
  EXPECT_TRUE(out[0].truncated);
  EXPECT_EQ(out[1].line, "next");
  EXPECT_FALSE(out[1].truncated);
  auto age = std::chrono::system_clock::now() - out[1].time;
  EXPECT_LT(age, std::chrono::minutes(1));
  EXPECT_GE(age, std::chrono::seconds(0));
}

TEST(ProcessSupervisor, MissingProgramIsAnError) {
  process_supervisor sup;
  collector c;
  spawn_spec s;
  s.argv = {"/nonexistent/program"};
  auto r = sup.spawn(s, c.sink());
  ASSERT_TRUE(std::holds_alternative<spawn_error>(r));
  EXPECT_NE(std::get<spawn_error>(r).message.find("No such file or directory"), std::string::npos)
      << std::get<spawn_error>(r).message;
  EXPECT_NE(std::get<spawn_error>(r).message.find("/nonexistent/program"), std::string::npos);

  s.argv = {"ika-no-such-program"};
  s.env = base_env;
  r = sup.spawn(s, c.sink());
  ASSERT_TRUE(std::holds_alternative<spawn_error>(r));
  EXPECT_NE(std::get<spawn_error>(r).message.find("ika-no-such-program"), std::string::npos);

  s.argv = {"/bin/true"};
  s.cwd = "/nonexistent/dir";
  r = sup.spawn(s, c.sink());
  ASSERT_TRUE(std::holds_alternative<spawn_error>(r));
  EXPECT_NE(std::get<spawn_error>(r).message.find("chdir to /nonexistent/dir: No such file"),
            std::string::npos)
      << std::get<spawn_error>(r).message;

  s.argv = {};
  EXPECT_TRUE(std::holds_alternative<spawn_error>(sup.spawn(s, c.sink())));
  EXPECT_EQ(sup.live_children(), 0u);
  EXPECT_TRUE(c.snapshot().empty()) << "a failed spawn delivers no event";
}

TEST(ProcessSupervisor, NonExecutableFileIsAnError) {
  temp_dir dir{"ika-process"};
  { std::ofstream(dir / "data.txt") << "not a program\n"; }
  process_supervisor sup;
  spawn_spec s;
  s.argv = {dir / "data.txt"};
  auto r = sup.spawn(s, nullptr);
  ASSERT_TRUE(std::holds_alternative<spawn_error>(r));
  EXPECT_NE(std::get<spawn_error>(r).message.find("Permission denied"), std::string::npos)
      << std::get<spawn_error>(r).message;
}

TEST(ProcessSupervisor, TerminateKillsTheGroupWithAGrandchild) {
  process_supervisor sup;
  collector c;
  auto pid = pid_of(sup.spawn(sh("sleep 1000 & echo $!; wait"), c.sink()));
  ASSERT_GT(pid, 0);
  auto grandchild = first_line_pid(c);
  ASSERT_GT(grandchild, 0);
  pid_guard guard(grandchild);
  EXPECT_EQ(process_group_of(grandchild), pid);
  EXPECT_FALSE(pid_gone(grandchild));
  EXPECT_TRUE(sup.terminate(pid));
  auto exit = c.wait_exit();
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->signal, SIGTERM);
  EXPECT_TRUE(eventually([&] { return pid_gone(grandchild); }));
}

TEST(ProcessSupervisor, LeaderExitKillsTheRestOfItsGroup) {
  process_supervisor sup;
  collector c;
  ASSERT_GT(pid_of(sup.spawn(sh("sleep 1000 & echo $!"), c.sink())), 0);
  auto exit = c.wait_exit();
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->exit_code, 0);
  auto grandchild = first_line_pid(c);
  ASSERT_GT(grandchild, 0);
  pid_guard guard(grandchild);
  EXPECT_TRUE(eventually([&] { return pid_gone(grandchild); }));
}

TEST(ProcessSupervisor, ExitIsNotDelayedByADescendantHoldingThePipe) {
  process_supervisor sup;
  collector c;
  // setsid: the descendant leaves the group, survives the group kill and
  // keeps stdout open; exit must still come, after the drain bound.
  auto pid = pid_of(sup.spawn(python("import os, time\n"
                                     "if os.fork() == 0:\n"
                                     "    os.setsid(); print(os.getpid(), flush=True); time.sleep(1000)\n"
                                     "else:\n"
                                     "    time.sleep(0.2)\n"),
                              c.sink()));
  ASSERT_GT(pid, 0);
  auto escaped = first_line_pid(c);
  ASSERT_GT(escaped, 0);
  pid_guard guard(escaped);
  auto exit = c.wait_exit(5s);
  ::kill(escaped, SIGKILL);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->exit_code, 0);
  EXPECT_TRUE(eventually([&] { return pid_gone(escaped); }));
}

TEST(ProcessSupervisor, KillEndsAChildThatIgnoresTerm) {
  process_supervisor sup;
  collector c;
  auto pid = pid_of(sup.spawn(python("import signal, time\n"
                                     "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                     "print('armed', flush=True)\n"
                                     "time.sleep(1000)\n"),
                              c.sink()));
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(eventually([&] { return c.line_count(output_stream::out) == 1; }));
  EXPECT_TRUE(sup.terminate(pid));
  EXPECT_FALSE(eventually([&] { return c.has_exit(); }, 300ms)) << "SIGTERM was ignored";
  EXPECT_TRUE(sup.kill(pid));
  auto exit = c.wait_exit();
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->signal, SIGKILL);
}

TEST(ProcessSupervisor, StopTermsThenKillsAfterTheGrace) {
  process_supervisor sup;
  collector stubborn;
  collector polite;
  auto ignoring = pid_of(sup.spawn(python("import signal, time\n"
                                          "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                          "print('armed', flush=True)\n"
                                          "time.sleep(1000)\n"),
                                   stubborn.sink()));
  auto exiting = pid_of(sup.spawn(python("import signal, sys, time\n"
                                         "signal.signal(signal.SIGTERM, lambda *a: sys.exit(3))\n"
                                         "print('armed', flush=True)\n"
                                         "time.sleep(1000)\n"),
                                  polite.sink()));
  ASSERT_GT(ignoring, 0);
  ASSERT_GT(exiting, 0);
  ASSERT_TRUE(eventually([&] { return stubborn.line_count(output_stream::out) == 1; }));
  ASSERT_TRUE(eventually([&] { return polite.line_count(output_stream::out) == 1; }));
  auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(sup.stop(ignoring, 300ms));
  EXPECT_TRUE(sup.stop(exiting, 10s));
  auto polite_exit = polite.wait_exit();
  ASSERT_TRUE(polite_exit);
  EXPECT_EQ(polite_exit->exit_code, 3) << "the handler ran: no SIGKILL";
  auto stubborn_exit = stubborn.wait_exit();
  ASSERT_TRUE(stubborn_exit);
  EXPECT_EQ(stubborn_exit->signal, SIGKILL);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms) << "not killed before the grace";
  EXPECT_FALSE(sup.stop(ignoring, 1s)) << "gone";
}

TEST(ProcessSupervisor, DestructionKillsSurvivorsAndGrandchildren) {
  temp_dir registry{"ika-process"};
  collector c;
  pid_t pid = -1;
  pid_t grandchild = -1;
  {
    process_supervisor sup(registry.path());
    pid = pid_of(sup.spawn(sh("sleep 1000 & echo $!; trap '' TERM; wait"), c.sink()));
    ASSERT_GT(pid, 0);
    grandchild = first_line_pid(c);
    ASSERT_GT(grandchild, 0);
    EXPECT_TRUE(std::filesystem::exists(registry / std::to_string(pid)));
  }
  // The leader was reaped by the destructor: its pid is gone at once.
  pid_guard guard(grandchild);
  EXPECT_TRUE(pid_gone(pid));
  EXPECT_TRUE(eventually([&] { return pid_gone(grandchild); }));
  EXPECT_FALSE(std::filesystem::exists(registry / std::to_string(pid)));
  EXPECT_FALSE(c.has_exit()) << "no events once destruction started";
}

TEST(ProcessSupervisor, RegistryFileLivesWhileTheChildLives) {
  temp_dir registry{"ika-process"};
  auto dir = registry / "run/instances"; // created by the supervisor
  process_supervisor sup(dir);
  collector c;
  auto pid = pid_of(sup.spawn(python("import sys; print('up', flush=True); sys.stdin.read(); "
                                     "import time; time.sleep(1000)"),
                              c.sink()));
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(eventually([&] { return c.line_count(output_stream::out) == 1; }));
  std::ifstream in(dir + "/" + std::to_string(pid));
  pid_t pgid = 0;
  std::uint64_t start = 0;
  in >> pgid >> start;
  EXPECT_EQ(pgid, pid);
  EXPECT_EQ(process_start_time(pid), start);
  EXPECT_TRUE(sup.kill(pid));
  ASSERT_TRUE(c.wait_exit());
  EXPECT_FALSE(std::filesystem::exists(dir + "/" + std::to_string(pid)));
}

TEST(ProcessSupervisor, ChildDiesWithTheSupervisorProcess) {
  // A helper process (a stand-in for the node) runs a supervisor and spawns
  // a child; the helper is then SIGKILLed: PDEATHSIG must take the child.
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  pid_t helper = ::fork();
  ASSERT_GE(helper, 0);
  if (helper == 0) {
    ::close(report[0]);
    process_supervisor sup;
    spawn_spec s;
    s.argv = {"/bin/sleep", "1000"};
    auto r = sup.spawn(s, nullptr);
    pid_t child = std::holds_alternative<pid_t>(r) ? std::get<pid_t>(r) : -1;
    [[maybe_unused]] auto n = ::write(report[1], &child, sizeof child);
    for (;;)
      ::pause();
  }
  ::close(report[1]);
  pid_guard helper_guard(helper);
  pid_t child = -1;
  auto n = ::read(report[0], &child, sizeof child);
  ::close(report[0]);
  ASSERT_EQ(n, static_cast<ssize_t>(sizeof child));
  ASSERT_GT(child, 0);
  pid_guard guard(child);
  EXPECT_FALSE(pid_gone(child));
  ::kill(helper, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(helper, &status, 0), helper);
  EXPECT_TRUE(eventually([&] { return pid_gone(child); }));
}

TEST(ProcessSupervisor, SpawnAsyncAndSpawnFromASink) {
  process_supervisor sup;
  collector second;
  std::mutex mu;
  std::vector<spawn_result> results;
  auto record = [&](spawn_result r) {
    std::lock_guard<std::mutex> lock(mu);
    results.push_back(std::move(r));
  };
  // The first child's exit spawns a second one from the supervisor thread.
  event_sink first_sink = [&](process_event ev) {
    if (std::holds_alternative<exit_event>(ev))
      sup.spawn_async(sh("echo second"), second.sink(), record);
  };
  sup.spawn_async(sh("exit 0"), first_sink, record);
  ASSERT_TRUE(second.wait_exit());
  EXPECT_EQ(second.lines(output_stream::out), std::vector<std::string>{"second"});
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<pid_t>(results[0]));
  EXPECT_TRUE(std::holds_alternative<pid_t>(results[1]));
}

TEST(ProcessSupervisor, EventsPrintThroughCafInspect) {
  output_event ev{42, output_stream::err, "hello", true, {}};
  auto text = caf::deep_to_string(ev);
  EXPECT_NE(text.find("hello"), std::string::npos) << text;
  EXPECT_NE(caf::deep_to_string(exit_event{42, -1, 9}).find("42"), std::string::npos);
}

// --- line_splitter ---------------------------------------------------------

std::vector<std::pair<std::string, bool>> split(std::vector<std::string> chunks, std::size_t max) {
  line_splitter s(max);
  std::vector<std::pair<std::string, bool>> out;
  auto emit = [&](std::string line, bool truncated) { out.emplace_back(std::move(line), truncated); };
  for (auto& c : chunks)
    s.feed(c, emit);
  s.flush(emit);
  return out;
}

TEST(ProcessLineSplitter, SplitsAcrossChunks) {
  using v = std::vector<std::pair<std::string, bool>>;
  EXPECT_EQ(split({"ab", "c\nd", "e\r\n", "\n", "tail"}, 8),
            (v{{"abc", false}, {"de", false}, {"", false}, {"tail", false}}));
}

TEST(ProcessLineSplitter, TruncatesAtTheLimitOnly) {
  using v = std::vector<std::pair<std::string, bool>>;
  EXPECT_EQ(split({"abcd\n"}, 4), (v{{"abcd", false}}));
  EXPECT_EQ(split({"abcde\nxy\n"}, 4), (v{{"abcd", true}, {"xy", false}}));
  EXPECT_EQ(split({"ab", "cd", "ef", "gh\nok"}, 4), (v{{"abcd", true}, {"ok", false}}));
  EXPECT_EQ(split({"abcdefgh"}, 4), (v{{"abcd", true}})) << "no second piece of a cut line";
}

} // namespace
