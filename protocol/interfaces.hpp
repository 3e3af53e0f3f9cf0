#pragma once
// The typed interfaces of ika's actors, in message-flow order. Each line
// says who sends the message, when, and what comes back.

#include "protocol/atoms.hpp"
#include "protocol/messages.hpp"

#include <caf/replies_to.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>

#include <vector>

namespace ika::protocol {

/// One per bound address: owns the acceptors on the io threads and the
/// route snapshot those threads read.
using listener_actor = caf::typed_actor<
    // node, on every route or instance change: publish this table, with
    // the apps' instances, to the io threads (atomically; requests in flight
    // keep what they started with). Replies ok once new requests see it.
    caf::replies_to<routes_atom, std::vector<route_spec>, std::vector<app_backends>>::with<ok_atom>,
    // node or admin: counters and the bound address.
    caf::replies_to<status_atom>::with<listener_status>,
    // node, on SIGTERM: stop accepting, close idle connections, let in-flight
    // requests finish within the timespan. Replies when done or at the deadline.
    caf::replies_to<drain_atom, caf::timespan>::with<drain_result>,
    // itself, every few milliseconds while draining: are we done yet?
    caf::reacts_to<check_atom>,
    // node, on SIGINT or after a drain: close everything now.
    caf::replies_to<stop_atom>::with<ok_atom>>;

/// One per process: spawns the listeners and stops them in order.
using node_actor = caf::typed_actor<
    // ika serve, once: bind every listener, publish the routes. Replies with
    // the status (bound addresses), or an error naming what failed to bind.
    caf::replies_to<start_atom>::with<node_status>,
    // admin (later) or a config reload: replace the static routes everywhere.
    caf::replies_to<routes_atom, std::vector<route_spec>>::with<ok_atom>,
    // an app actor, when deployed, started or stopped: these routes (each
    // with `app` set to its id) are the app's from now on, replacing its
    // previous ones; none releases them. Refused, naming the owner, when
    // another app or the static config has the same host and path.
    caf::replies_to<claim_atom, std::string, std::vector<route_spec>>::with<ok_atom>,
    // an app actor, whenever its set of healthy instances changes.
    caf::reacts_to<backends_atom, app_backends>, caf::replies_to<status_atom>::with<node_status>,
    // ika serve, on SIGTERM: drain every listener within the timespan.
    caf::replies_to<drain_atom, caf::timespan>::with<drain_result>,
    // ika serve, on SIGINT or after draining: stop everything now.
    caf::replies_to<stop_atom>::with<ok_atom>>;

} // namespace ika::protocol
