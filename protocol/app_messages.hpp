#pragma once
// What admin clients, the admin actor, app actors and instance actors
// exchange about deployed apps. Every type has an inspect() and is
// registered for remote use (types.cpp): the `ika` client sends these over
// the mutual-TLS admin channel, and the cluster will too.
//
// States and streams travel as short lower-case words ("healthy",
// "stderr"), the same words `ika status --json` prints.

#include "protocol/records.hpp"

#include <caf/actor.hpp>
#include <caf/meta/omittable.hpp>
#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace ika::protocol {

/// One piece of a release archive on its way to the node. Pieces of one
/// upload share `version` (the archive's SHA-256) and `size`; they arrive
/// in order, `index` from 0 to `total` - 1.
struct upload_chunk {
  std::string version;
  std::uint32_t index = 0;
  std::uint32_t total = 0;
  std::uint64_t size = 0; ///< the whole archive's size in bytes
  std::string data;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, upload_chunk& x) {
  return f(caf::meta::type_name("ika.upload_chunk"), x.version, x.index, x.total, x.size, x.data);
}

/// Deploys the release `version` (uploaded before, or kept from earlier).
/// Progress goes to `watcher` as (progress_atom, deploy_event) while the
/// deploy runs; it may be an invalid handle.
struct deploy_request {
  std::string version;
  caf::actor watcher;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deploy_request& x) {
  return f(caf::meta::type_name("ika.deploy_request"), x.version, x.watcher);
}

/// One step of a deploy, as it happens.
struct deploy_event {
  std::string app;
  /// "release" (stored/unpacked), "instance" (an instance changed state),
  /// "traffic" (routes switched), "failed".
  std::string step;
  std::string instance; ///< for "instance"
  std::string state;    ///< for "instance": starting, ready, healthy, failed...
  std::string detail;   ///< human-readable
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deploy_event& x) {
  return f(caf::meta::type_name("ika.deploy_event"), x.app, x.step, x.instance, x.state, x.detail);
}

/// One captured line of an instance's output.
struct log_line {
  std::int64_t at_ms = 0; ///< Unix time in milliseconds
  std::string instance;
  std::string stream; ///< "stdout" or "stderr" (or "ika" for ika's own notes)
  std::string text;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_line& x) {
  return f(caf::meta::type_name("ika.log_line"), x.at_ms, x.instance, x.stream, x.text);
}

/// The outcome of a deploy. A failed deploy changes nothing that served
/// before; `logs` then holds the new instances' last lines.
struct deploy_result {
  bool ok = false;
  bool changed = false;         ///< false: this release was live already (a no-op)
  bool unknown_release = false; ///< the node does not have it: upload it, then deploy again
  std::string app;
  std::string release;
  std::string message;
  std::vector<log_line> logs;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, deploy_result& x) {
  return f(caf::meta::type_name("ika.deploy_result"), x.ok, x.changed, x.unknown_release, x.app, x.release,
           x.message, x.logs);
}

/// One instance as `ika status` shows it.
struct instance_status {
  std::string id;
  std::int32_t pid = 0;      ///< 0 when no process runs
  std::uint16_t port = 0;    ///< 0 before ready
  std::string state;         ///< starting, healthy, unhealthy, backoff, crash-loop, stopping, stopped, failed
  std::int64_t since_ms = 0; ///< Unix ms the current process started (uptime = now - since)
  std::uint32_t restarts = 0;
  std::int32_t in_flight = 0;
  std::string release;
  std::string detail; ///< why it is in its state, when that says more than the state
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, instance_status& x) {
  return f(caf::meta::type_name("ika.instance_status"), x.id, x.pid, x.port, x.state, x.since_ms, x.restarts,
           x.in_flight, x.release, x.detail);
}

/// One app as `ika apps` and `ika status APP` show it.
struct app_status {
  std::string id;                  ///< "name/environment"
  std::string release;             ///< the live release's version
  std::string next_release;        ///< while a rollout runs: the release it rolls out
  std::string rollout;             ///< while a rollout runs: its phase and progress, human-readable
  std::string desired;             ///< "running" or "stopped"
  std::string state;               ///< running, degraded, deploying, stopped, crash-loop, starting
  std::uint32_t instances = 0;     ///< wanted
  std::uint32_t healthy = 0;       ///< taking traffic
  std::vector<std::string> routes; ///< "host path"
  std::vector<instance_status> instance_list;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, app_status& x) {
  return f(caf::meta::type_name("ika.app_status"), x.id, x.release, x.next_release, x.rollout, x.desired,
           x.state, x.instances, x.healthy, x.routes, x.instance_list);
}

/// Which log lines to read: the last `lines` of `app` (of one instance when
/// `instance` is set).
struct log_query {
  std::string app;
  std::string instance;
  std::uint32_t lines = 100;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_query& x) {
  return f(caf::meta::type_name("ika.log_query"), x.app, x.instance, x.lines);
}

/// A release as an app actor runs it: the unpacked directory and its
/// manifest.
struct release_spec {
  std::string app;
  std::string version;
  std::string dir;
  manifest_record manifest;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, release_spec& x) {
  return f(caf::meta::type_name("ika.release_spec"), x.app, x.version, x.dir, x.manifest);
}

/// One kept release of an app, as `ika releases` shows it.
struct release_info {
  std::string version;
  std::int64_t created_ms = 0; ///< Unix ms it was first stored
  bool live = false;           ///< the release the app serves (or would, when stopped)
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, release_info& x) {
  return f(caf::meta::type_name("ika.release_info"), x.version, x.created_ms, x.live, x.files, x.bytes);
}

/// A secret's value on its way from `ika secrets set` to the node (over the
/// mutual-TLS admin channel). Serialized, but `omittable` keeps it out of
/// every human-readable rendering (to_string, logs, error messages).
struct secret_value {
  std::string bytes;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, secret_value& x) {
  return f(caf::meta::type_name("ika.secret_value"), caf::meta::omittable(), x.bytes);
}

/// One secret as `ika secrets list` shows it: never the value.
struct secret_info {
  std::string name;
  std::int64_t set_ms = 0; ///< Unix ms it was last set
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, secret_info& x) {
  return f(caf::meta::type_name("ika.secret_info"), x.name, x.set_ms);
}

/// An instance's state changed (instance actor -> its app actor).
struct instance_event {
  std::string instance;
  std::string state;
  std::int32_t pid = 0;
  std::uint16_t port = 0;
  std::string detail;
  std::uint32_t restarts = 0;
  std::int64_t since_ms = 0; ///< when the current process started
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, instance_event& x) {
  return f(caf::meta::type_name("ika.instance_event"), x.instance, x.state, x.pid, x.port, x.detail,
           x.restarts, x.since_ms);
}

} // namespace ika::protocol
