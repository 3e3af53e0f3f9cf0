#pragma once
// The `admin` actor: the node's admin endpoint, published over mutual TLS.
// It receives release uploads, keeps the node's releases and apps (one
// `app` actor each), forwards commands to them and makes every change
// durable in the store before it answers.
//
// Spawned detached: receiving an upload ends in unpacking a release to disk.

#include "actors/app.hpp"
#include "protocol/interfaces.hpp"
#include "protocol/store.hpp"
#include "runtime/deploy/archive.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace ika::actors {

/// Turns a complete, hash-checked archive into a stored release (validated,
/// its manifest parsed, unpacked under the data dir); or says why not.
using release_acceptor = std::function<std::variant<protocol::release_spec, std::string>(
    const std::string& bytes, const std::string& version)>;

struct admin_config {
  protocol::node_actor node;
  std::shared_ptr<proxy::backend_registry> registry;
  std::shared_ptr<instance_runtime> runtime;
  release_acceptor accept_release;
  /// Where apps and releases are kept (may be invalid: nothing persists).
  /// Every command answers only after its change is durable there.
  protocol::store_actor store;
  /// Versions the records this node writes (hybrid logical clock with this
  /// node's id), already past everything in the store.
  protocol::hlc clock;
  /// Makes the log writer and reader of an app (may return empty ones).
  std::function<std::pair<log_writer, log_reader>(const std::string& app)> logs_for;
  /// Releases known from the store, and the apps to bring back.
  std::vector<protocol::release_spec> releases;
  struct restored_app {
    protocol::release_spec release;
    bool running = true;
  };
  std::vector<restored_app> apps;
  /// The node's secrets (may be invalid: `ika secrets` is refused).
  protocol::secrets_actor secrets;
  /// Largest archive accepted.
  std::uint64_t max_archive = 256ull << 20;
};

struct admin_state {
  static inline const char* name = "ika.admin";

  struct upload {
    std::uint32_t total = 0;
    std::uint32_t next = 0;
    std::optional<deploy::archive_assembler> archive; ///< hashes as chunks arrive
    std::chrono::steady_clock::time_point last{};
  };

  admin_config config;
  std::map<std::string, protocol::release_spec> releases; ///< by version
  std::map<std::string, protocol::app_actor> apps;        ///< by app id
  std::map<std::string, upload> uploads;                  ///< by version
  std::map<std::string, std::uint32_t> deploying;         ///< versions in a deploy now (never pruned)
};

using admin_pointer = protocol::admin_actor::stateful_pointer<admin_state>;

protocol::admin_actor::behavior_type admin(admin_pointer self, admin_config config);

} // namespace ika::actors
