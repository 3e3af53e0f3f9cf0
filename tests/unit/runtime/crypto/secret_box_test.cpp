// Sealed secrets open only with their key and for their (app, name); key
// files are created 0600, never overwritten, and refused when readable by
// others or malformed.

#include "runtime/crypto/secret_box.hpp"

#include "test_support.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <cstdio>

#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <variant>

namespace {

using namespace ika::crypto;
using ika::crypto::test::mode_of;
using ika::crypto::test::read_file;
using ika::test::temp_dir;
namespace fs = std::filesystem;

std::shared_ptr<const secret_key> key_of(const key_file_result& r) {
  if (auto* err = std::get_if<key_file_error>(&r)) {
    ADD_FAILURE() << err->to_string();
    return nullptr;
  }
  return std::get<std::shared_ptr<const secret_key>>(r);
}

std::string error_of(const key_file_result& r) {
  if (auto* err = std::get_if<key_file_error>(&r))
    return err->to_string();
  ADD_FAILURE() << "expected an error";
  return {};
}

TEST(SecretBox, SealOpenRoundTrip) {
  auto key = secret_key::generate();
  ASSERT_TRUE(key);
  for (std::string value : {std::string{}, std::string{"hunter2"}, std::string(64 * 1024, 'v'),
                            std::string{"line1\nline2\r\n\xff\x01"}}) {
    auto sealed = seal_secret(*key, "shop/production", "DB_PASSWORD", value);
    EXPECT_EQ(sealed.nonce.size(), secret_nonce_size);
    EXPECT_EQ(sealed.ciphertext.size(), value.size() + secret_tag_size);
    if (value.size() >= 7) {
      EXPECT_EQ(std::string(sealed.ciphertext.begin(), sealed.ciphertext.end()).find(value.substr(0, 7)),
                std::string::npos);
    }
    auto opened = open_secret(*key, "shop/production", "DB_PASSWORD", sealed.nonce, sealed.ciphertext);
    ASSERT_TRUE(opened);
    EXPECT_EQ(*opened, value);
  }
}

TEST(SecretBox, FreshNonceEachSeal) {
  auto key = secret_key::generate();
  auto a = seal_secret(*key, "a/b", "K", "same");
  auto b = seal_secret(*key, "a/b", "K", "same");
  EXPECT_NE(a.nonce, b.nonce);
  EXPECT_NE(a.ciphertext, b.ciphertext);
}

TEST(SecretBox, AssociatedDataBindsAppAndName) {
  auto key = secret_key::generate();
  auto sealed = seal_secret(*key, "shop/production", "TOKEN", "s3cret");
  EXPECT_FALSE(open_secret(*key, "shop/production", "OTHER", sealed.nonce, sealed.ciphertext));
  EXPECT_FALSE(open_secret(*key, "shop/staging", "TOKEN", sealed.nonce, sealed.ciphertext));
  EXPECT_FALSE(open_secret(*key, "other/production", "TOKEN", sealed.nonce, sealed.ciphertext));
  // The separator keeps ("a/b", "CD") and ("a/bC", "D") apart.
  auto s2 = seal_secret(*key, "a/b", "CD", "x");
  EXPECT_FALSE(open_secret(*key, "a/bC", "D", s2.nonce, s2.ciphertext));
  EXPECT_TRUE(open_secret(*key, "shop/production", "TOKEN", sealed.nonce, sealed.ciphertext));
}

TEST(SecretBox, WrongKeyOrTamperingFails) {
  auto key = secret_key::generate();
  auto other = secret_key::generate();
  EXPECT_NE(key->check(), other->check());
  auto sealed = seal_secret(*key, "a/b", "K", "value");
  EXPECT_FALSE(open_secret(*other, "a/b", "K", sealed.nonce, sealed.ciphertext));
  auto flipped = sealed.ciphertext;
  flipped[0] ^= 1;
  EXPECT_FALSE(open_secret(*key, "a/b", "K", sealed.nonce, flipped));
  auto nonce = sealed.nonce;
  nonce[3] ^= 0x80;
  EXPECT_FALSE(open_secret(*key, "a/b", "K", nonce, sealed.ciphertext));
  EXPECT_FALSE(open_secret(*key, "a/b", "K", {}, sealed.ciphertext));
  EXPECT_FALSE(open_secret(*key, "a/b", "K", sealed.nonce, {1, 2, 3}));
}

TEST(SecretBox, CheckValueIsStableAndRevealsNoKeyBytes) {
  unsigned char raw[secret_key_size];
  for (std::size_t i = 0; i < sizeof raw; ++i)
    raw[i] = static_cast<unsigned char>(i);
  auto a = secret_key::from_bytes(raw, sizeof raw);
  auto b = secret_key::from_bytes(raw, sizeof raw);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->check(), b->check());
  EXPECT_EQ(a->check().size(), 32u);
  EXPECT_EQ(a->check().find("000102030405"), std::string::npos);
  EXPECT_FALSE(secret_key::from_bytes(raw, 31));
}

// The key lives in libsodium's guarded memory: read-only once loaded, and
// a guard page right after it (an overrun faults instead of reading on).
TEST(SecretKeyDeathTest, LivesInGuardedReadOnlyMemory) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto key = secret_key::generate();
  ASSERT_TRUE(key);
  unsigned char first = key->data()[0]; // readable
  EXPECT_DEATH(
      {
        auto* p = const_cast<volatile unsigned char*>(key->data());
        p[0] = static_cast<unsigned char>(first + 1);
      },
      "");
  EXPECT_DEATH(
      {
        auto* p = const_cast<volatile unsigned char*>(key->data());
        std::printf("%d", p[secret_key_size + 64]);
      },
      "");
  EXPECT_EQ(key->data()[0], first); // untouched in this process
}

TEST(SecretKeyFile, CreatedWith0600AndLoadsTheSameKey) {
  temp_dir dir{"ika-crypto"};
  auto path = (dir.path() / "secrets.key").string();
  auto created = key_of(create_key_file(path));
  ASSERT_TRUE(created);
  EXPECT_EQ(mode_of(path), 0600u);
  auto text = read_file(path);
  EXPECT_TRUE(text.starts_with("ika-secret-key 1\n"));
  EXPECT_EQ(text.size(), 17u + 64u + 1u);
  auto loaded = key_of(load_key_file(path));
  ASSERT_TRUE(loaded);
  EXPECT_EQ(loaded->check(), created->check());
  auto sealed = seal_secret(*created, "a/b", "K", "v");
  EXPECT_EQ(open_secret(*loaded, "a/b", "K", sealed.nonce, sealed.ciphertext), "v");
}

TEST(SecretKeyFile, NeverOverwritten) {
  temp_dir dir{"ika-crypto"};
  auto path = (dir.path() / "secrets.key").string();
  ASSERT_TRUE(key_of(create_key_file(path)));
  auto before = read_file(path);
  auto err = error_of(create_key_file(path));
  EXPECT_NE(err.find("exists already"), std::string::npos) << err;
  EXPECT_EQ(read_file(path), before);
}

TEST(SecretKeyFile, MissingIsFlagged) {
  temp_dir dir{"ika-crypto"};
  auto r = load_key_file((dir.path() / "nope.key").string());
  auto* err = std::get_if<key_file_error>(&r);
  ASSERT_NE(err, nullptr);
  EXPECT_TRUE(err->missing);
}

TEST(SecretKeyFile, RefusesLoosePermissions) {
  temp_dir dir{"ika-crypto"};
  auto path = (dir.path() / "secrets.key").string();
  ASSERT_TRUE(key_of(create_key_file(path)));
  for (mode_t mode : {0644, 0640, 0604, 0660}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    auto r = load_key_file(path);
    auto* err = std::get_if<key_file_error>(&r);
    ASSERT_NE(err, nullptr) << std::oct << mode;
    EXPECT_FALSE(err->missing);
    EXPECT_NE(err->message.find("chmod 0600"), std::string::npos) << err->message;
    EXPECT_NE(err->to_string().find(path), std::string::npos);
  }
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);
  EXPECT_TRUE(key_of(load_key_file(path)));
}

TEST(SecretKeyFile, RefusesMalformedFilesWithoutEchoingThem) {
  temp_dir dir{"ika-crypto"};
  auto path = dir.path() / "secrets.key";
  const std::string hex64(64, 'a');
  for (std::string text :
       {std::string{}, std::string{"garbage"}, "ika-secret-key 1\n" + hex64.substr(2) + "\n",
        "ika-secret-key 1\n" + std::string(64, 'z') + "\n", "ika-secret-key 2\n" + hex64 + "\n",
        "ika-secret-key 1\n" + hex64 + "\nextra\n"}) {
    ika::crypto::test::overwrite(path, text);
    auto err = error_of(load_key_file(path.string()));
    EXPECT_FALSE(err.empty());
    EXPECT_EQ(err.find("zzzz"), std::string::npos) << err;
    EXPECT_EQ(err.find("aaaa"), std::string::npos) << err;
  }
  ika::crypto::test::overwrite(path, "ika-secret-key 1\n" + hex64 + "\n");
  EXPECT_TRUE(key_of(load_key_file(path.string())));
}

TEST(SecretKeyFile, RefusesSymlinksAndDirectories) {
  temp_dir dir{"ika-crypto"};
  auto real = (dir.path() / "real.key").string();
  ASSERT_TRUE(key_of(create_key_file(real)));
  auto link = dir.path() / "link.key";
  fs::create_symlink(real, link);
  EXPECT_FALSE(error_of(load_key_file(link.string())).empty());
  EXPECT_FALSE(error_of(load_key_file(dir.path().string())).empty());
}

} // namespace
