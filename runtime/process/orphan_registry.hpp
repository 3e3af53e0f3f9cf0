#pragma once
// The orphan guard: a node killed with `kill -9` takes its children with it
// (PR_SET_PDEATHSIG), but not their descendants (e.g. the python3 that
// `sh -c 'python3 app.py &'` started). So each live child has a small file in
// a registry directory (e.g. `<data>/run/instances/`), named after its pid and
// holding its process group id and its start time (/proc/<pid>/stat field 22,
// clock ticks since boot), written at spawn and removed when it is reaped.
// At the next start `reap_orphans` kills what is left of every recorded group.
//
// A recorded group is killed (SIGKILL to the whole group) when
// - its leader still runs: /proc/<pgid> exists with the recorded start time, or
// - its leader is gone and processes with that process group id remain, all
//   started no earlier than the leader (Linux does not reuse a pid while it
//   is still some group's id, so they are the leader's group).
// When /proc/<pgid> is a process with another start time, the pid was
// recycled after the whole group was gone: nothing is killed.
// Descendants that left the group (setsid/setpgid) are not found.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ika::process {

/// The start time of process `pid` (field 22 of /proc/<pid>/stat), if it exists.
std::optional<std::uint64_t> process_start_time(pid_t pid);

/// The process group id of process `pid` (field 5 of /proc/<pid>/stat).
std::optional<pid_t> process_group_of(pid_t pid);

/// Records child `pid`, leader of group `pid`, started at `start_time`, as
/// `<dir>/<pid>` (written to a temporary file, then renamed). Returns an
/// error message naming the file, or an empty string.
std::string record_child(const std::string& dir, pid_t pid, std::uint64_t start_time);

/// Removes `<dir>/<pid>` (no error if it is missing).
void forget_child(const std::string& dir, pid_t pid);

/// What `reap_orphans` found.
struct reap_report {
  std::vector<pid_t> killed_groups; ///< process group ids that got SIGKILL
  std::size_t cleared = 0;          ///< registry files removed (killed or not)
  std::vector<std::string> errors;  ///< unreadable or malformed files, I/O errors
};

/// For every file in `dir` (missing dir: nothing to do): kills the recorded
/// group if it is still ours (see above), then removes the file. Waits up to
/// `wait_ms` for the killed processes to be gone (or zombies), so their ports
/// are free when instances are started again. Call at node start, before a
/// process_supervisor uses `dir`; it blocks.
reap_report reap_orphans(const std::string& dir, int wait_ms = 2000);

} // namespace ika::process
