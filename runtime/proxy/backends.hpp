#pragma once
// The instances of deployed apps as the data plane sees them, and the
// registry that keeps their counters across route-table snapshots.
//
// A route to an app carries an `app_binding`: the app's instances that may
// take traffic, each with shared counters (in-flight requests, a suspect
// flag). The counters outlive any one snapshot: a new table reuses them, so
// an instance's in-flight count stays right while tables change, and the
// app's actor reads them for `status`.

#include "protocol/messages.hpp"
#include "runtime/proxy/demand_gate.hpp"

#include <asio/ip/tcp.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace ika::proxy {

/// Counters of one instance, shared by every io thread and snapshot.
struct backend_stats {
  std::atomic<std::int32_t> in_flight{0};
  /// Set by the data plane when a connect failed; cleared by the app's
  /// actor once the instance is healthy again. Suspects are picked last.
  std::atomic<bool> suspect{false};
  /// Requests sent to the instance (head written), ever: the app's actor
  /// reads it to tell an idle instance.
  std::atomic<std::uint64_t> requests{0};
};

struct backend {
  asio::ip::tcp::endpoint endpoint;
  std::string instance;
  std::shared_ptr<backend_stats> stats;
};

/// Called on an io thread when connecting to an instance failed. Must not
/// block (an actor message send is fine).
using connect_failure_handler = std::function<void(const std::string& app, const std::string& instance)>;

/// One app's instances inside a route table (immutable once published).
struct app_binding {
  std::string app;
  std::vector<backend> backends;
  connect_failure_handler on_connect_failure;
  /// An on-demand app: where requests wait while it has no instance to
  /// take them (null: they get a 503 at once).
  std::shared_ptr<demand_gate> gate;
};

/// Node-wide: counters per instance and a failure handler per app.
/// Thread-safe; used when tables are compiled and for status, never per
/// request.
class backend_registry {
public:
  /// The counters of `instance`, created on first use.
  std::shared_ptr<backend_stats> stats(const std::string& instance);

  /// Forgets an instance that is gone (its counters live on in tables that
  /// still hold them).
  void forget(const std::string& instance);

  /// Installs the handler told about connect failures to `app`'s instances;
  /// returns a token for clear_failure_handler.
  std::uint64_t set_failure_handler(const std::string& app, connect_failure_handler handler);
  /// Removes the handler installed with `token` (not a newer one for the
  /// same app, e.g. from an app actor of the same id started meanwhile).
  void clear_failure_handler(const std::string& app, std::uint64_t token);

  /// Installs the handler asked to start an instance of the on-demand
  /// `app` when requests start waiting (called on an io thread, once per
  /// wake episode; must not block). Returns a token for clear_wake_handler.
  std::uint64_t set_wake_handler(const std::string& app, wake_handler handler);
  /// Removes the wake handler installed with `token` (not a newer one).
  void clear_wake_handler(const std::string& app, std::uint64_t token);
  /// Every request waiting for `app` now gets a 502 naming `reason` (the
  /// woken instance failed to start). Thread-safe; from the app's actor.
  void fail_waiters(const std::string& app, const std::string& reason);
  /// The gate of `app`, created on first use (for tests and status).
  std::shared_ptr<demand_gate> gate(const std::string& app);

  /// Builds the binding for `app` from its published instances. An address
  /// that does not parse is left out (and named in `error`, if given).
  std::shared_ptr<const app_binding> bind(const protocol::app_backends& app, std::string* error = nullptr);

private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<backend_stats>, std::less<>> stats_;
  std::map<std::string, std::pair<std::uint64_t, connect_failure_handler>, std::less<>> handlers_;
  std::map<std::string, std::shared_ptr<demand_gate>, std::less<>> gates_;
  std::uint64_t next_token_ = 1;

  std::shared_ptr<demand_gate> gate_locked(const std::string& app);
};

} // namespace ika::proxy
