#pragma once
// The records ika persists (the store's SQLite) and will replicate between
// nodes, the hybrid logical clock that versions them, and what the store
// answers about them.
//
// A record body is a msgpack map with string keys; its first key is
// `format`, the body's format version (an unsigned integer, from 1).
// Compatibility rule:
// - Any change to a record's fields bumps its format version. Field names
//   keep their meaning forever; a removed field's name is never reused.
// - A reader accepts every format version up to its own (an older body gets
//   defaults for the fields it lacks) and refuses a newer one with
//   record_errc::newer_format. It must not guess: a node that decoded a
//   newer record without its new fields and wrote it back would, with last
//   writer wins, erase those fields on every node.
// - Within a known version, a body that is truncated, has trailing bytes,
//   misses a field, has a field of the wrong type or a field it does not know
//   is record_errc::malformed. Decoding never throws and never trusts a
//   length in the body beyond the body's own size.
// - Writers always write the newest format.
//
// Secrets are their own kind (secret_record): only ciphertext and nonce,
// never a value.

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>

#include <compare>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ika::protocol {

// -- hybrid logical clock -----------------------------------------------------

/// A hybrid logical clock timestamp (Kulkarni et al.): the version of a
/// record. Timestamps are totally ordered by (physical_ms, logical, node),
/// so two timestamps made by different nodes never tie; last writer wins
/// means the greater timestamp wins.
struct hlc {
  /// Wall-clock milliseconds since the Unix epoch: the largest the clock
  /// has seen, which may run ahead of the local wall clock.
  std::uint64_t physical_ms = 0;
  /// Orders events within one physical_ms.
  std::uint32_t logical = 0;
  /// Id of the node that made the timestamp.
  std::string node;

  /// The timestamp of a new local event (a write) at wall-clock time
  /// `now_ms`: greater than *this, with this node id; physical_ms is
  /// max(physical_ms, now_ms), logical restarts at 0 when physical_ms moved
  /// and counts up otherwise (a full counter carries into physical_ms).
  hlc tick(std::uint64_t now_ms) const;

  /// This clock after receiving `remote` at wall-clock time `now_ms`:
  /// greater than both *this and `remote` (by physical_ms and logical), with
  /// this node id. Later ticks therefore order after everything received.
  hlc observe(const hlc& remote, std::uint64_t now_ms) const;

  friend std::strong_ordering operator<=>(const hlc&, const hlc&) = default;
  friend bool operator==(const hlc&, const hlc&) = default;
};

/// "physical_ms.logical@node", e.g. "1700000000123.4@node-a".
std::string to_string(const hlc& x);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, hlc& x) {
  return f(caf::meta::type_name("ika.hlc"), x.physical_ms, x.logical, x.node);
}

// -- errors -------------------------------------------------------------------

/// Why a record body could not be decoded.
enum class record_errc : std::uint8_t {
  /// Written by a newer ika: a format version this reader does not know.
  newer_format = 1,
  /// Truncated, corrupt, or not the shape of this record's format.
  malformed,
};

/// The error category of record_errc (registered, with a renderer, by
/// register_record_types).
inline constexpr caf::atom_value record_error_category = caf::atom("ika_record");

std::string to_string(record_errc x);

/// A caf::error of category record_error_category; `context` says what and
/// where ("app_record.manifest.routes[2].host: expected a string").
caf::error make_error(record_errc x, std::string context = {});

/// Why the store refused a request.
enum class store_errc : std::uint8_t {
  /// A request before `open` succeeded.
  not_open = 1,
  /// The data dir or state.db cannot be created, opened or locked (another
  /// process has it open), or the actor was not spawned detached.
  cannot_open,
  /// state.db is a SQLite database, but not one of ika's.
  not_a_store,
  /// state.db is not a SQLite database, or it fails its integrity check.
  corrupt,
  /// state.db was written by a newer ika (a schema version this one does
  /// not know).
  newer_schema,
  /// A record the store cannot keep: empty kind or key, no node in its
  /// version, physical_ms beyond 2^63-1.
  invalid_record,
  /// No live record of that kind and key (never written, or deleted).
  not_found,
  /// SQLite failed while reading or writing (disk full, I/O error); the
  /// transaction was rolled back.
  io_error,
};

/// The error category of store_errc (registered by register_record_types).
inline constexpr caf::atom_value store_error_category = caf::atom("ika_store");

std::string to_string(store_errc x);

/// A caf::error of category store_error_category with `context`.
caf::error make_error(store_errc x, std::string context = {});

/// Whether `err` is `x` (its category and code).
bool is_error(const caf::error& err, record_errc x);
/// Whether `err` is `x` (its category and code).
bool is_error(const caf::error& err, store_errc x);
/// The context string make_error put into `err` ("" if none).
std::string error_context(const caf::error& err);

// -- what the store keeps -----------------------------------------------------

/// A record body: msgpack bytes (or, for later kinds, ciphertext).
using record_body = std::vector<std::uint8_t>;

/// One record as the store keeps and replication will ship it, whatever its
/// kind. (kind, key) identifies it; `version` orders writes to it.
struct versioned_record {
  /// What the body is: app_kind, release_kind, ... ([a-z_]+ by convention).
  std::string kind;
  /// Identifies the record within its kind (app_record::id, ...).
  std::string key;
  hlc version;
  /// A tombstone: the record was deleted at `version`; `body` is empty.
  bool deleted = false;
  record_body body;

  friend bool operator==(const versioned_record&, const versioned_record&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, versioned_record& x) {
  return f(caf::meta::type_name("ika.versioned_record"), x.kind, x.key, x.version, x.deleted, x.body);
}

/// The kind of app_record bodies.
inline constexpr std::string_view app_kind = "app";
/// The kind of release_record bodies.
inline constexpr std::string_view release_kind = "release";
/// The kind of secret_record bodies.
inline constexpr std::string_view secret_kind = "secret";

/// The outcome of a write: whether it won, and the version the store holds
/// now (the written one, or the newer one that beat it).
struct put_result {
  bool applied = false;
  hlc current;

  friend bool operator==(const put_result&, const put_result&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, put_result& x) {
  return f(caf::meta::type_name("ika.put_result"), x.applied, x.current);
}

/// What the store reports once open.
struct store_info {
  std::string path;                 ///< the database file
  std::uint32_t schema_version = 0; ///< of the database, after migrations
  std::uint64_t live_records = 0;   ///< records that are not tombstones
  /// The greatest version stored (tombstones included); the node's clock
  /// observes it at start, so that its writes order after everything kept
  /// even when the wall clock went back.
  hlc latest;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, store_info& x) {
  return f(caf::meta::type_name("ika.store_info"), x.path, x.schema_version, x.live_records, x.latest);
}

// -- record formats -------------------------------------------------------------

/// One host+path an app claims (as in ika.toml's [[routes]]).
struct manifest_route {
  std::string host;
  std::string path = "/*";

  friend bool operator==(const manifest_route&, const manifest_route&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, manifest_route& x) {
  return f(caf::meta::type_name("ika.manifest_route"), x.host, x.path);
}

/// Active health checking as in ika.toml's [health]; an empty path means the
/// manifest has no [health] table and a TCP connect is the check.
struct manifest_health {
  std::string path;
  std::uint64_t interval_ms = 10'000;
  std::uint64_t timeout_ms = 2'000;
  std::uint32_t healthy_threshold = 2;
  std::uint32_t unhealthy_threshold = 3;

  friend bool operator==(const manifest_health&, const manifest_health&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, manifest_health& x) {
  return f(caf::meta::type_name("ika.manifest_health"), x.path, x.interval_ms, x.timeout_ms,
           x.healthy_threshold, x.unhealthy_threshold);
}

/// How a new release replaces the serving one (ika.toml [deploy]).
struct manifest_rollout {
  std::uint32_t max_surge = 1;             ///< new instances started (held out of traffic) per batch
  std::uint64_t hold_ms = 1'000;           ///< a new instance stays healthy this long before it serves
  std::uint64_t drain_timeout_ms = 30'000; ///< old instances' in-flight requests may take this long

  friend bool operator==(const manifest_rollout&, const manifest_rollout&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, manifest_rollout& x) {
  return f(caf::meta::type_name("ika.manifest_rollout"), x.max_surge, x.hold_ms, x.drain_timeout_ms);
}

/// An on-demand app (instances = 0): how requests wait for it to start and
/// when it stops again (ika.toml [on_demand]).
struct manifest_demand {
  std::uint64_t idle_timeout_ms = 300'000; ///< no request for this long: stop the instances
  std::uint32_t max_waiters = 1'000;       ///< requests that may wait for a start; more get 503
  std::uint64_t wait_timeout_ms = 30'000;  ///< a waiting request gets 504 after this long

  friend bool operator==(const manifest_demand&, const manifest_demand&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, manifest_demand& x) {
  return f(caf::meta::type_name("ika.manifest_demand"), x.idle_timeout_ms, x.max_waiters, x.wait_timeout_ms);
}

/// [cache]: whether the app's routes cache responses (what Cache-Control
/// allows), how large one may be (0: the node's default), and whether
/// responses with Set-Cookie may be stored.
struct manifest_cache {
  bool enabled = false;
  std::uint64_t max_object = 0;
  bool set_cookie = false;

  friend bool operator==(const manifest_cache&, const manifest_cache&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, manifest_cache& x) {
  return f(caf::meta::type_name("ika.manifest_cache"), x.enabled, x.max_object, x.set_cookie);
}

/// [tls]: how the app's routes get their certificates ("auto": ACME for
/// public names, the node's local CA for local ones; "acme", "self-signed",
/// or "off": plain HTTP only) and whether plain HTTP redirects to HTTPS.
struct manifest_tls {
  std::string mode = "auto";
  bool redirect = true;

  friend bool operator==(const manifest_tls&, const manifest_tls&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, manifest_tls& x) {
  return f(caf::meta::type_name("ika.manifest_tls"), x.mode, x.redirect);
}

/// A validated ika.toml as persisted (config::app_manifest's fields, with
/// durations in milliseconds). Field names follow the manifest:
/// `environment` is the environment's name, `env` the variables.
struct manifest_record {
  std::string name;
  std::string environment = "production";
  std::vector<std::string> command; ///< argv
  std::uint32_t instances = 1;      ///< 0: on demand
  std::vector<manifest_route> routes;
  std::map<std::string, std::string> env;
  manifest_health health;
  std::uint64_t stop_timeout_ms = 10'000;
  std::uint64_t start_timeout_ms = 30'000;
  manifest_rollout rollout; ///< since format 2 of app and release records
  manifest_demand demand;   ///< since format 2
  manifest_cache cache;     ///< since format 3 of app records, 4 of release records
  manifest_tls tls;         ///< since format 4 of app records, 5 of release records

  friend bool operator==(const manifest_record&, const manifest_record&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, manifest_record& x) {
  return f(caf::meta::type_name("ika.manifest_record"), x.name, x.environment, x.command, x.instances,
           x.routes, x.env, x.health, x.stop_timeout_ms, x.start_timeout_ms, x.rollout, x.demand, x.cache,
           x.tls);
}

/// Whether an app's instances should run.
enum class desired_state : std::uint8_t {
  running = 0,
  stopped = 1,
};

/// "running" or "stopped" (the words the record format stores).
std::string to_string(desired_state x);

/// A deployed app: its current spec and release. Kind app_kind, key `id`.
struct app_record {
  /// Newest format this build reads and the one it writes. 2: the
  /// manifest has `rollout` and `demand` (format 1 reads with defaults).
  /// 3: the manifest has `cache` (older formats read with it off). 4: the
  /// manifest has `tls` (older formats read with the defaults).
  static constexpr std::uint32_t format_version = 4;

  std::string id; ///< "name/environment"
  manifest_record manifest;
  std::string release; ///< version of the current release_record; empty before the first
  desired_state desired = desired_state::running;
  hlc created;
  hlc updated; ///< the record's version in the store

  friend bool operator==(const app_record&, const app_record&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, app_record& x) {
  return f(caf::meta::type_name("ika.app_record"), x.id, x.manifest, x.release, x.desired, x.created,
           x.updated);
}

/// A release of an app: what was deployed (its content is immutable; the
/// record also says when it was last made live). Kind release_kind, key
/// key() = "app/version" (an app id holds exactly one '/').
struct release_record {
  /// Newest format this build reads and the one it writes. 2: the
  /// manifest has `rollout` and `demand` (format 1 reads with defaults).
  /// 3: `deployed` (formats 1 and 2 read as never deployed). 4: the
  /// manifest has `cache` (older formats read with it off). 5: the manifest
  /// has `tls` (older formats read with the defaults).
  static constexpr std::uint32_t format_version = 5;

  std::string app;     ///< app id, "name/environment"
  std::string version; ///< content hash, lower-case hex
  hlc created;         ///< when it was stored
  manifest_record manifest;
  std::uint64_t files = 0; ///< files in the release directory
  std::uint64_t bytes = 0; ///< their total size
  /// When a deploy or rollback last made it live (physical_ms 0: never);
  /// a failed deploy does not count. Since format 3.
  hlc deployed;

  /// The record's version in the store: the later of created and deployed.
  const hlc& updated() const { return deployed > created ? deployed : created; }

  /// The store key: app + "/" + version.
  std::string key() const { return app + "/" + version; }

  friend bool operator==(const release_record&, const release_record&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, release_record& x) {
  return f(caf::meta::type_name("ika.release_record"), x.app, x.version, x.created, x.manifest, x.files,
           x.bytes, x.deployed);
}

/// One secret of an app, sealed (XChaCha20-Poly1305, the app id and name
/// as associated data; see runtime/crypto/secret_box.hpp). Kind
/// secret_kind, key key() = "app/name" (a name holds no '/'). The value
/// itself is never in a record.
struct secret_record {
  /// Newest format this build reads and the one it writes.
  static constexpr std::uint32_t format_version = 1;

  std::string app;                 ///< app id, "name/environment"
  std::string name;                ///< the variable's name
  std::vector<std::uint8_t> nonce; ///< 24 bytes
  std::vector<std::uint8_t> ciphertext;
  std::string key_check; ///< check value of the key that sealed it
  hlc updated;           ///< when it was set; also the record's version

  /// The store key: app + "/" + name.
  std::string key() const { return app + "/" + name; }

  friend bool operator==(const secret_record&, const secret_record&) = default;
};

/// The body of `x` in the newest format.
record_body encode(const app_record& x);
/// The body of `x` in the newest format.
record_body encode(const release_record& x);
/// The body of `x` in the newest format.
record_body encode(const secret_record& x);

/// Decodes an app_record body of any format up to app_record::format_version;
/// newer → record_errc::newer_format, anything else wrong →
/// record_errc::malformed.
caf::expected<app_record> decode_app_record(std::span<const std::uint8_t> body);
/// Decodes a release_record body; errors as decode_app_record.
caf::expected<release_record> decode_release_record(std::span<const std::uint8_t> body);
/// Decodes a secret_record body; errors as decode_app_record.
caf::expected<secret_record> decode_secret_record(std::span<const std::uint8_t> body);

/// The store's record for `x`: kind app_kind, key x.id, version x.updated.
versioned_record to_versioned(const app_record& x);
/// The store's record for `x`: kind release_kind, key x.key(), version
/// x.updated().
versioned_record to_versioned(const release_record& x);
/// The store's record for `x`: kind secret_kind, key x.key(), version
/// x.updated.
versioned_record to_versioned(const secret_record& x);

// -- registration ---------------------------------------------------------------

/// Registers the types above (and store_actor) under their "ika.*" names
/// and the record and store error categories with renderers that print the
/// context ("ika_store: corrupt (/data/state.db: file is not a database)").
/// Called by register_types.
void register_record_types(caf::actor_system_config& cfg);

} // namespace ika::protocol
