// Unit tests of runtime/cache/rules: RFC 9111 for the shared response cache.
// Heads are real bytes parsed by ika::http::parser, as the data plane sees
// them.

#include "runtime/cache/rules.hpp"

#include "runtime/cache/http_date.hpp"
#include "runtime/http/parser.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>

namespace {

using namespace ika::cache;
using ika::http::message_head;
using ika::http::message_kind;
using ika::http::parser;

/// A parsed head; the bytes and the parser stay alive with it.
class head {
public:
  head(message_kind kind, std::string bytes) : bytes_(std::move(bytes)), p_(std::make_unique<parser>(kind)) {
    p_->parse(bytes_.data(), bytes_.size());
    EXPECT_TRUE(p_->head_complete()) << bytes_ << p_->error().reason;
  }
  const message_head& operator*() const { return p_->head(); }

private:
  std::string bytes_;
  std::unique_ptr<parser> p_;
};

/// A request with `lines` ("Name: value\r\n"...) after Host.
head req(std::string lines = "", std::string method = "GET") {
  return head(message_kind::request, method + " /p HTTP/1.1\r\nHost: h\r\n" + lines + "\r\n");
}

/// A response with `lines`; with Content-Length: 0 when it may have a body.
head res(int status, std::string lines = "") {
  std::string s = "HTTP/1.1 " + std::to_string(status) + " X\r\n" + lines;
  if (status >= 200 && status != 204 && status != 304)
    s += "Content-Length: 0\r\n";
  return head(message_kind::response, s + "\r\n");
}

head cc_res(std::string value) {
  return res(200, "Cache-Control: " + value + "\r\n");
}

constexpr std::int64_t t0 = 784111777; // Sun, 06 Nov 1994 08:49:37 GMT
const std::string date_t0 = "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n";

store_options at_t0(bool allow_set_cookie = false) {
  store_options o;
  o.allow_set_cookie = allow_set_cookie;
  o.request_time = t0;
  o.response_time = t0;
  return o;
}

store_decision decide(const head& rq, const head& rs, store_options o = at_t0()) {
  return decide_store(*rq, *rs, o);
}

// --- Cache-Control -----------------------------------------------------------

TEST(CacheRulesCacheControl, absent_means_nothing_set) {
  auto cc = parse_cache_control(*res(200));
  EXPECT_FALSE(cc.present);
  EXPECT_FALSE(cc.no_store || cc.no_cache || cc.private_ || cc.public_ || cc.must_revalidate ||
               cc.proxy_revalidate || cc.only_if_cached);
  EXPECT_EQ(cc.max_age, -1);
  EXPECT_EQ(cc.s_maxage, -1);
  EXPECT_EQ(cc.min_fresh, -1);
  EXPECT_EQ(cc.max_stale, -1);
}

TEST(CacheRulesCacheControl, each_directive) {
  EXPECT_TRUE(parse_cache_control(*cc_res("no-store")).no_store);
  EXPECT_TRUE(parse_cache_control(*cc_res("no-cache")).no_cache);
  EXPECT_TRUE(parse_cache_control(*cc_res("private")).private_);
  EXPECT_TRUE(parse_cache_control(*cc_res("public")).public_);
  EXPECT_TRUE(parse_cache_control(*cc_res("must-revalidate")).must_revalidate);
  EXPECT_TRUE(parse_cache_control(*cc_res("proxy-revalidate")).proxy_revalidate);
  EXPECT_TRUE(parse_cache_control(*req("Cache-Control: only-if-cached\r\n")).only_if_cached);
  EXPECT_EQ(parse_cache_control(*cc_res("max-age=60")).max_age, 60);
  EXPECT_EQ(parse_cache_control(*cc_res("s-maxage=30")).s_maxage, 30);
  EXPECT_EQ(parse_cache_control(*req("Cache-Control: min-fresh=5\r\n")).min_fresh, 5);
  EXPECT_EQ(parse_cache_control(*req("Cache-Control: max-stale=7\r\n")).max_stale, 7);
  EXPECT_EQ(parse_cache_control(*req("Cache-Control: max-stale\r\n")).max_stale, delta_seconds_max);
  EXPECT_TRUE(parse_cache_control(*cc_res("no-store")).present);
}

TEST(CacheRulesCacheControl, lines_combine_case_and_whitespace_do_not_matter) {
  auto cc = parse_cache_control(*res(
      200,
      "Cache-Control: PUBLIC ,  Max-Age=10\r\nX: y\r\ncache-control: ,must-revalidate,,S-MAXAGE = 5\r\n"));
  EXPECT_TRUE(cc.public_);
  EXPECT_TRUE(cc.must_revalidate);
  EXPECT_EQ(cc.max_age, 10);
  EXPECT_EQ(cc.s_maxage, 5);
}

TEST(CacheRulesCacheControl, unknown_directives_are_ignored) {
  auto cc =
      parse_cache_control(*cc_res("immutable, stale-while-revalidate=30, x-foo=\"a, no-store\", max-age=9"));
  EXPECT_FALSE(cc.no_store); // inside a quoted argument
  EXPECT_EQ(cc.max_age, 9);
}

TEST(CacheRulesCacheControl, invalid_max_age_is_zero) {
  EXPECT_EQ(parse_cache_control(*cc_res("max-age=abc")).max_age, 0);
  EXPECT_EQ(parse_cache_control(*cc_res("max-age")).max_age, 0);
  EXPECT_EQ(parse_cache_control(*cc_res("max-age=")).max_age, 0);
  EXPECT_EQ(parse_cache_control(*cc_res("max-age=-5")).max_age, 0);
  EXPECT_EQ(parse_cache_control(*cc_res("max-age=1.5")).max_age, 0);
  EXPECT_EQ(parse_cache_control(*cc_res("max-age=10 20")).max_age, 0);
  EXPECT_EQ(parse_cache_control(*cc_res("s-maxage=x")).s_maxage, 0);
}

TEST(CacheRulesCacheControl, quoted_overflowing_and_repeated_values) {
  EXPECT_EQ(parse_cache_control(*cc_res("max-age=\"42\"")).max_age, 42);
  EXPECT_EQ(parse_cache_control(*cc_res("max-age=99999999999999999999999")).max_age, delta_seconds_max);
  EXPECT_EQ(parse_cache_control(*cc_res("max-age=100, max-age=50")).max_age, 50);
  EXPECT_EQ(
      parse_cache_control(*res(200, "Cache-Control: max-age=5\r\nCache-Control: max-age=500\r\n")).max_age,
      5);
}

TEST(CacheRulesCacheControl, invalid_request_limits_are_ignored) {
  auto cc = parse_cache_control(*req("Cache-Control: min-fresh=x, max-stale=y\r\n"));
  EXPECT_EQ(cc.min_fresh, -1);
  EXPECT_EQ(cc.max_stale, -1);
}

TEST(CacheRulesCacheControl, qualified_private_and_no_cache_list_lower_case_names) {
  auto cc = parse_cache_control(*cc_res("private=\"Set-Cookie, X-User\", no-cache=\"x-trace\", max-age=60"));
  EXPECT_FALSE(cc.private_);
  EXPECT_FALSE(cc.no_cache);
  EXPECT_EQ(cc.private_fields, (std::vector<std::string>{"set-cookie", "x-user"}));
  EXPECT_EQ(cc.no_cache_fields, (std::vector<std::string>{"x-trace"}));
  EXPECT_EQ(cc.max_age, 60);
  auto token = parse_cache_control(*cc_res("private=X-A"));
  EXPECT_EQ(token.private_fields, (std::vector<std::string>{"x-a"}));
}

TEST(CacheRulesCacheControl, empty_or_malformed_qualified_lists_are_unqualified) {
  EXPECT_TRUE(parse_cache_control(*cc_res("private=\"\"")).private_);
  EXPECT_TRUE(parse_cache_control(*cc_res("no-cache=\" , \"")).no_cache);
  EXPECT_TRUE(parse_cache_control(*cc_res("private=\"a\"junk")).private_);
}

TEST(CacheRulesCacheControl, pragma_no_cache_counts_only_for_requests_without_cache_control) {
  EXPECT_TRUE(parse_cache_control(*req("Pragma: no-cache\r\n")).no_cache);
  EXPECT_TRUE(parse_cache_control(*req("Pragma: foo, No-Cache\r\n")).no_cache);
  EXPECT_FALSE(parse_cache_control(*req("Pragma: no-cache\r\nCache-Control: max-age=5\r\n")).no_cache);
  EXPECT_FALSE(parse_cache_control(*res(200, "Pragma: no-cache\r\n")).no_cache);
}

// --- requests ----------------------------------------------------------------

TEST(CacheRulesRequest, get_and_head_are_cacheable) {
  EXPECT_TRUE(classify_request(*req()).cacheable);
  EXPECT_TRUE(classify_request(*req("", "HEAD")).cacheable);
  EXPECT_TRUE(classify_request(*req("Content-Length: 0\r\n")).cacheable);
}

TEST(CacheRulesRequest, other_methods_and_bodies_bypass) {
  for (auto m : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
    EXPECT_FALSE(classify_request(*req("Content-Length: 0\r\n", m)).cacheable) << m;
  EXPECT_FALSE(classify_request(*req("Content-Length: 3\r\n")).cacheable);
  EXPECT_FALSE(classify_request(*req("Transfer-Encoding: chunked\r\n")).cacheable);
  EXPECT_FALSE(classify_request(*req("Connection: upgrade\r\nUpgrade: websocket\r\n")).cacheable);
}

TEST(CacheRulesRequest, ranges_and_other_preconditions_bypass) {
  for (auto h : {"Range: bytes=0-1\r\n", "If-Range: \"a\"\r\n", "If-Match: \"a\"\r\n",
                 "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"})
    EXPECT_FALSE(classify_request(*req(h)).cacheable) << h;
}

TEST(CacheRulesRequest, no_store_bypasses) {
  auto r = classify_request(*req("Cache-Control: no-store\r\n"));
  EXPECT_TRUE(r.no_store);
  EXPECT_FALSE(r.cacheable);
}

TEST(CacheRulesRequest, revalidate_on_no_cache_max_age_zero_or_pragma) {
  EXPECT_FALSE(classify_request(*req()).revalidate);
  EXPECT_TRUE(classify_request(*req("Cache-Control: no-cache\r\n")).revalidate);
  EXPECT_TRUE(classify_request(*req("Cache-Control: max-age=0\r\n")).revalidate);
  EXPECT_TRUE(classify_request(*req("Pragma: no-cache\r\n")).revalidate);
  EXPECT_FALSE(classify_request(*req("Cache-Control: max-age=1\r\n")).revalidate);
  EXPECT_TRUE(classify_request(*req("Cache-Control: no-cache\r\n")).cacheable);
}

TEST(CacheRulesRequest, flags_and_limits) {
  auto r = classify_request(*req("Authorization: Basic eA==\r\nIf-None-Match: \"a\"\r\n"
                                 "Cache-Control: max-age=10, min-fresh=3, max-stale=20, only-if-cached\r\n"));
  EXPECT_TRUE(r.cacheable);
  EXPECT_TRUE(r.authorization);
  EXPECT_TRUE(r.conditional);
  EXPECT_TRUE(r.only_if_cached);
  EXPECT_EQ(r.max_age, 10);
  EXPECT_EQ(r.min_fresh, 3);
  EXPECT_EQ(r.max_stale, 20);
  EXPECT_TRUE(classify_request(*req("If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n")).conditional);
  auto plain = classify_request(*req());
  EXPECT_FALSE(plain.authorization || plain.conditional || plain.only_if_cached || plain.no_store);
  EXPECT_EQ(plain.max_age, -1);
}

// --- storing -----------------------------------------------------------------

TEST(CacheRulesStore, freshness_precedence_s_maxage_max_age_expires) {
  std::string expires = "Expires: Sun, 06 Nov 1994 09:49:37 GMT\r\n"; // Date + 3600
  auto all = decide(req(), res(200, date_t0 + expires + "Cache-Control: max-age=60, s-maxage=30\r\n"));
  EXPECT_TRUE(all.store) << all.reason;
  EXPECT_EQ(all.lifetime, 30);
  auto no_s = decide(req(), res(200, date_t0 + expires + "Cache-Control: max-age=60\r\n"));
  EXPECT_EQ(no_s.lifetime, 60);
  auto only_expires = decide(req(), res(200, date_t0 + expires));
  EXPECT_TRUE(only_expires.store);
  EXPECT_EQ(only_expires.lifetime, 3600);
}

TEST(CacheRulesStore, expires_without_date_counts_from_the_response_time) {
  auto o = at_t0();
  o.response_time = t0 + 600;
  o.request_time = t0 + 600;
  auto d = decide(req(), res(200, "Expires: Sun, 06 Nov 1994 09:49:37 GMT\r\n"), o);
  EXPECT_EQ(d.lifetime, 3000);
}

TEST(CacheRulesStore, invalid_or_past_expires_is_stale) {
  for (auto e : {"0", "-1", "garbage", "Sat, 05 Nov 1994 08:49:37 GMT"}) {
    auto d = decide(req(), res(200, date_t0 + "Expires: " + e + "\r\n"));
    EXPECT_EQ(d.lifetime, 0) << e;
    EXPECT_FALSE(d.store) << e;
    EXPECT_EQ(d.reason, "stale without validator") << e;
    // With a validator the stale response is kept for revalidation.
    auto v = decide(req(), res(200, date_t0 + "ETag: \"v\"\r\nExpires: " + e + "\r\n"));
    EXPECT_TRUE(v.store) << e;
    EXPECT_EQ(v.lifetime, 0) << e;
  }
}

TEST(CacheRulesStore, max_age_wins_over_an_invalid_expires) {
  auto d = decide(req(), res(200, date_t0 + "Expires: 0\r\nCache-Control: max-age=100\r\n"));
  EXPECT_TRUE(d.store);
  EXPECT_EQ(d.lifetime, 100);
}

TEST(CacheRulesStore, explicit_freshness_is_required) {
  auto d = decide(req(), res(200, date_t0 + "Last-Modified: Sat, 01 Jan 1994 00:00:00 GMT\r\n"));
  EXPECT_FALSE(d.store);
  EXPECT_EQ(d.reason, "no explicit freshness");
  EXPECT_EQ(decide(req(), cc_res("public")).reason, "no explicit freshness");
}

TEST(CacheRulesStore, no_store_on_request_or_response) {
  EXPECT_EQ(decide(req(), cc_res("no-store, max-age=60")).reason, "no-store");
  EXPECT_FALSE(decide(req(), cc_res("no-store, max-age=60")).store);
  EXPECT_EQ(decide(req("Cache-Control: no-store\r\n"), cc_res("max-age=60")).reason, "no-store (request)");
}

TEST(CacheRulesStore, unqualified_private_is_refused_qualified_is_stored) {
  EXPECT_EQ(decide(req(), cc_res("private, max-age=60")).reason, "private");
  EXPECT_TRUE(decide(req(), cc_res("private=\"x-user\", max-age=60")).store);
}

TEST(CacheRulesStore, authorization_needs_public_s_maxage_or_must_revalidate) {
  auto auth = req("Authorization: Bearer t\r\n");
  EXPECT_EQ(decide(auth, cc_res("max-age=60")).reason, "Authorization");
  EXPECT_TRUE(decide(auth, cc_res("public, max-age=60")).store);
  EXPECT_TRUE(decide(auth, cc_res("s-maxage=60")).store);
  EXPECT_TRUE(decide(auth, cc_res("must-revalidate, max-age=60")).store);
  EXPECT_TRUE(decide(req(), cc_res("max-age=60")).store);
}

TEST(CacheRulesStore, set_cookie_only_when_allowed) {
  auto r = res(200, "Set-Cookie: a=b\r\nCache-Control: max-age=60\r\n");
  EXPECT_EQ(decide(req(), r).reason, "Set-Cookie");
  EXPECT_TRUE(decide(req(), r, at_t0(true)).store);
}

TEST(CacheRulesStore, vary_star_is_refused) {
  EXPECT_EQ(decide(req(), res(200, "Vary: Accept, *\r\nCache-Control: max-age=60\r\n")).reason, "Vary: *");
  EXPECT_TRUE(decide(req(), res(200, "Vary: Accept\r\nCache-Control: max-age=60\r\n")).store);
}

TEST(CacheRulesStore, statuses) {
  // With explicit freshness every final status but 206 / 304 may be stored
  // (RFC 9111 §3: explicit freshness makes any status storable).
  for (int s : {200, 203, 204, 300, 301, 302, 307, 308, 404, 405, 410, 500, 502, 503}) {
    auto d = decide(req(), res(s, "Cache-Control: max-age=60\r\n"));
    EXPECT_TRUE(d.store) << s << " " << d.reason;
    EXPECT_EQ(decide(req(), res(s)).reason, "no explicit freshness") << s;
  }
  EXPECT_EQ(decide(req(), res(206, "Content-Range: bytes 0-0/1\r\nCache-Control: max-age=60\r\n")).reason,
            "status 206");
  EXPECT_EQ(decide(req(), res(304, "Cache-Control: max-age=60\r\n")).reason, "status 304");
  message_head switching;
  switching.status = 101;
  message_head cont;
  cont.status = 100;
  EXPECT_EQ(decide_store(*req(), switching, at_t0()).reason, "status 1xx");
  EXPECT_EQ(decide_store(*req(), cont, at_t0()).reason, "status 1xx");
}

TEST(CacheRulesStore, only_get_and_head) {
  EXPECT_TRUE(decide(req("", "HEAD"), cc_res("max-age=60")).store);
  EXPECT_EQ(decide(req("Content-Length: 0\r\n", "POST"), cc_res("max-age=60")).reason, "method");
}

TEST(CacheRulesStore, no_cache_revalidates_each_use_and_needs_a_validator) {
  auto without = decide(req(), cc_res("no-cache, max-age=60"));
  EXPECT_FALSE(without.store);
  EXPECT_EQ(without.reason, "no-cache without validator");
  auto with = decide(req(), res(200, "ETag: \"x\"\r\nCache-Control: no-cache, max-age=60\r\n"));
  EXPECT_TRUE(with.store);
  EXPECT_TRUE(with.revalidate_each_use);
  auto lm =
      decide(req(), res(200, "Last-Modified: Sat, 01 Jan 1994 00:00:00 GMT\r\nCache-Control: no-cache\r\n"
                             "Expires: 0\r\n"));
  EXPECT_TRUE(lm.store);
  // No lifetime is needed for it: the app asks for revalidation each time.
  auto bare = decide(req(), res(200, "ETag: \"x\"\r\nCache-Control: no-cache\r\n"));
  EXPECT_TRUE(bare.store);
  EXPECT_TRUE(bare.revalidate_each_use);
  EXPECT_EQ(decide(req(), res(200, "ETag: \"x\"\r\n")).reason, "no explicit freshness");
  EXPECT_FALSE(decide(req(), cc_res("max-age=60")).revalidate_each_use);
  // A qualified no-cache only strips the named fields.
  EXPECT_FALSE(decide(req(), cc_res("no-cache=\"x\", max-age=60")).revalidate_each_use);
}

TEST(CacheRulesStore, must_revalidate_flag) {
  EXPECT_FALSE(decide(req(), cc_res("max-age=60")).must_revalidate);
  EXPECT_TRUE(decide(req(), cc_res("max-age=60, must-revalidate")).must_revalidate);
  EXPECT_TRUE(decide(req(), cc_res("max-age=60, proxy-revalidate")).must_revalidate);
  EXPECT_TRUE(decide(req(), cc_res("s-maxage=60")).must_revalidate);
}

TEST(CacheRulesStore, corrected_initial_age) {
  auto o = at_t0();
  o.request_time = t0 + 8;
  o.response_time = t0 + 10; // 2 s round trip; Date 10 s before arrival
  // apparent age 10 > Age 0 + delay 2
  EXPECT_EQ(decide(req(), res(200, date_t0 + "Cache-Control: max-age=60\r\n"), o).initial_age, 10);
  // Age 30 + delay 2 > apparent age 10
  EXPECT_EQ(decide(req(), res(200, date_t0 + "Age: 30\r\nCache-Control: max-age=60\r\n"), o).initial_age, 32);
  // no Date: apparent age 0
  EXPECT_EQ(decide(req(), res(200, "Age: 5\r\nCache-Control: max-age=60\r\n"), o).initial_age, 7);
  // invalid Age is ignored; a list keeps its first member
  EXPECT_EQ(decide(req(), res(200, "Age: x\r\nCache-Control: max-age=60\r\n"), o).initial_age, 2);
  EXPECT_EQ(decide(req(), res(200, "Age: 20, 900\r\nCache-Control: max-age=60\r\n"), o).initial_age, 22);
  // Date in the future: apparent age 0, not negative
  auto future = "Date: Sun, 06 Nov 1994 09:49:37 GMT\r\nCache-Control: max-age=60\r\n";
  EXPECT_EQ(decide(req(), res(200, future), o).initial_age, 2);
}

TEST(CacheRulesStore, stale_on_arrival_needs_a_validator) {
  auto d = decide(req(), res(200, "Age: 100\r\nCache-Control: max-age=60\r\n"));
  EXPECT_FALSE(d.store);
  EXPECT_EQ(d.reason, "stale without validator");
  EXPECT_EQ(d.initial_age, 100);
  EXPECT_TRUE(decide(req(), res(200, "Age: 100\r\nETag: \"e\"\r\nCache-Control: max-age=60\r\n")).store);
}

// --- Vary ----------------------------------------------------------------------

TEST(CacheRulesVary, names_are_lower_case_in_order_without_duplicates) {
  auto v = parse_vary(*res(200, "Vary: Accept-Encoding ,Accept-Language\r\nVary: accept-encoding, X-A\r\n"));
  EXPECT_FALSE(v.star);
  EXPECT_EQ(v.names, "accept-encoding,accept-language,x-a");
  EXPECT_EQ(parse_vary(*res(200)).names, "");
  EXPECT_FALSE(parse_vary(*res(200)).star);
}

TEST(CacheRulesVary, star_wins) {
  auto v = parse_vary(*res(200, "Vary: Accept\r\nVary: *\r\n"));
  EXPECT_TRUE(v.star);
  EXPECT_EQ(v.names, "");
}

TEST(CacheRulesVary, variant_ignores_whitespace_around_commas_and_name_case) {
  auto a = variant_of(*req("Accept-Encoding: gzip,  br\r\n"), "accept-encoding");
  auto b = variant_of(*req("accept-encoding: gzip , br\r\n"), "accept-encoding");
  EXPECT_EQ(a, b);
  EXPECT_NE(a, variant_of(*req("Accept-Encoding: br, gzip\r\n"), "accept-encoding"));
  EXPECT_NE(a, variant_of(*req("Accept-Encoding: GZIP, br\r\n"), "accept-encoding"));
}

TEST(CacheRulesVary, variant_joins_lines) {
  EXPECT_EQ(variant_of(*req("Accept: a\r\nX: 1\r\nAccept: b, c\r\n"), "accept"),
            variant_of(*req("Accept: a,b,c\r\n"), "accept"));
}

TEST(CacheRulesVary, absent_differs_from_empty) {
  auto absent = variant_of(*req(), "accept-language");
  auto empty = variant_of(*req("Accept-Language: \r\n"), "accept-language");
  EXPECT_NE(absent, empty);
  EXPECT_EQ(absent, variant_of(*req("X: y\r\n"), "accept-language"));
}

TEST(CacheRulesVary, variant_covers_every_name_in_order) {
  auto both = variant_of(*req("A: 1\r\nB: 2\r\n"), "a,b");
  EXPECT_EQ(both, variant_of(*req("B: 2\r\nA: 1\r\n"), "a,b"));
  EXPECT_NE(both, variant_of(*req("A: 1\r\n"), "a,b"));
  EXPECT_NE(both, variant_of(*req("A: 2\r\nB: 1\r\n"), "a,b"));
  // A value cannot spill into the next field.
  EXPECT_NE(variant_of(*req("A: 1,2\r\n"), "a,b"), variant_of(*req("A: 1\r\nB: 2\r\n"), "a,b"));
  EXPECT_EQ(variant_of(*req("A: 1\r\n"), ""), "");
}

// --- stored heads --------------------------------------------------------------

TEST(CacheRulesStoredHead, keeps_end_to_end_fields_and_validators) {
  auto r =
      res(200, date_t0 + "Content-Type: text/plain\r\nConnection: X-Hop, keep-alive\r\nX-Hop: 1\r\n"
                         "Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nTrailer: X-T\r\nAge: 3\r\n"
                         "X-Cache: HIT\r\nX-Request-ID: abc\r\nETag: W/\"v1\"\r\n"
                         "Last-Modified: Sat, 01 Jan 1994 00:00:00 GMT\r\nCache-Control: max-age=60\r\n");
  auto s = store_head(*r, parse_cache_control(*r));
  EXPECT_EQ(s.fields, "Content-Type: text/plain\r\nETag: W/\"v1\"\r\n"
                      "Last-Modified: Sat, 01 Jan 1994 00:00:00 GMT\r\nCache-Control: max-age=60\r\n");
  EXPECT_EQ(s.date, t0);
  EXPECT_EQ(s.etag, "W/\"v1\"");
  EXPECT_EQ(s.last_modified, "Sat, 01 Jan 1994 00:00:00 GMT");
}

TEST(CacheRulesStoredHead, unparseable_date_stays_in_fields) {
  auto r = res(200, "Date: yesterday\r\nCache-Control: max-age=60\r\n");
  auto s = store_head(*r, parse_cache_control(*r));
  EXPECT_EQ(s.date, -1);
  EXPECT_EQ(s.fields, "Date: yesterday\r\nCache-Control: max-age=60\r\n");
  EXPECT_EQ(s.etag, "");
  EXPECT_EQ(s.last_modified, "");
}

TEST(CacheRulesStoredHead, qualified_private_and_no_cache_strip_the_named_fields) {
  auto r = res(200, "Set-Cookie: a=b\r\nX-User: me\r\nX-Keep: 1\r\nx-trace: 9\r\n"
                    "Cache-Control: private=\"Set-Cookie, x-user\", no-cache=\"X-Trace\", max-age=60\r\n");
  auto s = store_head(*r, parse_cache_control(*r));
  EXPECT_EQ(s.fields, "X-Keep: 1\r\nCache-Control: private=\"Set-Cookie, x-user\", no-cache=\"X-Trace\", "
                      "max-age=60\r\n");
}

// --- refreshing with a 304 -----------------------------------------------------

stored_head stored_example() {
  auto r = res(200, date_t0 + "Content-Type: text/html\r\nETag: \"v1\"\r\nCache-Control: max-age=60\r\n"
                              "X-A: 1\r\nX-A: 2\r\nContent-Encoding: gzip\r\n");
  return store_head(*r, parse_cache_control(*r));
}

TEST(CacheRulesRefresh, fields_of_the_304_replace_every_stored_line_of_that_name) {
  auto r304 = res(304, "Date: Sun, 06 Nov 1994 08:59:37 GMT\r\nCache-Control: max-age=120\r\nX-A: 3\r\n"
                       "ETag: \"v2\"\r\nContent-Length: 99\r\nConnection: close\r\nX-Request-ID: q\r\n"
                       "Age: 4\r\nX-New: n\r\n");
  auto s = refresh_head(stored_example(), *r304);
  EXPECT_EQ(s.fields, "Content-Type: text/html\r\nContent-Encoding: gzip\r\n"
                      "Cache-Control: max-age=120\r\nX-A: 3\r\nETag: \"v2\"\r\nX-New: n\r\n");
  EXPECT_EQ(s.date, t0 + 600);
  EXPECT_EQ(s.etag, "\"v2\"");
}

TEST(CacheRulesRefresh, an_empty_304_changes_nothing_and_invalid_dates_do_not_replace) {
  auto before = stored_example();
  auto s = refresh_head(before, *res(304, "Date: bogus\r\n"));
  EXPECT_EQ(s.fields, before.fields);
  EXPECT_EQ(s.date, before.date);
  EXPECT_EQ(s.etag, before.etag);
}

TEST(CacheRulesRefresh, a_valid_date_replaces_an_unparseable_stored_one) {
  auto r = res(200, "Date: bogus\r\nCache-Control: max-age=60\r\n");
  auto s = refresh_head(store_head(*r, parse_cache_control(*r)), *res(304, date_t0));
  EXPECT_EQ(s.fields, "Cache-Control: max-age=60\r\n");
  EXPECT_EQ(s.date, t0);
}

TEST(CacheRulesRefresh, new_private_list_strips_fields) {
  auto s = refresh_head(stored_example(), *res(304, "Cache-Control: private=\"x-a\", max-age=5\r\n"));
  EXPECT_EQ(s.fields.find("X-A"), std::string::npos) << s.fields;
  EXPECT_NE(s.fields.find("Content-Type: text/html\r\n"), std::string::npos);
}

TEST(CacheRulesRefresh, last_modified_follows_the_304) {
  auto s = refresh_head(stored_example(), *res(304, "Last-Modified: Sat, 01 Jan 1994 00:00:00 GMT\r\n"));
  EXPECT_EQ(s.last_modified, "Sat, 01 Jan 1994 00:00:00 GMT");
  EXPECT_EQ(s.etag, "\"v1\"");
}

TEST(CacheRulesRefresh, freshness_of_the_refreshed_entry) {
  auto r304 = res(304, "Date: Sun, 06 Nov 1994 09:00:00 GMT\r\nCache-Control: max-age=300\r\nAge: 7\r\n");
  auto s = refresh_head(stored_example(), *r304);
  store_options o;
  o.request_time = t0 + 623;
  o.response_time = t0 + 624; // the 304's Date is t0 + 623
  auto d = refreshed_freshness(*req(), *r304, s, o);
  EXPECT_TRUE(d.store) << d.reason;
  EXPECT_EQ(d.lifetime, 300);
  EXPECT_EQ(d.initial_age, 8); // Age 7 + 1 s delay > apparent age 1
  // Stored Cache-Control still applies when the 304 has none.
  auto plain = res(304, "");
  auto kept = refresh_head(stored_example(), *plain);
  EXPECT_EQ(refreshed_freshness(*req(), *plain, kept, at_t0()).lifetime, 60);
  // The merged head may now forbid keeping the entry.
  auto ns = res(304, "Cache-Control: no-store\r\n");
  auto d2 = refreshed_freshness(*req(), *ns, refresh_head(stored_example(), *ns), at_t0());
  EXPECT_FALSE(d2.store);
  EXPECT_EQ(d2.reason, "no-store");
}

// --- conditional requests ------------------------------------------------------

TEST(CacheRulesNotModified, if_none_match_weak_comparison) {
  EXPECT_TRUE(not_modified(*req("If-None-Match: \"a\"\r\n"), "\"a\"", ""));
  EXPECT_TRUE(not_modified(*req("If-None-Match: W/\"a\"\r\n"), "\"a\"", ""));
  EXPECT_TRUE(not_modified(*req("If-None-Match: \"a\"\r\n"), "W/\"a\"", ""));
  EXPECT_TRUE(not_modified(*req("If-None-Match: W/\"a\"\r\n"), "W/\"a\"", ""));
  EXPECT_FALSE(not_modified(*req("If-None-Match: \"b\"\r\n"), "\"a\"", ""));
  EXPECT_FALSE(not_modified(*req("If-None-Match: \"A\"\r\n"), "\"a\"", ""));
  EXPECT_FALSE(not_modified(*req("If-None-Match: \"a\"\r\n"), "", ""));
}

TEST(CacheRulesNotModified, if_none_match_lists_and_star) {
  EXPECT_TRUE(not_modified(*req("If-None-Match: \"x\", W/\"y\" ,\"a\"\r\n"), "\"a\"", ""));
  EXPECT_TRUE(not_modified(*req("If-None-Match: \"x\"\r\nIf-None-Match: \"a\"\r\n"), "\"a\"", ""));
  EXPECT_TRUE(not_modified(*req("If-None-Match: \"a,b\"\r\n"), "\"a,b\"", ""));
  EXPECT_FALSE(not_modified(*req("If-None-Match: \"a,b\"\r\n"), "\"a\"", ""));
  EXPECT_TRUE(not_modified(*req("If-None-Match: *\r\n"), "\"a\"", ""));
  EXPECT_TRUE(not_modified(*req("If-None-Match: *\r\n"), "", ""));
}

const std::string lm = "Sun, 06 Nov 1994 08:49:37 GMT";

TEST(CacheRulesNotModified, if_modified_since_against_last_modified) {
  EXPECT_TRUE(not_modified(*req("If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"), "", lm));  // equal
  EXPECT_TRUE(not_modified(*req("If-Modified-Since: Mon, 07 Nov 1994 08:49:37 GMT\r\n"), "", lm));  // later
  EXPECT_FALSE(not_modified(*req("If-Modified-Since: Sat, 05 Nov 1994 08:49:37 GMT\r\n"), "", lm)); // older
  EXPECT_TRUE(not_modified(*req("If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT\r\n"), "", lm));
  EXPECT_FALSE(not_modified(*req("If-Modified-Since: yesterday\r\n"), "", lm));
  EXPECT_FALSE(not_modified(*req("If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"), "", ""));
  EXPECT_FALSE(not_modified(*req("If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"), "", "bogus"));
  EXPECT_FALSE(not_modified(*req("If-Modified-Since: Mon, 07 Nov 1994 08:49:37 GMT\r\n"
                                 "If-Modified-Since: Mon, 07 Nov 1994 08:49:37 GMT\r\n"),
                            "", lm));
  EXPECT_FALSE(not_modified(*req(), "\"a\"", lm));
}

TEST(CacheRulesNotModified, if_modified_since_is_ignored_when_if_none_match_is_present) {
  auto r = req("If-None-Match: \"b\"\r\nIf-Modified-Since: Mon, 07 Nov 1994 08:49:37 GMT\r\n");
  EXPECT_FALSE(not_modified(*r, "\"a\"", lm));
  auto r2 = req("If-None-Match: \"a\"\r\nIf-Modified-Since: Sat, 05 Nov 1994 08:49:37 GMT\r\n");
  EXPECT_TRUE(not_modified(*r2, "\"a\"", lm));
}

TEST(CacheRulesValidators, append_validators_writes_what_the_entry_has) {
  stored_head h;
  std::string out = "GET / HTTP/1.1\r\n";
  append_validators(out, h);
  EXPECT_EQ(out, "GET / HTTP/1.1\r\n");
  h.etag = "W/\"e\"";
  h.last_modified = lm;
  append_validators(out, h);
  EXPECT_EQ(out, "GET / HTTP/1.1\r\nIf-None-Match: W/\"e\"\r\nIf-Modified-Since: " + lm + "\r\n");
  stored_head only_lm;
  only_lm.last_modified = lm;
  std::string o2;
  append_validators(o2, only_lm);
  EXPECT_EQ(o2, "If-Modified-Since: " + lm + "\r\n");
}

TEST(CacheRulesValidators, not_modified_fields_are_the_rfc_9110_list) {
  auto r =
      res(200, date_t0 + "Content-Type: text/html\r\nCache-Control: max-age=60\r\nContent-Location: /x\r\n"
                         "ETag: \"e\"\r\nExpires: Sun, 06 Nov 1994 09:49:37 GMT\r\nVary: Accept\r\n"
                         "Last-Modified: Sat, 01 Jan 1994 00:00:00 GMT\r\nContent-Encoding: gzip\r\n");
  auto s = store_head(*r, parse_cache_control(*r));
  EXPECT_EQ(not_modified_fields(s), "Cache-Control: max-age=60\r\nContent-Location: /x\r\nETag: \"e\"\r\n"
                                    "Expires: Sun, 06 Nov 1994 09:49:37 GMT\r\nVary: Accept\r\n");
  auto r2 = res(200, "Last-Modified: Sat, 01 Jan 1994 00:00:00 GMT\r\nContent-Type: a/b\r\n");
  EXPECT_EQ(not_modified_fields(store_head(*r2, parse_cache_control(*r2))),
            "Last-Modified: Sat, 01 Jan 1994 00:00:00 GMT\r\n");
}

} // namespace
