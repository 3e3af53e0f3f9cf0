#include "actors/app.hpp"

#include "runtime/config/app_manifest.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <set>

namespace ika::actors {

using namespace protocol;
using namespace std::chrono;

namespace {

/// Lines of the new instances' output a failed deploy reports.
constexpr std::uint32_t failure_log_lines = 20;

void progress(app_pointer self, const caf::actor& watcher, deploy_event ev) {
  if (!watcher)
    return;
  ev.app = self->state.config.id;
  caf::anon_send(watcher, progress_atom::value, std::move(ev));
}

/// Starts one instance of `release`.
std::string spawn_instance(app_pointer self, const release_spec& release, bool serving, bool retry) {
  auto& st = self->state;
  instance_config ic;
  ic.id = config::instance_id_prefix(st.config.id) + "-" + std::to_string(st.next_seq++);
  ic.app = st.config.id;
  ic.release = release;
  ic.app_handle = caf::actor_cast<app_actor>(self);
  ic.retry = retry;
  ic.runtime = st.config.runtime;
  app_member m;
  m.serving = serving;
  m.last.id = ic.id;
  m.last.state = "starting";
  m.last.release = release.version;
  auto id = ic.id;
  m.handle = self->spawn(instance, std::move(ic));
  st.members.emplace(id, std::move(m));
  return id;
}

void arm_check(app_pointer self) {
  auto& st = self->state;
  if (st.check_armed)
    return;
  st.check_armed = true;
  self->delayed_send(self, milliseconds{50}, check_atom::value);
}

/// Runs what waited for publications up to `acked`.
void confirmed(app_pointer self, std::uint64_t acked) {
  auto& st = self->state;
  st.publish_acked = std::max(st.publish_acked, acked);
  auto waiting = std::move(st.on_published);
  st.on_published.clear();
  for (auto& [seq, fn] : waiting) {
    if (seq <= st.publish_acked)
      fn();
    else
      st.on_published.emplace_back(seq, std::move(fn));
  }
}

/// Runs `fn` once every publication sent so far is confirmed by the node
/// (at once when they are).
void when_published(app_pointer self, std::function<void()> fn) {
  auto& st = self->state;
  if (st.publish_acked >= st.publish_seq) {
    fn();
    return;
  }
  st.on_published.emplace_back(st.publish_seq, std::move(fn));
}

/// Publishes the serving, healthy instances, if that set changed; the
/// node's reply moves publish_acked forward (and may let drains finish).
void publish(app_pointer self) {
  auto& st = self->state;
  std::vector<backend_spec> set;
  for (const auto& [id, m] : st.members)
    if (m.serving && !m.stopping && m.last.state == "healthy" && m.last.port != 0)
      set.push_back(backend_spec{id, "127.0.0.1:" + std::to_string(m.last.port)});
  bool on_demand = st.running && st.current.manifest.instances == 0;
  if (on_demand == st.published_on_demand && set.size() == st.published.size() &&
      std::equal(set.begin(), set.end(), st.published.begin(), [](const auto& a, const auto& b) {
        return a.instance == b.instance && a.address == b.address;
      }))
    return;
  st.published = set;
  st.published_on_demand = on_demand;
  app_backends msg{st.config.id, std::move(set)};
  if (on_demand) {
    msg.on_demand = true;
    msg.max_waiters = st.current.manifest.demand.max_waiters;
    msg.wait_timeout_ms = st.current.manifest.demand.wait_timeout_ms;
  }
  auto seq = ++st.publish_seq;
  self->request(st.config.node, caf::infinite, backends_atom::value, std::move(msg))
      .then(
          [self, seq](ok_atom) {
            confirmed(self, seq);
            arm_check(self);
          },
          [self, seq](const caf::error&) {
            // The node is going away; nothing routes to anything any more.
            confirmed(self, seq);
          });
}

/// Stops an instance; `done` runs once it is gone.
void stop_member(app_pointer self, const std::string& id, std::function<void()> done = {}) {
  auto& st = self->state;
  auto it = st.members.find(id);
  if (it == st.members.end()) {
    if (done)
      done();
    return;
  }
  it->second.stopping = true;
  it->second.serving = false;
  auto handle = it->second.handle;
  self->request(handle, caf::infinite, stop_atom::value)
      .then(
          [self, id, done](ok_atom) {
            self->state.members.erase(id);
            self->state.config.registry->forget(id);
            if (done)
              done();
          },
          [self, id, done](const caf::error&) {
            self->state.members.erase(id);
            if (done)
              done();
          });
}

/// How long instances of release `r` may take to finish their requests
/// once out of traffic.
milliseconds drain_timeout(const release_spec& r) {
  return milliseconds{r.manifest.rollout.drain_timeout_ms};
}

/// Takes instances out of traffic for good: each stops once the node
/// confirmed it gets no new request and its in-flight requests are done
/// (or the drain timeout passed).
void drain(app_pointer self, const std::vector<std::string>& ids, milliseconds timeout) {
  auto& st = self->state;
  auto deadline = steady_clock::now() + timeout;
  for (const auto& id : ids)
    if (auto it = st.members.find(id); it != st.members.end() && !it->second.stopping) {
      it->second.serving = false;
      it->second.draining = true;
      it->second.drain_deadline = deadline;
    }
  publish(self);
  // Whatever this publication changed, it is the one to wait for.
  for (const auto& id : ids)
    if (auto it = st.members.find(id); it != st.members.end())
      it->second.left_at = st.publish_seq;
  arm_check(self);
}

/// Stops every instance; `done` runs once all are gone.
void stop_all(app_pointer self, std::function<void()> done) {
  auto& st = self->state;
  st.config.registry->fail_waiters(st.config.id, "the app is being stopped");
  for (auto& [id, m] : st.members)
    m.serving = false;
  publish(self);
  std::vector<std::string> ids;
  for (const auto& [id, m] : st.members)
    ids.push_back(id);
  if (ids.empty()) {
    done();
    return;
  }
  auto left = std::make_shared<std::size_t>(ids.size());
  for (const auto& id : ids)
    stop_member(self, id, [left, done] {
      if (--*left == 0)
        done();
    });
}

void on_output(app_pointer self, log_line line);

std::int64_t unix_ms() {
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

bool on_demand(const app_state& st) {
  return st.running && !st.current.version.empty() && st.current.manifest.instances == 0;
}

/// How often an on-demand app looks for idleness: a tenth of its idle
/// timeout, between 50 ms and 1 s.
milliseconds idle_check_interval(const app_state& st) {
  auto idle = milliseconds{st.current.manifest.demand.idle_timeout_ms};
  return std::clamp(idle / 10, milliseconds{50}, milliseconds{1000});
}

/// Keeps the idle check of an on-demand app running (timer generation 0).
void arm_idle(app_pointer self) {
  auto& st = self->state;
  if (st.idle_armed || !on_demand(st))
    return;
  st.idle_armed = true;
  self->delayed_send(self, idle_check_interval(st), timer_atom::value, std::uint64_t{0});
}

/// The serving instances (wanted in the balancer, not leaving).
std::vector<std::string> serving_ids(const app_state& st) {
  std::vector<std::string> out;
  for (const auto& [id, m] : st.members)
    if (m.serving && !m.stopping && !m.draining)
      out.push_back(id);
  return out;
}

/// Starts or stops serving instances until `instances` of the live release
/// run. On-demand apps (instances = 0) are left to wake-ups and idling.
void reconcile(app_pointer self) {
  auto& st = self->state;
  if (!st.running || st.current.version.empty() || st.deploy)
    return;
  auto wanted = st.current.manifest.instances;
  if (wanted == 0) {
    st.last_activity = steady_clock::now();
    publish(self);
    arm_idle(self);
    return;
  }
  auto serving = serving_ids(st);
  while (serving.size() < wanted)
    serving.push_back(spawn_instance(self, st.current, true, true));
  if (serving.size() > wanted) {
    // Unhealthy ones go first, then the newest.
    std::stable_sort(serving.begin(), serving.end(), [&](const auto& a, const auto& b) {
      bool ha = st.members[a].last.state == "healthy", hb = st.members[b].last.state == "healthy";
      return ha != hb ? !ha : false;
    });
    std::vector<std::string> extra(serving.begin(), serving.begin() + (serving.size() - wanted));
    drain(self, extra, drain_timeout(st.current));
  }
}

void finish_deploy(app_pointer self, bool ok, std::string message);

/// Carries out what the rollout asks for.
void apply(app_pointer self, deploy::rollout_step step) {
  auto& st = self->state;
  if (!st.deploy)
    return;
  auto& d = *st.deploy;
  for (std::uint32_t i = 0; i < step.start; ++i)
    d.plan.launched(spawn_instance(self, d.release, false, false));
  for (const auto& id : step.serve)
    if (auto it = st.members.find(id); it != st.members.end() && !it->second.stopping)
      it->second.serving = true;
  for (const auto& id : step.retire)
    if (auto it = st.members.find(id); it != st.members.end())
      it->second.serving = false;
  if (!step.serve.empty() || !step.retire.empty()) {
    publish(self);
    if (!step.serve.empty() && !step.failed) {
      // "hello-production-1 now serving; batch 2/2: starting 1 instance
      // (0 healthy), 1/2 new serving"
      std::string line;
      for (const auto& id : step.serve)
        line.append(line.empty() ? "" : ", ").append(id);
      progress(self, d.watcher,
               deploy_event{{}, "traffic", {}, {}, line + " now serving; " + d.plan.describe()});
    }
  }
  for (const auto& id : step.stop)
    stop_member(self, id);
  if (step.wake_at) {
    auto delay = duration_cast<milliseconds>(*step.wake_at - steady_clock::now()) + milliseconds{1};
    self->delayed_send(self, std::max(delay, milliseconds{1}), timer_atom::value, ++d.timer);
  }
  if (step.finished)
    finish_deploy(self, true, "release " + d.release.version + " is live");
  else if (step.failed)
    finish_deploy(self, false, step.why);
}

/// The routes an app holds while a rollout runs: the old release's as they
/// are, then those of the new release on a host and path the old one does
/// not serve.
std::vector<route_spec> routes_during_rollout(const std::vector<route_spec>& old_routes,
                                              const std::vector<route_spec>& new_routes) {
  std::vector<route_spec> out = old_routes;
  for (const auto& r : new_routes)
    if (std::none_of(old_routes.begin(), old_routes.end(),
                     [&](const route_spec& o) { return o.same_place(r); }))
      out.push_back(r);
  return out;
}

void finish_deploy(app_pointer self, bool ok, std::string message) {
  auto& st = self->state;
  auto d = std::move(*st.deploy);
  st.deploy.reset();
  deploy_result r;
  r.ok = ok;
  r.changed = ok;
  r.app = st.config.id;
  r.release = d.release.version;
  r.message = std::move(message);
  if (ok) {
    bool changed_release = st.current.version != d.release.version;
    // The old instances drain by the rules of the release they run.
    auto old_drain = drain_timeout(st.current);
    st.current = d.release;
    st.running = true;
    progress(self, d.watcher,
             deploy_event{{}, "traffic", {}, {}, "traffic switched to release " + r.release});
    // The old instances (out of traffic since their batch) drain and stop.
    std::vector<std::string> old = d.plan.retired();
    for (const auto& id : d.plan.old_serving())
      old.push_back(id);
    drain(self, old, old_drain);
    reconcile(self);
    // The reply says "live": new requests must see the new instances and
    // the new release's routes only, and nothing the old release answered
    // comes from the cache any more (a response filling meanwhile is not
    // admitted either: the purge bumps the shards' generation).
    auto reply = [self, changed_release, promise = d.promise, r = std::move(r)]() mutable {
      when_published(self, [self, changed_release, promise, r = std::move(r)]() mutable {
        if (!changed_release) {
          promise.deliver(std::move(r));
          return;
        }
        self->request(self->state.config.node, caf::infinite, purge_atom::value, self->state.config.id,
                      std::string{})
            .then([promise, r](std::uint64_t) mutable { promise.deliver(std::move(r)); },
                  [promise, r](const caf::error&) mutable { promise.deliver(std::move(r)); });
      });
    };
    auto routes = st.routes_of(st.current);
    if (routes_during_rollout(d.previous_routes, routes) == routes) {
      reply();
      return;
    }
    self->request(st.config.node, caf::infinite, claim_atom::value, st.config.id, std::move(routes))
        .then([reply](ok_atom) mutable { reply(); }, [reply](const caf::error&) mutable { reply(); });
    return;
  }
  // Failed: the new instances go (the rollout's step stopped them), what
  // served before serves again.
  const auto& ids = d.plan.new_instances();
  for (const auto& line : st.ring)
    if (std::find(ids.begin(), ids.end(), line.instance) != ids.end())
      r.logs.push_back(line);
  if (r.logs.size() > failure_log_lines)
    r.logs.erase(r.logs.begin(), r.logs.end() - failure_log_lines);
  progress(self, d.watcher, deploy_event{{}, "failed", {}, {}, r.message});
  // Give the routes back as they were (none, for a first deploy).
  self->request(st.config.node, caf::infinite, claim_atom::value, st.config.id, d.previous_routes)
      .then([](ok_atom) {}, [](const caf::error&) {});
  publish(self);
  when_published(self, [promise = d.promise, r = std::move(r)]() mutable { promise.deliver(std::move(r)); });
}

/// Starts a rollout of `release` (a deploy, rollback or restart).
caf::result<deploy_result> start_rollout(app_pointer self, const release_spec& release,
                                         const caf::actor& watcher) {
  auto& st = self->state;
  auto promise = self->make_response_promise<deploy_result>();
  const auto& m = release.manifest;
  deploy::rollout_settings settings{std::max<std::uint32_t>(m.instances, 1), m.rollout.max_surge,
                                    milliseconds{m.rollout.hold_ms}};
  st.deploy =
      pending_deploy{release,
                     watcher,
                     promise,
                     deploy::rollout{settings, serving_ids(st)},
                     st.current.version.empty() ? std::vector<route_spec>{} : st.routes_of(st.current),
                     0};
  // Until the switch the old release serves its own routes as they were,
  // the new release's routes are claimed beside them.
  self->request(st.config.node, caf::infinite, claim_atom::value, st.config.id,
                routes_during_rollout(st.deploy->previous_routes, st.routes_of(release)))
      .then(
          [self](ok_atom) {
            if (self->state.deploy)
              apply(self, self->state.deploy->plan.begin());
          },
          [self](const caf::error& err) {
            auto& s = self->state;
            if (!s.deploy)
              return;
            auto d = std::move(*s.deploy);
            s.deploy.reset();
            d.promise.deliver(deploy_result{
                false, false, false, s.config.id, d.release.version, self->system().render(err), {}});
          });
  return promise;
}

void on_instance(app_pointer self, const instance_event& ev) {
  auto& st = self->state;
  auto it = st.members.find(ev.instance);
  if (it == st.members.end())
    return;
  auto& m = it->second;
  m.last.state = ev.state;
  m.last.pid = ev.pid;
  m.last.port = ev.port;
  m.last.detail = ev.detail;
  m.last.restarts = ev.restarts;
  m.last.since_ms = ev.since_ms;
  if (st.deploy) {
    auto& d = *st.deploy;
    const auto& fresh = d.plan.new_instances();
    if (std::find(fresh.begin(), fresh.end(), ev.instance) != fresh.end())
      progress(self, d.watcher, deploy_event{{}, "instance", ev.instance, ev.state, ev.detail});
    auto step = d.plan.on_state(ev.instance, ev.state, ev.detail, steady_clock::now());
    publish(self);
    apply(self, std::move(step));
    return;
  }
  // An instance woken for waiting requests that cannot start: they get a
  // 502 now instead of waiting out their timeout; the next request wakes
  // a fresh one.
  if (m.serving && ev.state == "failed") {
    st.config.registry->fail_waiters(st.config.id, "instance " + ev.instance + " " + ev.detail);
    stop_member(self, ev.instance);
  }
  publish(self);
}

/// A request waits for an on-demand app: start an instance unless one is
/// starting or serving.
void on_wake(app_pointer self) {
  auto& st = self->state;
  if (!on_demand(st)) {
    // Stopped (or deleted) meanwhile: nothing will start.
    if (!st.deploy)
      st.config.registry->fail_waiters(st.config.id, "the app is not running");
    return;
  }
  if (st.deploy || !serving_ids(st).empty())
    return;
  spawn_instance(self, st.current, true, false);
  st.last_activity = steady_clock::now();
  arm_idle(self);
}

/// An on-demand app with no request for idle_timeout stops its instances
/// (they leave the balancer first; a request meanwhile wakes a fresh one).
void on_idle_check(app_pointer self) {
  auto& st = self->state;
  st.idle_armed = false;
  if (!on_demand(st))
    return;
  auto serving = serving_ids(st);
  std::uint64_t requests = 0;
  bool busy = false;
  for (const auto& id : serving) {
    auto stats = st.config.registry->stats(id);
    requests += stats->requests.load(std::memory_order_relaxed);
    busy |= stats->in_flight.load(std::memory_order_relaxed) > 0;
    // Idleness counts from when an instance could serve, not while it starts.
    busy |= st.members[id].last.state != "healthy";
  }
  if (auto gate = st.config.registry->gate(st.config.id); gate && gate->waiting() > 0)
    busy = true;
  auto now = steady_clock::now();
  if (busy || requests != st.seen_requests) {
    st.seen_requests = requests;
    st.last_activity = now;
  }
  if (!serving.empty() && !st.deploy &&
      now - st.last_activity >= milliseconds{st.current.manifest.demand.idle_timeout_ms}) {
    on_output(self,
              log_line{unix_ms(), "ika", "ika",
                       "idle for " +
                           std::to_string(st.current.manifest.demand.idle_timeout_ms / 1000.0).substr(0, 5) +
                           " s: stopping " + std::to_string(serving.size()) + " instance(s)"});
    drain(self, serving, drain_timeout(st.current));
    st.seen_requests = 0;
  }
  arm_idle(self);
}

void on_output(app_pointer self, log_line line) {
  auto& st = self->state;
  if (st.config.write_log)
    st.config.write_log(line);
  for (const auto& [watcher, q] : st.followers)
    if (q.instance.empty() || q.instance == line.instance)
      caf::anon_send(watcher, logs_atom::value, line);
  st.ring.push_back(std::move(line));
  if (st.ring.size() > app_log_ring)
    st.ring.pop_front();
}

} // namespace

std::vector<route_spec> app_state::routes_of(const release_spec& r) const {
  std::vector<route_spec> out;
  for (const auto& mr : r.manifest.routes) {
    route_spec rs;
    rs.host = mr.host;
    rs.path = mr.path;
    rs.app = config.id;
    rs.cache = r.manifest.cache.enabled;
    rs.cache_max_object = r.manifest.cache.max_object;
    rs.cache_set_cookie = r.manifest.cache.set_cookie;
    rs.tls = r.manifest.tls.mode == "auto" ? std::string{} : r.manifest.tls.mode;
    rs.https_redirect = r.manifest.tls.redirect && rs.tls != "off";
    out.push_back(std::move(rs));
  }
  return out;
}

std::vector<log_line> app_state::tail(const log_query& q) const {
  std::vector<log_line> out;
  for (auto it = ring.rbegin(); it != ring.rend() && out.size() < q.lines; ++it)
    if (q.instance.empty() || it->instance == q.instance)
      out.push_back(*it);
  std::reverse(out.begin(), out.end());
  if (out.empty() && config.read_log)
    return config.read_log(q);
  return out;
}

app_status app_state::status() const {
  app_status s;
  s.id = config.id;
  s.release = current.version;
  s.desired = running ? "running" : "stopped";
  s.instances = current.manifest.instances;
  for (const auto& r : current.manifest.routes)
    s.routes.push_back(r.host + " " + r.path);
  bool crash_loop = false;
  for (const auto& [id, m] : members) {
    auto is = m.last;
    is.in_flight = config.registry->stats(id)->in_flight.load(std::memory_order_relaxed);
    if (m.serving && is.state == "healthy")
      ++s.healthy;
    if (m.serving && is.state == "crash-loop")
      crash_loop = true;
    if (m.draining && !m.stopping)
      is.detail = "draining";
    else if (!m.serving && !m.stopping)
      is.detail = is.detail.empty() ? "not in traffic" : is.detail;
    s.instance_list.push_back(std::move(is));
  }
  if (deploy) {
    s.next_release = deploy->release.version;
    s.rollout = deploy->plan.describe();
  }
  if (deploy)
    s.state = "deploying";
  else if (!running)
    s.state = "stopped";
  else if (crash_loop)
    s.state = "crash-loop";
  else if (s.healthy >= s.instances)
    s.state = "running";
  else if (s.healthy > 0)
    s.state = "degraded";
  else
    s.state = "starting";
  return s;
}

app_actor::behavior_type app(app_pointer self, app_config config) {
  self->state.config = std::move(config);
  // The data plane reports instances it could not connect to; the app
  // probes them at once (the io thread only sends a message).
  auto handle = caf::actor_cast<app_actor>(self);
  auto token = self->state.config.registry->set_failure_handler(
      self->state.config.id, [handle](const std::string&, const std::string& instance) {
        caf::anon_send(handle, suspect_atom::value, instance);
      });
  // The data plane holds requests for an on-demand app with nothing to
  // serve them and asks for an instance (once per wake-up).
  auto wake_token = self->state.config.registry->set_wake_handler(
      self->state.config.id, [handle](const std::string&) { caf::anon_send(handle, wake_atom::value); });
  self->attach_functor(
      [registry = self->state.config.registry, id = self->state.config.id, token, wake_token] {
        registry->clear_failure_handler(id, token);
        registry->clear_wake_handler(id, wake_token);
      });
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    for (const auto& [id, m] : self->state.members)
      self->send_exit(m.handle, msg.reason);
    self->quit(msg.reason);
  });
  self->set_down_handler([self](const caf::down_msg& msg) {
    auto& f = self->state.followers;
    f.erase(
        std::remove_if(f.begin(), f.end(), [&](const auto& p) { return p.first.address() == msg.source; }),
        f.end());
  });
  if (auto& st = self->state; st.config.restore) {
    st.current = *st.config.restore;
    st.running = !st.config.restore_stopped;
    self->request(st.config.node, caf::infinite, claim_atom::value, st.config.id, st.routes_of(st.current))
        .then(
            [](ok_atom) {},
            [self](const caf::error& err) {
              on_output(self, log_line{0, "ika", "ika", "routes not claimed: " + self->system().render(err)});
            });
    reconcile(self);
  }
  return {
      [self](deploy_atom, const release_spec& release,
             const caf::actor& watcher) -> caf::result<deploy_result> {
        auto& st = self->state;
        if (st.deploy)
          return deploy_result{false,
                               false,
                               false,
                               st.config.id,
                               release.version,
                               "a rollout of release " + st.deploy->release.version +
                                   " is in progress; deploy again when it is done",
                               {}};
        if (release.version == st.current.version && st.running) {
          reconcile(self);
          return deploy_result{true,
                               false,
                               false,
                               st.config.id,
                               release.version,
                               "release " + release.version + " is live already",
                               {}};
        }
        return start_rollout(self, release, watcher);
      },
      [self](restart_atom, const caf::actor& watcher) -> caf::result<deploy_result> {
        auto& st = self->state;
        deploy_result r{false, false, false, st.config.id, st.current.version, {}, {}};
        if (st.deploy) {
          r.message =
              "a rollout of release " + st.deploy->release.version + " is in progress; restart after it";
          return r;
        }
        if (!st.running || st.current.version.empty() || serving_ids(st).empty()) {
          r.ok = true;
          r.message = "no instance running; the next start uses the new environment";
          return r;
        }
        return start_rollout(self, st.current, watcher);
      },
      [self](status_atom) { return self->state.status(); },
      [self](scale_atom, std::uint32_t n) -> caf::result<app_status> {
        auto& st = self->state;
        if (n > config::max_app_instances)
          return caf::make_error(caf::sec::invalid_argument, "instances must be between 0 and " +
                                                                 std::to_string(config::max_app_instances));
        if (st.deploy)
          return caf::make_error(caf::sec::invalid_argument, "a deploy is in progress; scale after it");
        st.current.manifest.instances = n;
        reconcile(self);
        return st.status();
      },
      [self](logs_atom, const log_query& q) { return self->state.tail(q); },
      [self](follow_atom, const log_query& q, const caf::actor& watcher) {
        self->monitor(watcher);
        self->state.followers.emplace_back(watcher, q);
        return ok_atom::value;
      },
      [self](stop_atom) -> caf::result<app_status> {
        auto& st = self->state;
        if (st.deploy)
          return caf::make_error(caf::sec::invalid_argument, "a deploy is in progress; stop after it");
        st.running = false;
        auto promise = self->make_response_promise<app_status>();
        stop_all(self, [self, promise]() mutable { promise.deliver(self->state.status()); });
        return promise;
      },
      [self](start_atom) -> caf::result<app_status> {
        auto& st = self->state;
        st.running = true;
        reconcile(self);
        return st.status();
      },
      [self](delete_atom) -> caf::result<ok_atom> {
        auto& st = self->state;
        if (st.deploy)
          return caf::make_error(caf::sec::invalid_argument, "a deploy is in progress; delete after it");
        st.running = false;
        auto promise = self->make_response_promise<ok_atom>();
        stop_all(self, [self, promise]() mutable {
          auto& s = self->state;
          self->request(s.config.node, caf::infinite, backends_atom::value, app_backends{s.config.id, {}})
              .then([](ok_atom) {}, [](const caf::error&) {});
          self->request(s.config.node, caf::infinite, claim_atom::value, s.config.id,
                        std::vector<route_spec>{})
              .then(
                  [self, promise](ok_atom) mutable {
                    promise.deliver(ok_atom::value);
                    self->quit();
                  },
                  [self, promise](const caf::error&) mutable {
                    promise.deliver(ok_atom::value);
                    self->quit();
                  });
        });
        return promise;
      },
      [self](instance_atom, const instance_event& ev) { on_instance(self, ev); },
      [self](output_atom, log_line& line) { on_output(self, std::move(line)); },
      [self](suspect_atom, const std::string& id) {
        if (auto it = self->state.members.find(id); it != self->state.members.end())
          self->send(it->second.handle, check_atom::value);
      },
      [self](wake_atom) { on_wake(self); },
      [self](timer_atom, std::uint64_t gen) {
        auto& st = self->state;
        if (gen == 0) {
          on_idle_check(self);
          return;
        }
        if (st.deploy && st.deploy->timer == gen)
          apply(self, st.deploy->plan.tick(steady_clock::now()));
      },
      [self](check_atom) {
        auto& st = self->state;
        st.check_armed = false;
        auto now = steady_clock::now();
        std::vector<std::string> done;
        bool waiting = false;
        for (const auto& [id, m] : st.members) {
          if (!m.draining || m.stopping)
            continue;
          // Not before the node confirmed that new requests no longer see it.
          bool unseen = st.publish_acked >= m.left_at;
          if ((unseen && st.config.registry->stats(id)->in_flight.load(std::memory_order_relaxed) == 0) ||
              now >= m.drain_deadline)
            done.push_back(id);
          else
            waiting = true;
        }
        for (const auto& id : done)
          stop_member(self, id);
        if (waiting)
          arm_check(self);
      },
  };
}

} // namespace ika::actors
