#pragma once
// What `ika serve` runs beside the listeners: the data dir, the store, the
// process supervisor, the health prober and the admin actor, wired
// together. Everything here blocks only at startup and shutdown (on the
// main thread), never in an actor or an io thread.
//
// The data dir:
//
//   node.json                the addresses bound, for clients (node_files.hpp)
//   node-id                  this node's id (random, kept)
//   state.db                 the store (SQLite, WAL)
//   secrets.key              the key apps' secrets are sealed with (0600; crypto/secret_box.hpp)
//   tls/, admin-credentials.pem   the node's CA and certificates (crypto/)
//   apps/<name>/<env>/releases/<version>/   unpacked releases, immutable
//   logs/<name>.<env>.log    each app's output, rotated
//   run/instances/           the orphan registry of live instance processes

#include "actors/admin.hpp"
#include "protocol/interfaces.hpp"
#include "runtime/proxy/backends.hpp"

#include <caf/fwd.hpp>

#include <memory>
#include <string>
#include <variant>

namespace ika::tools {

class platform {
public:
  /// Prepares the data dir, kills instances a killed node left behind,
  /// starts the supervisor and prober, opens the store and reads what it
  /// keeps. Blocking; on failure, an error naming what failed.
  static std::variant<std::unique_ptr<platform>, std::string> open(caf::actor_system& sys,
                                                                   const std::string& data_dir);

  ~platform();
  platform(const platform&) = delete;
  platform& operator=(const platform&) = delete;

  /// Spawns the admin actor (detached), which brings the stored apps back.
  protocol::admin_actor start_admin(protocol::node_actor node,
                                    std::shared_ptr<proxy::backend_registry> registry);

  /// Stops every app's instances (SIGTERM, then SIGKILL after their stop
  /// timeouts) and the store; blocking, at shutdown.
  void shut_down(caf::actor_system& sys);

  /// Lines about startup worth a log line ("killed 2 orphaned processes").
  const std::vector<std::string>& notes() const { return notes_; }

private:
  platform() = default;
  struct impl;
  std::unique_ptr<impl> impl_;
  std::vector<std::string> notes_;
};

} // namespace ika::tools
