#pragma once

#include <caf/fwd.hpp>

namespace ika::protocol {

/// Registers every message type of ika under its stable name. Every binary
/// that builds an actor system (ika, tests, an embedding service) calls this
/// once on its config, so that nodes agree on names.
void register_types(caf::actor_system_config& cfg);

} // namespace ika::protocol
