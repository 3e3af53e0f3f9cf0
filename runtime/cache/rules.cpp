#include "runtime/cache/rules.hpp"

#include "runtime/cache/http_date.hpp"
#include "runtime/http/chars.hpp"

#include <algorithm>

namespace ika::cache {

namespace {

using http::header_field;
using http::header_id;
using http::message_head;

bool is_ows(char c) noexcept {
  return c == ' ' || c == '\t';
}

/// Calls `f(name, value, has_value, bad)` for each directive of a
/// Cache-Control value; a quoted value is given without its quotes. `bad`:
/// something else than OWS follows the argument before the next comma.
template <class F>
void for_each_directive(std::string_view v, F&& f) {
  std::size_t i = 0, n = v.size();
  while (i < n) {
    while (i < n && (is_ows(v[i]) || v[i] == ','))
      ++i;
    std::size_t start = i;
    while (i < n && http::is_tchar(v[i]))
      ++i;
    auto name = v.substr(start, i - start);
    while (i < n && is_ows(v[i]))
      ++i;
    std::string_view value;
    bool has_value = false;
    if (i < n && v[i] == '=') {
      ++i;
      while (i < n && is_ows(v[i]))
        ++i;
      has_value = true;
      if (i < n && v[i] == '"') {
        std::size_t q = ++i;
        while (i < n && v[i] != '"')
          i += (v[i] == '\\' && i + 1 < n) ? 2 : 1;
        value = v.substr(q, std::min(i, n) - q);
        if (i < n)
          ++i;
      } else {
        std::size_t t = i;
        while (i < n && http::is_tchar(v[i]))
          ++i;
        value = v.substr(t, i - t);
      }
    }
    // Anything else before the next comma makes the element malformed: an
    // argument that is not a plain token or quoted string is invalid.
    bool garbage = false;
    while (i < n && v[i] != ',') {
      if (!is_ows(v[i]))
        garbage = true;
      ++i;
    }
    if (!name.empty())
      f(name, value, has_value, garbage);
  }
}

/// delta-seconds (RFC 9111 §1.2.2), or -1 if `s` is not one.
std::int64_t parse_delta_seconds(std::string_view s) noexcept {
  if (s.empty())
    return -1;
  std::int64_t v = 0;
  for (char c : s) {
    if (!http::is_digit(c))
      return -1;
    v = v * 10 + (c - '0');
    if (v >= delta_seconds_max)
      v = delta_seconds_max;
  }
  return v;
}

void keep_smallest(std::int64_t& field, std::int64_t v) noexcept {
  if (field < 0 || v < field)
    field = v;
}

/// A field-name list of a qualified directive, lower-cased; false if empty.
bool collect_names(std::string_view list, std::vector<std::string>* out) {
  bool any = false;
  http::for_each_list_element(list, [&](std::string_view name) {
    any = true;
    if (out) {
      std::string lower(name);
      for (auto& c : lower)
        c = http::to_lower(c);
      out->push_back(std::move(lower));
    }
  });
  return any;
}

void parse_cc(const message_head& m, cache_control& cc, bool collect) {
  bool pragma_no_cache = false;
  for (const auto& h : m.headers) {
    if (h.id == header_id::pragma) {
      http::for_each_list_element(
          h.value, [&](std::string_view t) { pragma_no_cache |= http::iequals(t, "no-cache"); });
      continue;
    }
    if (h.id != header_id::cache_control)
      continue;
    cc.present = true;
    for_each_directive(h.value, [&](std::string_view name, std::string_view value, bool has_value, bool bad) {
      if (bad) // an argument we cannot read: the most restrictive reading
        value = {};
      auto is = [name](std::string_view d) { return http::iequals(name, d); };
      if (is("no-store")) {
        cc.no_store = true;
      } else if (is("no-cache")) {
        if (!has_value || bad || !collect_names(value, collect ? &cc.no_cache_fields : nullptr))
          cc.no_cache = true;
      } else if (is("private")) {
        if (!has_value || bad || !collect_names(value, collect ? &cc.private_fields : nullptr))
          cc.private_ = true;
      } else if (is("public")) {
        cc.public_ = true;
      } else if (is("must-revalidate")) {
        cc.must_revalidate = true;
      } else if (is("proxy-revalidate")) {
        cc.proxy_revalidate = true;
      } else if (is("only-if-cached")) {
        cc.only_if_cached = true;
      } else if (is("max-age")) {
        auto v = parse_delta_seconds(value);
        keep_smallest(cc.max_age, v < 0 ? 0 : v);
      } else if (is("s-maxage")) {
        auto v = parse_delta_seconds(value);
        keep_smallest(cc.s_maxage, v < 0 ? 0 : v);
      } else if (is("min-fresh")) {
        auto v = parse_delta_seconds(value);
        if (v >= 0)
          keep_smallest(cc.min_fresh, v);
      } else if (is("max-stale")) {
        auto v = has_value ? parse_delta_seconds(value) : delta_seconds_max;
        if (v >= 0)
          keep_smallest(cc.max_stale, v);
      }
    });
  }
  // RFC 9111 §5.4: Pragma: no-cache is a request's no-cache only when the
  // request has no Cache-Control.
  bool request = m.status == 0;
  if (request && !cc.present && pragma_no_cache)
    cc.no_cache = true;
}

bool get_or_head(const message_head& m) noexcept {
  return m.method == "GET" || m.method == "HEAD";
}

const header_field* first(const message_head& m, header_id id) noexcept {
  for (const auto& h : m.headers)
    if (h.id == id)
      return &h;
  return nullptr;
}

bool has(const message_head& m, header_id id) noexcept {
  return first(m, id) != nullptr;
}

/// The first valid Date, or -1.
std::int64_t date_of(const message_head& m) noexcept {
  for (const auto& h : m.headers)
    if (h.id == header_id::date) {
      auto d = parse_http_date(h.value);
      if (d >= 0)
        return d;
    }
  return -1;
}

/// RFC 9111 §5.1: the first member of Age; an invalid value is ignored (0).
std::int64_t age_of(const message_head& m) noexcept {
  const auto* h = first(m, header_id::age);
  if (!h)
    return 0;
  auto v = h->value;
  v = http::trim_ows(v.substr(0, v.find(',')));
  auto age = parse_delta_seconds(v);
  return age < 0 ? 0 : age;
}

bool vary_star(const message_head& m) noexcept {
  bool star = false;
  for (const auto& h : m.headers)
    if (h.id == header_id::vary)
      http::for_each_list_element(h.value, [&](std::string_view t) { star |= t == "*"; });
  return star;
}

bool named_in_connection(const message_head& m, std::string_view name) noexcept {
  for (auto t : m.connection_tokens)
    if (http::iequals(t, name))
      return true;
  return false;
}

bool in_names(const std::vector<std::string>& names, std::string_view name) noexcept {
  for (const auto& n : names)
    if (http::iequals(n, name))
      return true;
  return false;
}

/// Fields a cache never keeps nor takes from a 304 (Date is handled apart).
bool never_stored(const message_head& m, const header_field& h) noexcept {
  if (http::is_hop_by_hop(h.id))
    return true;
  switch (h.id) {
    case header_id::content_length:
    case header_id::age:
    case header_id::x_request_id:
      return true;
    case header_id::other:
      return http::iequals(h.name, "x-cache") || named_in_connection(m, h.name);
    default:
      return named_in_connection(m, h.name);
  }
}

void append_line(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

/// Splits stored "Name: value\r\n" lines back into fields (views into
/// `fields`).
std::vector<header_field> split_fields(std::string_view fields) {
  std::vector<header_field> out;
  while (!fields.empty()) {
    auto eol = fields.find("\r\n");
    auto line = fields.substr(0, eol);
    auto colon = line.find(':');
    if (colon != std::string_view::npos) {
      auto name = line.substr(0, colon);
      out.push_back(header_field{name, http::trim_ows(line.substr(colon + 1)), http::lookup_header(name)});
    }
    if (eol == std::string_view::npos)
      break;
    fields.remove_prefix(eol + 2);
  }
  return out;
}

/// The freshness part of RFC 9111 §3 and §4.2 common to a new response and
/// a refreshed entry. `res` provides the fields, `date` the Date value (-1:
/// none), `age` the Age value.
store_decision decide_common(const message_head& req, const message_head& res, const cache_control& cc,
                             std::int64_t date, std::int64_t age, const store_options& o) {
  store_decision d;
  bool validator = has(res, header_id::etag) || has(res, header_id::last_modified);
  // §4.2.3: corrected initial age.
  std::int64_t date_value = date >= 0 ? date : o.response_time;
  std::int64_t apparent_age = std::max<std::int64_t>(0, o.response_time - date_value);
  std::int64_t response_delay = std::max<std::int64_t>(0, o.response_time - o.request_time);
  d.initial_age = std::max(apparent_age, age + response_delay);
  d.must_revalidate = cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage >= 0;
  d.revalidate_each_use = cc.no_cache;

  // §4.2.1: s-maxage, then max-age, then Expires - Date.
  bool explicit_freshness = true;
  if (cc.s_maxage >= 0) {
    d.lifetime = cc.s_maxage;
  } else if (cc.max_age >= 0) {
    d.lifetime = cc.max_age;
  } else if (const auto* e = first(res, header_id::expires)) {
    auto expires = parse_http_date(e->value);
    d.lifetime = expires < 0 ? 0 : std::max<std::int64_t>(0, expires - date_value);
  } else {
    explicit_freshness = false;
  }

  auto refuse = [&d](std::string_view reason) {
    d.store = false;
    d.reason = reason;
    return d;
  };
  if (cc.no_store)
    return refuse("no-store");
  if (cc.private_)
    return refuse("private");
  // §3.5: a shared cache stores a response to an authorized request only if
  // the response explicitly allows it.
  if (has(req, header_id::authorization) && !(cc.public_ || cc.s_maxage >= 0 || cc.must_revalidate))
    return refuse("Authorization");
  if (!o.allow_set_cookie && has(res, header_id::set_cookie))
    return refuse("Set-Cookie");
  if (vary_star(res))
    return refuse("Vary: *");
  if (cc.no_cache && !validator)
    return refuse("no-cache without validator");
  // no-cache with a validator is the app asking for the entry to be kept
  // and revalidated before each use: a lifetime is not needed for that.
  if (!explicit_freshness && !cc.no_cache)
    return refuse("no explicit freshness");
  if (d.lifetime <= d.initial_age && !validator)
    return refuse("stale without validator");
  d.store = true;
  return d;
}

/// Calls `f(tag)` for each member of an If-None-Match list: "*", W/"x",
/// "x" (quotes kept), or a tolerated unquoted token.
template <class F>
void for_each_etag(std::string_view v, F&& f) {
  std::size_t i = 0, n = v.size();
  while (i < n) {
    while (i < n && (is_ows(v[i]) || v[i] == ','))
      ++i;
    if (i >= n)
      break;
    std::size_t start = i;
    if (v.substr(i, 2) == "W/")
      i += 2;
    if (i < n && v[i] == '"') {
      auto close = v.find('"', i + 1);
      i = close == std::string_view::npos ? n : close + 1;
    }
    while (i < n && v[i] != ',')
      ++i;
    f(http::trim_ows(v.substr(start, i - start)));
  }
}

/// RFC 9110 §8.8.3.2 weak comparison: the opaque tags match, W/ ignored.
bool weak_match(std::string_view a, std::string_view b) noexcept {
  if (a.substr(0, 2) == "W/")
    a.remove_prefix(2);
  if (b.substr(0, 2) == "W/")
    b.remove_prefix(2);
  return !a.empty() && a == b;
}

} // namespace

cache_control parse_cache_control(const message_head& m) {
  cache_control cc;
  parse_cc(m, cc, true);
  return cc;
}

request_rules classify_request(const message_head& req) {
  request_rules r;
  cache_control cc;
  parse_cc(req, cc, false); // no field lists: never allocates
  bool precondition = false;
  for (const auto& h : req.headers) {
    switch (h.id) {
      case header_id::range:
      case header_id::if_range:
      case header_id::if_match:
      case header_id::if_unmodified_since:
        precondition = true;
        break;
      case header_id::authorization:
        r.authorization = true;
        break;
      case header_id::if_none_match:
      case header_id::if_modified_since:
        r.conditional = true;
        break;
      default:
        break;
    }
  }
  bool body = req.framing == http::body_framing::chunked ||
              (req.framing == http::body_framing::length && req.content_length > 0);
  r.no_store = cc.no_store;
  r.revalidate = cc.no_cache || cc.max_age == 0;
  r.only_if_cached = cc.only_if_cached;
  r.max_age = cc.max_age;
  r.min_fresh = cc.min_fresh;
  r.max_stale = cc.max_stale;
  r.cacheable = get_or_head(req) && !precondition && !body && !req.upgrade && !cc.no_store;
  return r;
}

store_decision decide_store(const message_head& req, const message_head& res, const store_options& o) {
  store_decision d;
  auto refuse = [&d](std::string_view reason) {
    d.reason = reason;
    return d;
  };
  if (!get_or_head(req))
    return refuse("method");
  if (res.status < 200)
    return refuse("status 1xx");
  if (res.status == 206)
    return refuse("status 206");
  if (res.status == 304)
    return refuse("status 304");
  cache_control rcc;
  parse_cc(req, rcc, false);
  if (rcc.no_store)
    return refuse("no-store (request)");
  cache_control cc;
  parse_cc(res, cc, false);
  return decide_common(req, res, cc, date_of(res), age_of(res), o);
}

vary_spec parse_vary(const message_head& res) {
  vary_spec v;
  for (const auto& h : res.headers) {
    if (h.id != header_id::vary)
      continue;
    http::for_each_list_element(h.value, [&](std::string_view name) {
      if (name == "*") {
        v.star = true;
        return;
      }
      bool dup = false;
      http::for_each_list_element(v.names, [&](std::string_view seen) { dup |= http::iequals(seen, name); });
      if (dup)
        return;
      if (!v.names.empty())
        v.names.push_back(',');
      for (char c : name)
        v.names.push_back(http::to_lower(c));
    });
  }
  if (v.star)
    v.names.clear();
  return v;
}

std::string variant_of(const message_head& req, std::string_view names) {
  std::string out;
  http::for_each_list_element(names, [&](std::string_view name) {
    bool present = false, first_element = true;
    for (const auto& h : req.headers) {
      if (!http::iequals(h.name, name))
        continue;
      if (!present)
        out.push_back('=');
      present = true;
      http::for_each_list_element(h.value, [&](std::string_view element) {
        if (!first_element)
          out.push_back(',');
        first_element = false;
        out.append(element);
      });
    }
    // Field values never contain '\n': "=value\n" for a present field,
    // "\n" alone for an absent one.
    out.push_back('\n');
  });
  return out;
}

stored_head store_head(const message_head& res, const cache_control& cc) {
  stored_head s;
  for (const auto& h : res.headers) {
    if (never_stored(res, h) || in_names(cc.private_fields, h.name) || in_names(cc.no_cache_fields, h.name))
      continue;
    if (h.id == header_id::date) {
      auto d = parse_http_date(h.value);
      if (d >= 0) {
        if (s.date < 0)
          s.date = d;
        continue;
      }
    } else if (h.id == header_id::etag && s.etag.empty()) {
      s.etag = std::string(h.value);
    } else if (h.id == header_id::last_modified && s.last_modified.empty()) {
      s.last_modified = std::string(h.value);
    }
    append_line(s.fields, h.name, h.value);
  }
  return s;
}

stored_head refresh_head(const stored_head& stored, const message_head& res304) {
  stored_head s;
  s.date = stored.date;
  std::int64_t new_date = date_of(res304);
  if (new_date >= 0)
    s.date = new_date;
  // The 304's fields that update the entry.
  auto updates = [&](const header_field& h) {
    if (never_stored(res304, h))
      return false;
    if (h.id == header_id::date)
      return false; // a valid one went to `date`; an invalid one never replaces
    return true;
  };
  auto replaced = [&](std::string_view name, header_id id) {
    if (id == header_id::date && new_date >= 0)
      return true; // an unparseable stored Date line gives way to a valid one
    for (const auto& h : res304.headers)
      if (updates(h) && http::iequals(h.name, name))
        return true;
    return false;
  };
  std::string merged;
  for (const auto& f : split_fields(stored.fields))
    if (!replaced(f.name, f.id))
      append_line(merged, f.name, f.value);
  for (const auto& h : res304.headers)
    if (updates(h))
      append_line(merged, h.name, h.value);

  // Fields named by the merged private= / no-cache= are dropped, and the
  // validators follow the merged fields.
  auto fields = split_fields(merged);
  message_head view;
  view.status = 200;
  view.headers = fields;
  cache_control cc;
  parse_cc(view, cc, true);
  for (const auto& f : fields) {
    if (in_names(cc.private_fields, f.name) || in_names(cc.no_cache_fields, f.name))
      continue;
    if (f.id == header_id::etag && s.etag.empty())
      s.etag = std::string(f.value);
    else if (f.id == header_id::last_modified && s.last_modified.empty())
      s.last_modified = std::string(f.value);
    append_line(s.fields, f.name, f.value);
  }
  return s;
}

store_decision refreshed_freshness(const message_head& req, const message_head& res304,
                                   const stored_head& refreshed, const store_options& o) {
  if (!get_or_head(req)) {
    store_decision d;
    d.reason = "method";
    return d;
  }
  auto fields = split_fields(refreshed.fields);
  message_head view;
  view.status = 200;
  view.headers = fields;
  cache_control cc;
  parse_cc(view, cc, false);
  return decide_common(req, view, cc, refreshed.date, age_of(res304), o);
}

bool not_modified(const message_head& req, std::string_view etag, std::string_view last_modified) {
  bool inm = false, match = false;
  for (const auto& h : req.headers) {
    if (h.id != header_id::if_none_match)
      continue;
    inm = true;
    for_each_etag(h.value, [&](std::string_view tag) { match |= tag == "*" || weak_match(tag, etag); });
  }
  if (inm)
    return match;
  // §13.1.3: one valid date, else the field is ignored.
  const header_field* ims = nullptr;
  for (const auto& h : req.headers)
    if (h.id == header_id::if_modified_since) {
      if (ims)
        return false;
      ims = &h;
    }
  if (!ims || last_modified.empty())
    return false;
  auto since = parse_http_date(ims->value);
  auto lm = parse_http_date(last_modified);
  return since >= 0 && lm >= 0 && lm <= since;
}

void append_validators(std::string& out, const stored_head& h) {
  if (!h.etag.empty())
    append_line(out, "If-None-Match", h.etag);
  if (!h.last_modified.empty())
    append_line(out, "If-Modified-Since", h.last_modified);
}

std::string not_modified_fields(const stored_head& h) {
  std::string out;
  for (const auto& f : split_fields(h.fields)) {
    switch (f.id) {
      case header_id::cache_control:
      case header_id::content_location:
      case header_id::etag:
      case header_id::expires:
      case header_id::vary:
        break;
      case header_id::last_modified:
        if (h.etag.empty())
          break;
        continue;
      default:
        continue;
    }
    append_line(out, f.name, f.value);
  }
  return out;
}

} // namespace ika::cache
