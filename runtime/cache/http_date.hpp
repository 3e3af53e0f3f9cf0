#pragma once
// HTTP dates (RFC 9110 §5.6.7) as seconds since the Unix epoch: parsed from
// all three forms a recipient must accept, formatted as IMF-fixdate. No
// allocation, no locale, no time zone: HTTP dates are always GMT.

#include <cstdint>
#include <string_view>

namespace ika::cache {

/// RFC 9110 §5.6.7: IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), and the
/// obsolete RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime
/// ("Sun Nov  6 08:49:37 1994") forms. Seconds since the epoch, or -1 if `s`
/// is none of them (or names an impossible date such as Feb 30). Names of
/// days and months are matched ignoring case; the day name is not checked
/// against the date. A two-digit RFC 850 year more than 50 years in the future
/// is taken as the most recent past year with those digits. A second of 60 is
/// taken as 59; a valid date before 1970 gives 0.
std::int64_t parse_http_date(std::string_view s) noexcept;

/// Writes `unix_seconds` as IMF-fixdate, exactly 29 chars, into `out` (no
/// terminating NUL). Negative times are written as the epoch, times past
/// year 9999 as its last second.
void format_http_date(std::int64_t unix_seconds, char (&out)[29]) noexcept;

} // namespace ika::cache
