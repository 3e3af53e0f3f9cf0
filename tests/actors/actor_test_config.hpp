#pragma once
// The actor system configuration the actor tests share: every ika message
// type registered. One per process, never destroyed (systems made from it
// may outlive static destruction order).

#include "protocol/types.hpp"

#include <caf/actor_system_config.hpp>

namespace ika::test {

inline caf::actor_system_config& actor_test_config() {
  static caf::actor_system_config* cfg = [] {
    auto* c = new caf::actor_system_config;
    protocol::register_types(*c);
    return c;
  }();
  return *cfg;
}

} // namespace ika::test
