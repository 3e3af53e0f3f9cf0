#include "runtime/cache/store.hpp"

#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include <ctime>
#include <memory>
#include <string>

namespace ika::cache {
namespace {

std::int64_t now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

/// A complete response of `size` bytes of `fill_byte` for `key`, through
/// a fill of `s` (admitted at once: the shard has no fill listener).
object_ref store_one(shard& s, store& st, const std::string& key, std::size_t size, char fill_byte = 'x',
                     std::string app = "web/production") {
  http::message_head req;
  auto hash = st.hash(key);
  bool owner = false;
  object_ref stale;
  auto f = s.acquire(hash, key, req, now(), owner, stale);
  EXPECT_TRUE(owner);
  auto obj = object::make(key, size);
  auto lines = std::make_shared<stored_lines>();
  lines->text = "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n";
  lines->fields_at = 17;
  s.set_head(*obj, lines);
  obj->app = std::make_shared<const std::string>(std::move(app));
  obj->born = now();
  obj->lifetime = 60;
  f->start(obj, true);
  std::string body(size, fill_byte);
  EXPECT_TRUE(f->append(body.data(), body.size(), size));
  f->finish();
  s.release(f);
  return obj;
}

TEST(CacheStore, AFillIsJoinedWhileItRunsAndStoredWhenItCompletes) {
  store st{settings{1 << 20, 1}};
  auto& s = st.at(0);
  http::message_head req;
  std::string key = "http://a.test/x";
  auto hash = st.hash(key);
  bool owner = false;
  object_ref stale;
  auto f = s.acquire(hash, key, req, now(), owner, stale);
  ASSERT_TRUE(f);
  EXPECT_TRUE(owner);
  bool second_owner = true;
  auto same = s.acquire(hash, key, req, now(), second_owner, stale);
  EXPECT_EQ(same, f);
  EXPECT_FALSE(second_owner);

  // A waiter sees the body as it arrives, and is woken on its executor.
  asio::io_context io;
  auto w = std::make_shared<fill::waiter>();
  w->executor = io.get_executor();
  auto p = f->read(w, 0);
  EXPECT_EQ(p.st, fill::state::fetching);
  auto obj = object::make(key, 6);
  auto lines = std::make_shared<stored_lines>();
  lines->text = "HTTP/1.1 200 OK\r\n";
  lines->fields_at = 17;
  obj->head = lines;
  obj->born = now();
  obj->lifetime = 60;
  f->start(obj, true);
  ASSERT_TRUE(f->append("abc", 3, 6));
  EXPECT_EQ(io.poll(), 1u); // the wake-up
  p = f->read(w, 0);
  EXPECT_EQ(p.st, fill::state::streaming);
  EXPECT_EQ(p.available, 3u);
  EXPECT_EQ(std::string(p.obj->body(), 3), "abc");
  ASSERT_TRUE(f->append("def", 3, 6));
  EXPECT_FALSE(f->append("g", 1, 6)); // more than the Content-Length: abandoned
  EXPECT_EQ(f->current(), fill::state::abandoned);
  s.release(f);
  EXPECT_FALSE(s.lookup(hash, key, req));

  // The next request fetches afresh, and its complete fill is stored.
  store_one(s, st, key, 100);
  auto found = s.lookup(hash, key, req);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->body_view(), std::string(100, 'x'));
  EXPECT_EQ(s.stats().objects, 1u);
}

TEST(CacheStore, EqualHeadsAreSharedAndAdmissionNeverChangesAPublishedObject) {
  store st{settings{1 << 20, 1}};
  auto& s = st.at(0);
  http::message_head req;
  auto first = store_one(s, st, "http://a.test/1", 10);
  auto same_lines = std::make_shared<stored_lines>(*first->head);

  // Made with the same lines: the shard's one copy.
  auto second = object::make("http://a.test/2", 0);
  s.set_head(*second, same_lines);
  EXPECT_EQ(second->head, first->head);
  EXPECT_TRUE(second->head_shared);

  // An object whose own head equals an interned one, read through its
  // fill (as a waiter or a revalidating request does, without a lock),
  // keeps that head when the owner admits it: replacing it would free
  // what the reader is sending from.
  std::string key = "http://a.test/3";
  bool owner = false;
  object_ref stale;
  auto f = s.acquire(st.hash(key), key, req, now(), owner, stale);
  ASSERT_TRUE(owner);
  auto third = object::make(key, 0);
  third->head = std::make_shared<stored_lines>(*first->head);
  third->born = now();
  third->lifetime = 60;
  f->start(third, true);
  f->finish();
  asio::io_context io;
  auto w = std::make_shared<fill::waiter>();
  w->executor = io.get_executor();
  auto p = f->read(w, 0);
  ASSERT_TRUE(p.obj);
  const stored_lines* reading = p.obj->head.get();
  s.release(f); // admits
  ASSERT_TRUE(s.lookup(st.hash(key), key, req));
  EXPECT_EQ(p.obj->head.get(), reading);
  EXPECT_EQ(s.stats().objects, 2u);
}

TEST(CacheStore, PassMarkersSkipTheFillLock) {
  store st{settings{1 << 20, 1}};
  auto& s = st.at(0);
  http::message_head req;
  auto hash = st.hash("http://a.test/p");
  s.mark_pass(hash, now() + 60);
  bool owner = true;
  object_ref stale;
  EXPECT_FALSE(s.acquire(hash, "http://a.test/p", req, now(), owner, stale));
  EXPECT_FALSE(owner);
  // Expired markers are gone.
  EXPECT_TRUE(s.acquire(hash, "http://a.test/p", req, now() + 120, owner, stale));
  EXPECT_TRUE(owner);
}

TEST(CacheStore, PurgeByAppAndPrefixAndFillsFromBeforeAPurgeAreNotAdmitted) {
  store st{settings{1 << 20, 1}};
  auto& s = st.at(0);
  http::message_head req;
  store_one(s, st, "http://a.test/static/1", 10);
  store_one(s, st, "http://a.test/static/2", 10);
  store_one(s, st, "http://a.test/page", 10);
  store_one(s, st, "http://b.test/static/1", 10, 'y', "other/production");
  EXPECT_EQ(s.stats().objects, 4u);
  EXPECT_EQ(s.purge("web/production", "/static/"), 2u);
  EXPECT_FALSE(s.lookup(st.hash("http://a.test/static/1"), "http://a.test/static/1", req));
  EXPECT_TRUE(s.lookup(st.hash("http://a.test/page"), "http://a.test/page", req));
  EXPECT_TRUE(s.lookup(st.hash("http://b.test/static/1"), "http://b.test/static/1", req));
  EXPECT_EQ(s.purge("web/production", ""), 1u);
  EXPECT_EQ(s.stats().objects, 1u);

  // A fill begun before a purge completes after it: not admitted (it may
  // hold the old release's answer).
  std::string key = "http://a.test/late";
  bool owner = false;
  object_ref stale;
  auto f = s.acquire(st.hash(key), key, req, now(), owner, stale);
  ASSERT_TRUE(owner);
  EXPECT_EQ(s.purge("", ""), 1u);
  auto obj = object::make(key, 0);
  obj->head = std::make_shared<stored_lines>();
  obj->lifetime = 60;
  obj->born = now();
  f->start(obj, true);
  f->finish();
  s.release(f);
  EXPECT_FALSE(s.lookup(st.hash(key), key, req));
  EXPECT_EQ(s.stats().objects, 0u);
}

TEST(CacheStore, TheBudgetHoldsWhateverIsOffered) {
  const std::uint64_t budget = 256 * 1024;
  store st{settings{budget, 1}};
  auto& s = st.at(0);
  for (int i = 0; i < 200; ++i)
    store_one(s, st, "http://a.test/o" + std::to_string(i), 8 * 1024);
  auto stats = s.stats();
  EXPECT_LE(stats.bytes, budget);
  EXPECT_GT(stats.objects, 10u);
  EXPECT_LT(stats.objects, 32u);
  EXPECT_EQ(stats.stored + stats.refused, 200u);
  EXPECT_GT(stats.evicted + stats.refused, 0u);
  // Objects over the whole budget never get in.
  store_one(s, st, "http://a.test/huge", budget + 1);
  EXPECT_FALSE(s.lookup(st.hash("http://a.test/huge"), "http://a.test/huge", http::message_head{}));
}

TEST(CacheStore, KeysHashWithAPerProcessKeyAndPathsComeFromKeys) {
  store a{settings{1 << 20, 4}};
  store b{settings{1 << 20, 4}};
  EXPECT_EQ(a.hash("http://x/1"), a.hash("http://x/1"));
  EXPECT_NE(a.hash("http://x/1"), a.hash("http://x/2"));
  EXPECT_NE(a.hash("http://x/1"), b.hash("http://x/1"));
  EXPECT_EQ(a.size(), 4u);
  EXPECT_EQ(path_of_key("http://host/a/b?q=1"), "/a/b?q=1");
  EXPECT_EQ(path_of_key("https://host"), "");
}

} // namespace
} // namespace ika::cache
