#pragma once
// The `instance` actor: one per instance of an app, for the instance's
// whole life (its process may be restarted; the id stays).
//
// States (the words `ika status` shows):
//
//   starting --(ready line or first probe passes)--> healthy
//   healthy  --(unhealthy_threshold failed probes)--> unhealthy
//   unhealthy --(healthy_threshold passed probes)--> healthy
//   any running state --(process exits)--> backoff (restart later) | failed
//   starting --(start_timeout)--> killed, then as an exit
//   backoff --(timer)--> starting;  three quick crashes in a row: crash-loop
//   stop: stopping --(exit, or SIGKILL after stop_timeout)--> stopped, quit
//
// An instance that never became healthy fails for good (`failed`) unless it
// was told to keep retrying (`retry`): a deploy wants to know, while an app
// brought back after a node restart keeps trying with backoff.
//
// The process and the probes run elsewhere (the supervisor's thread and the
// control io thread); their results come back as messages tagged with the
// pid, so news about an earlier process of this instance is ignored.

#include "protocol/interfaces.hpp"
#include "runtime/health/prober.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace ika::actors {

/// How to start one process of an instance.
struct launch_spec {
  std::vector<std::string> argv;
  std::vector<std::string> env; ///< complete: "NAME=value"
  std::string cwd;
  int ready_fd = 3;
};

/// What instances need from the node; injectable, so tests can run them
/// without the real supervisor.
struct instance_runtime {
  /// Starts a process without blocking: `self` then receives (spawned_atom,
  /// pid, error), then (ready_atom ...) and (exited_atom ...); the output
  /// goes to `app` as (output_atom, log_line).
  std::function<void(const launch_spec&, protocol::instance_actor self, protocol::app_actor app,
                     const std::string& instance)>
      spawn;
  /// Sends a signal to the process group of `pid`.
  std::function<void(std::int32_t pid, int signal)> signal_group;
  /// Runs health probes (shared; thread-safe).
  std::shared_ptr<health::prober> prober;
  /// Picks a free loopback port for PORT; 0 if none.
  std::function<std::uint16_t()> pick_port;
  /// The app's secrets as "NAME=value", decrypted when a process starts
  /// (may be empty: no secrets). They override the manifest's [env].
  std::function<std::vector<std::string>(const std::string& app)> secret_env;
  /// PATH and HOME given to instances unless the app's env sets them.
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  std::string home = "/";
};

/// Everything an instance is started with.
struct instance_config {
  std::string id;  ///< unique on the node, e.g. "hello-production-3"
  std::string app; ///< "name/environment"
  protocol::release_spec release;
  protocol::app_actor app_handle;
  bool retry = false; ///< keep restarting when it never became healthy
  std::shared_ptr<instance_runtime> runtime;
};

enum class instance_phase : std::uint8_t {
  starting,
  healthy,
  unhealthy,
  backoff,
  stopping,
  stopped,
  failed,
};

/// The word for a phase; `crash_loop` shows "crash-loop" for backoff.
const char* to_string(instance_phase phase, bool crash_loop = false);

/// The restart delay after `failures` failures in a row (1, 2, ...):
/// 500 ms doubling, at most 30 s.
std::chrono::milliseconds restart_delay(std::uint32_t failures);

/// Builds the environment of a process: PATH, HOME, the app's env and then
/// its secrets (each may replace PATH, HOME and what comes before), PORT, HOST, IKA_APP, IKA_INSTANCE,
/// IKA_READY_FD. Nothing from ika's own environment leaks in.
std::vector<std::string> instance_environment(const instance_config& config, std::uint16_t port,
                                              int ready_fd);

struct instance_state {
  static inline const char* name = "ika.instance";

  instance_config config;
  instance_phase phase = instance_phase::starting;
  std::int32_t pid = 0;
  std::uint16_t port = 0;
  std::int64_t since_ms = 0;
  std::uint32_t restarts = 0;
  std::uint32_t failures_in_row = 0; ///< crashes since it was last healthy for a while
  bool ever_healthy = false;
  std::chrono::steady_clock::time_point healthy_since{};
  std::uint32_t passes = 0, fails = 0; ///< probes in a row
  bool probing = false;                ///< a probe is out
  bool launching = false;              ///< a spawn is under way
  bool announced_ready = false;        ///< the app wrote its ready line
  bool start_timed_out = false;        ///< killed for missing start_timeout
  std::chrono::milliseconds start_probe_delay{10};
  std::string token; ///< sent with health probes
  std::string detail;
  std::vector<caf::typed_response_promise<protocol::ok_atom>> stop_promises;
  std::array<std::uint64_t, 4> timers{}; ///< generation per timer kind

  protocol::instance_status status() const;
};

using instance_pointer = protocol::instance_actor::stateful_pointer<instance_state>;

protocol::instance_actor::behavior_type instance(instance_pointer self, instance_config config);

} // namespace ika::actors
