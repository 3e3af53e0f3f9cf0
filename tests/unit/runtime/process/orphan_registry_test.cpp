// Unit tests of runtime/process/orphan_registry: a node killed with kill -9
// leaves a grandchild behind; the next start's reap_orphans kills it. Real
// processes; every wait polls with a deadline.

#include "runtime/process/orphan_registry.hpp"

#include "runtime/process/process_supervisor.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/runtime/process/process_test_support.hpp"

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

/// Forks `sleep 1000` in its own process group (a child of the test).
pid_t fork_group_leader() {
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::execl("/bin/sleep", "sleep", "1000", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  if (pid > 0)
    ::setpgid(pid, pid); // both sides, so the group exists when fork returns
  return pid;
}

std::size_t files_in(const std::string& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir))
    ++n;
  return n;
}

TEST(OrphanRegistry, ReapKillsTheGrandchildOfAKilledNode) {
  temp_dir data{"ika-process"};
  auto dir = data / "run/instances";
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  // The "node": a supervisor whose child starts a grandchild, then kill -9.
  pid_t node = ::fork();
  ASSERT_GE(node, 0);
  if (node == 0) {
    ::close(report[0]);
    process_supervisor sup(dir);
    spawn_spec s;
    s.argv = {"/bin/sh", "-c", "sleep 1000 & echo $!; wait"};
    s.env = {"PATH=/usr/bin:/bin"};
    int fd = report[1];
    auto r = sup.spawn(s, [fd](process_event ev) {
      if (auto* o = std::get_if<output_event>(&ev)) {
        pid_t gc = static_cast<pid_t>(std::stol(o->line));
        pid_t ids[2] = {o->pid, gc};
        [[maybe_unused]] auto n = ::write(fd, ids, sizeof ids);
      }
    });
    if (!std::holds_alternative<pid_t>(r))
      ::_exit(1);
    for (;;)
      ::pause();
  }
  ::close(report[1]);
  pid_guard node_guard(node);
  pid_t ids[2] = {-1, -1};
  auto n = ::read(report[0], ids, sizeof ids);
  ::close(report[0]);
  ASSERT_EQ(n, static_cast<ssize_t>(sizeof ids));
  auto [leader, grandchild] = std::pair{ids[0], ids[1]};
  pid_guard leader_guard(leader);
  pid_guard grandchild_guard(grandchild);
  ASSERT_TRUE(std::filesystem::exists(dir + "/" + std::to_string(leader)));

  ::kill(node, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(node, &status, 0), node);
  // PDEATHSIG takes the leader; the grandchild survives, an orphan.
  ASSERT_TRUE(eventually([&] { return pid_gone(leader); }));
  EXPECT_FALSE(pid_gone(grandchild));
  EXPECT_EQ(process_group_of(grandchild), leader);

  // The next start.
  auto reaped = reap_orphans(dir);
  EXPECT_EQ(reaped.killed_groups, std::vector<pid_t>{leader});
  EXPECT_EQ(reaped.cleared, 1u);
  EXPECT_TRUE(reaped.errors.empty());
  EXPECT_TRUE(eventually([&] { return pid_gone(grandchild); }));
  EXPECT_EQ(files_in(dir), 0u);
}

TEST(OrphanRegistry, ReapKillsALiveRecordedLeader) {
  temp_dir dir{"ika-process"};
  pid_t pid = fork_group_leader();
  ASSERT_GT(pid, 0);
  pid_guard guard(pid);
  ASSERT_TRUE(eventually([&] { return process_start_time(pid).has_value(); }));
  EXPECT_EQ(record_child(dir.path(), pid, *process_start_time(pid)), "");
  auto reaped = reap_orphans(dir.path());
  EXPECT_EQ(reaped.killed_groups, std::vector<pid_t>{pid});
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  EXPECT_EQ(files_in(dir.path()), 0u);
}

TEST(OrphanRegistry, RecycledPidIsNotMistaken) {
  temp_dir dir{"ika-process"};
  pid_t pid = fork_group_leader();
  ASSERT_GT(pid, 0);
  pid_guard guard(pid);
  ASSERT_TRUE(eventually([&] { return process_start_time(pid).has_value(); }));
  // The file says another process (another start time) had this pid.
  EXPECT_EQ(record_child(dir.path(), pid, *process_start_time(pid) + 1), "");
  auto reaped = reap_orphans(dir.path());
  EXPECT_TRUE(reaped.killed_groups.empty());
  EXPECT_EQ(reaped.cleared, 1u);
  EXPECT_EQ(files_in(dir.path()), 0u);
  EXPECT_FALSE(pid_gone(pid)) << "the unrelated process lives";
  ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
}

TEST(OrphanRegistry, GoneGroupIsClearedWithoutKilling) {
  temp_dir dir{"ika-process"};
  pid_t pid = fork_group_leader();
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(eventually([&] { return process_start_time(pid).has_value(); }));
  auto start = *process_start_time(pid);
  ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_EQ(record_child(dir.path(), pid, start), "");
  auto reaped = reap_orphans(dir.path());
  EXPECT_TRUE(reaped.killed_groups.empty());
  EXPECT_EQ(reaped.cleared, 1u);
}

TEST(OrphanRegistry, MalformedFilesAreReportedAndRemoved) {
  temp_dir dir{"ika-process"};
  { std::ofstream(dir / "123") << "garbage\n"; }
  { std::ofstream(dir / "1") << "1 5\n"; } // never pid 1
  auto reaped = reap_orphans(dir.path());
  EXPECT_TRUE(reaped.killed_groups.empty());
  EXPECT_EQ(reaped.errors.size(), 2u);
  EXPECT_EQ(reaped.cleared, 2u);
  EXPECT_EQ(files_in(dir.path()), 0u);
}

TEST(OrphanRegistry, MissingDirectoryIsNothingToDo) {
  auto reaped = reap_orphans("/nonexistent/ika/run/instances");
  EXPECT_TRUE(reaped.killed_groups.empty());
  EXPECT_TRUE(reaped.errors.empty());
  EXPECT_EQ(reaped.cleared, 0u);
}

TEST(OrphanRegistry, RecordAndForget) {
  temp_dir dir{"ika-process"};
  EXPECT_EQ(record_child(dir.path(), 4242, 777), "");
  std::ifstream in(dir / "4242");
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "4242 777");
  forget_child(dir.path(), 4242);
  EXPECT_EQ(files_in(dir.path()), 0u);
  EXPECT_NE(record_child("/nonexistent/dir", 1, 1).find("/nonexistent/dir/1"), std::string::npos);
}

TEST(OrphanRegistry, StatOfThisProcess) {
  EXPECT_TRUE(process_start_time(::getpid()).has_value());
  EXPECT_EQ(process_group_of(::getpid()), ::getpgrp());
  EXPECT_FALSE(process_start_time(-5).has_value());
}

} // namespace
