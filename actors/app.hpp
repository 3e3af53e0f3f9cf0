#pragma once
// The `app` actor: one per deployed app. It owns the app's instances (one
// `instance` actor each), its claim on routes, and the set of instances the
// data plane may use, which it publishes to the node whenever it changes.
//
// A deploy starts the new release's instances beside the serving ones (out
// of traffic); once every new instance is healthy the new set is published
// and the old instances leave the load balancer, drain (their in-flight
// requests finish) and stop. If a new instance fails, the new ones are
// stopped and what served before keeps serving, untouched.
//
// The app keeps the recent output of its instances (a ring for `ika logs`,
// a rotated file in the data dir) and forwards new lines to followers.

#include "actors/instance.hpp"
#include "protocol/interfaces.hpp"
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
  /// How long old instances may keep their in-flight requests after they
  /// left the load balancer.
  std::chrono::milliseconds drain_timeout{30'000};
};

/// One instance as its app sees it.
struct app_member {
  protocol::instance_actor handle;
  protocol::instance_status last; ///< from its latest event
  bool serving = false;           ///< belongs to the live release (vs. a deploy's new or a draining old one)
  bool stopping = false;
  std::chrono::steady_clock::time_point drain_deadline{};
};

struct pending_deploy {
  protocol::release_spec release;
  caf::actor watcher;
  caf::typed_response_promise<protocol::deploy_result> promise;
  std::vector<std::string> instances;
  std::vector<protocol::route_spec> previous_routes;
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
  bool check_armed = false;
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
