#pragma once
// Character classes of RFC 9110 §5.6, as 256-entry tables: one load per byte
// on the hot path, no locale, no branches on ranges.

#include <array>
#include <cstdint>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ika::http {

namespace detail {

enum char_class : std::uint8_t {
  tchar = 1,       // token: header names, methods, transfer codings
  field_vchar = 2, // a header value byte: VCHAR, obs-text, SP, HTAB
  digit = 4,
  hexdig = 8,
  host_char = 16,  // reg-name / IPv4 / IP-literal bytes of a Host value
  request_id = 32, // bytes we accept in an incoming X-Request-ID
};

constexpr std::array<std::uint8_t, 256> make_char_table() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    std::uint8_t v = 0;
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    bool dig = c >= '0' && c <= '9';
    if (alpha || dig || std::string_view{"!#$%&'*+-.^_`|~"}.find(char(c)) != std::string_view::npos)
      v |= tchar;
    if ((c >= 0x21 && c <= 0x7e) || c >= 0x80 || c == ' ' || c == '\t')
      v |= field_vchar;
    if (dig)
      v |= digit | hexdig;
    if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
      v |= hexdig;
    // RFC 3986 reg-name (unreserved / pct-encoded / sub-delims) plus the
    // brackets and colons of an IP-literal. No '@': userinfo is refused.
    if (alpha || dig || std::string_view{"-._~%!$&'()*+,;=[]:"}.find(char(c)) != std::string_view::npos)
      v |= host_char;
    if (alpha || dig || std::string_view{"-_.:+/="}.find(char(c)) != std::string_view::npos)
      v |= request_id;
    t[static_cast<std::size_t>(c)] = v;
  }
  return t;
}

inline constexpr auto char_table = make_char_table();

} // namespace detail

/// True for a `tchar` of RFC 9110 §5.6.2.
constexpr bool is_tchar(char c) noexcept {
  return detail::char_table[static_cast<unsigned char>(c)] & detail::tchar;
}

/// True for a byte allowed inside a field value (no CTLs but HTAB, no DEL).
constexpr bool is_field_vchar(char c) noexcept {
  return detail::char_table[static_cast<unsigned char>(c)] & detail::field_vchar;
}

/// True if every byte of `s` is_field_vchar: sixteen at a time with SSE2
/// (header values are the bulk of what a proxy checks per request), the
/// bytes of a short value one by one.
inline bool is_field_value(std::string_view s) noexcept {
  const char* p = s.data();
  std::size_t n = s.size();
#if defined(__SSE2__)
  if (n >= 16) {
    // A byte is refused when it is below 0x20 (unsigned) and not HTAB, or
    // DEL; obs-text (0x80-0xFF) is allowed.
    const __m128i max_ctl = _mm_set1_epi8(0x1f), tab = _mm_set1_epi8('\t'), del = _mm_set1_epi8(0x7f);
    auto refused = [&](const char* at) {
      __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
      __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, max_ctl), v);
      __m128i bad = _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(v, tab), ctl), _mm_cmpeq_epi8(v, del));
      return _mm_movemask_epi8(bad) != 0;
    };
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16)
      if (refused(p + i))
        return false;
    // The last (overlapping) sixteen bytes cover the rest.
    return i == n || !refused(p + n - 16);
  }
#endif
  for (std::size_t i = 0; i < n; ++i)
    if (!is_field_vchar(p[i]))
      return false;
  return true;
}

constexpr bool is_digit(char c) noexcept {
  return detail::char_table[static_cast<unsigned char>(c)] & detail::digit;
}

constexpr bool is_host_char(char c) noexcept {
  return detail::char_table[static_cast<unsigned char>(c)] & detail::host_char;
}

constexpr bool is_request_id_char(char c) noexcept {
  return detail::char_table[static_cast<unsigned char>(c)] & detail::request_id;
}

constexpr char to_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? char(c + ('a' - 'A')) : c;
}

/// ASCII case-insensitive equality.
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (to_lower(a[i]) != to_lower(b[i]))
      return false;
  return true;
}

/// ASCII case-insensitive equality with `lower`, which is in lower case
/// already (a literal): half the work of iequals.
constexpr bool equals_lowercase(std::string_view s, std::string_view lower) noexcept {
  if (s.size() != lower.size())
    return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (to_lower(s[i]) != lower[i])
      return false;
  return true;
}

/// True if every byte of `s` is a tchar and `s` is not empty.
constexpr bool is_token(std::string_view s) noexcept {
  if (s.empty())
    return false;
  for (char c : s)
    if (!is_tchar(c))
      return false;
  return true;
}

/// Writes `v` in lower-case hex (a chunk-size line's digits) to `out`, which
/// has room for 16 bytes; returns how many it wrote.
constexpr std::size_t write_hex(char* out, std::uint64_t v) noexcept {
  char tmp[16];
  std::size_t n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v & 0xf];
    v >>= 4;
  } while (v != 0);
  for (std::size_t i = 0; i < n; ++i)
    out[i] = tmp[n - 1 - i];
  return n;
}

/// Strips optional whitespace (SP / HTAB) at both ends.
constexpr std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

/// Calls `f(element)` for each non-empty element of a comma-separated list
/// (RFC 9110 §5.6.1), with surrounding whitespace removed.
template <class F>
constexpr void for_each_list_element(std::string_view list, F&& f) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = trim_ows(list.substr(0, comma));
    if (!item.empty())
      f(item);
    if (comma == std::string_view::npos)
      break;
    list.remove_prefix(comma + 1);
  }
}

} // namespace ika::http
