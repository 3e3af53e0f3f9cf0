// The app actor in a real actor system with real instance actors, a real
// health prober and real messages; what it talks to is faked:
//
// - the node is a small actor that records every claim, publication and
//   purge and replies at once (or refuses a claim of a host it was told to);
// - the processes are "fake processes" of a fake supervisor (the
//   instance_runtime is injectable): starting one sends the instance actor
//   spawned/exited the way the real supervisor does, and its "port" is a
//   real loopback listener on the io thread that answers the health probes
//   with 200 or 503 as the test says. So nothing forks, every instance's
//   health is under the test's control, and a port stays bound (answering
//   503) until the test ends, so no other instance can get it.
//
// The rollout's own transitions are tested on the state machine
// (tests/unit/runtime/deploy/rollout_test.cpp); here: what the app adds on
// top of it. Waiting is always for a condition with a deadline.

#include "actors/app.hpp"

#include "protocol/types.hpp"
#include "tests/actors/actor_test_config.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace ika;
using namespace ika::actors;
using namespace ika::protocol;
using namespace std::chrono;
using namespace std::chrono_literals;
using asio::ip::tcp;
using strings = std::vector<std::string>;
using id_set = std::set<std::string>;

const std::string app_id = "web/production";

// -- the node -----------------------------------------------------------------------------

/// What the fake node was told, in order.
struct node_log {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<app_backends> published;
  std::vector<std::vector<route_spec>> claims;
  std::uint32_t purges = 0;
  std::set<std::string> refused_hosts; ///< claims of these fail

  /// Waits until `pred(*this)` holds (called with the mutex held).
  template <class Pred>
  bool wait(Pred pred, milliseconds timeout = 10s) {
    std::unique_lock lock{mutex};
    return changed.wait_for(lock, timeout, [&] { return pred(*this); });
  }

  std::optional<app_backends> last_published() {
    std::lock_guard lock{mutex};
    if (published.empty())
      return std::nullopt;
    return published.back();
  }
};

id_set ids_of(const app_backends& b) {
  id_set out;
  for (const auto& s : b.backends)
    out.insert(s.instance);
  return out;
}

node_actor::behavior_type fake_node(node_actor::pointer, std::shared_ptr<node_log> log) {
  return {
      [](start_atom) { return node_status{}; },
      [](routes_atom, const std::vector<route_spec>&) { return ok_atom::value; },
      [log](claim_atom, const std::string&, const std::vector<route_spec>& routes) -> caf::result<ok_atom> {
        std::lock_guard lock{log->mutex};
        for (const auto& r : routes)
          if (log->refused_hosts.count(r.host) != 0)
            return caf::make_error(caf::sec::invalid_argument, "host " + r.host + " belongs to another app");
        log->claims.push_back(routes);
        log->changed.notify_all();
        return ok_atom::value;
      },
      [log](backends_atom, const app_backends& b) {
        std::lock_guard lock{log->mutex};
        log->published.push_back(b);
        log->changed.notify_all();
        return ok_atom::value;
      },
      [](status_atom) { return node_status{}; },
      [](drain_atom, caf::timespan) { return drain_result{}; },
      [](stop_atom) { return ok_atom::value; },
      [log](purge_atom, const std::string&, const std::string&) {
        std::lock_guard lock{log->mutex};
        ++log->purges;
        log->changed.notify_all();
        return std::uint64_t{0};
      },
      [](cache_atom) { return cache_status{}; },
      [](certificate_atom, const certificate_status&) {},
      [](certificate_atom) { return std::vector<certificate_status>{}; },
      [](renew_atom, const std::string&) { return certificate_status{}; },
      [](certificate_atom, const std::string&, const std::string&, const std::string&) {
        return certificate_status{};
      },
  };
}

// -- the processes ------------------------------------------------------------------------

/// A loopback listener that answers every request with 200 while `healthy`,
/// else 503 (and keeps its port bound until closed).
struct fake_port {
  explicit fake_port(asio::io_context& io) : acceptor{io} {}
  tcp::acceptor acceptor;
  std::atomic<bool> healthy{true};
};

void serve_one(std::shared_ptr<fake_port> port, std::shared_ptr<tcp::socket> socket) {
  auto buffer = std::make_shared<std::string>();
  auto chunk = std::make_shared<std::array<char, 1024>>();
  // Reads the request head, answers, closes.
  auto read = std::make_shared<std::function<void()>>();
  *read = [port, socket, buffer, chunk, read] {
    socket->async_read_some(
        asio::buffer(*chunk), [port, socket, buffer, chunk, read](asio::error_code ec, std::size_t n) {
          if (ec) {
            *read = nullptr; // breaks the cycle
            return;
          }
          buffer->append(chunk->data(), n);
          if (buffer->find("\r\n\r\n") == std::string::npos) {
            (*read)();
            return;
          }
          *read = nullptr;
          auto answer = std::make_shared<std::string>(
              port->healthy
                  ? "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                  : "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
          asio::async_write(*socket, asio::buffer(*answer), [socket, answer](asio::error_code, std::size_t) {
            asio::error_code ignored;
            socket->shutdown(tcp::socket::shutdown_send, ignored);
            socket->close(ignored);
          });
        });
  };
  (*read)();
}

void accept_loop(std::shared_ptr<fake_port> port) {
  port->acceptor.async_accept([port](asio::error_code ec, tcp::socket s) {
    if (ec)
      return; // closed
    serve_one(port, std::make_shared<tcp::socket>(std::move(s)));
    accept_loop(port);
  });
}

/// The supervisor's stand-in. What a process does is chosen by its
/// command (argv[0]), or by the next queued override:
///   "serve"   starts and answers probes with 200 (healthy);
///   "crash"   starts, writes "boom" to stderr and exits with code 3;
///   "mute"    starts and answers 503 (never healthy: the start timeout
///             kills it);
///   "nostart" cannot be started (pid 0).
/// SIGTERM and SIGKILL end a process at once.
class fake_host {
public:
  explicit fake_host(asio::io_context& io) : io_{io}, prober_{std::make_shared<health::prober>(io)} {}

  std::shared_ptr<instance_runtime> runtime() {
    auto rt = std::make_shared<instance_runtime>();
    // The host keeps the prober: a probe still queued on the io thread
    // when the last instance actor is gone must not find it destroyed.
    rt->prober = prober_;
    rt->pick_port = [this] { return open_port(); };
    rt->spawn = [this](const launch_spec& spec, instance_actor self, app_actor app, const std::string& id) {
      start(spec, std::move(self), std::move(app), id);
    };
    rt->signal_group = [this](std::int32_t pid, int sig) { end(pid, -sig); };
    return rt;
  }

  /// The next process started does `what` instead of its command.
  void override_next(std::string what) {
    std::lock_guard lock{mutex_};
    overrides_.push_back(std::move(what));
  }

  /// `instance`'s process exits with `code` (as if it crashed).
  void crash(const std::string& instance, std::int32_t code) {
    std::int32_t pid = 0;
    {
      std::lock_guard lock{mutex_};
      for (const auto& [p, proc] : procs_)
        if (proc.instance == instance && proc.alive)
          pid = p;
    }
    ASSERT_NE(pid, 0) << instance << " runs no process";
    end(pid, code);
  }

  /// `instance`'s health checks fail (503) or pass again.
  void set_healthy(const std::string& instance, bool healthy) {
    std::lock_guard lock{mutex_};
    for (auto& [p, proc] : procs_)
      if (proc.instance == instance && proc.alive)
        proc.port->healthy = healthy;
  }

  /// Processes started for `instance` so far.
  int starts(const std::string& instance) {
    std::lock_guard lock{mutex_};
    return static_cast<int>(std::count_if(procs_.begin(), procs_.end(),
                                          [&](const auto& p) { return p.second.instance == instance; }));
  }

  /// Processes running now.
  int running() {
    std::lock_guard lock{mutex_};
    return static_cast<int>(
        std::count_if(procs_.begin(), procs_.end(), [](const auto& p) { return p.second.alive; }));
  }

  /// Closes every listener and forgets the actors (their handles must not
  /// outlive the actor system).
  void shutdown() {
    std::lock_guard lock{mutex_};
    for (auto& [n, port] : ports_)
      asio::post(io_, [port = port] {
        asio::error_code ignored;
        port->acceptor.close(ignored);
      });
    procs_.clear();
  }

  void clear() {
    std::lock_guard lock{mutex_};
    ports_.clear();
  }

private:
  struct process {
    std::string instance;
    instance_actor self;
    std::shared_ptr<fake_port> port;
    bool alive = true;
  };

  std::uint16_t open_port() {
    auto port = std::make_shared<fake_port>(io_);
    port->acceptor.open(tcp::v4());
    port->acceptor.bind(tcp::endpoint{asio::ip::address_v4::loopback(), 0});
    port->acceptor.listen();
    auto n = port->acceptor.local_endpoint().port();
    {
      std::lock_guard lock{mutex_};
      ports_[n] = port;
    }
    asio::post(io_, [port] { accept_loop(port); });
    return n;
  }

  void start(const launch_spec& spec, instance_actor self, app_actor app, const std::string& id) {
    std::string what = spec.argv.empty() ? "serve" : spec.argv[0];
    std::uint16_t port_number = 0;
    for (const auto& e : spec.env)
      if (e.rfind("PORT=", 0) == 0)
        port_number = static_cast<std::uint16_t>(std::stoi(e.substr(5)));
    std::int32_t pid = 0;
    {
      std::lock_guard lock{mutex_};
      if (!overrides_.empty()) {
        what = overrides_.front();
        overrides_.erase(overrides_.begin());
      }
      if (what == "nostart") {
        caf::anon_send(self, spawned_atom::value, std::int32_t{0}, std::string{"no such file or directory"});
        return;
      }
      pid = next_pid_++;
      auto port = ports_.at(port_number);
      port->healthy = what == "serve";
      procs_[pid] = process{id, self, port, true};
    }
    caf::anon_send(self, spawned_atom::value, pid, std::string{});
    caf::anon_send(app, output_atom::value, log_line{0, id, "stdout", "started as " + what});
    if (what == "crash") {
      caf::anon_send(app, output_atom::value, log_line{0, id, "stderr", "boom"});
      end(pid, 3);
    }
  }

  /// Process `pid` ends with `code` (negative: killed by that signal).
  void end(std::int32_t pid, std::int32_t code) {
    instance_actor self;
    {
      std::lock_guard lock{mutex_};
      auto it = procs_.find(pid);
      if (it == procs_.end() || !it->second.alive)
        return;
      it->second.alive = false;
      it->second.port->healthy = false;
      self = it->second.self;
    }
    caf::anon_send(self, exited_atom::value, pid, code);
  }

  asio::io_context& io_;
  std::shared_ptr<health::prober> prober_;
  std::mutex mutex_;
  std::map<std::uint16_t, std::shared_ptr<fake_port>> ports_;
  std::map<std::int32_t, process> procs_;
  std::vector<std::string> overrides_;
  std::int32_t next_pid_ = 40'000;
};

// -- the fixture --------------------------------------------------------------------------

/// A release of web/production whose processes do `command`.
release_spec release(const std::string& version, const std::string& command, std::uint32_t instances,
                     std::uint64_t hold_ms = 50, const std::string& host = "web.test") {
  release_spec r;
  r.app = app_id;
  r.version = version;
  r.dir = "/";
  auto& m = r.manifest;
  m.name = "web";
  m.command = {command};
  m.instances = instances;
  m.routes = {manifest_route{host, "/*"}};
  m.health.path = "/healthz";
  m.health.interval_ms = 20;
  m.health.timeout_ms = 1000; // generous: a slow (sanitized) run must not flap
  m.health.healthy_threshold = 1;
  m.health.unhealthy_threshold = 2;
  m.start_timeout_ms = 10'000;
  m.stop_timeout_ms = 5'000;
  m.rollout.max_surge = 1;
  m.rollout.hold_ms = hold_ms;
  m.rollout.drain_timeout_ms = 5'000;
  m.demand.idle_timeout_ms = 150;
  return r;
}

class AppActorTest : public ::testing::Test {
protected:
  AppActorTest()
      : guard_{asio::make_work_guard(io_)}, io_thread_{[this] { io_.run(); }}, host_{io_},
        sys_{std::make_unique<caf::actor_system>(test::actor_test_config())},
        self_{std::make_unique<caf::scoped_actor>(*sys_)}, node_log_{std::make_shared<node_log>()},
        registry_{std::make_shared<proxy::backend_registry>()} {
    node_ = sys_->spawn(fake_node, node_log_);
  }

  ~AppActorTest() override {
    if (app_)
      caf::anon_send_exit(app_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(node_, caf::exit_reason::user_shutdown);
    app_ = nullptr;
    node_ = nullptr;
    self_.reset();
    sys_->await_all_actors_done();
    host_.shutdown();
    guard_.reset();
    io_thread_.join();
    host_.clear();
    sys_.reset();
  }

  app_actor spawn_app() {
    app_config c;
    c.id = app_id;
    c.node = node_;
    c.registry = registry_;
    c.runtime = host_.runtime();
    app_ = sys_->spawn(app, std::move(c));
    return app_;
  }

  caf::scoped_actor& self() { return *self_; }

  /// The answer to a deploy or restart request; an error comes back as
  /// the message of a failed result.
  template <class Handle>
  deploy_result result_of(Handle&& pending) {
    deploy_result out;
    out.message = "no reply";
    pending.receive([&](deploy_result& x) { out = std::move(x); },
                    [&](caf::error& e) { out.message = sys_->render(e); });
    return out;
  }

  deploy_result deploy(const release_spec& r, const caf::actor& watcher = {}) {
    return result_of(self()->request(app_, 30s, deploy_atom::value, r, watcher));
  }

  app_status status() {
    app_status out;
    self()
        ->request(app_, 10s, status_atom::value)
        .receive([&](app_status& s) { out = std::move(s); },
                 [&](caf::error& e) { ADD_FAILURE() << sys_->render(e); });
    return out;
  }

  /// The error a command answers with ("" if it succeeded).
  template <class Reply, class... Ts>
  std::string refusal(Ts... xs) {
    std::string out;
    self()->request(app_, 10s, xs...).receive([&](Reply&) {}, [&](caf::error& e) { out = sys_->render(e); });
    return out;
  }

  /// Polls the app's status until `pred` holds (the last status either way).
  template <class Pred>
  app_status wait_status(Pred pred, milliseconds timeout = 10s) {
    auto deadline = steady_clock::now() + timeout;
    for (;;) {
      auto s = status();
      if (pred(s))
        return s;
      if (steady_clock::now() >= deadline) {
        ADD_FAILURE() << "condition not met within " << timeout.count() << " ms; state " << s.state
                      << ", rollout \"" << s.rollout << "\", " << s.instance_list.size() << " instances";
        return s;
      }
      std::this_thread::sleep_for(2ms); // polling interval, not synchronisation
    }
  }

  /// Waits until the latest publication is exactly `ids`.
  void wait_published(const id_set& ids, milliseconds timeout = 10s) {
    bool ok = node_log_->wait(
        [&](node_log& l) { return !l.published.empty() && ids_of(l.published.back()) == ids; }, timeout);
    EXPECT_TRUE(ok) << "published: " << describe_last_publication();
  }

  std::string describe_last_publication() {
    auto p = node_log_->last_published();
    if (!p)
      return "nothing";
    std::string out;
    for (const auto& b : p->backends)
      out += b.instance + "@" + b.address + " ";
    return out + (p->on_demand ? "(on demand)" : "");
  }

  static id_set instance_ids(const app_status& s) {
    id_set out;
    for (const auto& i : s.instance_list)
      out.insert(i.id);
    return out;
  }

  static const instance_status* find(const app_status& s, const std::string& id) {
    for (const auto& i : s.instance_list)
      if (i.id == id)
        return &i;
    return nullptr;
  }

  /// Deploys `r` and expects it to go live; returns the serving ids.
  id_set live(const release_spec& r) {
    auto result = deploy(r);
    EXPECT_TRUE(result.ok) << result.message;
    auto s = wait_status([&](const app_status& x) {
      return x.state == "running" &&
             x.instance_list.size() == std::max<std::uint32_t>(r.manifest.instances, 1);
    });
    return instance_ids(s);
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread io_thread_;
  fake_host host_;
  std::unique_ptr<caf::actor_system> sys_;
  std::unique_ptr<caf::scoped_actor> self_;
  std::shared_ptr<node_log> node_log_;
  std::shared_ptr<proxy::backend_registry> registry_;
  node_actor node_;
  app_actor app_;
};

// -- deploy -------------------------------------------------------------------------------

TEST_F(AppActorTest, FirstDeployClaimsRoutesAndPublishesTheHealthyInstances) {
  spawn_app();
  auto result = deploy(release("v1", "serve", 2));
  ASSERT_TRUE(result.ok) << result.message;
  EXPECT_TRUE(result.changed);
  EXPECT_EQ(result.release, "v1");
  EXPECT_EQ(result.message, "release v1 is live");
  {
    std::lock_guard lock{node_log_->mutex};
    ASSERT_FALSE(node_log_->claims.empty());
    ASSERT_EQ(node_log_->claims.back().size(), 1u);
    EXPECT_EQ(node_log_->claims.back()[0].host, "web.test");
    EXPECT_EQ(node_log_->claims.back()[0].app, app_id);
    EXPECT_EQ(node_log_->purges, 1u) << "a new release purges the app's cached responses";
  }
  auto s = wait_status([](const app_status& x) { return x.state == "running" && x.healthy == 2; });
  EXPECT_EQ(s.release, "v1");
  EXPECT_EQ(s.desired, "running");
  EXPECT_TRUE(s.next_release.empty());
  EXPECT_TRUE(s.rollout.empty());
  // The reply came after the node confirmed the publication: both serve.
  auto last = node_log_->last_published();
  ASSERT_TRUE(last);
  EXPECT_EQ(ids_of(*last), instance_ids(s));
  EXPECT_FALSE(last->on_demand);
  for (const auto& b : last->backends) {
    auto* i = find(s, b.instance);
    ASSERT_NE(i, nullptr);
    EXPECT_EQ(b.address, "127.0.0.1:" + std::to_string(i->port));
  }
}

TEST_F(AppActorTest, DeployOfTheLiveReleaseIsANoOp) {
  spawn_app();
  auto before = live(release("v1", "serve", 1));
  auto result = deploy(release("v1", "serve", 1));
  EXPECT_TRUE(result.ok);
  EXPECT_FALSE(result.changed);
  EXPECT_EQ(result.message, "release v1 is live already");
  EXPECT_EQ(instance_ids(status()), before);
}

TEST_F(AppActorTest, ASecondDeployAndOtherCommandsAreRefusedDuringARollout) {
  spawn_app();
  auto old = live(release("v1", "serve", 1));
  // v2's new instance never becomes healthy: the rollout stays in
  // `starting` until the test lets it.
  host_.override_next("mute");
  caf::scoped_actor other{*sys_};
  auto pending = other->request(app_, 30s, deploy_atom::value, release("v2", "serve", 1), caf::actor{});
  auto s =
      wait_status([](const app_status& x) { return x.state == "deploying" && x.instance_list.size() == 2; });
  EXPECT_EQ(s.next_release, "v2");
  EXPECT_EQ(s.release, "v1");
  EXPECT_EQ(s.rollout, "batch 1/1: starting 1 instance (0 healthy), 0/1 new serving");

  auto second = deploy(release("v3", "serve", 1));
  EXPECT_FALSE(second.ok);
  EXPECT_FALSE(second.changed);
  EXPECT_EQ(second.release, "v3");
  EXPECT_EQ(second.message, "a rollout of release v2 is in progress; deploy again when it is done");
  deploy_result restarted;
  self()
      ->request(app_, 10s, restart_atom::value, caf::actor{})
      .receive([&](deploy_result& r) { restarted = r; }, [](caf::error&) {});
  EXPECT_FALSE(restarted.ok);
  EXPECT_EQ(restarted.message, "a rollout of release v2 is in progress; restart after it");
  EXPECT_NE(refusal<app_status>(scale_atom::value, std::uint32_t{3})
                .find("a deploy is in progress; scale after it"),
            std::string::npos);
  EXPECT_NE(refusal<app_status>(stop_atom::value).find("a deploy is in progress; stop after it"),
            std::string::npos);
  EXPECT_NE(refusal<ok_atom>(delete_atom::value).find("a deploy is in progress; delete after it"),
            std::string::npos);

  // Now the new instance becomes healthy: v2 goes live after all.
  std::string fresh;
  for (const auto& id : instance_ids(status()))
    if (old.count(id) == 0)
      fresh = id;
  host_.set_healthy(fresh, true);
  auto first = result_of(pending);
  EXPECT_TRUE(first.ok) << first.message;
  EXPECT_EQ(first.release, "v2");
  wait_published({fresh});
  s = wait_status([&](const app_status& x) { return instance_ids(x) == id_set{fresh}; });
  EXPECT_EQ(s.release, "v2");
  EXPECT_EQ(s.state, "running");
}

TEST_F(AppActorTest, ACrashWhileStartingFailsTheDeployAndLeavesTheOldReleaseUntouched) {
  spawn_app();
  auto old = live(release("v1", "serve", 2));
  auto old_status = status();
  caf::scoped_actor watcher{*sys_};
  auto result = deploy(release("v2", "crash", 2, 50, "web-v2.test"), caf::actor_cast<caf::actor>(watcher));
  EXPECT_FALSE(result.ok);
  EXPECT_FALSE(result.changed);
  EXPECT_EQ(result.release, "v2");
  EXPECT_NE(result.message.find(" failed: exited with code 3"), std::string::npos) << result.message;
  EXPECT_EQ(result.message.rfind("new instance web-production-", 0), 0u) << result.message;
  // The new release's last lines come with the reply.
  ASSERT_FALSE(result.logs.empty());
  EXPECT_EQ(result.logs.back().text, "boom");
  // The watcher heard of the new instance and of the failure.
  std::vector<deploy_event> events;
  bool more = true;
  while (more)
    watcher->receive([&](progress_atom, deploy_event& e) { events.push_back(std::move(e)); },
                     caf::after(0ms) >> [&] { more = false; });
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().step, "failed");
  EXPECT_EQ(events.back().detail, result.message);

  // Untouched: the same processes serve v1, and only they are published.
  EXPECT_EQ(ids_of(*node_log_->last_published()), old);
  auto s = wait_status([&](const app_status& x) { return instance_ids(x) == old; });
  EXPECT_EQ(s.release, "v1");
  EXPECT_EQ(s.state, "running");
  for (const auto& id : old) {
    EXPECT_EQ(host_.starts(id), 1) << id << " was not restarted";
    EXPECT_EQ(find(s, id)->pid, find(old_status, id)->pid);
  }
  // The routes are given back as they were (v1's host): the claims were
  // v1's, v1's beside v2's for the rollout, and v1's again. (Nothing
  // published changed, so the reply may overtake the last claim: wait.)
  EXPECT_TRUE(node_log_->wait([](node_log& l) { return l.claims.size() >= 3; }));
  std::lock_guard lock{node_log_->mutex};
  ASSERT_EQ(node_log_->claims.size(), 3u);
  ASSERT_EQ(node_log_->claims[1].size(), 2u);
  EXPECT_EQ(node_log_->claims[1][0].host, "web.test");
  EXPECT_EQ(node_log_->claims[1][1].host, "web-v2.test");
  ASSERT_EQ(node_log_->claims[2].size(), 1u);
  EXPECT_EQ(node_log_->claims[2][0].host, "web.test");
}

TEST_F(AppActorTest, AFirstDeployThatCannotStartReleasesTheRoutes) {
  spawn_app();
  auto result = deploy(release("v1", "nostart", 1));
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.message.find("failed: cannot start: no such file or directory"), std::string::npos)
      << result.message;
  auto s = wait_status([](const app_status& x) { return x.instance_list.empty(); });
  EXPECT_TRUE(s.release.empty());
  EXPECT_TRUE(node_log_->wait([](node_log& l) { return l.claims.size() >= 2; }));
  std::lock_guard lock{node_log_->mutex};
  ASSERT_EQ(node_log_->claims.size(), 2u);
  EXPECT_TRUE(node_log_->claims.back().empty()) << "a first deploy had no routes before";
  EXPECT_EQ(node_log_->purges, 0u);
}

TEST_F(AppActorTest, ARefusedClaimFailsTheDeployBeforeAnythingStarts) {
  spawn_app();
  {
    std::lock_guard lock{node_log_->mutex};
    node_log_->refused_hosts.insert("taken.test");
  }
  auto result = deploy(release("v1", "serve", 1, 50, "taken.test"));
  EXPECT_FALSE(result.ok);
  EXPECT_NE(result.message.find("host taken.test belongs to another app"), std::string::npos)
      << result.message;
  auto s = status();
  EXPECT_TRUE(s.instance_list.empty());
  EXPECT_TRUE(s.next_release.empty()) << "no rollout is left behind";
  EXPECT_EQ(host_.running(), 0);
  // ... and the next deploy is not refused as "in progress".
  EXPECT_TRUE(deploy(release("v2", "serve", 1)).ok);
}

TEST_F(AppActorTest, UnhealthyDuringTheHoldFailsAndTheOldKeepServing) {
  spawn_app();
  auto old = live(release("v1", "serve", 1));
  caf::scoped_actor other{*sys_};
  auto pending =
      other->request(app_, 30s, deploy_atom::value, release("v2", "serve", 1, 60'000), caf::actor{});
  auto s = wait_status([](const app_status& x) { return x.rollout.rfind("batch 1/1: holding", 0) == 0; });
  std::string fresh;
  for (const auto& id : instance_ids(s))
    if (old.count(id) == 0)
      fresh = id;
  ASSERT_FALSE(fresh.empty());
  EXPECT_EQ(ids_of(*node_log_->last_published()), old) << "held out of traffic";
  host_.set_healthy(fresh, false);
  auto result = result_of(pending);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.message, "new instance " + fresh + " unhealthy: health check: status 503");
  EXPECT_EQ(ids_of(*node_log_->last_published()), old);
  s = wait_status([&](const app_status& x) { return instance_ids(x) == old; });
  EXPECT_EQ(s.release, "v1");
  EXPECT_EQ(s.state, "running");
}

TEST_F(AppActorTest, ACrashDuringTheHoldOfALaterBatchRestoresTheRetiredOldInstances) {
  spawn_app();
  auto old = live(release("v1", "serve", 2));
  auto old_status = status();
  // Batch 1 holds 2 s, then serves; the test waits for batch 2's hold
  // and crashes its instance within it (it sees the hold within a few
  // ms; 2 s is the margin for a slow, sanitized run).
  caf::scoped_actor other{*sys_};
  auto pending = other->request(app_, 60s, deploy_atom::value, release("v2", "serve", 2, 2000), caf::actor{});
  auto s =
      wait_status([](const app_status& x) { return x.rollout.rfind("batch 2/2: holding", 0) == 0; }, 20s);
  id_set fresh;
  for (const auto& id : instance_ids(s))
    if (old.count(id) == 0)
      fresh.insert(id);
  ASSERT_EQ(fresh.size(), 2u);
  // One old instance left the balancer for the first new one.
  auto published = ids_of(*node_log_->last_published());
  ASSERT_EQ(published.size(), 2u);
  std::string first_new = *fresh.begin(), second_new = *fresh.rbegin(); // ids grow: ...-3 < ...-4
  EXPECT_EQ(published.count(first_new), 1u);
  EXPECT_EQ(published.count(second_new), 0u) << "batch 2 is held out of traffic";
  std::string retired;
  for (const auto& id : old)
    if (published.count(id) == 0)
      retired = id;
  ASSERT_FALSE(retired.empty());
  auto* r = find(s, retired);
  ASSERT_NE(r, nullptr) << "a retired instance keeps running until the rollout is done";
  EXPECT_EQ(r->detail, "not in traffic");

  host_.crash(second_new, -9);
  auto result = result_of(pending);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.message.rfind("new instance " + second_new + " backoff: killed by signal 9", 0), 0u)
      << result.message;
  // The old instances serve again: the very same processes.
  EXPECT_EQ(ids_of(*node_log_->last_published()), old);
  s = wait_status([&](const app_status& x) { return instance_ids(x) == old; });
  EXPECT_EQ(s.release, "v1");
  for (const auto& id : old) {
    EXPECT_EQ(host_.starts(id), 1) << id;
    EXPECT_EQ(find(s, id)->pid, find(old_status, id)->pid) << id;
  }
  EXPECT_EQ(host_.running(), 2);
}

TEST_F(AppActorTest, AServingOldInstanceCrashingDuringARolloutDoesNotFailIt) {
  spawn_app();
  auto old = live(release("v1", "serve", 1));
  // Old instances of a restored app retry; this one was deployed (no retry
  // until healthy once): it was healthy, so it restarts with backoff.
  caf::scoped_actor other{*sys_};
  host_.override_next("mute");
  auto pending = other->request(app_, 30s, deploy_atom::value, release("v2", "serve", 1), caf::actor{});
  wait_status([](const app_status& x) { return x.state == "deploying" && x.instance_list.size() == 2; });
  host_.crash(*old.begin(), 1);
  auto s = wait_status([&](const app_status& x) {
    auto* o = find(x, *old.begin());
    return o != nullptr && o->state == "backoff";
  });
  EXPECT_EQ(s.state, "deploying") << "an old instance is not the rollout's to judge";
  // Let v2 through.
  for (const auto& id : instance_ids(s))
    if (old.count(id) == 0)
      host_.set_healthy(id, true);
  auto result = result_of(pending);
  EXPECT_TRUE(result.ok) << result.message;
}

TEST_F(AppActorTest, OnlyHealthyInstancesArePublished) {
  spawn_app();
  auto ids = live(release("v1", "serve", 2));
  wait_published(ids);
  auto sick = *ids.begin(), other = *ids.rbegin();
  // Unhealthy: out of the balancer, the app is degraded; healthy again: back.
  host_.set_healthy(sick, false);
  wait_published({other});
  EXPECT_EQ(wait_status([](const app_status& x) { return x.state == "degraded"; }).healthy, 1u);
  host_.set_healthy(sick, true);
  wait_published(ids);
  wait_status([](const app_status& x) { return x.state == "running"; });
  // Crashed: out until its restart (with backoff) is healthy again.
  host_.crash(sick, 1);
  wait_published({other});
  wait_published(ids);
  EXPECT_EQ(host_.starts(sick), 2);
  auto s = wait_status([](const app_status& x) { return x.state == "running"; });
  EXPECT_EQ(find(s, sick)->restarts, 1u);
}

// -- restart, scale, stop, start, delete --------------------------------------------------

TEST_F(AppActorTest, RestartRollsTheLiveReleaseOntoFreshInstances) {
  spawn_app();
  auto old = live(release("v1", "serve", 2));
  auto result = result_of(self()->request(app_, 30s, restart_atom::value, caf::actor{}));
  EXPECT_TRUE(result.ok) << result.message;
  EXPECT_EQ(result.release, "v1");
  auto s = wait_status([&](const app_status& x) {
    auto ids = instance_ids(x);
    return ids.size() == 2 &&
           std::none_of(ids.begin(), ids.end(), [&](auto& id) { return old.count(id) != 0; });
  });
  EXPECT_EQ(s.release, "v1");
  wait_published(instance_ids(s));
  std::lock_guard lock{node_log_->mutex};
  EXPECT_EQ(node_log_->purges, 1u) << "the same release: nothing to purge";
}

TEST_F(AppActorTest, RestartWithNothingRunningIsANoOp) {
  spawn_app();
  deploy_result result;
  self()
      ->request(app_, 10s, restart_atom::value, caf::actor{})
      .receive([&](deploy_result& r) { result = r; }, [](caf::error&) {});
  EXPECT_TRUE(result.ok);
  EXPECT_FALSE(result.changed);
  EXPECT_EQ(result.message, "no instance running; the next start uses the new environment");
  EXPECT_EQ(host_.running(), 0);
}

TEST_F(AppActorTest, ScaleStartsAndDrainsInstances) {
  spawn_app();
  live(release("v1", "serve", 1));
  std::optional<app_status> scaled;
  self()
      ->request(app_, 10s, scale_atom::value, std::uint32_t{3})
      .receive([&](app_status& s) { scaled = s; }, [&](caf::error& e) { ADD_FAILURE() << sys_->render(e); });
  ASSERT_TRUE(scaled);
  EXPECT_EQ(scaled->instances, 3u);
  auto s = wait_status([](const app_status& x) { return x.healthy == 3 && x.state == "running"; });
  wait_published(instance_ids(s));
  self()
      ->request(app_, 10s, scale_atom::value, std::uint32_t{1})
      .receive([&](app_status&) {}, [&](caf::error& e) { ADD_FAILURE() << sys_->render(e); });
  s = wait_status([](const app_status& x) { return x.instance_list.size() == 1 && x.healthy == 1; });
  wait_published(instance_ids(s));
  EXPECT_EQ(host_.running(), 1);
  EXPECT_NE(refusal<app_status>(scale_atom::value, std::uint32_t{65}).find("between 0 and 64"),
            std::string::npos);
}

TEST_F(AppActorTest, StopEndsEveryInstanceAndStartBringsThemBack) {
  spawn_app();
  live(release("v1", "serve", 2));
  std::optional<app_status> stopped;
  self()
      ->request(app_, 10s, stop_atom::value)
      .receive([&](app_status& s) { stopped = s; }, [&](caf::error& e) { ADD_FAILURE() << sys_->render(e); });
  ASSERT_TRUE(stopped);
  // The reply comes once every instance is gone.
  EXPECT_EQ(stopped->state, "stopped");
  EXPECT_TRUE(stopped->instance_list.empty());
  EXPECT_EQ(host_.running(), 0);
  wait_published({});

  std::optional<app_status> started;
  self()
      ->request(app_, 10s, start_atom::value)
      .receive([&](app_status& s) { started = s; }, [&](caf::error& e) { ADD_FAILURE() << sys_->render(e); });
  ASSERT_TRUE(started);
  EXPECT_EQ(started->desired, "running");
  auto s = wait_status([](const app_status& x) { return x.state == "running" && x.healthy == 2; });
  wait_published(instance_ids(s));
  EXPECT_EQ(s.release, "v1");
}

TEST_F(AppActorTest, DeleteReleasesEverythingAndQuits) {
  spawn_app();
  live(release("v1", "serve", 1));
  self()->monitor(app_);
  bool deleted = false;
  self()
      ->request(app_, 10s, delete_atom::value)
      .receive([&](ok_atom) { deleted = true; }, [&](caf::error& e) { ADD_FAILURE() << sys_->render(e); });
  EXPECT_TRUE(deleted);
  bool down = false;
  self()->receive([&](caf::down_msg&) { down = true; }, caf::after(10s) >> [] {});
  EXPECT_TRUE(down) << "the app actor quits after a delete";
  EXPECT_EQ(host_.running(), 0);
  std::lock_guard lock{node_log_->mutex};
  EXPECT_TRUE(node_log_->claims.back().empty()) << "routes released";
  EXPECT_TRUE(node_log_->published.back().backends.empty());
}

// -- on demand ----------------------------------------------------------------------------

TEST_F(AppActorTest, OnDemandStartsForAWaitingRequestAndStopsWhenIdle) {
  spawn_app();
  // The deploy itself starts one instance (a release must prove it runs);
  // idle, it stops after idle_timeout.
  auto result = deploy(release("v1", "serve", 0));
  ASSERT_TRUE(result.ok) << result.message;
  wait_status([](const app_status& x) { return x.instance_list.empty(); });
  auto last = node_log_->last_published();
  ASSERT_TRUE(last);
  EXPECT_TRUE(last->backends.empty());
  EXPECT_TRUE(last->on_demand);
  EXPECT_EQ(last->max_waiters, 1000u);
  EXPECT_EQ(last->wait_timeout_ms, 30'000u);
  EXPECT_EQ(host_.running(), 0);

  // A request waits at the app's gate (as the data plane's would): the
  // gate wakes the app through the registry, and while it waits the app
  // is not idle.
  auto gate = registry_->gate(app_id);
  auto waiter = gate->enter(io_.get_executor(), nullptr);
  ASSERT_TRUE(waiter);
  auto s = wait_status([](const app_status& x) { return x.healthy == 1; });
  ASSERT_EQ(s.instance_list.size(), 1u);
  auto woken = s.instance_list[0].id;
  wait_published({woken});
  EXPECT_TRUE(node_log_->last_published()->on_demand);
  // Another wake while one serves starts nothing more (the status request
  // comes after the wake: same sender, same order).
  self()->send(app_, wake_atom::value);
  EXPECT_EQ(status().instance_list.size(), 1u);
  EXPECT_EQ(host_.running(), 1);

  // The listener opens the gate for its waiters once it routes to the
  // instance; with nothing in flight the instance then idles out: it
  // leaves the balancer and stops.
  gate->open(nullptr);
  EXPECT_EQ(waiter->result.load(), proxy::demand_gate::outcome::open);
  wait_published({});
  wait_status([](const app_status& x) { return x.instance_list.empty(); });
  EXPECT_EQ(host_.running(), 0);
  EXPECT_EQ(host_.starts(woken), 1);
}

TEST_F(AppActorTest, OnDemandInstanceThatCannotStartFailsTheWaitersAndTheNextWakeTriesAgain) {
  spawn_app();
  ASSERT_TRUE(deploy(release("v1", "serve", 0)).ok);
  wait_status([](const app_status& x) { return x.instance_list.empty(); });
  auto gate = registry_->gate(app_id);
  host_.override_next("crash");
  auto waiter = gate->enter(io_.get_executor(), nullptr);
  ASSERT_TRUE(waiter);
  // The crashed instance (never healthy, no retry) fails: the waiting
  // request gets its answer at once, and the instance is dropped.
  wait_status([](const app_status& x) { return x.instance_list.empty(); });
  EXPECT_EQ(waiter->result.load(), proxy::demand_gate::outcome::failed);
  EXPECT_NE(waiter->reason.find("exited with code 3"), std::string::npos) << waiter->reason;
  EXPECT_EQ(gate->waiting(), 0u);
  EXPECT_EQ(host_.running(), 0);
  // The next request wakes a fresh one.
  auto second = gate->enter(io_.get_executor(), nullptr);
  auto s = wait_status([](const app_status& x) { return x.healthy == 1; });
  wait_published(instance_ids(s));
  gate->open(nullptr);
  EXPECT_EQ(second->result.load(), proxy::demand_gate::outcome::open);
}

TEST_F(AppActorTest, WakeOfAStoppedAppStartsNothing) {
  spawn_app();
  live(release("v1", "serve", 1));
  self()->request(app_, 10s, stop_atom::value).receive([](app_status&) {}, [](caf::error&) {});
  self()->send(app_, wake_atom::value);
  EXPECT_TRUE(status().instance_list.empty());
  EXPECT_EQ(host_.running(), 0);
}

// -- logs ---------------------------------------------------------------------------------

TEST_F(AppActorTest, OutputIsKeptForLogsAndSentToFollowers) {
  spawn_app();
  caf::scoped_actor follower{*sys_};
  self()
      ->request(app_, 10s, follow_atom::value, log_query{app_id, "i-1", 10},
                caf::actor_cast<caf::actor>(follower))
      .receive([](ok_atom) {}, [&](caf::error& e) { ADD_FAILURE() << sys_->render(e); });
  for (int i = 0; i < 3; ++i)
    self()->send(app_, output_atom::value,
                 log_line{i, i == 1 ? "i-2" : "i-1", "stdout", "line " + std::to_string(i)});
  std::vector<log_line> tail;
  self()
      ->request(app_, 10s, logs_atom::value, log_query{app_id, "", 2})
      .receive([&](std::vector<log_line>& l) { tail = l; },
               [&](caf::error& e) { ADD_FAILURE() << sys_->render(e); });
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0].text, "line 1");
  EXPECT_EQ(tail[1].text, "line 2");
  // The follower asked for i-1 only.
  strings followed;
  for (int i = 0; i < 2; ++i)
    follower->receive([&](logs_atom, log_line& l) { followed.push_back(l.text); }, caf::after(10s) >> [] {});
  EXPECT_EQ(followed, (strings{"line 0", "line 2"}));
}

} // namespace
