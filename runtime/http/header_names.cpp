#include "runtime/http/header_names.hpp"

#include "runtime/http/chars.hpp"

namespace ika::http {

header_id lookup_header(std::string_view name) noexcept {
  auto is = [name](std::string_view lower) { return iequals(name, lower); };
  switch (name.size()) {
    case 2:
      if (is("te"))
        return header_id::te;
      break;
    case 4:
      if (is("host"))
        return header_id::host;
      break;
    case 5:
      if (is("proxy"))
        return header_id::proxy_any;
      break;
    case 6:
      if (is("expect"))
        return header_id::expect;
      break;
    case 7:
      if (is("upgrade"))
        return header_id::upgrade;
      if (is("trailer"))
        return header_id::trailer;
      break;
    case 10:
      if (is("connection"))
        return header_id::connection;
      if (is("keep-alive"))
        return header_id::keep_alive;
      break;
    case 12:
      if (is("x-request-id"))
        return header_id::x_request_id;
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
      break;
    case 17:
      if (is("transfer-encoding"))
        return header_id::transfer_encoding;
      if (is("x-forwarded-proto"))
        return header_id::x_forwarded_proto;
      break;
    default:
      break;
  }
  if (name.size() > 6 && iequals(name.substr(0, 6), "proxy-"))
    return header_id::proxy_any;
  return header_id::other;
}

} // namespace ika::http
