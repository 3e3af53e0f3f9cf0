// Certificate contexts and the SNI table: what a handshake chooses.
// (Real handshakes: tests/integration/test_tls.py.)

#include "runtime/net/tls_context.hpp"

#include "runtime/crypto/certs.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/runtime/crypto/test_support.hpp"

#include <gtest/gtest.h>

namespace ika::net {
namespace {

using ika::test::temp_dir;

crypto::issued_certificate issue(const crypto::local_ca& ca, std::vector<std::string> names) {
  auto issued = crypto::issue_local_certificate(ca.authority, names, std::chrono::hours{24});
  if (auto* e = std::get_if<crypto::credential_error>(&issued))
    ADD_FAILURE() << e->to_string();
  return std::get<crypto::issued_certificate>(std::move(issued));
}

class TlsContextTest : public ::testing::Test {
protected:
  void SetUp() override {
    auto ca = crypto::ensure_local_ca(dir.path());
    ASSERT_TRUE(std::holds_alternative<crypto::local_ca>(ca))
        << std::get<crypto::credential_error>(ca).to_string();
    ca_.emplace(std::get<crypto::local_ca>(std::move(ca)));
  }

  std::shared_ptr<const tls_certificate> make(const std::string& name, std::vector<std::string> names) {
    auto pair = issue(*ca_, std::move(names));
    std::string error;
    auto cert = make_tls_certificate(name, pair.chain_pem, pair.key_pem, error);
    EXPECT_TRUE(cert) << error;
    return cert;
  }

  temp_dir dir{"ika-crypto"};
  std::optional<crypto::local_ca> ca_;
};

TEST_F(TlsContextTest, ContextsLoadMatchingPairsOnly) {
  auto a = issue(*ca_, {"a.test"});
  auto b = issue(*ca_, {"b.test"});
  std::string error;
  auto ok = make_tls_certificate("a.test", a.chain_pem, a.key_pem, error);
  ASSERT_TRUE(ok) << error;
  EXPECT_EQ(ok->name, "a.test");
  EXPECT_NE(ok->context, nullptr);
  // The chain (leaf + CA) is sent in full.
  STACK_OF(X509)* chain = nullptr;
  ASSERT_EQ(SSL_CTX_get0_chain_certs(ok->context.get(), &chain), 1);
  EXPECT_EQ(sk_X509_num(chain), 1);

  EXPECT_FALSE(make_tls_certificate("a.test", a.chain_pem, b.key_pem, error));
  EXPECT_EQ(error, "the private key does not belong to the certificate");
  EXPECT_FALSE(make_tls_certificate("a.test", "not pem", a.key_pem, error));
  EXPECT_NE(error.find("the certificate does not load"), std::string::npos) << error;
  EXPECT_FALSE(make_tls_certificate("a.test", a.chain_pem, "garbage", error));
  EXPECT_EQ(error, "the private key does not load");
  // No key text ever ends up in a message.
  EXPECT_EQ(error.find("PRIVATE"), std::string::npos);
}

TEST_F(TlsContextTest, TableChoosesExactThenWildcardThenFallback) {
  certificate_table table;
  EXPECT_EQ(table.find("a.test"), nullptr); // nothing at all: no certificate
  auto exact = make("a.example.test", {"a.example.test"});
  auto wild = make("*.example.test", {"*.example.test"});
  auto fallback = make("", {"ika.invalid"});
  table.add(exact);
  table.add(wild);
  EXPECT_EQ(table.find("a.example.test"), exact.get());
  EXPECT_EQ(table.find("b.example.test"), wild.get());
  // One label only, and not the parent itself.
  EXPECT_EQ(table.find("x.b.example.test"), nullptr);
  EXPECT_EQ(table.find("example.test"), nullptr);
  EXPECT_EQ(table.find(""), nullptr);
  table.set_fallback(fallback);
  EXPECT_EQ(table.find("x.b.example.test"), fallback.get());
  EXPECT_EQ(table.find(""), fallback.get());
  EXPECT_EQ(table.find(".example.test"), fallback.get());
  // One certificate under several names.
  table.add("other.test", exact);
  EXPECT_EQ(table.find("other.test"), exact.get());
  EXPECT_EQ(table.size(), 3u);
}

TEST_F(TlsContextTest, ListenerContextSpeaksOnlyTls12And13) {
  std::string error;
  auto ctx = make_listener_context(error);
  ASSERT_TRUE(ctx) << error;
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx.get()), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(ctx.get()), TLS1_3_VERSION);
  EXPECT_NE(SSL_CTX_get_options(ctx.get()) & SSL_OP_NO_RENEGOTIATION, 0u);
  // TLS 1.2 suites: ECDHE + AEAD only.
  SSL* ssl = SSL_new(ctx.get());
  ASSERT_NE(ssl, nullptr);
  STACK_OF(SSL_CIPHER)* ciphers = SSL_get_ciphers(ssl);
  ASSERT_NE(ciphers, nullptr);
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(ciphers, i);
    std::string name = SSL_CIPHER_get_name(c);
    if (name.rfind("TLS_", 0) == 0) // a TLS 1.3 suite
      continue;
    EXPECT_EQ(name.rfind("ECDHE-", 0), 0u) << name;
    EXPECT_TRUE(name.find("GCM") != std::string::npos || name.find("CHACHA20") != std::string::npos) << name;
  }
  SSL_free(ssl);
}

TEST(TicketKeys, RotationKeepsThePreviousKeyForOneRound) {
  // Seal a ticket's key material with the current key, then rotate: the
  // old name still opens (renew = 2), after a second rotation it does not.
  ticket_keys keys;
  unsigned char name[16], iv[EVP_MAX_IV_LENGTH];
  auto seal = [&](int encrypt) {
    EVP_CIPHER_CTX* cipher = EVP_CIPHER_CTX_new();
    EVP_MAC* mac_algo = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    EVP_MAC_CTX* mac = EVP_MAC_CTX_new(mac_algo);
    int r = keys.callback(nullptr, name, iv, cipher, mac, encrypt);
    EVP_MAC_CTX_free(mac);
    EVP_MAC_free(mac_algo);
    EVP_CIPHER_CTX_free(cipher);
    return r;
  };
  keys.rotate(); // before the first ticket: nothing to keep, keys come with the first ticket
  ASSERT_EQ(seal(1), 1);
  EXPECT_EQ(seal(0), 1);
  keys.rotate();
  EXPECT_EQ(seal(0), 2);
  keys.rotate();
  EXPECT_EQ(seal(0), 0);
}

} // namespace
} // namespace ika::net
