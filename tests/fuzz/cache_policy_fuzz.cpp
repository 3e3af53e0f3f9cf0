// libFuzzer target for the cache's reading of upstream responses
// (runtime/cache/rules.hpp, http_date.hpp): Cache-Control directives,
// Expires / Date / Last-Modified dates, Age, Vary, ETag, what is stored and
// how a 304 refreshes it. Checked, beyond "no crash, leak, UB or overflow":
//
// - parse_http_date gives -1 or a time in [0, end of 9999]; formatting it
//   gives 29 bytes of IMF-fixdate that parse back to the same time, and
//   formatting that again gives the same bytes (also for the raw input
//   bytes taken as a time);
// - parse_cache_control: ages are -1 or in [0, delta_seconds_max];
// - decide_store / refreshed_freshness: a refusal has a reason; a response
//   stored has a lifetime and an initial age in [0, ...) that fit the
//   explicit freshness it gave (s-maxage > max-age > Expires - Date), and
//   no-store, private, Vary: * are never stored;
// - parse_vary: lower-case names, no duplicates, no "*" member;
// - store_head / refresh_head: "Name: value\r\n" lines only, no hop-by-hop or
//   framing field kept; storing what was stored again is idempotent.
//
// Input layout: byte 0 = options (bit 0: the request is HEAD instead of GET;
// bit 1: allow Set-Cookie; bits 2-7: the response delay in seconds), then
// three sections separated by a NUL byte: the response's header lines, the
// request's header lines, the 304's header lines; lines end in '\n', a line
// without ':' is skipped. The response status is 200 unless a first line
// "status N" says otherwise.
//
// Build and run: FUZZ_TARGET=cache_policy tests/fuzz/run (see tests/fuzz/README.md).

#include "tests/fuzz/fuzz_support.hpp"

#include "runtime/cache/http_date.hpp"
#include "runtime/cache/rules.hpp"
#include "runtime/http/header_names.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

const char ika::fuzz::target_name[] = "cache_policy_fuzz";

namespace {

using namespace ika;
using namespace ika::fuzz;

// 9999-12-31T23:59:59Z
constexpr std::int64_t last_second = 253402300799;

struct head_builder {
  std::vector<http::header_field> fields;
  http::message_head head;
};

// "Name: value" lines of `text` (OWS around the value trimmed).
void build(std::string_view text, head_builder& b, bool response) {
  b.head.status = response ? 200 : 0;
  bool first = true;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (first && response && line.substr(0, 7) == "status ") {
      int s = 0;
      for (char c : line.substr(7, 3))
        s = http::is_digit(c) ? s * 10 + (c - '0') : s;
      if (s >= 100 && s <= 599)
        b.head.status = s;
      first = false;
      continue;
    }
    first = false;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      continue;
    http::header_field f;
    f.name = line.substr(0, colon);
    f.value = http::trim_ows(line.substr(colon + 1));
    f.id = http::lookup_header(f.name);
    b.fields.push_back(f);
  }
  b.head.headers = b.fields;
}

void check_date_round_trip(std::int64_t t) {
  char out[29];
  cache::format_http_date(t, out);
  std::string_view s{out, sizeof out};
  auto back = cache::parse_http_date(s);
  auto expected = t < 0 ? 0 : t > last_second ? last_second : t;
  if (back != expected)
    violated("parse_http_date(format_http_date(t)) is not t (clamped to 0 .. year 9999)");
  char again[29];
  cache::format_http_date(back, again);
  if (std::memcmp(out, again, sizeof out) != 0)
    violated("formatting a parsed formatted date gives other bytes");
}

void check_dates(const http::message_head& m) {
  for (const auto& f : m.headers) {
    auto t = cache::parse_http_date(f.value);
    if (t < -1 || t > last_second)
      violated("parse_http_date out of range");
    if (t >= 0)
      check_date_round_trip(t);
  }
}

void check_cc(const cache::cache_control& cc) {
  for (auto v : {cc.max_age, cc.s_maxage, cc.min_fresh, cc.max_stale})
    if (v < -1 || v > cache::delta_seconds_max)
      violated("a Cache-Control age outside -1 .. delta_seconds_max");
  for (const auto& n : cc.private_fields)
    touch(n);
  for (const auto& n : cc.no_cache_fields)
    touch(n);
}

void check_decision(const cache::store_decision& d, const cache::cache_control& cc) {
  touch(d.reason);
  if (!d.store) {
    if (d.reason.empty())
      violated("a refusal without a reason");
    return;
  }
  if (d.lifetime < 0 || d.initial_age < 0)
    violated("stored with a negative lifetime or initial age");
  if (cc.no_store || cc.private_)
    violated("stored a no-store or private response");
  if (cc.s_maxage >= 0 && d.lifetime != cc.s_maxage)
    violated("the lifetime is not s-maxage");
  if (cc.s_maxage < 0 && cc.max_age >= 0 && d.lifetime != cc.max_age)
    violated("the lifetime is not max-age");
  if (cc.s_maxage >= 0 && !d.must_revalidate)
    violated("s-maxage without must_revalidate");
}

// What store_head and refresh_head never keep (besides what Connection names).
bool never_kept(std::string_view name) {
  for (std::string_view h : {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade",
                             "content-length", "age", "x-cache", "x-request-id"})
    if (http::iequals(name, h))
      return true;
  // "Proxy" and "Proxy-X" (header_id::proxy_any); a bare "Proxy-" is not one.
  return http::iequals(name, "proxy") || (name.size() > 6 && http::iequals(name.substr(0, 6), "proxy-"));
}

void check_stored(const cache::stored_head& s) {
  std::string_view rest = s.fields;
  while (!rest.empty()) {
    auto end = rest.find("\r\n");
    if (end == std::string_view::npos)
      violated("a stored field line without CRLF");
    auto line = rest.substr(0, end);
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      violated("a stored line that is not 'Name: value'");
    if (never_kept(line.substr(0, colon)))
      violated("a hop-by-hop, framing, Age, X-Cache or X-Request-ID field was stored");
    rest.remove_prefix(end + 2);
  }
  if (s.date < -1 || s.date > last_second)
    violated("a stored date out of range");
  touch(s.etag);
  touch(s.last_modified);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1)
    return 0;
  const std::uint8_t options = data[0];
  // An exact-size copy so that ASan sees reads past the end.
  const std::size_t n = size - 1;
  std::unique_ptr<char[]> owned{new char[n == 0 ? 1 : n]};
  std::memcpy(owned.get(), data + 1, n);
  std::string_view in{owned.get(), n};

  std::string_view sections[3];
  for (auto& s : sections) {
    auto nul = in.find('\0');
    s = in.substr(0, nul);
    in = nul == std::string_view::npos ? std::string_view{} : in.substr(nul + 1);
  }
  head_builder res, req, r304;
  build(sections[0], res, true);
  build(sections[1], req, false);
  build(sections[2], r304, true);
  req.head.method = (options & 1) != 0 ? "HEAD" : "GET";
  req.head.method_id = (options & 1) != 0 ? 2 : 1; // llhttp: HTTP_HEAD 2, HTTP_GET 1
  req.head.target = "/";
  r304.head.status = 304;

  // Dates: each value as a date, and 8 raw bytes as a time.
  check_dates(res.head);
  check_dates(r304.head);
  if (n >= 8) {
    std::int64_t t = 0;
    std::memcpy(&t, owned.get(), 8);
    check_date_round_trip(t);
  }

  auto cc = cache::parse_cache_control(res.head);
  check_cc(cc);
  check_cc(cache::parse_cache_control(req.head));
  auto rr = cache::classify_request(req.head);
  for (auto v : {rr.max_age, rr.min_fresh, rr.max_stale})
    if (v < -1 || v > cache::delta_seconds_max)
      violated("a request age outside -1 .. delta_seconds_max");

  cache::store_options o;
  o.allow_set_cookie = (options & 2) != 0;
  o.request_time = 1700000000;
  o.response_time = o.request_time + (options >> 2);
  auto d = cache::decide_store(req.head, res.head, o);
  check_decision(d, cc);
  auto vary = cache::parse_vary(res.head);
  if (d.store && vary.star)
    violated("stored a response with Vary: *");
  if (vary.star && !vary.names.empty())
    violated("Vary: * with names");
  {
    std::vector<std::string_view> seen;
    std::string_view names = vary.names;
    while (!names.empty()) {
      auto comma = names.find(',');
      auto name = names.substr(0, comma);
      names = comma == std::string_view::npos ? std::string_view{} : names.substr(comma + 1);
      if (name.empty() || name == "*") // '*' is a tchar: "a*b" is a name
        violated("an empty or '*' Vary name");
      for (char c : name)
        if (c >= 'A' && c <= 'Z')
          violated("a Vary name not in lower case");
      for (auto s : seen)
        if (s == name)
          violated("a Vary name twice");
      seen.push_back(name);
    }
  }
  auto variant = cache::variant_of(req.head, vary.names);
  if (variant != cache::variant_of(req.head, vary.names))
    violated("variant_of is not deterministic");

  auto stored = cache::store_head(res.head, cc);
  check_stored(stored);
  auto refreshed = cache::refresh_head(stored, r304.head);
  check_stored(refreshed);
  auto again = cache::refreshed_freshness(req.head, r304.head, refreshed, o);
  {
    // The cache control of the refreshed head, as refreshed_freshness sees it.
    head_builder view;
    std::string lines;
    for (std::string_view rest = refreshed.fields; !rest.empty();) {
      auto end = rest.find("\r\n");
      lines.append(rest.substr(0, end)).push_back('\n');
      rest.remove_prefix(end + 2);
    }
    build(lines, view, false);
    check_decision(again, cache::parse_cache_control(view.head));
  }
  touch(cache::not_modified_fields(refreshed));
  std::string validators;
  cache::append_validators(validators, refreshed);
  touch(validators);
  bool nm = cache::not_modified(req.head, stored.etag, stored.last_modified);
  touch(nm ? "y" : "n");
  return 0;
}
