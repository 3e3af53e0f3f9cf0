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
/// A positive acknowledgement.
using ok_atom = caf::atom_constant<caf::atom("ok")>;

} // namespace ika::protocol
