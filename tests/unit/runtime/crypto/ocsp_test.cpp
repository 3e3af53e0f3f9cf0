// OCSP stapling: the query for a chain's leaf, and which responder answers
// may be stapled. The responses are built here with OpenSSL, signed by the
// issuer, by a delegated responder, or by someone else. (A real responder,
// `openssl ocsp`, and real handshakes: tests/integration/test_tls.py.)

#include "runtime/crypto/ocsp.hpp"

#include "runtime/crypto/certs.hpp"
#include "runtime/net/tls_context.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/runtime/crypto/ocsp_test_support.hpp"
#include "tests/unit/runtime/crypto/test_support.hpp"

#include <openssl/ec.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace ika::crypto {
namespace ocsp_testing {

using namespace std::chrono;

class OcspTest : public ::testing::Test {
protected:
  OcspTest() {
    ca = make_cert({.cn = "Test CA", .serial = 1, .ca = true}, ca_key.get());
    leaf = make_cert({.cn = "ocsp.test", .serial = 7, .ocsp_url = "http://127.0.0.1:9/ocsp"}, leaf_key.get(),
                     ca.get(), ca_key.get());
    chain = pem(leaf.get()) + pem(ca.get());
  }

  /// The error of checking `der` against the chain now; "" if it passed.
  std::string rejection(const std::string& der, const std::string& of_chain = {}) {
    auto r = check_ocsp_response(der, of_chain.empty() ? chain : of_chain, system_clock::now());
    if (auto* e = std::get_if<credential_error>(&r))
      return e->to_string();
    return {};
  }

  std::string good() { return respond(leaf.get(), ca.get(), ca.get(), ca_key.get(), {}); }

  key_ptr ca_key = new_key(), leaf_key = new_key();
  cert_ptr ca, leaf;
  std::string chain;
};

TEST_F(OcspTest, QueryAsksTheLeafsResponderAboutTheLeaf) {
  auto r = ocsp_query_for(chain);
  ASSERT_TRUE(std::holds_alternative<ocsp_query>(r)) << std::get<credential_error>(r).to_string();
  auto& q = std::get<ocsp_query>(r);
  EXPECT_EQ(q.responder, "http://127.0.0.1:9/ocsp");
  const auto* p = reinterpret_cast<const unsigned char*>(q.request_der.data());
  OCSP_REQUEST* request = d2i_OCSP_REQUEST(nullptr, &p, static_cast<long>(q.request_der.size()));
  ASSERT_NE(request, nullptr);
  ASSERT_EQ(OCSP_request_onereq_count(request), 1);
  OCSP_CERTID* expected = OCSP_cert_to_id(nullptr, leaf.get(), ca.get());
  EXPECT_EQ(OCSP_id_cmp(OCSP_onereq_get0_id(OCSP_request_onereq_get0(request, 0)), expected), 0);
  OCSP_CERTID_free(expected);
  OCSP_REQUEST_free(request);
}

TEST_F(OcspTest, TheFingerprintIsTheLeafsSha256) {
  auto r = ocsp_query_for(chain);
  ASSERT_TRUE(std::holds_alternative<ocsp_query>(r));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  ASSERT_EQ(X509_digest(leaf.get(), EVP_sha256(), md, &n), 1);
  std::string hex;
  char two[3];
  for (unsigned int i = 0; i < n; ++i) {
    std::snprintf(two, sizeof two, "%02x", md[i]);
    hex += two;
  }
  EXPECT_EQ(std::get<ocsp_query>(r).fingerprint, hex);
}

TEST_F(OcspTest, StaplesAreKeptPrivatelyUnderTheLeafsFingerprint) {
  ika::test::temp_dir dir{"ika-ocsp"};
  auto fingerprint = std::get<ocsp_query>(ocsp_query_for(chain)).fingerprint;
  auto none = load_ocsp_staple(dir.path(), fingerprint);
  ASSERT_TRUE(std::holds_alternative<std::optional<std::string>>(none));
  EXPECT_FALSE(std::get<std::optional<std::string>>(none).has_value());

  auto der = good();
  EXPECT_FALSE(save_ocsp_staple(dir.path(), fingerprint, der).has_value());
  auto path = dir.path() / "certs" / "ocsp" / (fingerprint + ".der");
  EXPECT_EQ(test::mode_of(path), 0600u);
  EXPECT_EQ(test::mode_of(dir.path() / "certs" / "ocsp"), 0700u);
  auto loaded = load_ocsp_staple(dir.path(), fingerprint);
  ASSERT_TRUE(std::holds_alternative<std::optional<std::string>>(loaded));
  EXPECT_EQ(std::get<std::optional<std::string>>(loaded).value_or(""), der);

  // Replaced whole; removed on request.
  auto newer = respond(leaf.get(), ca.get(), ca.get(), ca_key.get(), {V_OCSP_CERTSTATUS_GOOD, -30, 7200});
  EXPECT_FALSE(save_ocsp_staple(dir.path(), fingerprint, newer).has_value());
  EXPECT_EQ(std::get<std::optional<std::string>>(load_ocsp_staple(dir.path(), fingerprint)).value_or(""),
            newer);
  remove_ocsp_staple(dir.path(), fingerprint);
  EXPECT_FALSE(std::get<std::optional<std::string>>(load_ocsp_staple(dir.path(), fingerprint)).has_value());

  // Names that are not fingerprints never become paths.
  for (const std::string& bad : {std::string{"../../etc/passwd"}, std::string(64, 'g'), std::string(63, 'a'),
                                 std::string(64, 'A'), std::string{}}) {
    EXPECT_TRUE(save_ocsp_staple(dir.path(), bad, der).has_value()) << bad;
    EXPECT_TRUE(std::holds_alternative<credential_error>(load_ocsp_staple(dir.path(), bad))) << bad;
  }
  EXPECT_TRUE(save_ocsp_staple(dir.path(), fingerprint, "").has_value());
  EXPECT_TRUE(save_ocsp_staple(dir.path(), fingerprint, std::string(65 * 1024, 'x')).has_value());
}

TEST_F(OcspTest, NoResponderMeansNothingToAskAndNoError) {
  auto plain = make_cert({.cn = "plain.test", .serial = 8}, leaf_key.get(), ca.get(), ca_key.get());
  for (const auto& c : {pem(plain.get()) + pem(ca.get()), pem(ca.get())}) {
    auto r = ocsp_query_for(c);
    ASSERT_TRUE(std::holds_alternative<ocsp_query>(r)) << std::get<credential_error>(r).to_string();
    EXPECT_TRUE(std::get<ocsp_query>(r).responder.empty());
    EXPECT_TRUE(std::get<ocsp_query>(r).request_der.empty());
  }
  // Only http:// responders are asked (RFC 6960 A.1; https would need a
  // trust of its own).
  auto https = make_cert({.cn = "https.test", .serial = 9, .ocsp_url = "https://127.0.0.1:9/"},
                         leaf_key.get(), ca.get(), ca_key.get());
  auto r = ocsp_query_for(pem(https.get()) + pem(ca.get()));
  ASSERT_TRUE(std::holds_alternative<ocsp_query>(r));
  EXPECT_TRUE(std::get<ocsp_query>(r).responder.empty());
}

TEST_F(OcspTest, AResponderWithoutTheIssuerInTheChainIsAnError) {
  auto r = ocsp_query_for(pem(leaf.get()));
  ASSERT_TRUE(std::holds_alternative<credential_error>(r));
  EXPECT_NE(std::get<credential_error>(r).message.find("no issuer certificate"), std::string::npos);
  EXPECT_NE(rejection(good(), pem(leaf.get())).find("no issuer certificate"), std::string::npos);
  EXPECT_TRUE(std::holds_alternative<credential_error>(ocsp_query_for("not PEM at all")));
}

TEST_F(OcspTest, AGoodAnswerSignedByTheIssuerIsStapled) {
  auto der = good();
  auto now = system_clock::now();
  auto r = check_ocsp_response(der, chain, now);
  ASSERT_TRUE(std::holds_alternative<ocsp_staple>(r)) << std::get<credential_error>(r).to_string();
  auto& s = std::get<ocsp_staple>(r);
  EXPECT_EQ(s.der, der);
  auto unix_now = duration_cast<seconds>(now.time_since_epoch()).count();
  EXPECT_NEAR(static_cast<double>(s.this_update), static_cast<double>(unix_now - 60), 5);
  EXPECT_NEAR(static_cast<double>(s.next_update), static_cast<double>(unix_now + 3600), 5);
}

TEST_F(OcspTest, ADelegatedResponderMustCarryOcspSigning) {
  auto responder_key = new_key();
  auto delegated = make_cert({.cn = "Test OCSP", .serial = 20, .ocsp_signing = true}, responder_key.get(),
                             ca.get(), ca_key.get());
  EXPECT_EQ(rejection(respond(leaf.get(), ca.get(), delegated.get(), responder_key.get(), {})), "");
  auto not_delegated =
      make_cert({.cn = "Not OCSP", .serial = 21}, responder_key.get(), ca.get(), ca_key.get());
  EXPECT_NE(rejection(respond(leaf.get(), ca.get(), not_delegated.get(), responder_key.get(), {}))
                .find("not signed by the certificate's issuer"),
            std::string::npos);
}

TEST_F(OcspTest, AnswersThatMustNotBeStapledAreRefusedWithTheReason) {
  auto other_key = new_key();
  auto other_ca = make_cert({.cn = "Other CA", .serial = 1, .ca = true}, other_key.get());
  auto other_leaf =
      make_cert({.cn = "other.test", .serial = 7}, leaf_key.get(), other_ca.get(), other_key.get());
  auto sibling = make_cert({.cn = "sibling.test", .serial = 8}, leaf_key.get(), ca.get(), ca_key.get());
  struct row {
    std::string der;
    std::string why;
  };
  std::vector<row> rows{
      {respond(leaf.get(), ca.get(), ca.get(), ca_key.get(), {V_OCSP_CERTSTATUS_REVOKED}), "revoked"},
      {respond(leaf.get(), ca.get(), ca.get(), ca_key.get(), {V_OCSP_CERTSTATUS_UNKNOWN}), "does not know"},
      {respond(leaf.get(), ca.get(), other_ca.get(), other_key.get(), {}), "not signed"},
      {respond(sibling.get(), ca.get(), ca.get(), ca_key.get(), {}), "says nothing about this certificate"},
      {respond(other_leaf.get(), other_ca.get(), other_ca.get(), other_key.get(), {}), "not signed"},
      {respond(leaf.get(), ca.get(), ca.get(), ca_key.get(), {V_OCSP_CERTSTATUS_GOOD, -7200, -60}),
       "out of date"},
      {respond(leaf.get(), ca.get(), ca.get(), ca_key.get(), {V_OCSP_CERTSTATUS_GOOD, 3600, 7200}), "future"},
      {respond(leaf.get(), ca.get(), ca.get(), ca_key.get(), {V_OCSP_CERTSTATUS_GOOD, -60, -120}),
       "nextUpdate is not after"},
      {respond(leaf.get(), ca.get(), ca.get(), ca_key.get(),
               {V_OCSP_CERTSTATUS_GOOD, -60, 3600, OCSP_RESPONSE_STATUS_TRYLATER}),
       "answered \"trylater\""},
      {"", "empty"},
      {"garbage, not DER", "not a DER OCSPResponse"},
      {good() + "x", "not a DER OCSPResponse"},
      {std::string(65 * 1024, '0'), "larger than"},
  };
  for (const auto& r : rows) {
    auto error = rejection(r.der);
    EXPECT_NE(error.find(r.why), std::string::npos) << "wanted '" << r.why << "', got '" << error << "'";
  }
}

TEST_F(OcspTest, AnAnswerWithoutNextUpdateIsGoodForAnHour) {
  auto r = check_ocsp_response(
      respond(leaf.get(), ca.get(), ca.get(), ca_key.get(), {V_OCSP_CERTSTATUS_GOOD, -60, 0}), chain,
      system_clock::now());
  ASSERT_TRUE(std::holds_alternative<ocsp_staple>(r)) << std::get<credential_error>(r).to_string();
  auto& s = std::get<ocsp_staple>(r);
  EXPECT_EQ(s.next_update - s.this_update, 3600);
}

TEST(OcspRefresh, HalfwayButNeitherTooSoonNorTooLate) {
  auto now = system_clock::time_point{seconds{1'000'000}};
  ocsp_staple week{"x", 1'000'000 - 3600, 1'000'000 - 3600 + 7 * 86400};
  EXPECT_EQ(ocsp_refresh_time(week, now, minutes{1}, hours{100}),
            system_clock::time_point{seconds{week.this_update + 7 * 86400 / 2}});
  EXPECT_EQ(ocsp_refresh_time(week, now, minutes{1}, hours{12}), now + hours{12});
  ocsp_staple ending{"x", 1'000'000 - 3600, 1'000'000 + 10};
  EXPECT_EQ(ocsp_refresh_time(ending, now, minutes{1}, hours{12}), now + minutes{1});
}

// -- the staple in handshakes -------------------------------------------------------

/// What a connection's handshake reads: one certificate as the fallback.
class one_certificate final : public net::handshake_source {
public:
  explicit one_certificate(std::shared_ptr<const net::tls_certificate> cert) {
    table_.set_fallback(std::move(cert));
  }
  const net::certificate_table& certificates() noexcept override { return table_; }
  net::ticket_keys& tickets() noexcept override { return keys_; }

private:
  net::certificate_table table_;
  net::ticket_keys keys_;
};

/// Runs a handshake in memory; returns the OCSP response the client got
/// ("" none), or "handshake failed".
std::string stapled_to(const std::shared_ptr<const net::tls_certificate>& cert, bool ask) {
  std::string error;
  auto listener = net::make_listener_context(error);
  EXPECT_TRUE(listener) << error;
  one_certificate source{cert};
  SSL* server = SSL_new(cert->context.get());
  SSL_set_app_data(server, static_cast<net::handshake_source*>(&source));
  SSL_set_accept_state(server);
  SSL_CTX* client_ctx = SSL_CTX_new(TLS_client_method());
  SSL* client = SSL_new(client_ctx);
  SSL_set_tlsext_host_name(client, "ocsp.test");
  if (ask)
    SSL_set_tlsext_status_type(client, TLSEXT_STATUSTYPE_ocsp);
  SSL_set_connect_state(client);
  BIO *a = nullptr, *b = nullptr;
  BIO_new_bio_pair(&a, 0, &b, 0);
  SSL_set_bio(server, a, a);
  SSL_set_bio(client, b, b);
  bool done = false;
  for (int i = 0; i < 20 && !done; ++i) {
    int c = SSL_do_handshake(client);
    int s = SSL_do_handshake(server);
    done = c == 1 && s == 1;
  }
  std::string out = "handshake failed";
  if (done) {
    const unsigned char* resp = nullptr;
    long len = SSL_get_tlsext_status_ocsp_resp(client, &resp);
    out = len > 0 && resp != nullptr
              ? std::string(reinterpret_cast<const char*>(resp), static_cast<std::size_t>(len))
              : std::string{};
  }
  SSL_free(client);
  SSL_free(server);
  SSL_CTX_free(client_ctx);
  return out;
}

TEST_F(OcspTest, TheStapleGoesToClientsThatAskWhileItIsCurrent) {
  auto der = good();
  std::string error;
  auto now = duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
  auto stapled =
      net::make_tls_certificate("ocsp.test", chain, key_pem(leaf_key.get()), error, {der, now + 3600});
  ASSERT_TRUE(stapled) << error;
  EXPECT_EQ(stapled_to(stapled, true), der);
  EXPECT_EQ(stapled_to(stapled, false), "");
  auto expired =
      net::make_tls_certificate("ocsp.test", chain, key_pem(leaf_key.get()), error, {der, now - 1});
  ASSERT_TRUE(expired) << error;
  EXPECT_EQ(stapled_to(expired, true), "");
  auto none = net::make_tls_certificate("ocsp.test", chain, key_pem(leaf_key.get()), error);
  ASSERT_TRUE(none) << error;
  EXPECT_EQ(stapled_to(none, true), "");
}

} // namespace ocsp_testing
} // namespace ika::crypto
