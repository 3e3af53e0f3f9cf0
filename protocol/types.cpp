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
  cfg.add_message_type<upload_chunk>("ika.upload_chunk");
  cfg.add_message_type<deploy_request>("ika.deploy_request");
  cfg.add_message_type<deploy_event>("ika.deploy_event");
  cfg.add_message_type<log_line>("ika.log_line");
  cfg.add_message_type<std::vector<log_line>>("ika.log_lines");
  cfg.add_message_type<deploy_result>("ika.deploy_result");
  cfg.add_message_type<instance_status>("ika.instance_status");
  cfg.add_message_type<app_status>("ika.app_status");
  cfg.add_message_type<std::vector<app_status>>("ika.app_statuses");
  cfg.add_message_type<log_query>("ika.log_query");
  cfg.add_message_type<release_spec>("ika.release_spec");
  cfg.add_message_type<instance_event>("ika.instance_event");
  cfg.add_message_type<release_info>("ika.release_info");
  cfg.add_message_type<std::vector<release_info>>("ika.release_infos");
  cfg.add_message_type<secret_value>("ika.secret_value");
  cfg.add_message_type<secret_info>("ika.secret_info");
  cfg.add_message_type<std::vector<secret_info>>("ika.secret_infos");
  cfg.add_message_type<instance_actor>("ika.instance_actor");
  cfg.add_message_type<app_actor>("ika.app_actor");
  cfg.add_message_type<admin_actor>("ika.admin_actor");
  cfg.add_message_type<secrets_actor>("ika.secrets_actor");
  cfg.add_message_type<cache_shard_status>("ika.cache_shard_status");
  cfg.add_message_type<std::vector<cache_shard_status>>("ika.cache_shard_statuses");
  cfg.add_message_type<cache_status>("ika.cache_status");
  cfg.add_message_type<certificate_status>("ika.certificate_status");
  cfg.add_message_type<std::vector<certificate_status>>("ika.certificate_statuses");
  cfg.add_message_type<cache_shard_actor>("ika.cache_shard_actor");
}

} // namespace ika::protocol
