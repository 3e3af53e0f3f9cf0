#include "runtime/http/chunked_framing.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using ika::http::chunked_framing;

/// Feeds `body` whole, then byte by byte; both must agree.
bool valid(const std::string& body) {
  chunked_framing whole;
  bool a = whole.feed(body.data(), body.size()) && whole.done();
  chunked_framing bytes;
  bool b = true;
  for (char c : body)
    b = b && bytes.feed(&c, 1);
  b = b && bytes.done();
  EXPECT_EQ(a, b) << "whole and byte-by-byte disagree for " << body;
  return a;
}

TEST(chunked_framing, accepts_well_formed_bodies) {
  EXPECT_TRUE(valid("0\r\n\r\n"));
  EXPECT_TRUE(valid("5\r\nhello\r\n0\r\n\r\n"));
  EXPECT_TRUE(valid("5;name=value\r\nhello\r\nA\r\n0123456789\r\n000\r\n\r\n"));
  EXPECT_TRUE(valid("3 ; ext\r\nabc\r\n0\r\nX-Trailer: 1\r\nY: two words\r\n\r\n"));
  EXPECT_TRUE(valid("2\r\n\r\n\r\n0\r\n\r\n")); // data may contain CRLF
}

TEST(chunked_framing, refuses_what_llhttp_8_lets_through) {
  EXPECT_FALSE(valid("5\r\nhelloXX0\r\n\r\n")); // no CRLF after the data
  EXPECT_FALSE(valid("1\rl\n\r\n0\r\n\r\n"));   // bare CR after the size
  EXPECT_FALSE(valid("1\nx\r\n0\r\n\r\n"));     // bare LF after the size
  EXPECT_FALSE(valid("1\r\nx\n0\r\n\r\n"));     // bare LF after the data
}

TEST(chunked_framing, refuses_bad_sizes_and_lines) {
  EXPECT_FALSE(valid("\r\n0\r\n\r\n")); // no size
  EXPECT_FALSE(valid("g\r\n"));         // not hex
  EXPECT_FALSE(valid("-1\r\n"));
  EXPECT_FALSE(valid("11111111111111111\r\n"));     // 17 digits
  EXPECT_FALSE(valid("1;a\x01\r\nx\r\n0\r\n\r\n")); // CTL in an extension
  EXPECT_FALSE(valid("0\r\nX: a\rb\r\n\r\n"));      // bare CR in a trailer
  EXPECT_FALSE(valid("0\r\nX: a\nb\r\n\r\n"));      // bare LF in a trailer
  EXPECT_FALSE(valid("0\r\n\r\r"));                 // no final LF
}

TEST(chunked_framing, is_not_done_until_the_final_crlf) {
  chunked_framing f;
  std::string part = "5\r\nhello\r\n0\r\n";
  EXPECT_TRUE(f.feed(part.data(), part.size()));
  EXPECT_FALSE(f.done());
  EXPECT_TRUE(f.feed("\r\n", 2));
  EXPECT_TRUE(f.done());
  // Anything after the body is not the body's.
  EXPECT_FALSE(f.feed("G", 1));
}

TEST(chunked_framing, reset_starts_a_new_body) {
  chunked_framing f;
  EXPECT_FALSE(f.feed("x", 1));
  f.reset();
  std::string body = "0\r\n\r\n";
  EXPECT_TRUE(f.feed(body.data(), body.size()));
  EXPECT_TRUE(f.done());
}

} // namespace
