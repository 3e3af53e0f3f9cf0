// Unit tests of runtime/proxy/request_id: which incoming ids are kept, and
// the ids generated otherwise.

#include "runtime/proxy/request_id.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace {

using ika::proxy::clean_request_id;
using ika::proxy::max_request_id;
using ika::proxy::request_id_generator;

std::string next(request_id_generator& g) {
  request_id_generator::id id;
  g.next(id);
  return std::string{id.data(), id.size()};
}

TEST(request_id, typical_ids_are_clean) {
  EXPECT_TRUE(clean_request_id("3f2a9c1e-7b4d-4c1a-9e2f-0a1b2c3d4e5f"));
  EXPECT_TRUE(clean_request_id("abc"));
  EXPECT_TRUE(clean_request_id("a-b_c.d:e+f/g=h"));
  EXPECT_TRUE(clean_request_id("x"));
}

TEST(request_id, empty_id_is_not_clean) {
  EXPECT_FALSE(clean_request_id(""));
}

TEST(request_id, id_of_the_maximum_length_is_clean) {
  EXPECT_EQ(max_request_id, 128u);
  EXPECT_TRUE(clean_request_id(std::string(128, 'a')));
}

TEST(request_id, id_longer_than_the_maximum_is_not_clean) {
  EXPECT_FALSE(clean_request_id(std::string(129, 'a')));
}

TEST(request_id, ids_with_other_bytes_are_not_clean) {
  for (std::string id :
       std::vector<std::string>{"a b", "a\tb", "a;b", "a,b", "a\"b", "a<b", "a%0d", "a\r\nX-Evil: 1",
                                "caf\xc3\xa9", std::string{"a\0b", 3}, "a\x7f"}) {
    EXPECT_FALSE(clean_request_id(id)) << id;
  }
}

TEST(request_id, generated_ids_are_32_lower_hex_digits) {
  request_id_generator g;
  for (int i = 0; i < 100; ++i) {
    auto id = next(g);
    ASSERT_EQ(id.size(), 32u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
  }
}

TEST(request_id, generated_ids_are_clean) {
  request_id_generator g;
  EXPECT_TRUE(clean_request_id(next(g)));
}

TEST(request_id, consecutive_ids_differ) {
  request_id_generator g;
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i)
    seen.insert(next(g));
  EXPECT_EQ(seen.size(), 10000u);
}

TEST(request_id, two_generators_give_different_ids) {
  request_id_generator a, b;
  EXPECT_NE(next(a), next(b));
}

TEST(request_id, generated_ids_use_every_hex_digit) {
  // A stuck half (all zeros, say) would show up as missing digits.
  request_id_generator g;
  std::set<char> digits;
  for (int i = 0; i < 50; ++i)
    for (char c : next(g))
      digits.insert(c);
  EXPECT_EQ(digits.size(), 16u);
}

TEST(request_id, both_halves_of_an_id_vary) {
  request_id_generator g;
  std::set<std::string> first, second;
  for (int i = 0; i < 100; ++i) {
    auto id = next(g);
    first.insert(id.substr(0, 16));
    second.insert(id.substr(16));
  }
  EXPECT_EQ(first.size(), 100u);
  EXPECT_EQ(second.size(), 100u);
}

} // namespace
