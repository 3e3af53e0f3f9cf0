#pragma once
// Runs app instances as supervised native processes (one supervisor per node).
//
// The supervisor owns one thread. That thread forks every child (so the
// children's PR_SET_PDEATHSIG(SIGKILL), which fires when the *forking thread*
// dies, fires exactly when the node dies) and watches them with epoll over
// pidfds and their pipes. Every child:
// - runs in its own process group (pgid = pid), in `spawn_spec::cwd`, with
//   exactly `spawn_spec::env`, default signal mask and dispositions;
// - has stdin from /dev/null, stdout and stderr to pipes read line by line,
//   optionally the write end of a "ready pipe" at fd `spawn_spec::ready_fd`,
//   and no other file descriptor;
// - is recorded in the orphan registry (see orphan_registry.hpp) while alive,
//   when the supervisor has a registry directory.
//
// Use from an actor: `spawn_async(spec, sink, done)` with a sink and a
// `done` that only `caf::anon_send` to the actor (the events have inspect()
// overloads); `terminate`/`kill` from the actor's handlers; the actor never
// blocks. `spawn` (blocking for the fork and exec) suits tests and startup.
//
// Events go to the child's sink, called on the supervisor thread (the sink
// must not block and must not throw; e.g. it `caf::anon_send`s to an actor):
// `ready_event`/`ready_invalid_event` for the first line of the ready pipe,
// `output_event` per line, and last `exit_event`, after every line of the
// child was delivered. When the child (the group leader) exits, the rest of
// its process group is killed (SIGKILL): an instance is its whole group.
// The pipes are then drained for at most `drain_timeout`, so a descendant
// that left the group and keeps a pipe open cannot delay `exit_event`.

#include <caf/meta/type_name.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace ika::process {

/// What to run.
struct spawn_spec {
  /// argv[0] is the program: a path (relative to `cwd` if it has no leading
  /// '/') when it contains a '/', otherwise looked up in the PATH of `env`
  /// (or "/usr/local/bin:/usr/bin:/bin" when `env` has no PATH).
  std::vector<std::string> argv;
  /// Exactly the child's environment, "NAME=value" entries.
  std::vector<std::string> env;
  /// The child's working directory (must exist); empty: the node's.
  std::string cwd;
  /// The fd number (>= 3) at which the child finds the write end of its ready
  /// pipe (the caller exports it, e.g. IKA_READY_FD=3); -1: no ready pipe.
  int ready_fd = -1;
};

enum class output_stream : std::uint8_t { out, err };

/// "stdout" or "stderr".
const char* to_string(output_stream s) noexcept;

/// The child wrote a valid first line `READY <port>` (1..65535) to its ready fd.
struct ready_event {
  pid_t pid = 0;
  std::uint16_t port = 0;
};

/// The first line on the ready fd was not `READY <port>` (`text` is that
/// line, at most 256 bytes). Later lines are ignored.
struct ready_invalid_event {
  pid_t pid = 0;
  std::string text;
};

/// One line of stdout or stderr, without its "\n" (and without a "\r" before
/// it). A line longer than `max_line_bytes` is cut there and `truncated`; the
/// rest of it is dropped. A last line without "\n" is delivered at EOF.
struct output_event {
  pid_t pid = 0;
  output_stream stream = output_stream::out;
  std::string line;
  bool truncated = false;
  std::chrono::system_clock::time_point time; ///< when it was read
};

/// The child exited; no event for `pid` follows.
struct exit_event {
  pid_t pid = 0;
  int exit_code = -1; ///< 0..255 after a normal exit, -1 when killed by a signal
  int signal = 0;     ///< the signal that killed it, 0 after a normal exit
};

/// Everything a sink receives.
using process_event = std::variant<ready_event, ready_invalid_event, output_event, exit_event>;

/// Receives a child's events on the supervisor thread; must not block.
using event_sink = std::function<void(process_event)>;

/// Why a spawn failed, e.g. "exec /usr/bin/nope: No such file or directory".
struct spawn_error {
  std::string message;
};

/// The child's pid (= its process group id) or why it did not start.
using spawn_result = std::variant<pid_t, spawn_error>;

/// Longest line delivered in one `output_event`.
inline constexpr std::size_t max_line_bytes = std::size_t{16} * 1024;

/// How long the pipes of an exited child are still read.
inline constexpr std::chrono::milliseconds drain_timeout{100};

class process_supervisor {
public:
  /// Starts the supervisor thread. With a non-empty `registry_dir` (created
  /// if missing), every live child has a file there (see orphan_registry.hpp);
  /// call `reap_orphans(registry_dir)` before, at node start.
  explicit process_supervisor(std::string registry_dir = {});

  /// SIGKILLs every child's process group that is still alive, reaps the
  /// children, removes their registry files and joins the thread. No event
  /// is delivered once destruction started. Not from a sink.
  ~process_supervisor();

  process_supervisor(const process_supervisor&) = delete;
  process_supervisor& operator=(const process_supervisor&) = delete;

  /// Starts a child and returns its pid once it has exec'd (or why not: bad
  /// spec, program not found, chdir or exec failed). Blocks the caller for
  /// the fork and exec (about a millisecond); `spawn_async` does not. Events
  /// go to `sink` from then on. Thread-safe; may be called from a sink.
  spawn_result spawn(spawn_spec spec, event_sink sink);

  /// As `spawn`, without waiting: `done` receives the result on the
  /// supervisor thread (before any event of the child). Thread-safe.
  void spawn_async(spawn_spec spec, event_sink sink, std::function<void(spawn_result)> done);

  /// Sends `sig` to the process group of child `pid` (kill(-pid, sig)).
  /// False (and nothing sent) when `pid` is not a child of this supervisor
  /// that has not been reaped yet, so a recycled pid is never signalled.
  /// Thread-safe, does not block.
  bool signal_group(pid_t pid, int sig);

  /// signal_group(pid, SIGTERM).
  bool terminate(pid_t pid) { return signal_group(pid, 15); }

  /// signal_group(pid, SIGKILL).
  bool kill(pid_t pid) { return signal_group(pid, 9); }

  /// Stops child `pid`: SIGTERM to its group now, SIGKILL to the group if
  /// the child has not exited `grace` later (its `exit_event` tells which).
  /// False when `pid` is not a live child (as `signal_group`). Thread-safe,
  /// does not block.
  bool stop(pid_t pid, std::chrono::milliseconds grace);

  /// How many children have not been reaped yet. Thread-safe.
  std::size_t live_children() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ready_event& x) {
  return f(caf::meta::type_name("ready_event"), x.pid, x.port);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ready_invalid_event& x) {
  return f(caf::meta::type_name("ready_invalid_event"), x.pid, x.text);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, output_event& x) {
  return f(caf::meta::type_name("output_event"), x.pid, x.stream, x.line, x.truncated, x.time);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, exit_event& x) {
  return f(caf::meta::type_name("exit_event"), x.pid, x.exit_code, x.signal);
}

} // namespace ika::process
