// Unit tests of runtime/proxy/error_page: the small responses the proxy
// makes itself.

#include "runtime/proxy/error_page.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using ika::proxy::append_error_response;
using ika::proxy::reason_phrase;

std::string error_response(int status, std::string_view request_id, bool close, bool head_request = false,
                           bool http10_keep_alive = false, std::string_view extra = {}) {
  std::string out;
  append_error_response(out, status, request_id, close, head_request, http10_keep_alive, extra);
  return out;
}

TEST(error_page, reason_phrases_of_the_statuses_ika_sends) {
  EXPECT_EQ(reason_phrase(400), "Bad Request");
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(reason_phrase(405), "Method Not Allowed");
  EXPECT_EQ(reason_phrase(408), "Request Timeout");
  EXPECT_EQ(reason_phrase(413), "Content Too Large");
  EXPECT_EQ(reason_phrase(414), "URI Too Long");
  EXPECT_EQ(reason_phrase(417), "Expectation Failed");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(501), "Not Implemented");
  EXPECT_EQ(reason_phrase(502), "Bad Gateway");
  EXPECT_EQ(reason_phrase(503), "Service Unavailable");
  EXPECT_EQ(reason_phrase(504), "Gateway Timeout");
  EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
}

TEST(error_page, unknown_status_has_a_generic_reason) {
  EXPECT_EQ(reason_phrase(599), "Error");
}

TEST(error_page, whole_response_with_close) {
  EXPECT_EQ(error_response(404, "rid-1", true),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n"
            "Cache-Control: no-store\r\nX-Request-ID: rid-1\r\nConnection: close\r\n\r\n404 Not Found\n");
}

TEST(error_page, keep_alive_response_has_no_connection_field) {
  EXPECT_EQ(error_response(502, "rid-1", false),
            "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\n"
            "Cache-Control: no-store\r\nX-Request-ID: rid-1\r\n\r\n502 Bad Gateway\n");
}

TEST(error_page, http10_keep_alive_says_so) {
  auto r = error_response(404, "rid-1", false, false, true);
  EXPECT_NE(r.find("\r\nConnection: keep-alive\r\n\r\n"), std::string::npos) << r;
}

TEST(error_page, close_wins_over_http10_keep_alive) {
  auto r = error_response(404, "rid-1", true, false, true);
  EXPECT_NE(r.find("\r\nConnection: close\r\n"), std::string::npos) << r;
  EXPECT_EQ(r.find("keep-alive"), std::string::npos) << r;
}

TEST(error_page, head_request_gets_the_length_but_no_body) {
  EXPECT_EQ(error_response(404, "rid-1", false, true),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n"
            "Cache-Control: no-store\r\nX-Request-ID: rid-1\r\n\r\n");
}

TEST(error_page, no_request_id_means_no_request_id_field) {
  auto r = error_response(400, "", true);
  EXPECT_EQ(r.find("X-Request-ID"), std::string::npos) << r;
}

TEST(error_page, extra_headers_come_before_connection) {
  EXPECT_EQ(
      error_response(503, "r", true, false, false, "Retry-After: 1\r\n"),
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 24\r\n"
      "Cache-Control: no-store\r\nX-Request-ID: r\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
      "503 Service Unavailable\n");
}

TEST(error_page, content_length_is_the_body_size_for_every_status) {
  for (int status : {400, 404, 405, 408, 413, 414, 417, 431, 500, 501, 502, 503, 504, 505, 599}) {
    auto r = error_response(status, "r", true);
    auto body_at = r.find("\r\n\r\n") + 4;
    auto body = r.substr(body_at);
    EXPECT_EQ(body, std::to_string(status) + " " + std::string{reason_phrase(status)} + "\n");
    EXPECT_NE(r.find("\r\nContent-Length: " + std::to_string(body.size()) + "\r\n"), std::string::npos) << r;
  }
}

TEST(error_page, every_error_says_no_store) {
  for (int status : {400, 404, 502, 504})
    EXPECT_NE(error_response(status, "r", false).find("\r\nCache-Control: no-store\r\n"), std::string::npos);
}

TEST(error_page, appends_to_what_is_already_in_the_buffer) {
  std::string out = "x";
  append_error_response(out, 404, "r", true);
  EXPECT_EQ(out.substr(0, 10), "xHTTP/1.1 ");
}

} // namespace

namespace {

TEST(error_page, detail_is_a_second_body_line_without_control_characters) {
  std::string out;
  append_error_response(out, 502, "id", false, false, false, {}, "app demo failed:\r\nexit 1");
  auto body = std::string_view{out}.substr(out.find("\r\n\r\n") + 4);
  EXPECT_EQ(body, "502 Bad Gateway\napp demo failed:  exit 1\n");
  EXPECT_NE(out.find("Content-Length: " + std::to_string(body.size()) + "\r\n"), std::string::npos);
  std::string head_only;
  append_error_response(head_only, 502, "id", false, true, false, {}, "app demo failed");
  EXPECT_EQ(head_only.substr(head_only.find("\r\n\r\n") + 4), "");
  EXPECT_NE(head_only.find("Content-Length: " +
                           std::to_string(std::string_view{"502 Bad Gateway\napp demo failed\n"}.size()) +
                           "\r\n"),
            std::string::npos);
}

} // namespace
