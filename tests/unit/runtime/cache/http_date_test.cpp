// Unit tests of runtime/cache/http_date: the three HTTP-date forms of RFC
// 9110 §5.6.7 and IMF-fixdate formatting.

#include "runtime/cache/http_date.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>

namespace {

using ika::cache::format_http_date;
using ika::cache::parse_http_date;

constexpr std::int64_t rfc_example = 784111777; // Sun, 06 Nov 1994 08:49:37 GMT

std::string_view format(std::int64_t t, char (&buf)[29]) {
  format_http_date(t, buf);
  return {buf, sizeof buf};
}

TEST(HttpDate, parses_imf_fixdate) {
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), rfc_example);
  EXPECT_EQ(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  EXPECT_EQ(parse_http_date("Thu, 01 Jan 1970 00:00:01 GMT"), 1);
  EXPECT_EQ(parse_http_date("Tue, 29 Feb 2000 12:00:00 GMT"), 951825600);
  EXPECT_EQ(parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT"), 253402300799);
}

TEST(HttpDate, parses_rfc_850) {
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), rfc_example);
  // Two-digit years: more than 50 years ahead means the past century.
  EXPECT_EQ(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"));
  EXPECT_EQ(parse_http_date("Tuesday, 01-Jan-30 00:00:00 GMT"),
            parse_http_date("Tue, 01 Jan 2030 00:00:00 GMT"));
}

TEST(HttpDate, parses_asctime) {
  EXPECT_EQ(parse_http_date("Sun Nov  6 08:49:37 1994"), rfc_example);
  EXPECT_EQ(parse_http_date("Sun Nov 06 08:49:37 1994"), rfc_example);
  EXPECT_EQ(parse_http_date("Thu Jan  1 00:00:00 1970"), 0);
}

TEST(HttpDate, names_ignore_case_and_weekday_is_not_checked) {
  EXPECT_EQ(parse_http_date("sun, 06 nov 1994 08:49:37 GMT"), rfc_example);
  EXPECT_EQ(parse_http_date("Mon, 06 Nov 1994 08:49:37 GMT"), rfc_example);
  EXPECT_EQ(parse_http_date("SUNDAY, 06-NOV-94 08:49:37 GMT"), rfc_example);
}

TEST(HttpDate, rejects_malformed_and_impossible_dates) {
  for (auto s : {"",
                 "0",
                 "-1",
                 "Sun",
                 "Sun,",
                 "Sun, 06 Nov 1994 08:49:37",
                 "Sun, 06 Nov 1994 08:49:37 UTC",
                 "Sun, 06 Nov 1994 08:49:37 GMT ",
                 " Sun, 06 Nov 1994 08:49:37 GMT",
                 "Sun, 6 Nov 1994 08:49:37 GMT",
                 "Sun, 06 Nov 94 08:49:37 GMT",
                 "Sun, 06 Foo 1994 08:49:37 GMT",
                 "Xyz, 06 Nov 1994 08:49:37 GMT",
                 "Sun, 06 Nov 1994 8:49:37 GMT",
                 "Sun, 06-Nov-1994 08:49:37 GMT",
                 "Sun, 30 Feb 2000 00:00:00 GMT",
                 "Sun, 29 Feb 1900 00:00:00 GMT",
                 "Sun, 32 Jan 2000 00:00:00 GMT",
                 "Sun, 00 Jan 2000 00:00:00 GMT",
                 "Sun, 01 Jan 2000 24:00:00 GMT",
                 "Sun, 01 Jan 2000 23:60:00 GMT",
                 "Sun, 01 Jan 2000 23:59:61 GMT",
                 "Sunday, 06 Nov 1994 08:49:37 GMT",
                 "Sunday, 06-Nov-94 08:49:37",
                 "Monday06-Nov-94 08:49:37 GMT",
                 "Sun Nov  6 08:49:37 1994 GMT",
                 "Sun Nov 6 08:49:37 1994",
                 "Sun Nov  6 08:49:37 94",
                 "Sun, 0a Nov 1994 08:49:37 GMT",
                 "Sun, 06 Nov 1994 08:49:37 GMTX"}) {
    EXPECT_EQ(parse_http_date(s), -1) << s;
  }
}

TEST(HttpDate, leap_second_and_dates_before_the_epoch) {
  EXPECT_EQ(parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT"),
            parse_http_date("Sat, 31 Dec 2016 23:59:59 GMT"));
  EXPECT_EQ(parse_http_date("Wed, 31 Dec 1969 23:59:59 GMT"), 0);
  EXPECT_EQ(parse_http_date("Mon, 01 Jan 1900 00:00:00 GMT"), 0);
}

TEST(HttpDate, formats_imf_fixdate) {
  char buf[29];
  EXPECT_EQ(format(rfc_example, buf), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(format(0, buf), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(format(951825600, buf), "Tue, 29 Feb 2000 12:00:00 GMT");
  EXPECT_EQ(format(1795000000, buf), "Wed, 18 Nov 2026 11:06:40 GMT");
  EXPECT_EQ(format(-5, buf), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(format(INT64_MAX, buf), "Fri, 31 Dec 9999 23:59:59 GMT");
}

TEST(HttpDate, format_then_parse_round_trips) {
  char buf[29];
  // Every day of a leap-year cycle and then some, at varying times of day.
  for (std::int64_t t = 0; t < 253402300799; t += 86400 * 97 + 3671)
    ASSERT_EQ(parse_http_date(format(t, buf)), t) << format(t, buf);
  for (std::int64_t t = 946684800 - 86400 * 3; t < 946684800 + 86400 * 400; t += 86399)
    ASSERT_EQ(parse_http_date(format(t, buf)), t) << format(t, buf);
}

TEST(HttpDate, random_mutations_never_crash_and_stay_in_range) {
  std::uint32_t x = 12345;
  auto next = [&x] {
    x = x * 1664525u + 1013904223u;
    return x >> 8;
  };
  const std::string_view seeds[] = {"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                                    "Sun Nov  6 08:49:37 1994"};
  for (int i = 0; i < 20000; ++i) {
    std::string s{seeds[next() % 3]};
    for (int k = 0, n = int(next() % 3) + 1; k < n; ++k) {
      auto at = next() % s.size();
      switch (next() % 3) {
        case 0:
          s[at] = char(next() % 256);
          break;
        case 1:
          s.erase(at, 1);
          break;
        default:
          s.insert(at, 1, "0123456789 ,-:GMT"[next() % 17]);
          break;
      }
    }
    auto t = parse_http_date(s);
    EXPECT_GE(t, -1) << s;
    EXPECT_LE(t, 253402300799) << s;
  }
}

} // namespace
