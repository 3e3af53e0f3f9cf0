#pragma once
// The rules of RFC 9111 (HTTP caching) for ika's shared response cache, as
// pure functions over parsed heads: whether a request may be answered from
// the cache, whether a response may be stored and for how long, which
// variant a request selects (Vary), what a stored head keeps, how a 304
// refreshes it, and when a cached response answers a conditional request
// with 304 (RFC 9110 §13).
//
// Policy (stricter than the RFC allows, never looser): only explicit
// freshness is honoured (s-maxage / max-age / Expires; no heuristic
// freshness), ranges are never served nor stored, and requests with other
// preconditions than If-None-Match / If-Modified-Since bypass the cache.

#include "runtime/http/head.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ika::cache {

/// Delta-seconds that overflow are this (RFC 9111 §1.2.2); also the value
/// of a max-stale without argument ("any staleness").
inline constexpr std::int64_t delta_seconds_max = 2147483648;

/// The Cache-Control directives of a message, all its Cache-Control lines
/// combined. Unknown directives are ignored. A directive given twice keeps
/// its smallest value. An invalid or missing value of max-age / s-maxage
/// makes it 0 (RFC 9111 §4.2.1: invalid freshness => stale); an invalid
/// min-fresh / max-stale value is ignored (-1).
struct cache_control {
  bool present = false; ///< at least one Cache-Control line
  bool no_store = false;
  bool no_cache = false; ///< unqualified (or an empty qualified list)
  bool private_ = false; ///< unqualified (or an empty qualified list)
  bool public_ = false;
  bool must_revalidate = false;
  bool proxy_revalidate = false;
  bool only_if_cached = false;
  std::int64_t max_age = -1; ///< -1: absent
  std::int64_t s_maxage = -1;
  std::int64_t min_fresh = -1;
  std::int64_t max_stale = -1; ///< without value: delta_seconds_max
  /// Field names (lower case) of the qualified forms private="a, b" and
  /// no-cache="x" (responses only; filled by parse_cache_control).
  std::vector<std::string> private_fields;
  std::vector<std::string> no_cache_fields;
};

/// Parses the Cache-Control lines of `m`. For a request without any
/// Cache-Control, `Pragma: no-cache` counts as no-cache (RFC 9111 §5.4).
/// Allocates only for qualified private= / no-cache= lists.
cache_control parse_cache_control(const http::message_head& m);

/// What a request asks of the cache. Never allocates.
struct request_rules {
  /// GET or HEAD, no body, no Range / If-Range / If-Match /
  /// If-Unmodified-Since, not an upgrade, not no-store. Otherwise the cache
  /// is bypassed (X-Cache: BYPASS): not looked up, the response not stored.
  bool cacheable = false;
  bool no_store = false; ///< the request says no-store (=> !cacheable)
  bool revalidate =
      false; ///< no-cache, max-age=0 or Pragma: no-cache: never served stored without revalidation
  bool authorization = false;  ///< has Authorization (decide_store checks what the response allows)
  bool conditional = false;    ///< has If-None-Match or If-Modified-Since
  bool only_if_cached = false; ///< answer 504 rather than go upstream (RFC 9111 §5.2.1.7)
  std::int64_t max_age = -1, min_fresh = -1, max_stale = -1; ///< -1: absent
};

/// Classifies a request head (RFC 9111 §5.2.1, §3, §4). Never allocates.
request_rules classify_request(const http::message_head& req);

struct store_options {
  bool allow_set_cookie = false;
  std::int64_t request_time = 0;  ///< unix seconds the request was sent upstream
  std::int64_t response_time = 0; ///< unix seconds the response head arrived
};

struct store_decision {
  bool store = false;
  /// When !store: a short static reason ("method", "status 1xx",
  /// "status 206", "status 304", "no-store (request)", "no-store", "private",
  /// "Authorization", "Set-Cookie", "Vary: *", "no explicit freshness",
  /// "no-cache without validator", "stale without validator").
  std::string_view reason;
  /// Freshness lifetime in seconds (s-maxage > max-age > Expires - Date;
  /// an invalid Expires gives 0). Computed whenever freshness is explicit.
  std::int64_t lifetime = 0;
  /// Corrected initial age, RFC 9111 §4.2.3 (Age, Date and the round trip).
  std::int64_t initial_age = 0;
  /// Unqualified no-cache on the response: revalidate on every use (stored
  /// only if the response has a validator).
  bool revalidate_each_use = false;
  /// must-revalidate, proxy-revalidate or s-maxage (RFC 9111 §5.2.2.10):
  /// once stale, never served without revalidation, whatever max-stale says.
  bool must_revalidate = false;
};

/// RFC 9111 §3 for a shared cache: request GET/HEAD; a final status, never
/// 206 (no range support), 1xx or 304; no no-store (request or response);
/// no unqualified private; with Authorization only if the response says
/// public, s-maxage or must-revalidate; no Set-Cookie unless allowed; Vary
/// not "*"; EXPLICIT freshness (s-maxage / max-age / Expires, no
/// heuristics), which makes every other final status storable (200, 404,
/// 301 but also 500 or 302 with max-age); a response that is stale on
/// arrival, or has unqualified no-cache, only with ETag / Last-Modified.
store_decision decide_store(const http::message_head& req, const http::message_head& res,
                            const store_options& o);

/// The Vary of a response: lower-cased field names in the order given,
/// duplicates removed, joined with "," ("accept-encoding,accept-language");
/// `star` (and no names) when any member is "*".
struct vary_spec {
  bool star = false;
  std::string names;
};
vary_spec parse_vary(const http::message_head& res);

/// The request's values of the fields `names` (as in vary_spec::names), in
/// a canonical form: per field, its lines joined with "," and optional
/// whitespace around commas removed; an absent field differs from an empty
/// one. Two requests select the same variant iff the results are equal.
/// The result is opaque (it contains '\n' separators).
std::string variant_of(const http::message_head& req, std::string_view names);

/// What a cache keeps of a response head.
struct stored_head {
  /// "Name: value\r\n" lines as received, without hop-by-hop fields
  /// (Connection and what it names, Keep-Alive, Proxy-*, TE, Trailer,
  /// Transfer-Encoding, Upgrade), Content-Length, Age, a valid Date (kept in
  /// `date`), X-Cache, X-Request-ID, and the fields named by qualified
  /// private= / no-cache=. ETag and Last-Modified lines stay here too.
  std::string fields;
  std::int64_t date = -1; ///< the Date value; -1 if absent or unparseable (the line then stays in `fields`)
  std::string etag;       ///< the ETag value as received (W/"x" or "x"), empty if none
  std::string last_modified; ///< the Last-Modified value as received, empty if none
};

/// The head to store for `res`, whose Cache-Control `cc` came from
/// parse_cache_control(res).
stored_head store_head(const http::message_head& res, const cache_control& cc);

/// RFC 9111 §3.2 / §4.3.4: `stored` updated by a 304. Each field the 304
/// carries replaces all stored lines of that name (appended at the end),
/// except hop-by-hop fields, Content-Length, Age, X-Cache, X-Request-ID;
/// a valid Date replaces `date`; ETag / Last-Modified follow the new
/// fields; fields named by the merged private= / no-cache= are dropped.
stored_head refresh_head(const stored_head& stored, const http::message_head& res304);

/// decide_store for a 304 that refreshed an entry into `refreshed` (from
/// refresh_head): the new lifetime and initial age (Age from the 304, Date
/// from `refreshed`), and whether the entry may still be kept (the merged
/// head may now say no-store, private, ...).
store_decision refreshed_freshness(const http::message_head& req, const http::message_head& res304,
                                   const stored_head& refreshed, const store_options& o);

/// RFC 9110 §13.1.2, §13.1.3, §13.2.2 for a GET/HEAD answered from the
/// cache: true => answer 304. If-None-Match ("*", or a list compared weakly
/// with `etag`) decides when present; otherwise If-Modified-Since (one
/// valid date) against `last_modified` only: true when not later than it.
/// Never allocates.
bool not_modified(const http::message_head& req, std::string_view etag, std::string_view last_modified);

/// Appends the conditional lines for revalidating a stale entry upstream:
/// "If-None-Match: <etag>\r\n" and/or "If-Modified-Since: <lm>\r\n".
void append_validators(std::string& out, const stored_head& h);

/// The lines of a stored head that a 304 to the client carries (RFC 9110
/// §15.4.5): Cache-Control, Content-Location, ETag, Expires, Vary, and
/// Last-Modified when there is no ETag. Date is the caller's.
std::string not_modified_fields(const stored_head& h);

} // namespace ika::cache
