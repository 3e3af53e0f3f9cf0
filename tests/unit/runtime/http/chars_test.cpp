// Unit tests of runtime/http/chars.hpp: the character classes of RFC 9110
// and the small string helpers built on them.

#include "runtime/http/chars.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace ika::http;

TEST(chars, tchar_is_letters_digits_and_the_rfc_symbols) {
  for (char c : std::string_view{"!#$%&'*+-.^_`|~azAZ09"})
    EXPECT_TRUE(is_tchar(c)) << c;
}

TEST(chars, delimiters_controls_and_high_bytes_are_not_tchar) {
  for (char c : std::string_view{"\"(),/:;<=>?@[\\]{} \t\r\n"})
    EXPECT_FALSE(is_tchar(c)) << int(c);
  EXPECT_FALSE(is_tchar('\0'));
  EXPECT_FALSE(is_tchar('\x7f'));
  EXPECT_FALSE(is_tchar('\x80'));
  EXPECT_FALSE(is_tchar('\xff'));
}

TEST(chars, field_vchar_allows_visible_bytes_space_tab_and_obs_text) {
  for (int c = 0x21; c <= 0x7e; ++c)
    EXPECT_TRUE(is_field_vchar(char(c))) << c;
  for (int c = 0x80; c <= 0xff; ++c)
    EXPECT_TRUE(is_field_vchar(char(c))) << c;
  EXPECT_TRUE(is_field_vchar(' '));
  EXPECT_TRUE(is_field_vchar('\t'));
}

// The vectorised check against the byte-by-byte one: every byte value at
// every position of values 0 to 40 bytes long (one, two and a half blocks
// of sixteen, and the overlapping tail), in a value that is otherwise fine.
TEST(chars, field_value_agrees_with_field_vchar_for_every_byte_at_every_position) {
  for (std::size_t n = 0; n <= 40; ++n) {
    std::string value(n, 'a');
    EXPECT_TRUE(is_field_value(value)) << n;
    for (std::size_t at = 0; at < n; ++at)
      for (int c = 0; c < 256; ++c) {
        value[at] = char(c);
        ASSERT_EQ(is_field_value(value), is_field_vchar(char(c)))
            << "length " << n << " at " << at << " byte " << c;
        value[at] = 'a';
      }
  }
  EXPECT_TRUE(is_field_value("text/html; charset=utf-8 \t\x80\xff obs-text too"));
  EXPECT_FALSE(is_field_value(std::string("seventeen bytes..\0", 18)));
}

TEST(chars, write_hex_writes_lower_case_digits_without_leading_zeros) {
  char out[16];
  auto hex = [&](std::uint64_t v) { return std::string(out, write_hex(out, v)); };
  EXPECT_EQ(hex(0), "0");
  EXPECT_EQ(hex(0xf), "f");
  EXPECT_EQ(hex(0x10), "10");
  EXPECT_EQ(hex(65536), "10000");
  EXPECT_EQ(hex(0xdeadBEEF), "deadbeef");
  EXPECT_EQ(hex(UINT64_MAX), "ffffffffffffffff");
}

TEST(chars, field_vchar_refuses_controls_and_del) {
  for (int c = 0; c < 0x20; ++c) {
    if (c != '\t') {
      EXPECT_FALSE(is_field_vchar(char(c))) << c;
    }
  }
  EXPECT_FALSE(is_field_vchar('\x7f'));
}

TEST(chars, digits_are_only_ascii_digits) {
  for (char c : std::string_view{"0123456789"})
    EXPECT_TRUE(is_digit(c));
  for (char c : std::string_view{"aF/:+- \x80"})
    EXPECT_FALSE(is_digit(c)) << int(c);
}

TEST(chars, host_chars_cover_names_addresses_and_ip_literals) {
  for (char c : std::string_view{"az09AZ-._~%!$&'()*+,;=[]:"})
    EXPECT_TRUE(is_host_char(c)) << c;
}

TEST(chars, host_chars_exclude_userinfo_paths_and_whitespace) {
  for (char c : std::string_view{"@/?# \t\"<>\\^`{|}"})
    EXPECT_FALSE(is_host_char(c)) << c;
  EXPECT_FALSE(is_host_char('\0'));
  EXPECT_FALSE(is_host_char('\x80'));
}

TEST(chars, request_id_chars_are_the_documented_set) {
  for (char c : std::string_view{"azAZ09-_.:+/="})
    EXPECT_TRUE(is_request_id_char(c)) << c;
  for (char c : std::string_view{" \t;,\"'<>%&?#@\\\x7f\x80"})
    EXPECT_FALSE(is_request_id_char(c)) << int(c);
}

TEST(chars, to_lower_changes_only_ascii_capitals) {
  EXPECT_EQ(to_lower('A'), 'a');
  EXPECT_EQ(to_lower('Z'), 'z');
  EXPECT_EQ(to_lower('a'), 'a');
  EXPECT_EQ(to_lower('0'), '0');
  EXPECT_EQ(to_lower('['), '[');
  EXPECT_EQ(to_lower('\xc4'), '\xc4');
}

TEST(chars, iequals_ignores_ascii_case_only) {
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("abc", "abcd"));
  EXPECT_FALSE(iequals("abc", "abd"));
  EXPECT_FALSE(iequals("[", "{")); // '[' + 0x20 is '{': not letters
}

TEST(chars, is_token_needs_one_or_more_tchars) {
  EXPECT_TRUE(is_token("X-Custom_1"));
  EXPECT_FALSE(is_token(""));
  EXPECT_FALSE(is_token("X A"));
  EXPECT_FALSE(is_token("X:"));
}

TEST(chars, trim_ows_strips_spaces_and_tabs_at_both_ends) {
  EXPECT_EQ(trim_ows(" \t a b \t "), "a b");
  EXPECT_EQ(trim_ows("   "), "");
  EXPECT_EQ(trim_ows(""), "");
  EXPECT_EQ(trim_ows("\ra\n"), "\ra\n");
}

std::vector<std::string> elements(std::string_view list) {
  std::vector<std::string> out;
  for_each_list_element(list, [&](std::string_view e) { out.emplace_back(e); });
  return out;
}

TEST(chars, list_elements_are_trimmed_and_empty_ones_skipped) {
  EXPECT_EQ(elements(" close ,, X-Foo\t,x-bar , "), (std::vector<std::string>{"close", "X-Foo", "x-bar"}));
}

TEST(chars, list_of_nothing_has_no_elements) {
  EXPECT_TRUE(elements("").empty());
  EXPECT_TRUE(elements(" , ,, ").empty());
}

TEST(chars, list_with_one_element) {
  EXPECT_EQ(elements("chunked"), (std::vector<std::string>{"chunked"}));
}

TEST(chars, helpers_are_usable_at_compile_time) {
  static_assert(is_tchar('a') && !is_tchar(' '));
  static_assert(iequals("TE", "te"));
  static_assert(trim_ows("  x ") == "x");
  SUCCEED();
}

} // namespace
