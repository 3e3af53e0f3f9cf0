// Unit tests of runtime/http/header_names: the table of header names the
// proxy acts on, and which of them are hop-by-hop.

#include "runtime/http/header_names.hpp"

#include <gtest/gtest.h>

#include <string_view>
#include <utility>

namespace {

using ika::http::header_id;
using ika::http::is_hop_by_hop;
using ika::http::lookup_header;

TEST(header_names, finds_every_known_name_in_canonical_case) {
  const std::pair<std::string_view, header_id> known[] = {
      {"Connection", header_id::connection},
      {"Content-Length", header_id::content_length},
      {"Expect", header_id::expect},
      {"Host", header_id::host},
      {"Keep-Alive", header_id::keep_alive},
      {"Proxy", header_id::proxy_any},
      {"TE", header_id::te},
      {"Trailer", header_id::trailer},
      {"Transfer-Encoding", header_id::transfer_encoding},
      {"Upgrade", header_id::upgrade},
      {"X-Forwarded-For", header_id::x_forwarded_for},
      {"X-Forwarded-Host", header_id::x_forwarded_host},
      {"X-Forwarded-Proto", header_id::x_forwarded_proto},
      {"X-Request-ID", header_id::x_request_id},
      {"Age", header_id::age},
      {"Authorization", header_id::authorization},
      {"Cache-Control", header_id::cache_control},
      {"Content-Location", header_id::content_location},
      {"Date", header_id::date},
      {"ETag", header_id::etag},
      {"Expires", header_id::expires},
      {"If-Match", header_id::if_match},
      {"If-Modified-Since", header_id::if_modified_since},
      {"If-None-Match", header_id::if_none_match},
      {"If-Range", header_id::if_range},
      {"If-Unmodified-Since", header_id::if_unmodified_since},
      {"Last-Modified", header_id::last_modified},
      {"Pragma", header_id::pragma},
      {"Range", header_id::range},
      {"Set-Cookie", header_id::set_cookie},
      {"Vary", header_id::vary},
  };
  for (auto [name, id] : known)
    EXPECT_EQ(lookup_header(name), id) << name;
}

TEST(header_names, lookup_ignores_case) {
  EXPECT_EQ(lookup_header("content-length"), header_id::content_length);
  EXPECT_EQ(lookup_header("CONTENT-LENGTH"), header_id::content_length);
  EXPECT_EQ(lookup_header("hOsT"), header_id::host);
  EXPECT_EQ(lookup_header("te"), header_id::te);
  EXPECT_EQ(lookup_header("TRANSFER-encoding"), header_id::transfer_encoding);
  EXPECT_EQ(lookup_header("x-request-id"), header_id::x_request_id);
  EXPECT_EQ(lookup_header("CACHE-CONTROL"), header_id::cache_control);
  EXPECT_EQ(lookup_header("etag"), header_id::etag);
  EXPECT_EQ(lookup_header("if-none-MATCH"), header_id::if_none_match);
}

TEST(header_names, every_proxy_prefixed_name_is_proxy_any) {
  EXPECT_EQ(lookup_header("Proxy-Connection"), header_id::proxy_any);
  EXPECT_EQ(lookup_header("Proxy-Authorization"), header_id::proxy_any);
  EXPECT_EQ(lookup_header("proxy-authenticate"), header_id::proxy_any);
  EXPECT_EQ(lookup_header("PROXY-X"), header_id::proxy_any);
  EXPECT_EQ(lookup_header("proxy"), header_id::proxy_any);
}

TEST(header_names, names_that_only_resemble_known_ones_are_other) {
  for (auto name :
       {"", "Hosts", "Hos", "X-Forwarded-Port", "Content-Type", "Content-Lengths", "Proxy-", "Proxies", "TEE",
        "T", "Upgrade-Insecure-Requests", "Connection2", "X-Request-IDs", "Keep-Alive-X"}) {
    EXPECT_EQ(lookup_header(name), header_id::other) << name;
  }
  const std::string_view cache_lookalikes[] = {"Ages",       "Dates",       "ETags",  "Cache-Controls",
                                               "If-Matches", "Set-Cookie2", "Cookie", "Varys",
                                               "Ranges",     "If-Modified"};
  for (auto name : cache_lookalikes)
    EXPECT_EQ(lookup_header(name), header_id::other) << name;
}

TEST(header_names, hop_by_hop_ids_are_the_rfc_9110_ones) {
  EXPECT_TRUE(is_hop_by_hop(header_id::connection));
  EXPECT_TRUE(is_hop_by_hop(header_id::keep_alive));
  EXPECT_TRUE(is_hop_by_hop(header_id::proxy_any));
  EXPECT_TRUE(is_hop_by_hop(header_id::te));
  EXPECT_TRUE(is_hop_by_hop(header_id::trailer));
  EXPECT_TRUE(is_hop_by_hop(header_id::transfer_encoding));
  EXPECT_TRUE(is_hop_by_hop(header_id::upgrade));
}

TEST(header_names, end_to_end_ids_are_not_hop_by_hop) {
  for (auto id : {header_id::other, header_id::content_length, header_id::expect, header_id::host,
                  header_id::x_forwarded_for, header_id::x_forwarded_host, header_id::x_forwarded_proto,
                  header_id::x_request_id}) {
    EXPECT_FALSE(is_hop_by_hop(id)) << static_cast<int>(id);
  }
  // The ids the cache reads, age .. vary, are end-to-end too.
  for (int i = static_cast<int>(header_id::age); i <= static_cast<int>(header_id::vary); ++i) {
    auto id = static_cast<header_id>(i);
    EXPECT_FALSE(is_hop_by_hop(id)) << i;
  }
}

TEST(header_names, hop_by_hop_is_usable_at_compile_time) {
  static_assert(is_hop_by_hop(header_id::connection));
  static_assert(!is_hop_by_hop(header_id::host));
  SUCCEED();
}

} // namespace
