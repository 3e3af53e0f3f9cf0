// The store actor in a real actor system on real files in a temp dir:
// creating, reading and writing records with last writer wins, surviving
// a restart and a SIGKILL right after a reply, and refusing files that are
// locked, foreign, garbage or newer.

#include "actors/store.hpp"
#include "protocol/types.hpp"
#include "tests/actors/actor_test_config.hpp"
#include "tests/support/hlc.hpp"
#include "tests/support/temp_dir.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/exit_reason.hpp>
#include <caf/scoped_actor.hpp>

#include <gtest/gtest.h>

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using namespace ika;
using namespace ika::protocol;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using ika::test::make_hlc;
using ika::test::temp_dir;

versioned_record make_record(std::string kind, std::string key, hlc version, std::string body) {
  versioned_record r;
  r.kind = std::move(kind);
  r.key = std::move(key);
  r.version = std::move(version);
  r.body.assign(body.begin(), body.end());
  return r;
}

/// The database the tests open: data/state.db in `dir`.
std::string db_in(const temp_dir& dir) {
  return dir / "data/state.db";
}

/// An actor system with one store actor in it, and a way to ask it.
struct store_client {
  caf::actor_system sys;
  caf::scoped_actor self;
  store_actor store;

  explicit store_client(bool detached = true)
      : sys(test::actor_test_config()), self(sys),
        store(detached ? sys.spawn<caf::detached>(actors::store, actors::store_config{})
                       : sys.spawn(actors::store, actors::store_config{})) {}

  ~store_client() {
    self->send_exit(store, caf::exit_reason::user_shutdown);
    self->wait_for(store);
  }

  template <class T, class... Ts>
  caf::expected<T> ask(Ts&&... xs) {
    caf::expected<T> result = make_error(store_errc::io_error, "no reply");
    self->request(store, 10s, std::forward<Ts>(xs)...)
        .receive([&](T& x) { result = std::move(x); }, [&](caf::error& e) { result = std::move(e); });
    return result;
  }

  caf::expected<store_info> open(const std::string& path) { return ask<store_info>(open_atom::value, path); }
  caf::expected<put_result> put(const versioned_record& r) { return ask<put_result>(put_atom::value, r); }
  caf::expected<versioned_record> get(const std::string& kind, const std::string& key) {
    return ask<versioned_record>(get_atom::value, kind, key);
  }
  caf::expected<std::vector<versioned_record>> list(const std::string& kind) {
    return ask<std::vector<versioned_record>>(list_atom::value, kind);
  }
  caf::expected<put_result> remove(const std::string& kind, const std::string& key, const hlc& v) {
    return ask<put_result>(delete_atom::value, kind, key, v);
  }
  caf::expected<std::vector<versioned_record>> snapshot() {
    return ask<std::vector<versioned_record>>(snapshot_atom::value);
  }
};

template <class T>
caf::error error_of(const caf::expected<T>& x) {
  if (x) {
    ADD_FAILURE() << "expected an error, got a value";
    return caf::error{};
  }
  return x.error();
}

/// Bytes [offset, offset+n) of a file.
std::vector<unsigned char> file_bytes(const std::string& path, std::size_t offset, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::vector<unsigned char> out(n);
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(n));
  out.resize(static_cast<std::size_t>(in.gcount()));
  return out;
}

std::uint32_t be32(const std::vector<unsigned char>& b) {
  return (std::uint32_t{b.at(0)} << 24) | (std::uint32_t{b.at(1)} << 16) | (std::uint32_t{b.at(2)} << 8) |
         b.at(3);
}

/// Runs `sql` on the file with a plain SQLite connection; "" or the error.
std::string sqlite_exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string result;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    result = "cannot open";
  } else {
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK)
      result = err ? err : "error";
    sqlite3_free(err);
  }
  sqlite3_close(db);
  return result;
}

/// Reads a line from `fd` within `timeout`; "" on timeout or EOF.
std::string read_line(int fd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string got;
  while (got.find('\n') == std::string::npos) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return {};
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      continue;
    char buf[64];
    auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0)
      return {};
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got.substr(0, got.find('\n'));
}

/// A child process that opens the store at `db` and, on `put` (if given),
/// writes it, then reports "done" on a pipe and waits to be killed. Killed
/// and reaped by the destructor if the test did not.
struct store_child {
  pid_t pid = -1;
  int from_child = -1;

  store_child(const std::string& db, const versioned_record* put) {
    int fds[2];
    if (::pipe(fds) != 0)
      throw std::runtime_error("pipe failed");
    pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      int code = 1;
      {
        store_client c;
        auto info = c.open(db);
        if (info && (put == nullptr || c.put(*put))) {
          // The reply came: from here on the write must survive anything.
          if (::write(fds[1], "done\n", 5) == 5)
            for (;;)
              ::pause();
        } else {
          std::string msg = "failed: " + (info ? std::string{"put"} : caf::to_string(info.error())) + "\n";
          (void)!::write(fds[1], msg.data(), msg.size());
        }
      }
      ::_exit(code);
    }
    ::close(fds[1]);
    from_child = fds[0];
  }

  void kill() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
      pid = -1;
    }
  }

  ~store_child() {
    kill();
    if (from_child >= 0)
      ::close(from_child);
  }
};

// -- open ---------------------------------------------------------------------

TEST(store_actor, OpenCreatesAnIkaDatabaseInWalMode) {
  temp_dir dir{"ika-store"};
  {
    store_client c;
    auto info = c.open(db_in(dir));
    ASSERT_TRUE(info) << c.sys.render(info.error());
    EXPECT_EQ(info->path, db_in(dir));
    EXPECT_EQ(info->schema_version, actors::store_schema_version);
    EXPECT_EQ(info->live_records, 0u);
    EXPECT_EQ(info->latest, hlc{});
    EXPECT_TRUE(fs::exists(db_in(dir)));
    EXPECT_TRUE(fs::exists(db_in(dir) + "-wal"));
    // Opening the same path again is harmless; another path is not.
    EXPECT_TRUE(c.open(db_in(dir)));
    EXPECT_TRUE(is_error(error_of(c.open(dir / "other.db")), store_errc::cannot_open));
  }
  // Closed: the header says WAL (file format versions 2/2), ika's
  // application_id and schema version 1.
  auto header = file_bytes(db_in(dir), 0, 100);
  ASSERT_EQ(header.size(), 100u);
  EXPECT_EQ(std::string(header.begin(), header.begin() + 15), "SQLite format 3");
  EXPECT_EQ(header[18], 2);
  EXPECT_EQ(header[19], 2);
  EXPECT_EQ(be32({header.begin() + 60, header.begin() + 64}), actors::store_schema_version);
  EXPECT_EQ(be32({header.begin() + 68, header.begin() + 72}),
            static_cast<std::uint32_t>(actors::store_application_id));
}

TEST(store_actor, RequestsBeforeOpenAreRefused) {
  store_client c;
  EXPECT_TRUE(is_error(error_of(c.get("app", "a")), store_errc::not_open));
  EXPECT_TRUE(
      is_error(error_of(c.put(make_record("app", "a", make_hlc(1, 0, "n"), "x"))), store_errc::not_open));
  EXPECT_TRUE(is_error(error_of(c.snapshot()), store_errc::not_open));
}

TEST(store_actor, RefusesToRunWhenNotDetached) {
  temp_dir dir{"ika-store"};
  store_client c(false);
  auto err = error_of(c.open(db_in(dir)));
  EXPECT_TRUE(is_error(err, store_errc::cannot_open));
  EXPECT_NE(error_context(err).find("detached"), std::string::npos) << error_context(err);
  EXPECT_FALSE(fs::exists(db_in(dir)));
}

// -- records ------------------------------------------------------------------

TEST(store_actor, PutGetListDeleteSnapshot) {
  temp_dir dir{"ika-store"};
  store_client c;
  ASSERT_TRUE(c.open(db_in(dir)));
  app_record app;
  app.id = "shop/production";
  app.manifest.name = "shop";
  app.updated = make_hlc(1000, 0, "node-a");
  auto rec = to_versioned(app);
  auto put = c.put(rec);
  ASSERT_TRUE(put) << c.sys.render(put.error());
  EXPECT_TRUE(put->applied);
  EXPECT_EQ(put->current, rec.version);
  ASSERT_TRUE(c.put(make_record("app", "blog/production", make_hlc(1001, 0, "node-a"), "b")));
  ASSERT_TRUE(c.put(make_record("release", "shop/production/abc", make_hlc(1002, 0, "node-a"), "r")));

  auto got = c.get("app", "shop/production");
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, rec);
  auto decoded = decode_app_record(got->body);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, app);

  auto apps = c.list("app");
  ASSERT_TRUE(apps);
  ASSERT_EQ(apps->size(), 2u);
  EXPECT_EQ((*apps)[0].key, "blog/production"); // ordered by key
  EXPECT_EQ((*apps)[1], rec);
  EXPECT_EQ(c.list("release")->size(), 1u);
  EXPECT_TRUE(c.list("cert")->empty());

  auto missing = error_of(c.get("app", "nope"));
  EXPECT_TRUE(is_error(missing, store_errc::not_found));
  EXPECT_NE(c.sys.render(missing).find("nope"), std::string::npos) << c.sys.render(missing);

  auto del = c.remove("app", "shop/production", make_hlc(2000, 0, "node-b"));
  ASSERT_TRUE(del);
  EXPECT_TRUE(del->applied);
  EXPECT_TRUE(is_error(error_of(c.get("app", "shop/production")), store_errc::not_found));
  ASSERT_EQ(c.list("app")->size(), 1u);

  auto snap = c.snapshot();
  ASSERT_TRUE(snap);
  ASSERT_EQ(snap->size(), 3u);
  auto& tomb = (*snap)[1];
  EXPECT_EQ(tomb.kind, "app");
  EXPECT_EQ(tomb.key, "shop/production");
  EXPECT_TRUE(tomb.deleted);
  EXPECT_TRUE(tomb.body.empty());
  EXPECT_EQ(tomb.version, make_hlc(2000, 0, "node-b"));

  auto info = c.open(db_in(dir));
  ASSERT_TRUE(info);
  EXPECT_EQ(info->live_records, 2u);
  EXPECT_EQ(info->latest, make_hlc(2000, 0, "node-b"));
}

TEST(store_actor, LastWriterWinsBothWays) {
  temp_dir dir{"ika-store"};
  store_client c;
  ASSERT_TRUE(c.open(db_in(dir)));
  auto v2 = make_hlc(200, 0, "a");
  ASSERT_TRUE(c.put(make_record("app", "k", v2, "two"))->applied);
  // Older: not applied, the current version comes back, the body stays.
  auto older = c.put(make_record("app", "k", make_hlc(100, 5, "z"), "one"));
  ASSERT_TRUE(older);
  EXPECT_FALSE(older->applied);
  EXPECT_EQ(older->current, v2);
  EXPECT_EQ(c.get("app", "k")->body, record_body({'t', 'w', 'o'}));
  // The same version again: not applied (idempotent).
  EXPECT_FALSE(c.put(make_record("app", "k", v2, "again"))->applied);
  // Same physical and logical: the node id breaks the tie.
  auto v2b = make_hlc(200, 0, "b");
  EXPECT_TRUE(c.put(make_record("app", "k", v2b, "two-b"))->applied);
  EXPECT_FALSE(c.put(make_record("app", "k", make_hlc(200, 0, "a"), "two-a"))->applied);
  // Newer: applied.
  auto v3 = make_hlc(200, 1, "a");
  auto newer = c.put(make_record("app", "k", v3, "three"));
  EXPECT_TRUE(newer->applied);
  EXPECT_EQ(newer->current, v3);
  EXPECT_EQ(c.get("app", "k")->body, record_body({'t', 'h', 'r', 'e', 'e'}));
}

TEST(store_actor, TombstonesAreVersionedToo) {
  temp_dir dir{"ika-store"};
  store_client c;
  ASSERT_TRUE(c.open(db_in(dir)));
  ASSERT_TRUE(c.put(make_record("app", "k", make_hlc(500, 0, "a"), "live"))->applied);
  // A delete older than the record loses.
  auto old_delete = c.remove("app", "k", make_hlc(400, 0, "a"));
  EXPECT_FALSE(old_delete->applied);
  EXPECT_EQ(old_delete->current, make_hlc(500, 0, "a"));
  EXPECT_TRUE(c.get("app", "k"));
  // A newer delete wins; a put older than the delete stays dead.
  EXPECT_TRUE(c.remove("app", "k", make_hlc(600, 0, "a"))->applied);
  auto late = c.put(make_record("app", "k", make_hlc(550, 0, "b"), "late"));
  EXPECT_FALSE(late->applied);
  EXPECT_EQ(late->current, make_hlc(600, 0, "a"));
  EXPECT_TRUE(is_error(error_of(c.get("app", "k")), store_errc::not_found));
  // Deleting what was never written leaves a tombstone all the same.
  EXPECT_TRUE(c.remove("app", "ghost", make_hlc(700, 0, "a"))->applied);
  EXPECT_FALSE(c.put(make_record("app", "ghost", make_hlc(650, 0, "b"), "boo"))->applied);
  // A replicated tombstone (put with deleted set) is kept without its body.
  auto t = make_record("release", "r", make_hlc(800, 0, "c"), "ignored");
  t.deleted = true;
  EXPECT_TRUE(c.put(t)->applied);
  // A newer put resurrects.
  EXPECT_TRUE(c.put(make_record("app", "k", make_hlc(900, 0, "b"), "again"))->applied);
  EXPECT_TRUE(c.get("app", "k"));
  auto snap = c.snapshot();
  ASSERT_EQ(snap->size(), 3u);
  EXPECT_TRUE((*snap)[0].deleted);  // app/ghost
  EXPECT_FALSE((*snap)[1].deleted); // app/k
  EXPECT_TRUE((*snap)[2].deleted);  // release/r
  EXPECT_TRUE((*snap)[2].body.empty());
}

TEST(store_actor, InvalidRecordsAreRefused) {
  temp_dir dir{"ika-store"};
  store_client c;
  ASSERT_TRUE(c.open(db_in(dir)));
  EXPECT_TRUE(
      is_error(error_of(c.put(make_record("", "k", make_hlc(1, 0, "a"), "x"))), store_errc::invalid_record));
  EXPECT_TRUE(is_error(error_of(c.put(make_record("app", "", make_hlc(1, 0, "a"), "x"))),
                       store_errc::invalid_record));
  EXPECT_TRUE(is_error(error_of(c.put(make_record("app", "k", make_hlc(1, 0, ""), "x"))),
                       store_errc::invalid_record));
  EXPECT_TRUE(is_error(error_of(c.put(make_record("app", "k", make_hlc(1ull << 63, 0, "a"), "x"))),
                       store_errc::invalid_record));
  EXPECT_TRUE(c.snapshot()->empty());
  // The greatest allowed version round-trips exactly.
  auto max = make_hlc((1ull << 63) - 1, 0xffffffffu, "a");
  ASSERT_TRUE(c.put(make_record("app", "k", max, "x")));
  EXPECT_EQ(c.get("app", "k")->version, max);
}

// -- surviving ------------------------------------------------------------------

TEST(store_actor, ReopenAfterShutdownKeepsEverything) {
  temp_dir dir{"ika-store"};
  std::vector<versioned_record> before;
  {
    store_client c;
    ASSERT_TRUE(c.open(db_in(dir)));
    for (int i = 0; i < 20; ++i)
      ASSERT_TRUE(c.put(make_record(i % 2 ? "app" : "release", "k" + std::to_string(i),
                                    make_hlc(1000 + static_cast<std::uint64_t>(i), 0, "a"), "body")));
    ASSERT_TRUE(c.remove("app", "k3", make_hlc(5000, 1, "b")));
    before = *c.snapshot();
  }
  store_client c;
  auto info = c.open(db_in(dir));
  ASSERT_TRUE(info) << c.sys.render(info.error());
  EXPECT_EQ(info->live_records, 19u);
  EXPECT_EQ(info->latest, make_hlc(5000, 1, "b"));
  EXPECT_EQ(*c.snapshot(), before);
}

TEST(store_actor, AReplyMeansDurableEvenIfTheProcessIsKilled) {
  temp_dir dir{"ika-store"};
  auto rec = make_record("app", "durable", make_hlc(42, 0, "child"), "kept");
  {
    store_child child(db_in(dir), &rec);
    ASSERT_EQ(read_line(child.from_child, 20s), "done");
    child.kill(); // SIGKILL right after the reply: no clean close, no checkpoint
  }
  // Killed before a checkpoint: the record is only in the WAL.
  EXPECT_GT(fs::file_size(db_in(dir) + "-wal"), 0u);
  store_client c;
  auto info = c.open(db_in(dir));
  ASSERT_TRUE(info) << c.sys.render(info.error());
  auto got = c.get("app", "durable");
  ASSERT_TRUE(got) << c.sys.render(got.error());
  EXPECT_EQ(*got, rec);
}

// -- refusing ---------------------------------------------------------------------

TEST(store_actor, SecondOpenerIsRefused) {
  temp_dir dir{"ika-store"};
  {
    store_child child(db_in(dir), nullptr);
    ASSERT_EQ(read_line(child.from_child, 20s), "done");
    store_client c;
    auto err = error_of(c.open(db_in(dir)));
    EXPECT_TRUE(is_error(err, store_errc::cannot_open));
    auto text = c.sys.render(err);
    EXPECT_NE(text.find(db_in(dir)), std::string::npos) << text;
    EXPECT_NE(text.find("in use"), std::string::npos) << text;
    child.kill();
    // The lock died with its process.
    auto info = c.open(db_in(dir));
    EXPECT_TRUE(info) << c.sys.render(info.error());
  }
  // Two stores in one process: refused as well.
  store_client a;
  store_client b;
  ASSERT_TRUE(a.open(db_in(dir)));
  EXPECT_TRUE(is_error(error_of(b.open(db_in(dir))), store_errc::cannot_open));
}

TEST(store_actor, ForeignSqliteDatabaseIsNotAStore) {
  temp_dir dir{"ika-store"};
  fs::create_directories(dir.path() / "data");
  ASSERT_EQ(sqlite_exec(db_in(dir), "CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('mine');"), "");
  auto before = file_bytes(db_in(dir), 0, 1 << 20);
  store_client c;
  auto err = error_of(c.open(db_in(dir)));
  EXPECT_TRUE(is_error(err, store_errc::not_a_store));
  auto text = c.sys.render(err);
  EXPECT_EQ(text.rfind("ika_store: not_a_store (" + db_in(dir), 0), 0u) << text;
  // Untouched: same bytes, still not WAL.
  EXPECT_EQ(file_bytes(db_in(dir), 0, 1 << 20), before);
  EXPECT_TRUE(is_error(error_of(c.get("app", "k")), store_errc::not_open));
}

TEST(store_actor, GarbageFileIsCorrupt) {
  temp_dir dir{"ika-store"};
  fs::create_directories(dir.path() / "data");
  {
    std::ofstream out(db_in(dir), std::ios::binary);
    for (int i = 0; i < 512; ++i)
      out << "this is not a database. ";
  }
  store_client c;
  auto err = error_of(c.open(db_in(dir)));
  EXPECT_TRUE(is_error(err, store_errc::corrupt)) << c.sys.render(err);
  auto text = c.sys.render(err);
  EXPECT_NE(text.find(db_in(dir)), std::string::npos) << text;
  EXPECT_NE(text.find("file is not a database"), std::string::npos) << text;
}

TEST(store_actor, DamagedPagesAreCorrupt) {
  temp_dir dir{"ika-store"};
  {
    store_client c;
    ASSERT_TRUE(c.open(db_in(dir)));
    for (int i = 0; i < 200; ++i)
      ASSERT_TRUE(
          c.put(make_record("app", "key-" + std::to_string(i), make_hlc(1, 0, "a"), std::string(300, 'x'))));
  }
  // Overwrite the second page (a b-tree page) with garbage, keep the header.
  {
    std::fstream f(db_in(dir), std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(4096);
    std::string junk(4096, '\xA5');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  store_client c;
  auto err = error_of(c.open(db_in(dir)));
  EXPECT_TRUE(is_error(err, store_errc::corrupt)) << c.sys.render(err);
}

TEST(store_actor, NewerSchemaIsRefused) {
  temp_dir dir{"ika-store"};
  {
    store_client c;
    ASSERT_TRUE(c.open(db_in(dir)));
  }
  ASSERT_EQ(sqlite_exec(db_in(dir), "PRAGMA user_version = 99"), "");
  store_client c;
  auto err = error_of(c.open(db_in(dir)));
  EXPECT_TRUE(is_error(err, store_errc::newer_schema));
  EXPECT_NE(error_context(err).find("schema version 99"), std::string::npos) << error_context(err);
}

} // namespace
