#include "runtime/http/header_names.hpp"

#include "runtime/http/chars.hpp"

namespace ika::http {

header_id lookup_header(std::string_view name) noexcept {
  auto is = [name](std::string_view lower) { return equals_lowercase(name, lower); };
  switch (name.size()) {
    case 2:
      if (is("te"))
        return header_id::te;
      break;
    case 3:
      if (is("age"))
        return header_id::age;
      break;
    case 4:
      if (is("host"))
        return header_id::host;
      if (is("date"))
        return header_id::date;
      if (is("etag"))
        return header_id::etag;
      if (is("vary"))
        return header_id::vary;
      break;
    case 5:
      if (is("proxy"))
        return header_id::proxy_any;
      if (is("range"))
        return header_id::range;
      break;
    case 6:
      if (is("expect"))
        return header_id::expect;
      if (is("pragma"))
        return header_id::pragma;
      break;
    case 7:
      if (is("upgrade"))
        return header_id::upgrade;
      if (is("trailer"))
        return header_id::trailer;
      if (is("expires"))
        return header_id::expires;
      break;
    case 8:
      if (is("if-match"))
        return header_id::if_match;
      if (is("if-range"))
        return header_id::if_range;
      break;
    case 10:
      if (is("connection"))
        return header_id::connection;
      if (is("keep-alive"))
        return header_id::keep_alive;
      if (is("set-cookie"))
        return header_id::set_cookie;
      break;
    case 12:
      if (is("x-request-id"))
        return header_id::x_request_id;
      break;
    case 13:
      if (is("cache-control"))
        return header_id::cache_control;
      if (is("authorization"))
        return header_id::authorization;
      if (is("last-modified"))
        return header_id::last_modified;
      if (is("if-none-match"))
        return header_id::if_none_match;
      break;
    case 14:
      if (is("content-length"))
        return header_id::content_length;
      break;
    case 15:
      if (is("x-forwarded-for"))
        return header_id::x_forwarded_for;
      break;
    case 16:
      if (is("x-forwarded-host"))
        return header_id::x_forwarded_host;
      if (is("content-location"))
        return header_id::content_location;
      break;
    case 17:
      if (is("transfer-encoding"))
        return header_id::transfer_encoding;
      if (is("x-forwarded-proto"))
        return header_id::x_forwarded_proto;
      if (is("if-modified-since"))
        return header_id::if_modified_since;
      break;
    case 19:
      if (is("if-unmodified-since"))
        return header_id::if_unmodified_since;
      break;
    default:
      break;
  }
  if (name.size() > 6 && equals_lowercase(name.substr(0, 6), "proxy-"))
    return header_id::proxy_any;
  return header_id::other;
}

} // namespace ika::http
