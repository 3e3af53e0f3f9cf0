#pragma once
// The store actor: one per node, the only owner of the node's SQLite
// database. Its state (store_state) is a plain object usable without an
// actor system; the actor forwards each message to it. SQLite blocks, so
// the actor must be spawned detached:
//
//   auto store = sys.spawn<caf::detached>(ika::actors::store, store_config{});
//   self->request(store, timeout, open_atom::value, data_dir + "/state.db")
//
// The file: WAL journal, synchronous=FULL (a committed write survives a
// crash), application_id = store_application_id, user_version = schema
// version (forward-only migrations), one table `records`. The whole
// database is locked against other processes with flock(2) on
// "<path>.lock" for as long as it is open.

#include "protocol/store.hpp"

#include <caf/expected.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

struct sqlite3;

namespace ika::actors {

/// PRAGMA application_id of ika's state.db ("ika\0").
inline constexpr std::int32_t store_application_id = 0x696b6100;
/// The schema version this build writes (PRAGMA user_version).
inline constexpr std::uint32_t store_schema_version = 1;

/// How the store actor behaves (spawn argument).
struct store_config {
  /// How long a write waits for a lock held by a foreign SQLite connection
  /// (someone inspecting state.db with the sqlite3 tool) before io_error.
  int busy_timeout_ms = 2000;
};

struct store_state {
  static inline const char* name = "ika.store";

  store_state() = default;
  store_state(const store_state&) = delete;
  store_state& operator=(const store_state&) = delete;
  ~store_state();

  /// Opens (creating if missing) the database at `path`; see store_actor.
  /// Opening the same path again replies the current info; another path
  /// while open is cannot_open.
  caf::expected<protocol::store_info> open(const std::string& path);
  /// Last writer wins: keeps `r` unless the stored version is >= r.version.
  /// A record with `deleted` set is stored as a tombstone (empty body).
  caf::expected<protocol::put_result> put(const protocol::versioned_record& r);
  /// The live record of (kind, key), or not_found.
  caf::expected<protocol::versioned_record> get(const std::string& kind, const std::string& key);
  /// Every live record of `kind`, ordered by key.
  caf::expected<std::vector<protocol::versioned_record>> list(const std::string& kind);
  /// A tombstone for (kind, key) at `version`, last writer wins.
  caf::expected<protocol::put_result> remove(const std::string& kind, const std::string& key,
                                             const protocol::hlc& version);
  /// Every record, tombstones included, ordered by kind and key.
  caf::expected<std::vector<protocol::versioned_record>> snapshot();
  /// What the open database holds.
  caf::expected<protocol::store_info> info();
  /// Closes the database and releases the lock. Idempotent.
  void close();

  bool is_open() const { return db_ != nullptr; }
  /// Set by the actor: open refuses to block a scheduler thread.
  bool detached = true;
  store_config config;

private:
  caf::error fail(protocol::store_errc code, const std::string& what);
  caf::error open_impl(const std::string& path);
  caf::error exec(const char* sql, protocol::store_errc code);
  caf::error migrate(std::uint32_t from);
  caf::error query_records(const char* sql, const std::string* kind,
                           std::vector<protocol::versioned_record>& out);

  std::string path_;
  sqlite3* db_ = nullptr;
  int lock_fd_ = -1;
  std::uint32_t schema_ = 0;
};

using store_pointer = protocol::store_actor::stateful_pointer<store_state>;

/// The store actor's behavior; spawn with caf::detached. (It takes a
/// config also because CAF 0.17 dereferences a null pointer, caught by
/// UBSan, when it spawns a function actor without arguments.)
protocol::store_actor::behavior_type store(store_pointer self, store_config config);

} // namespace ika::actors
