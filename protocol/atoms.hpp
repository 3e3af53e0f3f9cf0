#pragma once
// Every atom ika's actors exchange. CAF 0.17 atoms hold at most 10
// characters.

#include <caf/atom.hpp>

namespace ika::protocol {

/// Replaces a listener's (or the node's) route table.
using routes_atom = caf::atom_constant<caf::atom("routes")>;
/// Asks for a status snapshot.
using status_atom = caf::atom_constant<caf::atom("status")>;
/// Stop accepting, let in-flight requests finish, then report.
using drain_atom = caf::atom_constant<caf::atom("drain")>;
/// Stop now: close every connection.
using stop_atom = caf::atom_constant<caf::atom("stop")>;
/// Sent to a node once to bind its listeners and publish its routes.
using start_atom = caf::atom_constant<caf::atom("start")>;
/// Sent by an actor to itself to re-check a condition (a drain's progress).
using check_atom = caf::atom_constant<caf::atom("check")>;
/// An app claims (or, with no routes, releases) its routes on the node.
using claim_atom = caf::atom_constant<caf::atom("claim")>;
/// An app publishes the instances that may take traffic.
using backends_atom = caf::atom_constant<caf::atom("backends")>;
/// Opens a resource the receiver owns (the store: its database).
using open_atom = caf::atom_constant<caf::atom("open")>;
/// Writes a versioned record (the store; last writer wins).
using put_atom = caf::atom_constant<caf::atom("put")>;
/// Reads one record by kind and key.
using get_atom = caf::atom_constant<caf::atom("get")>;
/// Lists the records of one kind.
using list_atom = caf::atom_constant<caf::atom("list")>;
/// Deletes a record (the store: writes a versioned tombstone).
using delete_atom = caf::atom_constant<caf::atom("delete")>;
/// Asks for everything the receiver holds (the store: every live record).
using snapshot_atom = caf::atom_constant<caf::atom("snapshot")>;
/// Deploys a release (admin, app) or uploads its archive (upload_atom).
using deploy_atom = caf::atom_constant<caf::atom("deploy")>;
using upload_atom = caf::atom_constant<caf::atom("upload")>;
/// Lists the deployed apps.
using apps_atom = caf::atom_constant<caf::atom("apps")>;
/// Sets an app's number of instances.
using scale_atom = caf::atom_constant<caf::atom("scale")>;
/// Reads an app's recent log lines; follow_atom subscribes to new ones.
using logs_atom = caf::atom_constant<caf::atom("logs")>;
using follow_atom = caf::atom_constant<caf::atom("follow")>;
/// A deploy's progress, sent to the watcher the client named.
using progress_atom = caf::atom_constant<caf::atom("progress")>;
/// An instance's state changed (instance -> app).
using instance_atom = caf::atom_constant<caf::atom("instance")>;
/// The data plane could not connect to an instance (-> app).
using suspect_atom = caf::atom_constant<caf::atom("suspect")>;
/// Process events (supervisor thread -> instance): started (or not), ready
/// line, output, exit.
using spawned_atom = caf::atom_constant<caf::atom("spawned")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;
using output_atom = caf::atom_constant<caf::atom("output")>;
using exited_atom = caf::atom_constant<caf::atom("exited")>;
/// A health probe finished (prober -> instance).
using probe_atom = caf::atom_constant<caf::atom("probe")>;
/// A timer the receiver set for itself fired.
using timer_atom = caf::atom_constant<caf::atom("timer")>;
/// Restarts an app's instances with a rolling update of its live release
/// (after its secrets changed).
using restart_atom = caf::atom_constant<caf::atom("restart")>;
/// The data plane holds a request for an on-demand app with no instance
/// running: start one.
using wake_atom = caf::atom_constant<caf::atom("wake")>;
/// Lists an app's kept releases; rolls back to one of them.
using releases_atom = caf::atom_constant<caf::atom("releases")>;
using rollback_atom = caf::atom_constant<caf::atom("rollback")>;
/// Sets, unsets and lists an app's secrets.
using secret_set_atom = caf::atom_constant<caf::atom("secretset")>;
using secret_del_atom = caf::atom_constant<caf::atom("secretdel")>;
using secrets_atom = caf::atom_constant<caf::atom("secrets")>;
/// A cache fill completed (io thread -> cache_shard): admit it.
using fill_atom = caf::atom_constant<caf::atom("fill")>;
/// Removes cached responses (of an app, under a path prefix).
using purge_atom = caf::atom_constant<caf::atom("purge")>;
/// Asks for the response cache's statistics.
using cache_atom = caf::atom_constant<caf::atom("cache")>;
/// A certificate actor's news (-> node); `ika certs` (-> admin).
using certificate_atom = caf::atom_constant<caf::atom("cert")>;
/// Forces a certificate's renewal (ika certs renew HOST).
using renew_atom = caf::atom_constant<caf::atom("renew")>;
/// An ACME order finished on the issuing thread (-> its certificate actor).
using issued_atom = caf::atom_constant<caf::atom("issued")>;
/// OCSP stapling: a certificate actor's refresh timer, and the answer of
/// its fetching thread.
using ocsp_atom = caf::atom_constant<caf::atom("ocsp")>;
/// A positive acknowledgement.
using ok_atom = caf::atom_constant<caf::atom("ok")>;

} // namespace ika::protocol
