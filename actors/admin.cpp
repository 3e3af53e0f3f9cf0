#include "actors/admin.hpp"

#include "runtime/deploy/release_history.hpp"

#include <caf/event_based_actor.hpp>

#include <algorithm>

namespace ika::actors {

using namespace protocol;
using namespace std::chrono;

namespace {

/// An upload nobody continued for this long is dropped.
constexpr auto upload_idle = minutes{10};

caf::error refuse(std::string message) {
  return caf::make_error(caf::sec::invalid_argument, std::move(message));
}

caf::error no_app(const std::string& id) {
  return refuse("no app '" + id + "' on this node (`ika apps` lists them)");
}

app_actor spawn_app(admin_pointer self, const std::string& id, const release_spec* restore, bool running) {
  auto& st = self->state;
  app_config ac;
  ac.id = id;
  ac.node = st.config.node;
  ac.registry = st.config.registry;
  ac.runtime = st.config.runtime;
  if (restore != nullptr) {
    ac.restore = *restore;
    ac.restore_stopped = !running;
  }
  if (st.config.logs_for) {
    auto [writer, reader] = st.config.logs_for(id);
    ac.write_log = std::move(writer);
    ac.read_log = std::move(reader);
  }
  auto handle = self->spawn(app, std::move(ac));
  st.apps[id] = handle;
  return handle;
}

hlc next_version(admin_pointer self) {
  auto& clock = self->state.config.clock;
  auto now = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  clock = clock.tick(static_cast<std::uint64_t>(now));
  return clock;
}

/// Writes `rec` to the store; `done` gets "" once it is durable, or why not.
void persist(admin_pointer self, versioned_record rec, std::function<void(std::string)> done) {
  auto& st = self->state;
  if (!st.config.store) {
    done({});
    return;
  }
  self->request(st.config.store, seconds{30}, put_atom::value, std::move(rec))
      .then([done](const put_result&) { done({}); },
            [self, done](const caf::error& err) { done(self->system().render(err)); });
}

void persist_release(admin_pointer self, const release_spec& r, std::function<void(std::string)> done) {
  release_record rec;
  rec.app = r.app;
  rec.version = r.version;
  rec.created = next_version(self);
  rec.manifest = r.manifest;
  auto usage = deploy::measure_dir(r.dir);
  rec.files = usage.files;
  rec.bytes = usage.bytes;
  persist(self, to_versioned(rec), std::move(done));
}

/// The app's live release (with its instance count) and desired state.
void persist_app(admin_pointer self, const release_spec& current, bool running,
                 std::function<void(std::string)> done) {
  app_record rec;
  rec.id = current.app;
  rec.manifest = current.manifest;
  rec.release = current.version;
  rec.desired = running ? desired_state::running : desired_state::stopped;
  rec.updated = next_version(self);
  rec.created = rec.updated;
  persist(self, to_versioned(rec), std::move(done));
}

void forget_app(admin_pointer self, const std::string& id, std::function<void(std::string)> done) {
  auto& st = self->state;
  if (!st.config.store) {
    done({});
    return;
  }
  self->request(st.config.store, seconds{30}, delete_atom::value, std::string{app_kind}, id,
                next_version(self))
      .then([done](const put_result&) { done({}); },
            [self, done](const caf::error& err) { done(self->system().render(err)); });
}

/// Makes an app's state after a command durable, then answers with it.
void persist_then_reply(admin_pointer self, const app_status& s,
                        caf::typed_response_promise<app_status> promise) {
  auto& st = self->state;
  auto it = st.releases.find(s.release);
  if (it == st.releases.end()) {
    promise.deliver(s);
    return;
  }
  auto release = it->second;
  release.manifest.instances = s.instances;
  persist_app(self, release, s.desired == "running", [promise, s](std::string err) mutable {
    if (!err.empty())
      promise.deliver(caf::make_error(caf::sec::runtime_error, "state not saved: " + err));
    else
      promise.deliver(s);
  });
}

/// Forwards `xs` to app `id`, persists the status it answers, replies.
template <class... Ts>
caf::result<app_status> forward(admin_pointer self, const std::string& id, Ts... xs) {
  auto& st = self->state;
  auto it = st.apps.find(id);
  if (it == st.apps.end())
    return no_app(id);
  auto promise = self->make_response_promise<app_status>();
  self->request(it->second, caf::infinite, xs...)
      .then([self, promise](const app_status& s) mutable { persist_then_reply(self, s, promise); },
            [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
  return promise;
}

caf::result<std::uint32_t> on_chunk(admin_pointer self, upload_chunk& c) {
  auto& st = self->state;
  auto now = steady_clock::now();
  for (auto it = st.uploads.begin(); it != st.uploads.end();)
    it = now - it->second.last > upload_idle ? st.uploads.erase(it) : std::next(it);
  if (!deploy::valid_version(c.version))
    return refuse("upload: the version must be the archive's SHA-256 (64 lower-case hex digits)");
  if (c.size == 0 || c.size > st.config.max_archive)
    return refuse("upload: the archive is " + std::to_string(c.size) + " bytes; at most " +
                  std::to_string(st.config.max_archive) + " are accepted");
  if (c.total == 0 || c.index >= c.total)
    return refuse("upload: chunk " + std::to_string(c.index) + " of " + std::to_string(c.total) +
                  " is out of range");
  if (st.releases.count(c.version)) {
    st.uploads.erase(c.version);
    return c.total; // kept already: nothing to add
  }
  auto& up = st.uploads[c.version];
  if (c.index == 0) {
    up = admin_state::upload{};
    up.total = c.total;
    deploy::archive_limits limits;
    limits.max_bytes = st.config.max_archive;
    auto started = deploy::archive_assembler::start(c.version, c.size, limits);
    if (auto* err = std::get_if<deploy::archive_error>(&started)) {
      st.uploads.erase(c.version);
      return refuse("upload: " + err->to_string());
    }
    up.archive.emplace(std::get<deploy::archive_assembler>(std::move(started)));
  }
  if (!up.archive || c.index != up.next || c.total != up.total || c.size != up.archive->size()) {
    st.uploads.erase(c.version);
    return refuse("upload: chunk " + std::to_string(c.index) + " arrived out of order; start again");
  }
  if (auto err = up.archive->add(up.archive->received(), c.data)) {
    st.uploads.erase(c.version);
    return refuse("upload: " + err->to_string());
  }
  up.last = now;
  ++up.next;
  if (up.next < up.total)
    return up.next;
  auto finished = up.archive->finish();
  st.uploads.erase(c.version);
  if (auto* err = std::get_if<deploy::archive_error>(&finished))
    return refuse("upload: " + err->to_string());
  const auto& bytes = std::get<std::string>(finished);
  auto accepted = st.config.accept_release(bytes, c.version);
  if (auto* err = std::get_if<std::string>(&accepted))
    return refuse(*err);
  auto release = std::get<release_spec>(std::move(accepted));
  st.releases[release.version] = release;
  auto promise = self->make_response_promise<std::uint32_t>();
  persist_release(self, release, [promise, total = c.total](std::string err) mutable {
    if (!err.empty())
      promise.deliver(caf::make_error(caf::sec::runtime_error, "release not saved: " + err));
    else
      promise.deliver(total);
  });
  return promise;
}

// -- releases: history, rollback, pruning ---------------------------------------

/// The stored releases of `app` (records that do not decode are skipped);
/// `done` gets them, or why not. Without a store: the known ones, no history.
void load_releases(admin_pointer self, const std::string& app,
                   std::function<void(std::vector<release_record>, std::string)> done) {
  auto& st = self->state;
  if (!st.config.store) {
    std::vector<release_record> out;
    for (const auto& [version, spec] : st.releases)
      if (spec.app == app)
        out.push_back(release_record{spec.app, spec.version, {}, spec.manifest, 0, 0, {}});
    done(std::move(out), {});
    return;
  }
  self->request(st.config.store, seconds{30}, list_atom::value, std::string{release_kind})
      .then(
          [app, done](std::vector<versioned_record>& recs) {
            std::vector<release_record> out;
            for (const auto& rec : recs)
              if (rec.key.size() > app.size() && rec.key.compare(0, app.size() + 1, app + "/") == 0)
                if (auto r = decode_release_record(rec.body); r && r->app == app)
                  out.push_back(std::move(*r));
            done(std::move(out), {});
          },
          [self, done](const caf::error& err) { done({}, self->system().render(err)); });
}

/// The release app `id` serves (or would, stopped); "" without the app.
void live_release(admin_pointer self, const std::string& id, std::function<void(std::string)> done) {
  auto& st = self->state;
  auto it = st.apps.find(id);
  if (it == st.apps.end()) {
    done({});
    return;
  }
  self->request(it->second, seconds{10}, status_atom::value)
      .then([done](const app_status& s) { done(s.release); }, [done](const caf::error&) { done({}); });
}

/// The releases of `app` and its live one, together.
void load_history(admin_pointer self, const std::string& app,
                  std::function<void(std::vector<release_record>, std::string live, std::string err)> done) {
  live_release(self, app, [self, app, done](std::string live) {
    load_releases(self, app, [live, done](std::vector<release_record> rs, std::string err) {
      done(std::move(rs), live, std::move(err));
    });
  });
}

/// Deletes release `version` of `app` from the store, then its directory.
void prune_release(admin_pointer self, const std::string& app, const std::string& version,
                   std::function<void(std::string)> done) {
  auto& st = self->state;
  auto remove_dir = [self, version, done](std::string err) {
    auto& s = self->state;
    if (!err.empty()) {
      done("release " + version.substr(0, 12) + " not pruned: " + err);
      return;
    }
    auto it = s.releases.find(version);
    if (it != s.releases.end()) {
      err = deploy::remove_release_dir(it->second.dir, version);
      s.releases.erase(it);
    }
    done(err);
  };
  if (!st.config.store) {
    remove_dir({});
    return;
  }
  self->request(st.config.store, seconds{30}, delete_atom::value, std::string{release_kind},
                app + "/" + version, next_version(self))
      .then([remove_dir](const put_result&) { remove_dir({}); },
            [self, remove_dir](const caf::error& err) { remove_dir(self->system().render(err)); });
}

/// After `live` became the live release of its app: records when, then
/// prunes the app's releases beyond deploy::kept_releases. `done` gets ""
/// or a note on what could not be done (the deploy stands either way).
void record_live(admin_pointer self, const release_spec& live, std::function<void(std::string)> done) {
  load_releases(self, live.app, [self, live, done](std::vector<release_record> rs, std::string err) {
    if (!err.empty()) {
      done("release history not saved: " + err);
      return;
    }
    auto it = std::find_if(rs.begin(), rs.end(), [&](const auto& r) { return r.version == live.version; });
    if (it == rs.end()) {
      rs.push_back(release_record{live.app, live.version, next_version(self), live.manifest, 0, 0, {}});
      it = std::prev(rs.end());
    }
    it->deployed = next_version(self);
    persist(self, to_versioned(*it), [self, live, rs, done](std::string not_saved) {
      if (!not_saved.empty()) {
        done("release history not saved: " + not_saved);
        return;
      }
      auto doomed = deploy::releases_to_prune(rs, live.version);
      std::erase_if(doomed, [self](const std::string& v) { return self->state.deploying.count(v) > 0; });
      if (doomed.empty()) {
        done({});
        return;
      }
      auto left = std::make_shared<std::size_t>(doomed.size());
      auto notes = std::make_shared<std::string>();
      for (const auto& v : doomed)
        prune_release(self, live.app, v, [left, notes, done](std::string note) {
          if (!note.empty())
            *notes += (notes->empty() ? "" : "; ") + note;
          if (--*left == 0)
            done(*notes);
        });
    });
  });
}

/// Runs `release` on its app (spawned for a first deploy); on success makes
/// it durable as the app's release and in the release history.
void run_deploy(admin_pointer self, const release_spec& release, const caf::actor& watcher,
                caf::typed_response_promise<deploy_result> promise) {
  auto& st = self->state;
  bool fresh = false;
  auto it = st.apps.find(release.app);
  app_actor handle;
  if (it == st.apps.end()) {
    handle = spawn_app(self, release.app, nullptr, true);
    fresh = true;
  } else {
    handle = it->second;
  }
  ++st.deploying[release.version];
  auto done_deploying = [self, version = release.version] {
    auto& s = self->state;
    if (auto d = s.deploying.find(version); d != s.deploying.end() && --d->second == 0)
      s.deploying.erase(d);
  };
  self->request(handle, caf::infinite, deploy_atom::value, release, watcher)
      .then(
          [self, promise, release, fresh, handle, done_deploying](deploy_result& r) mutable {
            done_deploying();
            auto& s = self->state;
            if (!r.ok) {
              // A first deploy that failed leaves no app behind.
              if (fresh) {
                s.apps.erase(release.app);
                self->request(handle, caf::infinite, delete_atom::value)
                    .then([](ok_atom) {}, [](caf::error&) {});
              }
              promise.deliver(std::move(r));
              return;
            }
            if (!r.changed) {
              promise.deliver(std::move(r));
              return;
            }
            persist_app(self, release, true, [self, promise, release, r](std::string err) mutable {
              if (!err.empty()) {
                r.ok = false;
                r.message = "release is live, but the node's state was not saved: " + err;
                promise.deliver(std::move(r));
                return;
              }
              record_live(self, release, [promise, r](std::string note) mutable {
                if (!note.empty())
                  r.message += (r.message.empty() ? "" : "; ") + note;
                promise.deliver(std::move(r));
              });
            });
          },
          [promise, done_deploying](caf::error& err) mutable {
            done_deploying();
            promise.deliver(std::move(err));
          });
}

caf::result<deploy_result> on_deploy(admin_pointer self, const deploy_request& req) {
  auto& st = self->state;
  auto rel = st.releases.find(req.version);
  if (rel == st.releases.end()) {
    deploy_result r;
    r.unknown_release = true;
    r.release = req.version;
    r.message = "release " + req.version + " is not on this node; upload it first";
    return r;
  }
  auto promise = self->make_response_promise<deploy_result>();
  run_deploy(self, rel->second, req.watcher, promise);
  return promise;
}

caf::result<std::vector<release_info>> on_releases(admin_pointer self, const std::string& app) {
  auto promise = self->make_response_promise<std::vector<release_info>>();
  load_history(
      self, app,
      [self, app, promise](std::vector<release_record> rs, std::string live, std::string err) mutable {
        if (!err.empty()) {
          promise.deliver(caf::make_error(caf::sec::runtime_error, "releases: " + err));
          return;
        }
        if (rs.empty() && !self->state.apps.count(app)) {
          promise.deliver(no_app(app));
          return;
        }
        deploy::sort_newest_first(rs);
        std::vector<release_info> out;
        for (const auto& r : rs) {
          release_info i{r.version, static_cast<std::int64_t>(r.created.physical_ms), r.version == live,
                         r.files, r.bytes};
          if (auto it = self->state.releases.find(r.version);
              it != self->state.releases.end() && i.files == 0) {
            auto usage = deploy::measure_dir(it->second.dir); // records from before files were counted
            i.files = usage.files;
            i.bytes = usage.bytes;
          }
          out.push_back(std::move(i));
        }
        promise.deliver(std::move(out));
      });
  return promise;
}

caf::result<deploy_result> on_rollback(admin_pointer self, const std::string& app, const std::string& version,
                                       const caf::actor& watcher) {
  if (!self->state.apps.count(app))
    return no_app(app);
  auto promise = self->make_response_promise<deploy_result>();
  load_history(self, app,
               [self, app, version, watcher, promise](std::vector<release_record> rs, std::string live,
                                                      std::string err) mutable {
                 if (!err.empty()) {
                   promise.deliver(caf::make_error(caf::sec::runtime_error, "rollback: " + err));
                   return;
                 }
                 auto& st = self->state;
                 std::vector<std::string> versions;
                 for (const auto& r : rs)
                   if (st.releases.count(r.version))
                     versions.push_back(r.version);
                 auto short_live = live.substr(0, 12);
                 if (versions.size() <= 1) {
                   promise.deliver(refuse("rollback: " + app + " has only one release (" + short_live +
                                          "); there is nothing to roll back to"));
                   return;
                 }
                 std::string target;
                 if (version.empty()) {
                   auto prev = deploy::previous_release(rs, live);
                   if (!prev || !st.releases.count(*prev)) {
                     promise.deliver(refuse("rollback: no kept release of " + app + " was live before " +
                                            short_live + "; name one (`ika releases " + app + "`)"));
                     return;
                   }
                   target = *prev;
                 } else {
                   auto m = deploy::match_version(versions, version);
                   if (m.version.empty()) {
                     promise.deliver(refuse("rollback: " + m.error));
                     return;
                   }
                   target = m.version;
                 }
                 if (target == live) {
                   deploy_result r;
                   r.ok = true;
                   r.app = app;
                   r.release = target;
                   r.message = "release " + target.substr(0, 12) + " is live already";
                   promise.deliver(std::move(r));
                   return;
                 }
                 run_deploy(self, st.releases.at(target), watcher, promise);
               });
  return promise;
}

// -- secrets ------------------------------------------------------------------

/// Sends `xs` (a change) to the secrets actor; once it is durable, a rolling
/// restart of `app` gives its instances the new environment. `done` says
/// what changed (never a value).
template <class... Ts>
caf::result<deploy_result> on_secret_change(admin_pointer self, const std::string& app, std::string done,
                                            const caf::actor& watcher, Ts&&... xs) {
  auto& st = self->state;
  if (!st.config.secrets)
    return refuse("secrets are not available on this node");
  auto promise = self->make_response_promise<deploy_result>();
  self->request(st.config.secrets, seconds{60}, std::forward<Ts>(xs)...)
      .then(
          [self, promise, app, done, watcher](ok_atom) mutable {
            auto it = self->state.apps.find(app);
            if (it == self->state.apps.end()) {
              deploy_result r;
              r.ok = true;
              r.app = app;
              r.message = done + "; " + app + " is not deployed here: its instances get it when deployed";
              promise.deliver(std::move(r));
              return;
            }
            self->request(it->second, caf::infinite, restart_atom::value, watcher)
                .then(
                    [promise, done](deploy_result& r) mutable {
                      r.message = done + (r.message.empty() ? "" : "; " + r.message);
                      promise.deliver(std::move(r));
                    },
                    [self, promise, app, done](const caf::error& err) mutable {
                      deploy_result r;
                      r.app = app;
                      r.message = done + ", but the restart failed: " + self->system().render(err);
                      promise.deliver(std::move(r));
                    });
          },
          [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
  return promise;
}

} // namespace

admin_actor::behavior_type admin(admin_pointer self, admin_config config) {
  {
    auto& st = self->state;
    st.config = std::move(config);
    for (auto& r : st.config.releases)
      st.releases[r.version] = r;
    st.config.releases.clear();
    for (const auto& a : st.config.apps)
      spawn_app(self, a.release.app, &a.release, a.running);
    st.config.apps.clear();
  }
  // When the node shuts the admin down, its apps (and their instances) go
  // too; otherwise they would keep the actor system alive.
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    for (const auto& [id, handle] : self->state.apps)
      self->send_exit(handle, msg.reason);
    self->quit(msg.reason);
  });
  return {
      [self](upload_atom, upload_chunk& c) { return on_chunk(self, c); },
      [self](deploy_atom, const deploy_request& req) { return on_deploy(self, req); },
      [self](apps_atom) -> caf::result<std::vector<app_status>> {
        auto& st = self->state;
        auto promise = self->make_response_promise<std::vector<app_status>>();
        if (st.apps.empty()) {
          promise.deliver(std::vector<app_status>{});
          return promise;
        }
        auto all = std::make_shared<std::vector<app_status>>();
        auto left = std::make_shared<std::size_t>(st.apps.size());
        auto done = [promise, all, left]() mutable {
          if (--*left == 0) {
            std::sort(all->begin(), all->end(), [](const auto& a, const auto& b) { return a.id < b.id; });
            promise.deliver(std::move(*all));
          }
        };
        for (const auto& [id, handle] : st.apps)
          self->request(handle, seconds{10}, status_atom::value)
              .then(
                  [all, done](app_status& s) mutable {
                    all->push_back(std::move(s));
                    done();
                  },
                  [done](caf::error&) mutable { done(); });
        return promise;
      },
      [self](status_atom, const std::string& id) -> caf::result<app_status> {
        auto& st = self->state;
        auto it = st.apps.find(id);
        if (it == st.apps.end())
          return no_app(id);
        return self->delegate(it->second, status_atom::value);
      },
      [self](scale_atom, const std::string& id, std::uint32_t n) {
        return forward(self, id, scale_atom::value, n);
      },
      [self](logs_atom, const log_query& q) -> caf::result<std::vector<log_line>> {
        auto& st = self->state;
        auto it = st.apps.find(q.app);
        if (it == st.apps.end())
          return no_app(q.app);
        return self->delegate(it->second, logs_atom::value, q);
      },
      [self](follow_atom, const log_query& q, const caf::actor& watcher) -> caf::result<ok_atom> {
        auto& st = self->state;
        auto it = st.apps.find(q.app);
        if (it == st.apps.end())
          return no_app(q.app);
        return self->delegate(it->second, follow_atom::value, q, watcher);
      },
      [self](stop_atom, const std::string& id) { return forward(self, id, stop_atom::value); },
      [self](start_atom, const std::string& id) { return forward(self, id, start_atom::value); },
      [self](delete_atom, const std::string& id) -> caf::result<ok_atom> {
        auto& st = self->state;
        auto it = st.apps.find(id);
        if (it == st.apps.end())
          return no_app(id);
        auto handle = it->second;
        auto promise = self->make_response_promise<ok_atom>();
        self->request(handle, caf::infinite, delete_atom::value)
            .then(
                [self, promise, id](ok_atom) mutable {
                  self->state.apps.erase(id);
                  forget_app(self, id, [promise](std::string err) mutable {
                    if (!err.empty())
                      promise.deliver(caf::make_error(caf::sec::runtime_error, "state not saved: " + err));
                    else
                      promise.deliver(ok_atom::value);
                  });
                },
                [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
        return promise;
      },
      [self](releases_atom, const std::string& app) { return on_releases(self, app); },
      [self](rollback_atom, const std::string& app, const std::string& version, const caf::actor& watcher) {
        return on_rollback(self, app, version, watcher);
      },
      [self](secret_set_atom, const std::string& app, const std::string& name, secret_value& value,
             const caf::actor& watcher) -> caf::result<deploy_result> {
        return on_secret_change(self, app, "secret " + name + " set", watcher, secret_set_atom::value, app,
                                name, std::move(value));
      },
      [self](secret_del_atom, const std::string& app, const std::string& name,
             const caf::actor& watcher) -> caf::result<deploy_result> {
        return on_secret_change(self, app, "secret " + name + " removed", watcher, secret_del_atom::value,
                                app, name);
      },
      [self](secrets_atom, const std::string& app) -> caf::result<std::vector<secret_info>> {
        if (!self->state.config.secrets)
          return refuse("secrets are not available on this node");
        return self->delegate(self->state.config.secrets, secrets_atom::value, app);
      },
      [self](status_atom) -> caf::result<node_status> {
        return self->delegate(self->state.config.node, status_atom::value);
      },
      [self](certificate_atom) -> caf::result<std::vector<certificate_status>> {
        return self->delegate(self->state.config.node, certificate_atom::value);
      },
      [self](certificate_atom, const std::string& host, const std::string& chain_pem,
             const std::string& key_pem) -> caf::result<certificate_status> {
        if (chain_pem.size() > (1u << 20) || key_pem.size() > (64u << 10))
          return caf::make_error(caf::sec::invalid_argument, "certificate or key file too large");
        return self->delegate(self->state.config.node, certificate_atom::value, host, chain_pem, key_pem);
      },
      [self](renew_atom, const std::string& name) -> caf::result<certificate_status> {
        if (name.empty() || name.size() > 253)
          return caf::make_error(caf::sec::invalid_argument, "a host name is 1 to 253 characters");
        return self->delegate(self->state.config.node, renew_atom::value, name);
      },
      [self](cache_atom) -> caf::result<cache_status> {
        return self->delegate(self->state.config.node, cache_atom::value);
      },
      [self](purge_atom, const std::string& app, const std::string& prefix) -> caf::result<std::uint64_t> {
        if (!app.empty() && !self->state.apps.count(app))
          return no_app(app);
        if (!prefix.empty() && (prefix.front() != '/' || prefix.size() > 4096))
          return caf::make_error(caf::sec::invalid_argument,
                                 "a path prefix starts with '/' (and is at most 4096 bytes)");
        return self->delegate(self->state.config.node, purge_atom::value, app, prefix);
      },
      [self](drain_atom) -> caf::result<ok_atom> {
        auto& st = self->state;
        auto promise = self->make_response_promise<ok_atom>();
        if (st.apps.empty()) {
          promise.deliver(ok_atom::value);
          return promise;
        }
        auto left = std::make_shared<std::size_t>(st.apps.size());
        for (const auto& [id, handle] : st.apps)
          self->request(handle, caf::infinite, stop_atom::value)
              .then(
                  [promise, left](const app_status&) mutable {
                    if (--*left == 0)
                      promise.deliver(ok_atom::value);
                  },
                  [promise, left](const caf::error&) mutable {
                    if (--*left == 0)
                      promise.deliver(ok_atom::value);
                  });
        return promise;
      },
  };
}

} // namespace ika::actors
