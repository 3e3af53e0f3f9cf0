#pragma once
// The typed interface of the store actor: one per node, the only owner of
// the node's SQLite database (<data>/state.db). It blocks on disk, so it
// is spawned detached (caf::detached); otherwise `open` refuses with
// store_errc::cannot_open.
//
// Every reply to a write comes after the transaction committed with
// synchronous=FULL: a reply means the write survives a crash of the node.
// Errors are caf::errors of store_error_category (see records.hpp).

#include "protocol/atoms.hpp"
#include "protocol/records.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <string>
#include <vector>

namespace ika::protocol {

using store_actor = caf::typed_actor<
    // node, once at start, with "<data>/state.db": create or open the
    // database (creating the data dir if missing), lock it against other
    // processes, migrate its schema. Replies what it holds, or cannot_open /
    // not_a_store / corrupt / newer_schema naming the file and the reason.
    // Every other message before a successful open is refused with not_open.
    caf::replies_to<open_atom, std::string>::with<store_info>,
    // anyone that persists (app, certificate, cluster on replication): keep
    // this record unless the store holds a newer version of (kind, key) —
    // live or tombstone. Last writer wins by hlc; an equal or older version
    // replies applied=false with the version kept. invalid_record for an
    // empty kind or key, or a version without a node or with physical_ms
    // beyond 2^63-1. A record with `deleted` set (a tombstone replicated
    // from a peer) is kept as a tombstone with an empty body.
    caf::replies_to<put_atom, versioned_record>::with<put_result>,
    // anyone: the live record of (kind, key), or not_found (never written,
    // or deleted).
    caf::replies_to<get_atom, std::string, std::string>::with<versioned_record>,
    // anyone: every live record of a kind, ordered by key.
    caf::replies_to<list_atom, std::string>::with<std::vector<versioned_record>>,
    // anyone: delete (kind, key) at this version by writing a tombstone,
    // last writer wins as put (a tombstone is written even if the record was
    // never seen, so an older put arriving later stays dead).
    caf::replies_to<delete_atom, std::string, std::string, hlc>::with<put_result>,
    // cluster, for anti-entropy: every record, tombstones included, ordered
    // by kind and key.
    caf::replies_to<snapshot_atom>::with<std::vector<versioned_record>>>;

} // namespace ika::protocol
