#include "actors/store.hpp"

#include <caf/abstract_actor.hpp>

#include <sqlite3.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <utility>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace ika::actors {

using namespace protocol;

namespace {

constexpr std::uint64_t max_physical_ms =
    static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

/// A prepared statement, finalized on scope exit.
class statement {
public:
  statement(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement() { sqlite3_finalize(stmt_); }

  bool prepared() const { return rc_ == SQLITE_OK && stmt_ != nullptr; }
  int rc() const { return rc_; }
  sqlite3_stmt* get() const { return stmt_; }

  void bind(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  void bind(int i, std::int64_t x) { sqlite3_bind_int64(stmt_, i, x); }
  void bind_blob(int i, const record_body& b) {
    // A zero-length blob, not NULL, for an empty body (NOT NULL column).
    sqlite3_bind_blob(stmt_, i, b.empty() ? "" : static_cast<const void*>(b.data()),
                      static_cast<int>(b.size()), SQLITE_TRANSIENT);
  }
  /// SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return rc_ = sqlite3_step(stmt_); }

  std::string text(int col) const {
    auto* p = sqlite3_column_text(stmt_, col);
    auto n = sqlite3_column_bytes(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n)) : std::string{};
  }
  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  record_body blob(int col) const {
    auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, col));
    auto n = sqlite3_column_bytes(stmt_, col);
    return p ? record_body(p, p + n) : record_body{};
  }

private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_OK;
};

/// Migration N takes schema N-1 to N; index 0 is unused. Forward only:
/// released entries never change, new ones are appended.
const char* const migrations[] = {
    nullptr,
    // 1: the records table.
    "CREATE TABLE records ("
    "  kind TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  physical_ms INTEGER NOT NULL,"
    "  logical INTEGER NOT NULL,"
    "  node TEXT NOT NULL,"
    "  deleted INTEGER NOT NULL,"
    "  body BLOB NOT NULL,"
    "  PRIMARY KEY (kind, key)"
    ") WITHOUT ROWID;",
};
static_assert(std::size(migrations) == store_schema_version + 1);

/// The column list query_records and read_version expect.
#define IKA_RECORD_COLUMNS "kind, key, physical_ms, logical, node, deleted, body"

versioned_record read_record(const statement& st) {
  versioned_record r;
  r.kind = st.text(0);
  r.key = st.text(1);
  r.version.physical_ms = static_cast<std::uint64_t>(st.int64(2));
  r.version.logical = static_cast<std::uint32_t>(st.int64(3));
  r.version.node = st.text(4);
  r.deleted = st.int64(5) != 0;
  r.body = st.blob(6);
  return r;
}

std::string hex32(std::int64_t x) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(x));
  return buf;
}

} // namespace

store_state::~store_state() {
  close();
}

void store_state::close() {
  if (db_ != nullptr) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
  }
  if (lock_fd_ >= 0) {
    ::close(lock_fd_); // releases the flock
    lock_fd_ = -1;
  }
  schema_ = 0;
}

caf::error store_state::fail(store_errc code, const std::string& what) {
  std::string msg = path_ + ": " + what;
  if (db_ != nullptr)
    msg += ": " + std::string{sqlite3_errmsg(db_)};
  return make_error(code, std::move(msg));
}

caf::error store_state::exec(const char* sql, store_errc code) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) == SQLITE_OK)
    return caf::none;
  std::string msg = path_ + ": " + sql + ": " + (err ? err : sqlite3_errmsg(db_));
  sqlite3_free(err);
  return make_error(code, std::move(msg));
}

caf::expected<store_info> store_state::open(const std::string& path) {
  if (!detached)
    return make_error(store_errc::cannot_open,
                      path + ": the store actor must be spawned detached (it blocks on disk)");
  if (is_open()) {
    if (path == path_)
      return info();
    return make_error(store_errc::cannot_open, path + ": this store already has " + path_ + " open");
  }
  if (path.empty())
    return make_error(store_errc::cannot_open, "no database path given");
  if (auto err = open_impl(path)) {
    close();
    return err;
  }
  return info();
}

caf::error store_state::open_impl(const std::string& path) {
  path_ = path;
  namespace fs = std::filesystem;
  auto dir = fs::path(path).parent_path();
  std::error_code ec;
  if (!dir.empty() && !fs::is_directory(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec)
      return make_error(store_errc::cannot_open,
                        "cannot create data dir " + dir.string() + ": " + ec.message());
  }
  // One process at a time: SQLite's own locks only serialise transactions,
  // and two nodes on one data dir would each believe they own the state.
  auto lock_path = path + ".lock";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0)
    return make_error(store_errc::cannot_open, "cannot create " + lock_path + ": " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e == EWOULDBLOCK)
      return make_error(store_errc::cannot_open,
                        path + ": in use by another ika (" + lock_path + " is locked)");
    return make_error(store_errc::cannot_open, "cannot lock " + lock_path + ": " + std::strerror(e));
  }

  int rc = sqlite3_open_v2(path.c_str(), &db_,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    return make_error(store_errc::cannot_open, path + ": cannot open: " + why);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, config.busy_timeout_ms);

  // Whose file is this? Read before writing anything: a foreign database
  // must stay untouched.
  std::int64_t app_id = 0;
  std::int64_t user_version = 0;
  std::int64_t objects = 0;
  struct probe {
    const char* sql;
    std::int64_t* out;
  };
  for (auto [sql, out] :
       {probe{"PRAGMA application_id", &app_id}, probe{"PRAGMA user_version", &user_version},
        probe{"SELECT count(*) FROM sqlite_master", &objects}}) {
    statement st(db_, sql);
    int step = st.prepared() ? st.step() : st.rc();
    if (step != SQLITE_ROW) {
      int primary = step & 0xff;
      if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT)
        return fail(store_errc::corrupt, "not a readable SQLite database");
      return fail(store_errc::cannot_open, "cannot read");
    }
    *out = st.int64(0);
  }
  bool fresh = app_id == 0 && user_version == 0 && objects == 0;
  if (!fresh && app_id != store_application_id)
    return make_error(store_errc::not_a_store, path + ": a SQLite database, but not ika's (application_id " +
                                                   hex32(app_id) + ", " + std::to_string(objects) +
                                                   " schema objects)");
  if (user_version > static_cast<std::int64_t>(store_schema_version))
    return make_error(store_errc::newer_schema, path + ": schema version " + std::to_string(user_version) +
                                                    " was written by a newer ika (this one knows up to " +
                                                    std::to_string(store_schema_version) + ")");
  if (!fresh) {
    statement st(db_, "PRAGMA quick_check");
    int step = st.prepared() ? st.step() : st.rc();
    if (step != SQLITE_ROW) {
      int primary = step & 0xff;
      if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT)
        return fail(store_errc::corrupt, "integrity check failed");
      return fail(store_errc::cannot_open, "cannot check integrity");
    }
    if (auto result = st.text(0); result != "ok")
      return make_error(store_errc::corrupt, path + ": integrity check failed: " + result);
  }

  {
    statement st(db_, "PRAGMA journal_mode=WAL");
    if (!st.prepared() || st.step() != SQLITE_ROW)
      return fail(store_errc::cannot_open, "cannot switch to WAL");
    if (auto mode = st.text(0); mode != "wal")
      return make_error(store_errc::cannot_open,
                        path + ": cannot switch to WAL (journal mode is " + mode + ")");
  }
  if (auto err = exec("PRAGMA synchronous=FULL", store_errc::cannot_open))
    return err;
  if (auto err = migrate(static_cast<std::uint32_t>(user_version)))
    return err;
  schema_ = store_schema_version;
  return caf::none;
}

caf::error store_state::migrate(std::uint32_t from) {
  for (auto v = from + 1; v <= store_schema_version; ++v) {
    if (auto err = exec("BEGIN IMMEDIATE", store_errc::cannot_open))
      return err;
    auto set_version = "PRAGMA user_version=" + std::to_string(v);
    auto set_id = "PRAGMA application_id=" + std::to_string(store_application_id);
    caf::error err = exec(migrations[v], store_errc::cannot_open);
    if (!err)
      err = exec(set_version.c_str(), store_errc::cannot_open);
    if (!err)
      err = exec(set_id.c_str(), store_errc::cannot_open);
    if (!err)
      err = exec("COMMIT", store_errc::cannot_open);
    if (err) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return make_error(store_errc::cannot_open,
                        "migration to schema " + std::to_string(v) + " failed: " + error_context(err));
    }
  }
  return caf::none;
}

caf::expected<store_info> store_state::info() {
  if (!is_open())
    return make_error(store_errc::not_open, "the store is not open");
  store_info result;
  result.path = path_;
  result.schema_version = schema_;
  {
    statement st(db_, "SELECT count(*) FROM records WHERE deleted = 0");
    if (!st.prepared() || st.step() != SQLITE_ROW)
      return fail(store_errc::io_error, "cannot count records");
    result.live_records = static_cast<std::uint64_t>(st.int64(0));
  }
  {
    statement st(db_, "SELECT physical_ms, logical, node FROM records "
                      "ORDER BY physical_ms DESC, logical DESC, node DESC LIMIT 1");
    if (!st.prepared())
      return fail(store_errc::io_error, "cannot read the latest version");
    int step = st.step();
    if (step == SQLITE_ROW) {
      result.latest.physical_ms = static_cast<std::uint64_t>(st.int64(0));
      result.latest.logical = static_cast<std::uint32_t>(st.int64(1));
      result.latest.node = st.text(2);
    } else if (step != SQLITE_DONE) {
      return fail(store_errc::io_error, "cannot read the latest version");
    }
  }
  return result;
}

caf::expected<put_result> store_state::put(const versioned_record& r) {
  if (!is_open())
    return make_error(store_errc::not_open, "the store is not open");
  std::string what = r.kind + " '" + r.key + "'";
  if (r.kind.empty() || r.key.empty())
    return make_error(store_errc::invalid_record, "record " + what + ": empty kind or key");
  if (r.version.node.empty())
    return make_error(store_errc::invalid_record,
                      "record " + what + ": version " + to_string(r.version) + " names no node");
  if (r.version.physical_ms > max_physical_ms)
    return make_error(store_errc::invalid_record,
                      "record " + what + ": version " + to_string(r.version) + " is beyond 2^63-1 ms");
  if (auto err = exec("BEGIN IMMEDIATE", store_errc::io_error))
    return err;
  auto rollback = [this](caf::error err) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return err;
  };
  put_result result;
  {
    statement st(db_, "SELECT physical_ms, logical, node FROM records WHERE kind = ?1 AND key = ?2");
    if (!st.prepared())
      return rollback(fail(store_errc::io_error, "cannot read " + what));
    st.bind(1, r.kind);
    st.bind(2, r.key);
    int step = st.step();
    if (step == SQLITE_ROW) {
      hlc current;
      current.physical_ms = static_cast<std::uint64_t>(st.int64(0));
      current.logical = static_cast<std::uint32_t>(st.int64(1));
      current.node = st.text(2);
      if (!(current < r.version)) {
        result.current = std::move(current);
        rollback(caf::none);
        return result;
      }
    } else if (step != SQLITE_DONE) {
      return rollback(fail(store_errc::io_error, "cannot read " + what));
    }
  }
  {
    statement st(db_, "INSERT OR REPLACE INTO records (" IKA_RECORD_COLUMNS
                      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!st.prepared())
      return rollback(fail(store_errc::io_error, "cannot write " + what));
    st.bind(1, r.kind);
    st.bind(2, r.key);
    st.bind(3, static_cast<std::int64_t>(r.version.physical_ms));
    st.bind(4, static_cast<std::int64_t>(r.version.logical));
    st.bind(5, r.version.node);
    st.bind(6, std::int64_t{r.deleted ? 1 : 0});
    st.bind_blob(7, r.deleted ? record_body{} : r.body);
    if (st.step() != SQLITE_DONE)
      return rollback(fail(store_errc::io_error, "cannot write " + what));
  }
  if (auto err = exec("COMMIT", store_errc::io_error))
    return rollback(std::move(err));
  result.applied = true;
  result.current = r.version;
  return result;
}

caf::expected<put_result> store_state::remove(const std::string& kind, const std::string& key,
                                              const hlc& version) {
  versioned_record tombstone;
  tombstone.kind = kind;
  tombstone.key = key;
  tombstone.version = version;
  tombstone.deleted = true;
  return put(tombstone);
}

caf::expected<versioned_record> store_state::get(const std::string& kind, const std::string& key) {
  if (!is_open())
    return make_error(store_errc::not_open, "the store is not open");
  statement st(db_,
               "SELECT " IKA_RECORD_COLUMNS " FROM records WHERE kind = ?1 AND key = ?2 AND deleted = 0");
  if (!st.prepared())
    return fail(store_errc::io_error, "cannot read " + kind + " '" + key + "'");
  st.bind(1, kind);
  st.bind(2, key);
  int step = st.step();
  if (step == SQLITE_ROW)
    return read_record(st);
  if (step == SQLITE_DONE)
    return make_error(store_errc::not_found, "no " + kind + " '" + key + "'");
  return fail(store_errc::io_error, "cannot read " + kind + " '" + key + "'");
}

caf::error store_state::query_records(const char* sql, const std::string* kind,
                                      std::vector<versioned_record>& out) {
  statement st(db_, sql);
  if (!st.prepared())
    return fail(store_errc::io_error, "cannot read records");
  if (kind != nullptr)
    st.bind(1, *kind);
  for (;;) {
    int step = st.step();
    if (step == SQLITE_DONE)
      return caf::none;
    if (step != SQLITE_ROW)
      return fail(store_errc::io_error, "cannot read records");
    out.push_back(read_record(st));
  }
}

caf::expected<std::vector<versioned_record>> store_state::list(const std::string& kind) {
  if (!is_open())
    return make_error(store_errc::not_open, "the store is not open");
  std::vector<versioned_record> out;
  if (auto err = query_records("SELECT " IKA_RECORD_COLUMNS " FROM records WHERE kind = ?1 AND deleted = 0 "
                               "ORDER BY key",
                               &kind, out))
    return err;
  return out;
}

caf::expected<std::vector<versioned_record>> store_state::snapshot() {
  if (!is_open())
    return make_error(store_errc::not_open, "the store is not open");
  std::vector<versioned_record> out;
  if (auto err = query_records("SELECT " IKA_RECORD_COLUMNS " FROM records ORDER BY kind, key", nullptr, out))
    return err;
  return out;
}

store_actor::behavior_type store(store_pointer self, store_config config) {
  self->state.detached = self->getf(caf::abstract_actor::is_detached_flag);
  self->state.config = config;
  return {
      [self](open_atom, const std::string& path) -> caf::result<store_info> {
        return self->state.open(path);
      },
      [self](put_atom, const versioned_record& r) -> caf::result<put_result> { return self->state.put(r); },
      [self](get_atom, const std::string& kind, const std::string& key) -> caf::result<versioned_record> {
        return self->state.get(kind, key);
      },
      [self](list_atom, const std::string& kind) -> caf::result<std::vector<versioned_record>> {
        return self->state.list(kind);
      },
      [self](delete_atom, const std::string& kind, const std::string& key, const hlc& version)
          -> caf::result<put_result> { return self->state.remove(kind, key, version); },
      [self](snapshot_atom) -> caf::result<std::vector<versioned_record>> { return self->state.snapshot(); },
  };
}

} // namespace ika::actors
