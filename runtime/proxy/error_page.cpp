#include "runtime/proxy/error_page.hpp"

namespace ika::proxy {

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

void append_error_response(std::string& out, int status, std::string_view request_id, bool close,
                           bool head_request, bool http10_keep_alive, std::string_view extra_headers,
                           std::string_view detail) {
  auto reason = reason_phrase(status);
  auto code = std::to_string(status);
  detail = detail.substr(0, 200);
  // Body: "502 Bad Gateway\n", then the detail line if any.
  std::size_t body_size = code.size() + 1 + reason.size() + 1 + (detail.empty() ? 0 : detail.size() + 1);
  out.append("HTTP/1.1 ").append(code).append(" ").append(reason).append("\r\n");
  out.append("Content-Type: text/plain; charset=utf-8\r\n");
  out.append("Content-Length: ").append(std::to_string(body_size)).append("\r\n");
  out.append("Cache-Control: no-store\r\n");
  if (!request_id.empty())
    out.append("X-Request-ID: ").append(request_id).append("\r\n");
  out.append(extra_headers);
  if (close)
    out.append("Connection: close\r\n");
  else if (http10_keep_alive)
    out.append("Connection: keep-alive\r\n");
  out.append("\r\n");
  if (!head_request) {
    out.append(code).append(" ").append(reason).append("\n");
    if (!detail.empty()) {
      for (char c : detail)
        out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c);
      out.push_back('\n');
    }
  }
}

} // namespace ika::proxy
