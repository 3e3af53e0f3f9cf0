#include "runtime/proxy/forward.hpp"

#include "runtime/http/chars.hpp"

#include <charconv>

namespace ika::proxy {

namespace {

void append_header(std::string& out, std::string_view name, std::string_view value) {
  // A field as it came ("Name: value", the value right after ": ") is one
  // run of bytes in the buffer it was parsed from: copied at once.
  if (value.data() == name.data() + name.size() + 2 && name.data()[name.size()] == ':' &&
      name.data()[name.size() + 1] == ' ')
    out.append(name.data(), name.size() + 2 + value.size());
  else
    out.append(name).append(": ").append(value);
  out.append("\r\n");
}

void append_number(std::string& out, std::uint64_t v) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
  out.append(digits, static_cast<std::size_t>(end - digits));
}

void append_framing(std::string& out, out_framing framing, std::uint64_t length) {
  switch (framing) {
    case out_framing::length:
      out.append("Content-Length: ");
      append_number(out, length);
      out.append("\r\n");
      break;
    case out_framing::chunked:
      out.append("Transfer-Encoding: chunked\r\n");
      break;
    default:
      break;
  }
}

} // namespace

bool named_in_connection(const http::message_head& head, std::string_view name) noexcept {
  for (auto token : head.connection_tokens)
    if (http::iequals(token, name))
      return true;
  return false;
}

void append_upstream_request_head(std::string& out, const http::message_head& req,
                                  const upstream_request_options& opt) {
  out.append(req.method).append(" ").append(req.target).append(" HTTP/1.1\r\n");
  append_header(out, "Host", req.host.empty() ? opt.fallback_host : req.host);
  bool xff_written = false;
  for (const auto& h : req.headers) {
    switch (h.id) {
      case http::header_id::host:
      case http::header_id::content_length:
      case http::header_id::expect: // answered by the proxy itself
      case http::header_id::x_forwarded_proto:
      case http::header_id::x_forwarded_host:
      case http::header_id::x_request_id:
        continue;
      case http::header_id::x_forwarded_for:
        // All X-Forwarded-For lines become one, in order, with the client
        // appended (RFC 9110 §5.3 allows combining list fields).
        if (xff_written)
          continue;
        xff_written = true;
        out.append("X-Forwarded-For: ");
        // Named in Connection, the incoming chain is hop-by-hop: only the
        // client we saw goes on.
        if (!named_in_connection(req, "x-forwarded-for")) {
          bool first = true;
          for (const auto& x : req.headers)
            if (x.id == http::header_id::x_forwarded_for && !x.value.empty()) {
              if (!first)
                out.append(", ");
              out.append(x.value);
              first = false;
            }
          if (!first)
            out.append(", ");
        }
        out.append(opt.client_ip).append("\r\n");
        continue;
      default:
        break;
    }
    if (http::is_hop_by_hop(h.id) || named_in_connection(req, h.name))
      continue;
    if (opt.strip_conditionals && (http::equals_lowercase(h.name, "if-none-match") ||
                                   http::equals_lowercase(h.name, "if-modified-since")))
      continue;
    append_header(out, h.name, h.value);
  }
  out.append(opt.extra);
  if (!xff_written)
    append_header(out, "X-Forwarded-For", opt.client_ip);
  append_header(out, "X-Forwarded-Proto", opt.proto);
  if (!req.host.empty())
    append_header(out, "X-Forwarded-Host", req.host);
  append_header(out, "X-Request-ID", opt.request_id);
  append_framing(out, opt.framing, opt.content_length);
  if (req.upgrade) {
    out.append("Connection: upgrade\r\n");
    append_header(out, "Upgrade", req.upgrade_to);
  }
  out.append("\r\n");
}

void append_client_response_head(std::string& out, const http::message_head& res,
                                 const client_response_options& opt) {
  out.append("HTTP/1.1 ");
  append_number(out, static_cast<std::uint64_t>(res.status));
  out.append(" ").append(res.reason).append("\r\n");
  bool upgrade = res.status == 101;
  for (const auto& h : res.headers) {
    switch (h.id) {
      case http::header_id::x_request_id:
        continue;
      case http::header_id::content_length:
        if (opt.framing == out_framing::keep_length)
          append_header(out, h.name, h.value);
        continue;
      case http::header_id::upgrade:
        if (upgrade)
          append_header(out, h.name, h.value);
        continue;
      default:
        break;
    }
    if (http::is_hop_by_hop(h.id) || named_in_connection(res, h.name))
      continue;
    if (opt.cache_route && http::equals_lowercase(h.name, "x-cache"))
      continue;
    append_header(out, h.name, h.value);
  }
  out.append(opt.extra);
  append_header(out, "X-Request-ID", opt.request_id);
  append_framing(out, opt.framing, opt.content_length);
  if (upgrade)
    out.append("Connection: upgrade\r\n");
  else if (opt.close)
    out.append("Connection: close\r\n");
  else if (opt.http10_keep_alive)
    out.append("Connection: keep-alive\r\n");
  out.append("\r\n");
}

} // namespace ika::proxy
