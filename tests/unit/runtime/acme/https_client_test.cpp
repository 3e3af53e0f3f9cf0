#include "runtime/acme/https_client.hpp"

#include "tests/unit/runtime/acme/acme_test_support.hpp"

#include <gtest/gtest.h>

namespace ika::acme {
namespace {

using test::http_test_server;

TEST(AcmeHttpsClient, ParsesUrls) {
  auto u = parse_url("https://acme.test:14000/dir?x=1");
  ASSERT_TRUE(std::holds_alternative<url_parts>(u));
  EXPECT_TRUE(std::get<url_parts>(u).tls);
  EXPECT_EQ(std::get<url_parts>(u).host, "acme.test");
  EXPECT_EQ(std::get<url_parts>(u).port, 14000);
  EXPECT_EQ(std::get<url_parts>(u).target, "/dir?x=1");

  auto d = parse_url("http://[::1]");
  ASSERT_TRUE(std::holds_alternative<url_parts>(d));
  EXPECT_FALSE(std::get<url_parts>(d).tls);
  EXPECT_EQ(std::get<url_parts>(d).host, "::1");
  EXPECT_EQ(std::get<url_parts>(d).port, 80);
  EXPECT_EQ(std::get<url_parts>(d).target, "/");

  for (const char* bad : {"ftp://x/", "https://", "https://u@h/", "https://h:0/", "https://h:99999/",
                          "https://h/a b", "https://h/#f", "https://[::1/"}) {
    auto r = parse_url(bad);
    ASSERT_TRUE(std::holds_alternative<error>(r)) << bad;
    EXPECT_NE(std::get<error>(r).message.find(bad), std::string::npos);
  }
}

TEST(AcmeHttpsClient, ParsesRetryAfter) {
  EXPECT_EQ(parse_retry_after("120"), 120u);
  EXPECT_EQ(parse_retry_after(" 0 "), 0u);
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), 0u); // in the past
  std::time_t later = std::time(nullptr) + 3600;
  char date[64];
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", std::gmtime(&later));
  auto s = parse_retry_after(date);
  ASSERT_TRUE(s.has_value());
  EXPECT_GE(*s, 3590u);
  EXPECT_LE(*s, 3600u);
  EXPECT_FALSE(parse_retry_after("soon").has_value());
  EXPECT_FALSE(parse_retry_after("12s").has_value());
  EXPECT_FALSE(parse_retry_after("").has_value());
}

TEST(AcmeHttpsClient, PlainHttpStatusHeadersBodyAndHead) {
  http_test_server server([](const std::string& method, const std::string& path) {
    http_test_server::reply r;
    r.status = path == "/missing" ? 404 : 201;
    r.body = method + " " + path;
    r.extra_headers =
        "Replay-Nonce: abc\r\nLink: <https://x/1>;rel=\"up\"\r\nLink: <https://x/2>;rel=\"alt\"\r\n";
    return r;
  });
  https_client client{http_client_settings{}};
  std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  auto r = client.request("POST", base + "/new?x", "{}", "application/jose+json");
  ASSERT_TRUE(std::holds_alternative<http_response>(r)) << std::get<error>(r).message;
  const auto& resp = std::get<http_response>(r);
  EXPECT_EQ(resp.status, 201);
  EXPECT_EQ(resp.body, "POST /new?x");
  EXPECT_EQ(resp.header("replay-nonce"), "abc");
  EXPECT_EQ(resp.header_values("link").size(), 2u);

  auto h = client.request("HEAD", base + "/missing");
  ASSERT_TRUE(std::holds_alternative<http_response>(h)) << std::get<error>(h).message;
  EXPECT_EQ(std::get<http_response>(h).status, 404);
  EXPECT_EQ(std::get<http_response>(h).body, "");
  EXPECT_EQ(server.requests(), 2);
}

TEST(AcmeHttpsClient, LimitsBodyAndTime) {
  http_test_server big([](const std::string&, const std::string&) {
    return http_test_server::reply{200, std::string(5000, 'x'), {}};
  });
  https_client small{http_client_settings{{}, std::chrono::milliseconds{5000}, 1000}};
  auto r = small.request("GET", "http://127.0.0.1:" + std::to_string(big.port()) + "/");
  ASSERT_TRUE(std::holds_alternative<error>(r));
  EXPECT_NE(std::get<error>(r).message.find("exceeds 1000 bytes"), std::string::npos)
      << std::get<error>(r).message;

  http_test_server silent([](const std::string&, const std::string&) { return http_test_server::reply{}; },
                          /*respond=*/false);
  https_client quick{http_client_settings{{}, std::chrono::milliseconds{300}, 1 << 20}};
  auto start = std::chrono::steady_clock::now();
  auto t = quick.request("GET", "http://127.0.0.1:" + std::to_string(silent.port()) + "/slow");
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(std::holds_alternative<error>(t));
  EXPECT_NE(std::get<error>(t).message.find("timed out"), std::string::npos) << std::get<error>(t).message;
  EXPECT_NE(std::get<error>(t).message.find("/slow"), std::string::npos);
  EXPECT_LT(took, std::chrono::seconds{3});

  // Nobody listening: a clear connect error.
  auto port = test::free_port();
  auto c = quick.request("GET", "http://127.0.0.1:" + std::to_string(port) + "/");
  ASSERT_TRUE(std::holds_alternative<error>(c));
  EXPECT_NE(std::get<error>(c).message.find("cannot connect"), std::string::npos)
      << std::get<error>(c).message;
}

} // namespace
} // namespace ika::acme
