#pragma once
// The `app` actor: one per deployed app. It owns the app's instances (one
// `instance` actor each), its claim on routes, and the set of instances the
// data plane may use, which it publishes to the node whenever it changes.
//
// A deploy (or a rollback, or a restart after the secrets changed) is a
// rolling update driven by a deploy::rollout state machine: new instances
// start in batches of `max_surge`, out of traffic; once a batch has been
// healthy for the hold time it joins the load balancer and as many old
// instances leave it. Old instances stay up, idle, until the rollout is
// done; then they drain (their in-flight requests finish, up to the drain
// timeout) and stop. If a new instance fails in any phase, the new ones are
// stopped and the old ones serve again, untouched. One rollout at a time.
//
// An app with `instances = 0` runs on demand: the data plane holds its
// requests while no instance serves and wakes the app (wake_atom), which
// starts one; the requests go on once it is healthy and published. If it
// fails to start, the waiting requests get 502 at once. After idle_timeout
// without a request the instances leave the balancer, drain and stop.
//
// An instance leaves the balancer only once the node confirmed that new
// requests no longer see it (the reply to backends_atom); only then does
// its in-flight count tell whether it is drained.
//
// The app keeps the recent output of its instances (a ring for `ika logs`,
// a rotated file in the data dir) and forwards new lines to followers.

#include "actors/instance.hpp"
#include "protocol/interfaces.hpp"
#include "runtime/deploy/rollout.hpp"
#include "runtime/proxy/backends.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ika::actors {

/// Writes an app's log lines somewhere durable (a rotated file); may be
/// empty.
using log_writer = std::function<void(const protocol::log_line&)>;
/// Reads the last lines of an app's durable log (after a node restart the
/// ring is empty); may be empty.
using log_reader = std::function<std::vector<protocol::log_line>(const protocol::log_query&)>;

struct app_config {
  std::string id; ///< "name/environment"
  protocol::node_actor node;
  std::shared_ptr<proxy::backend_registry> registry;
  std::shared_ptr<instance_runtime> runtime;
  /// Brought back after a node restart: run this release at once (instances
  /// keep retrying), or keep it stopped.
  std::optional<protocol::release_spec> restore;
  bool restore_stopped = false;
  log_writer write_log;
  log_reader read_log;
};

/// One instance as its app sees it.
struct app_member {
  protocol::instance_actor handle;
  protocol::instance_status last; ///< from its latest event
  bool serving = false;           ///< in the load balancer (wanted; published once healthy)
  bool stopping = false;
  bool draining = false;     ///< left for good: stop once drained
  std::uint64_t left_at = 0; ///< the publication that took it out of the balancer
  std::chrono::steady_clock::time_point drain_deadline{};
};

/// A rollout under way: the release it rolls out and who waits for it.
struct pending_deploy {
  protocol::release_spec release;
  caf::actor watcher;
  caf::typed_response_promise<protocol::deploy_result> promise;
  deploy::rollout plan;
  std::vector<protocol::route_spec> previous_routes;
  std::uint64_t timer = 0; ///< generation of the hold timer
};

struct app_state {
  static inline const char* name = "ika.app";

  app_config config;
  protocol::release_spec current; ///< the live release; empty version before the first deploy
  bool running = false;           ///< desired state
  std::map<std::string, app_member> members;
  std::optional<pending_deploy> deploy;
  std::uint64_t next_seq = 1;
  std::deque<protocol::log_line> ring;
  std::vector<std::pair<caf::actor, protocol::log_query>> followers;
  std::vector<protocol::backend_spec> published;
  bool published_on_demand = false;
  std::uint64_t publish_seq = 0;   ///< publications sent to the node
  std::uint64_t publish_acked = 0; ///< ... and confirmed by it
  /// Run once publication `first` is confirmed.
  std::vector<std::pair<std::uint64_t, std::function<void()>>> on_published;
  bool check_armed = false;
  /// On-demand apps: requests counted at the last idle check, and when the
  /// count (or an in-flight request) last moved.
  std::uint64_t seen_requests = 0;
  std::chrono::steady_clock::time_point last_activity{};
  bool idle_armed = false;
  std::vector<caf::typed_response_promise<protocol::app_status>> stop_waiters;
  std::vector<caf::typed_response_promise<protocol::ok_atom>> delete_waiters;

  protocol::app_status status() const;
  std::vector<protocol::route_spec> routes_of(const protocol::release_spec& r) const;
  std::vector<protocol::log_line> tail(const protocol::log_query& q) const;
};

using app_pointer = protocol::app_actor::stateful_pointer<app_state>;

/// Lines an app keeps in memory for `ika logs`.
inline constexpr std::size_t app_log_ring = 2000;

protocol::app_actor::behavior_type app(app_pointer self, app_config config);

} // namespace ika::actors
