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
/// A positive acknowledgement.
using ok_atom = caf::atom_constant<caf::atom("ok")>;

} // namespace ika::protocol
