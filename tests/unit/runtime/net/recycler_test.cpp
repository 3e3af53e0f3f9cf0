// Unit tests of runtime/net/recycler: what idle connections give back.
#include "runtime/net/recycler.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace {

struct counted {
  int id;
};

struct make_counted {
  int* made;
  std::unique_ptr<counted> operator()() const { return std::make_unique<counted>(counted{++*made}); }
};

TEST(RecyclerTest, HandsBackWhatWasReturnedBeforeMakingMore) {
  int made = 0;
  ika::net::recycler<counted, make_counted> r{make_counted{&made}, 2};
  auto a = r.take();
  auto b = r.take();
  EXPECT_EQ(made, 2);
  auto* first = a.get();
  r.give_back(std::move(a));
  EXPECT_EQ(r.idle(), 1u);
  auto c = r.take();
  EXPECT_EQ(c.get(), first);
  EXPECT_EQ(made, 2);
  EXPECT_EQ(r.idle(), 0u);
}

TEST(RecyclerTest, KeepsAtMostItsLimitAndIgnoresNull) {
  int made = 0;
  ika::net::recycler<counted, make_counted> r{make_counted{&made}, 2};
  auto a = r.take(), b = r.take(), c = r.take();
  r.give_back(std::move(a));
  r.give_back(std::move(b));
  r.give_back(std::move(c)); // over the limit: freed
  r.give_back(nullptr);
  EXPECT_EQ(r.idle(), 2u);
  r.take();
  r.take();
  r.take();
  EXPECT_EQ(made, 4);
}

TEST(RecyclerTest, LendsArrays) {
  ika::net::buffer_recycler r{ika::net::make_buffer{64}};
  auto b = r.take();
  b[63] = 'x';
  const char* p = b.get();
  r.give_back(std::move(b));
  EXPECT_EQ(r.take().get(), p);
}

TEST(RecyclerTest, StringsKeepTheirBlockAndComeBackEmpty) {
  ika::net::string_recycler r{512, 2};
  std::string s;
  r.take(s);
  EXPECT_GE(s.capacity(), 512u);
  s = "HTTP/1.1 200 OK\r\n";
  const char* block = s.data();
  r.give_back(s);
  EXPECT_EQ(s.capacity(), std::string{}.capacity()); // holds nothing while idle
  EXPECT_EQ(r.idle(), 1u);
  std::string t;
  r.take(t);
  EXPECT_EQ(t.data(), block);
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(r.idle(), 0u);
  // One that has the room already keeps what it holds.
  t = "kept";
  r.take(t);
  EXPECT_EQ(t, "kept");
}

TEST(RecyclerTest, StringsOverTheLimitOrHugeAreFreed) {
  ika::net::string_recycler r{512, 1};
  std::string a, b, huge;
  r.take(a);
  r.take(b);
  huge.reserve(64 * 1024); // one huge head does not stay pinned
  r.give_back(huge);
  EXPECT_EQ(r.idle(), 0u);
  r.give_back(a);
  r.give_back(b); // over the limit
  EXPECT_EQ(r.idle(), 1u);
  EXPECT_EQ(b.capacity(), std::string{}.capacity());
}

} // namespace
