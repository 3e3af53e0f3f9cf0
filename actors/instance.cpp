#include "actors/instance.hpp"

#include "runtime/net/endpoint.hpp"

#include <caf/event_based_actor.hpp>

#include <openssl/rand.h>

#include <algorithm>
#include <csignal>

namespace ika::actors {

using namespace protocol;
using namespace std::chrono;

namespace {

enum timer_kind : std::uint32_t {
  start_deadline = 0,
  next_probe = 1,
  restart = 2,
  stop_deadline = 3,
};

/// How soon, and how often at first, a starting process is probed.
constexpr milliseconds first_start_probe{10};

/// A crash after this long healthy starts the backoff from the beginning.
constexpr auto stable_run = seconds{30};

std::int64_t unix_ms() {
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string random_token() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1)
    return "ika";
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

std::string describe_exit(std::int32_t code) {
  if (code < 0)
    return "killed by signal " + std::to_string(-code);
  return "exited with code " + std::to_string(code);
}

void arm(instance_pointer self, timer_kind kind, milliseconds delay) {
  auto gen = ++self->state.timers[kind];
  self->delayed_send(self, delay, timer_atom::value, static_cast<std::uint32_t>(kind), gen);
}

/// Tells the app the instance's state (`word` overrides the phase's word:
/// "ready" is a moment of the starting phase, not a phase of its own).
void notify(instance_pointer self, const char* word = nullptr) {
  auto& st = self->state;
  instance_event ev;
  ev.instance = st.config.id;
  ev.state = word != nullptr ? word : to_string(st.phase, st.failures_in_row >= 3);
  ev.pid = st.pid;
  ev.port = st.port;
  ev.detail = st.detail;
  ev.restarts = st.restarts;
  ev.since_ms = st.pid != 0 ? st.since_ms : 0;
  self->send(st.config.app_handle, instance_atom::value, std::move(ev));
}

void enter(instance_pointer self, instance_phase phase, std::string detail = {}) {
  auto& st = self->state;
  st.phase = phase;
  st.detail = std::move(detail);
  notify(self);
}

void launch(instance_pointer self);

void finish_stop(instance_pointer self) {
  auto& st = self->state;
  st.pid = 0;
  enter(self, instance_phase::stopped);
  for (auto& p : st.stop_promises)
    p.deliver(ok_atom::value);
  st.stop_promises.clear();
  self->quit();
}

void fail_start(instance_pointer self, std::string why) {
  auto& st = self->state;
  st.pid = 0;
  if (!st.ever_healthy && !st.config.retry) {
    enter(self, instance_phase::failed, std::move(why));
    return;
  }
  if (st.ever_healthy && steady_clock::now() - st.healthy_since >= stable_run)
    st.failures_in_row = 0;
  ++st.failures_in_row;
  auto delay = restart_delay(st.failures_in_row);
  arm(self, restart, delay);
  enter(self, instance_phase::backoff, why + "; restarting in " + std::to_string(delay.count()) + " ms");
}

void probe(instance_pointer self) {
  auto& st = self->state;
  if (st.probing || st.pid == 0 || st.port == 0)
    return;
  const auto& m = st.config.release.manifest;
  health::probe_spec spec;
  spec.endpoint = asio::ip::tcp::endpoint{asio::ip::address_v4::loopback(), st.port};
  spec.path = m.health.path;
  spec.host = m.name + ".ika.internal";
  spec.token = st.token;
  spec.timeout = milliseconds{m.health.timeout_ms};
  if (st.phase == instance_phase::starting && spec.timeout > seconds{1})
    spec.timeout = seconds{1};
  st.probing = true;
  auto handle = caf::actor_cast<instance_actor>(self);
  auto pid = st.pid;
  st.config.runtime->prober->probe(std::move(spec), [handle, pid](health::probe_result r) {
    caf::anon_send(handle, probe_atom::value, pid, r.ok, std::move(r.detail));
  });
}

void launch(instance_pointer self) {
  auto& st = self->state;
  auto& rt = *st.config.runtime;
  st.port = rt.pick_port();
  st.passes = st.fails = 0;
  st.probing = false;
  st.start_timed_out = false;
  st.start_probe_delay = first_start_probe;
  if (st.port == 0) {
    fail_start(self, "no free port");
    return;
  }
  launch_spec spec;
  spec.argv = st.config.release.manifest.command;
  spec.env = instance_environment(st.config, st.port, spec.ready_fd);
  spec.cwd = st.config.release.dir;
  st.launching = true;
  st.announced_ready = false;
  st.pid = 0;
  st.phase = instance_phase::starting;
  rt.spawn(spec, caf::actor_cast<instance_actor>(self), st.config.app_handle, st.config.id);
}

void on_spawned(instance_pointer self, std::int32_t pid, const std::string& error) {
  auto& st = self->state;
  st.launching = false;
  if (st.phase == instance_phase::stopping) {
    // Stopped while it was being started.
    if (pid == 0) {
      finish_stop(self);
      return;
    }
    st.pid = pid;
    st.config.runtime->signal_group(pid, SIGTERM);
    arm(self, stop_deadline, milliseconds{st.config.release.manifest.stop_timeout_ms});
    return;
  }
  if (pid == 0) {
    fail_start(self, "cannot start: " + error);
    return;
  }
  st.pid = pid;
  st.since_ms = unix_ms();
  st.token = random_token();
  arm(self, start_deadline, milliseconds{st.config.release.manifest.start_timeout_ms});
  arm(self, next_probe, st.start_probe_delay);
  enter(self, instance_phase::starting);
}

void on_probe(instance_pointer self, bool ok, const std::string& detail) {
  auto& st = self->state;
  const auto& h = st.config.release.manifest.health;
  auto interval = milliseconds{h.interval_ms};
  switch (st.phase) {
    case instance_phase::starting:
      if (ok) {
        st.detail.clear(); // the probes that failed while it started are not news now
        if (!st.announced_ready)
          notify(self, "ready");
        st.ever_healthy = true;
        st.healthy_since = steady_clock::now();
        ++st.timers[start_deadline]; // disarm
        arm(self, next_probe, interval);
        enter(self, instance_phase::healthy);
      } else {
        st.detail = detail;
        // Every 10 ms for the first seconds (a refused connect costs next
        // to nothing, and an on-demand app's first request waits for this
        // probe), then backing off.
        if (unix_ms() - st.since_ms >= 2'000)
          st.start_probe_delay = std::min(st.start_probe_delay * 2, milliseconds{500});
        arm(self, next_probe, st.start_probe_delay);
      }
      return;
    case instance_phase::healthy:
      if (ok) {
        st.fails = 0;
      } else if (++st.fails >= h.unhealthy_threshold) {
        st.passes = 0;
        enter(self, instance_phase::unhealthy, "health check: " + detail);
      }
      arm(self, next_probe, interval);
      return;
    case instance_phase::unhealthy:
      if (!ok) {
        st.passes = 0;
        st.detail = "health check: " + detail;
      } else if (++st.passes >= h.healthy_threshold) {
        st.fails = 0;
        st.healthy_since = steady_clock::now();
        enter(self, instance_phase::healthy);
      }
      arm(self, next_probe, interval);
      return;
    default:
      return;
  }
}

} // namespace

const char* to_string(instance_phase phase, bool crash_loop) {
  switch (phase) {
    case instance_phase::starting:
      return "starting";
    case instance_phase::healthy:
      return "healthy";
    case instance_phase::unhealthy:
      return "unhealthy";
    case instance_phase::backoff:
      return crash_loop ? "crash-loop" : "backoff";
    case instance_phase::stopping:
      return "stopping";
    case instance_phase::stopped:
      return "stopped";
    case instance_phase::failed:
      return "failed";
  }
  return "unknown";
}

milliseconds restart_delay(std::uint32_t failures) {
  if (failures == 0)
    failures = 1;
  auto shift = std::min<std::uint32_t>(failures - 1, 6); // 500 ms << 6 = 32 s
  return std::min(milliseconds{500} * (1u << shift), milliseconds{30'000});
}

std::vector<std::string> instance_environment(const instance_config& config, std::uint16_t port,
                                              int ready_fd) {
  const auto& m = config.release.manifest;
  std::vector<std::string> env;
  const auto& rt = *config.runtime;
  // Secrets override [env]: a name set by both is the secret's.
  auto secrets = rt.secret_env ? rt.secret_env(config.app) : std::vector<std::string>{};
  auto is_secret = [&](const std::string& name) {
    return std::any_of(secrets.begin(), secrets.end(), [&](const std::string& e) {
      return e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=';
    });
  };
  if (!m.env.count("PATH") && !is_secret("PATH"))
    env.push_back("PATH=" + rt.path);
  if (!m.env.count("HOME") && !is_secret("HOME"))
    env.push_back("HOME=" + rt.home);
  for (const auto& [k, v] : m.env)
    if (!is_secret(k))
      env.push_back(k + "=" + v);
  for (auto& e : secrets)
    env.push_back(std::move(e));
  env.push_back("PORT=" + std::to_string(port));
  env.push_back("HOST=127.0.0.1");
  env.push_back("IKA_APP=" + config.app);
  env.push_back("IKA_INSTANCE=" + config.id);
  env.push_back("IKA_READY_FD=" + std::to_string(ready_fd));
  return env;
}

instance_status instance_state::status() const {
  instance_status s;
  s.id = config.id;
  s.pid = pid;
  s.port = port;
  s.state = to_string(phase, failures_in_row >= 3);
  s.since_ms = pid != 0 ? since_ms : 0;
  s.restarts = restarts;
  s.release = config.release.version;
  s.detail = detail;
  return s;
}

instance_actor::behavior_type instance(instance_pointer self, instance_config config) {
  self->state.config = std::move(config);
  launch(self);
  return {
      [self](spawned_atom, std::int32_t pid, const std::string& error) { on_spawned(self, pid, error); },
      [self](ready_atom, std::int32_t pid, std::uint16_t port) {
        auto& st = self->state;
        if (pid != st.pid || st.phase != instance_phase::starting)
          return;
        // The app said where it listens: check it there at once.
        st.port = port;
        st.announced_ready = true;
        st.detail.clear();
        notify(self, "ready");
        probe(self);
      },
      [self](exited_atom, std::int32_t pid, std::int32_t code) {
        auto& st = self->state;
        if (pid != st.pid)
          return;
        if (st.phase == instance_phase::stopping) {
          finish_stop(self);
          return;
        }
        auto why = describe_exit(code);
        // Killed for taking too long: say that, not "killed by signal 9"
        // (a probe failing meanwhile must not hide it either).
        if (st.phase == instance_phase::starting && st.start_timed_out)
          why = "not ready within " +
                std::to_string(st.config.release.manifest.start_timeout_ms / 1000.0).substr(0, 4) +
                " s (killed)";
        fail_start(self, why);
      },
      [self](probe_atom, std::int32_t pid, bool ok, const std::string& detail) {
        auto& st = self->state;
        if (pid != st.pid)
          return;
        st.probing = false;
        on_probe(self, ok, detail);
      },
      [self](check_atom) { probe(self); },
      [self](timer_atom, std::uint32_t kind, std::uint64_t gen) {
        auto& st = self->state;
        if (kind >= st.timers.size() || st.timers[kind] != gen)
          return;
        switch (kind) {
          case start_deadline:
            if (st.phase == instance_phase::starting && st.pid != 0) {
              st.start_timed_out = true;
              st.config.runtime->signal_group(st.pid, SIGKILL);
            }
            break;
          case next_probe:
            probe(self);
            break;
          case restart:
            if (st.phase == instance_phase::backoff) {
              ++st.restarts;
              launch(self);
            }
            break;
          case stop_deadline:
            if (st.phase == instance_phase::stopping && st.pid != 0)
              st.config.runtime->signal_group(st.pid, SIGKILL);
            break;
        }
      },
      [self](stop_atom) -> caf::result<ok_atom> {
        auto& st = self->state;
        auto promise = self->make_response_promise<ok_atom>();
        st.stop_promises.push_back(promise);
        if (st.phase == instance_phase::stopping)
          return promise;
        if (st.launching) {
          st.phase = instance_phase::stopping; // on_spawned finishes it
          return promise;
        }
        if (st.pid == 0) {
          finish_stop(self);
          return promise;
        }
        st.config.runtime->signal_group(st.pid, SIGTERM);
        arm(self, stop_deadline, milliseconds{st.config.release.manifest.stop_timeout_ms});
        enter(self, instance_phase::stopping);
        return promise;
      },
      [self](status_atom) { return self->state.status(); },
  };
}

} // namespace ika::actors
