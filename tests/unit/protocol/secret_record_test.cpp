// secret_record bodies round trip and refuse malformed input; a secret's
// value never shows in a rendering of a message that carries it.

#include "protocol/app_messages.hpp"
#include "protocol/records.hpp"

#include <caf/deep_to_string.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace ika::protocol;

secret_record sample_secret() {
  secret_record s;
  s.app = "shop/production";
  s.name = "DB_PASSWORD";
  s.nonce.assign(24, 0xab);
  s.ciphertext = {0x00, 0x01, 0xff, 0xc4, 0xc5, 0xc6, 0x7f, 0x80};
  s.key_check = "0123456789abcdef0123456789abcdef";
  s.updated.physical_ms = 1'700'000'000'123;
  s.updated.logical = 7;
  s.updated.node = "node-a";
  return s;
}

TEST(secret_record_format, RoundTrips) {
  auto s = sample_secret();
  auto back = decode_secret_record(encode(s));
  ASSERT_TRUE(back) << caf::to_string(back.error());
  EXPECT_EQ(*back, s);
  // Large binary fields use the longer headers (bin16, bin32).
  s.ciphertext.assign(70'000, 0x5a);
  back = decode_secret_record(encode(s));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, s);
  auto empty = decode_secret_record(encode(secret_record{}));
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, secret_record{});
}

TEST(secret_record_format, ToVersionedUsesKindKeyAndVersion) {
  auto s = sample_secret();
  auto v = to_versioned(s);
  EXPECT_EQ(v.kind, "secret");
  EXPECT_EQ(v.key, "shop/production/DB_PASSWORD");
  EXPECT_EQ(v.version, s.updated);
  EXPECT_FALSE(v.deleted);
  EXPECT_EQ(v.body, encode(s));
}

TEST(secret_record_format, TruncatedOrTrailingBytesAreMalformed) {
  auto body = encode(sample_secret());
  for (std::size_t n = 0; n < body.size(); ++n) {
    auto r = decode_secret_record(std::span(body.data(), n));
    ASSERT_FALSE(r) << "decoded a body cut at " << n;
    EXPECT_TRUE(is_error(r.error(), record_errc::malformed));
  }
  body.push_back(0x00);
  auto r = decode_secret_record(body);
  ASSERT_FALSE(r);
  EXPECT_TRUE(is_error(r.error(), record_errc::malformed));
}

TEST(secret_record_format, NewerFormatIsRefused) {
  auto body = encode(sample_secret());
  // The map header, "format" (a fixstr of 6), then the version (a fixint).
  ASSERT_EQ(body[8], 1);
  body[8] = 2;
  auto r = decode_secret_record(body);
  ASSERT_FALSE(r);
  EXPECT_TRUE(is_error(r.error(), record_errc::newer_format));
}

TEST(secret_record_format, AStringWhereBinaryBelongsIsMalformedAndNamed) {
  // A body of another record kind is not a secret (app records are at
  // format 2, so that one is newer_format).
  auto r = decode_secret_record(encode(app_record{}));
  ASSERT_FALSE(r);
  EXPECT_TRUE(is_error(r.error(), record_errc::newer_format));
  auto body = encode(sample_secret());
  // Turn the nonce's bin8 header (0xc4) into a str8 header (0xd9).
  for (std::size_t i = 0; i + 1 < body.size(); ++i)
    if (body[i] == 0xc4 && body[i + 1] == 24) {
      body[i] = 0xd9;
      break;
    }
  r = decode_secret_record(body);
  ASSERT_FALSE(r);
  EXPECT_NE(error_context(r.error()).find("secret_record.nonce"), std::string::npos)
      << error_context(r.error());
}

TEST(secret_value_rendering, ToStringNeverShowsTheValue) {
  const std::string value = "correct-horse-battery-staple";
  secret_value v{value};
  EXPECT_EQ(caf::deep_to_string(v).find(value), std::string::npos) << caf::deep_to_string(v);
  auto msg = caf::make_message(std::string{"shop/production"}, std::string{"TOKEN"}, v);
  auto text = caf::to_string(msg);
  EXPECT_EQ(text.find(value), std::string::npos) << text;
  EXPECT_NE(text.find("TOKEN"), std::string::npos) << text; // the rest still renders
}

} // namespace
