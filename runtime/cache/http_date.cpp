#include "runtime/cache/http_date.hpp"

#include "runtime/http/chars.hpp"

#include <ctime>

namespace ika::cache {

namespace {

constexpr std::string_view month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::string_view day_names[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::string_view long_day_names[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                                "Thursday", "Friday", "Saturday"};

constexpr std::int64_t max_seconds = 253402300799; // 9999-12-31 23:59:59

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct civil {
  std::int64_t y;
  unsigned m, d;
};

constexpr civil civil_from_days(std::int64_t z) noexcept {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

constexpr bool leap(std::int64_t y) noexcept {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

constexpr unsigned days_in_month(std::int64_t y, unsigned m) noexcept {
  constexpr unsigned days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : days[m - 1];
}

/// Reads exactly `n` digits from the front of `s`.
bool take_digits(std::string_view& s, std::size_t n, int& out) noexcept {
  if (s.size() < n)
    return false;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!http::is_digit(s[i]))
      return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  s.remove_prefix(n);
  return true;
}

bool take_literal(std::string_view& s, std::string_view lit) noexcept {
  if (s.size() < lit.size() || s.substr(0, lit.size()) != lit)
    return false;
  s.remove_prefix(lit.size());
  return true;
}

bool take_month(std::string_view& s, unsigned& month) noexcept {
  if (s.size() < 3)
    return false;
  for (unsigned i = 0; i < 12; ++i)
    if (http::iequals(s.substr(0, 3), month_names[i])) {
      month = i + 1;
      s.remove_prefix(3);
      return true;
    }
  return false;
}

/// "HH:MM:SS"
bool take_time(std::string_view& s, int& h, int& m, int& sec) noexcept {
  return take_digits(s, 2, h) && take_literal(s, ":") && take_digits(s, 2, m) && take_literal(s, ":") &&
         take_digits(s, 2, sec);
}

std::int64_t to_seconds(std::int64_t y, unsigned mon, int d, int h, int m, int s) noexcept {
  if (y < 1 || y > 9999 || mon < 1 || mon > 12 || d < 1 || unsigned(d) > days_in_month(y, mon) || h > 23 ||
      m > 59 || s > 60)
    return -1;
  if (s == 60)
    s = 59;
  auto t = days_from_civil(y, mon, unsigned(d)) * 86400 + h * 3600 + m * 60 + s;
  return t < 0 ? 0 : t;
}

// "Sun, 06 Nov 1994 08:49:37 GMT"
std::int64_t parse_imf_fixdate(std::string_view s) noexcept {
  int d = 0, y = 0, h = 0, m = 0, sec = 0;
  unsigned mon = 0;
  if (!(take_literal(s, " ") && take_digits(s, 2, d) && take_literal(s, " ") && take_month(s, mon) &&
        take_literal(s, " ") && take_digits(s, 4, y) && take_literal(s, " ") && take_time(s, h, m, sec) &&
        take_literal(s, " GMT") && s.empty()))
    return -1;
  return to_seconds(y, mon, d, h, m, sec);
}

// "06-Nov-94 08:49:37 GMT" (after "Sunday, ")
std::int64_t parse_rfc850(std::string_view s) noexcept {
  int d = 0, yy = 0, h = 0, m = 0, sec = 0;
  unsigned mon = 0;
  if (!(take_digits(s, 2, d) && take_literal(s, "-") && take_month(s, mon) && take_literal(s, "-") &&
        take_digits(s, 2, yy) && take_literal(s, " ") && take_time(s, h, m, sec) && take_literal(s, " GMT") &&
        s.empty()))
    return -1;
  // RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is
  // the most recent past year with the same last two digits.
  std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  std::int64_t this_year = civil_from_days(now / 86400).y;
  std::int64_t y = this_year - this_year % 100 + yy;
  if (y > this_year + 50)
    y -= 100;
  else if (y <= this_year - 50)
    y += 100;
  return to_seconds(y, mon, d, h, m, sec);
}

// "Nov  6 08:49:37 1994" (after "Sun ")
std::int64_t parse_asctime(std::string_view s) noexcept {
  int d = 0, y = 0, h = 0, m = 0, sec = 0;
  unsigned mon = 0;
  if (!take_month(s, mon) || !take_literal(s, " ") || s.size() < 2)
    return -1;
  if (s[0] == ' ') { // a one-digit day is padded with a space
    s.remove_prefix(1);
    if (!take_digits(s, 1, d))
      return -1;
  } else if (!take_digits(s, 2, d)) {
    return -1;
  }
  if (!(take_literal(s, " ") && take_time(s, h, m, sec) && take_literal(s, " ") && take_digits(s, 4, y) &&
        s.empty()))
    return -1;
  return to_seconds(y, mon, d, h, m, sec);
}

} // namespace

std::int64_t parse_http_date(std::string_view s) noexcept {
  if (s.size() < 4)
    return -1;
  auto three = s.substr(0, 3);
  int day = -1;
  for (int i = 0; i < 7; ++i)
    if (http::iequals(three, day_names[i]))
      day = i;
  if (day < 0)
    return -1;
  if (s[3] == ',')
    return parse_imf_fixdate(s.substr(4));
  if (s[3] == ' ')
    return parse_asctime(s.substr(4));
  auto comma = s.find(',');
  if (comma == std::string_view::npos || !http::iequals(s.substr(0, comma), long_day_names[day]) ||
      s.size() < comma + 2 || s[comma + 1] != ' ')
    return -1;
  return parse_rfc850(s.substr(comma + 2));
}

void format_http_date(std::int64_t t, char (&out)[29]) noexcept {
  if (t < 0)
    t = 0;
  if (t > max_seconds)
    t = max_seconds;
  std::int64_t days = t / 86400;
  auto secs = static_cast<int>(t % 86400);
  auto c = civil_from_days(days);
  auto wday = static_cast<std::size_t>((days + 4) % 7); // 1970-01-01 was a Thursday
  auto put2 = [&out](std::size_t at, int v) {
    out[at] = char('0' + v / 10);
    out[at + 1] = char('0' + v % 10);
  };
  auto put = [&out](std::size_t at, std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i)
      out[at + i] = s[i];
  };
  put(0, day_names[wday]);
  put(3, ", ");
  put2(5, int(c.d));
  out[7] = ' ';
  put(8, month_names[c.m - 1]);
  out[11] = ' ';
  put2(12, int(c.y / 100));
  put2(14, int(c.y % 100));
  out[16] = ' ';
  put2(17, secs / 3600);
  out[19] = ':';
  put2(20, secs / 60 % 60);
  out[22] = ':';
  put2(23, secs % 60);
  put(25, " GMT");
}

} // namespace ika::cache
