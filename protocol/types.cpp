#include "protocol/types.hpp"

#include "protocol/interfaces.hpp"
#include "protocol/records.hpp"

#include <caf/actor_system_config.hpp>

namespace ika::protocol {

void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<route_spec>("ika.route_spec");
  cfg.add_message_type<backend_spec>("ika.backend_spec");
  cfg.add_message_type<app_backends>("ika.app_backends");
  cfg.add_message_type<listener_status>("ika.listener_status");
  cfg.add_message_type<node_status>("ika.node_status");
  cfg.add_message_type<drain_result>("ika.drain_result");
  cfg.add_message_type<listener_actor>("ika.listener_actor");
  cfg.add_message_type<node_actor>("ika.node_actor");
  register_record_types(cfg);
}

} // namespace ika::protocol
