#pragma once
// The listener actor: one per bound address. It owns a proxy::server (the
// acceptors on the io threads and the route snapshot they read) and is the
// only one that changes it.

#include "protocol/interfaces.hpp"
#include "runtime/proxy/server.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <memory>
#include <vector>

namespace ika::actors {

struct listener_state {
  static inline const char* name = "ika.listener";

  std::shared_ptr<proxy::server> server;
  std::shared_ptr<proxy::backend_registry> registry;
  /// Drains in progress: their promises and the deadline.
  std::vector<caf::typed_response_promise<protocol::drain_result>> drains;
  caf::timestamp drain_deadline{};
  bool draining = false;

  /// Compiles and publishes `routes`; returns an error message or "".
  std::string apply_routes(const std::vector<protocol::route_spec>& routes,
                           const std::vector<protocol::app_backends>& backends);
  protocol::listener_status status() const;
};

using listener_pointer = protocol::listener_actor::stateful_pointer<listener_state>;

/// `server` is open (bound), has its first route table and accepts
/// already: the node does that before it answers `start`, so that a
/// request sent after the answer is routed.
protocol::listener_actor::behavior_type listener(listener_pointer self, std::shared_ptr<proxy::server> server,
                                                 std::shared_ptr<proxy::backend_registry> registry);

} // namespace ika::actors
