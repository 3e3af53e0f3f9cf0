#include "runtime/acme/jws.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <random>

namespace ika::acme {
namespace {

using json = nlohmann::json;

ec_key make_key() {
  auto k = ec_key::generate();
  EXPECT_TRUE(std::holds_alternative<ec_key>(k));
  return std::move(std::get<ec_key>(k));
}

std::string sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(md), len);
}

/// ES256 verification the way a CA does it: r||s back to DER, EVP_DigestVerify.
bool verify_es256(const ec_key& key, std::string_view data, std::string_view raw_signature) {
  auto der = ecdsa_raw_to_der(raw_signature);
  if (!der)
    return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key.get()) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(der->data()), der->size(),
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

TEST(AcmeBase64url, Rfc4648VectorsWithoutPadding) {
  EXPECT_EQ(base64url(""), "");
  EXPECT_EQ(base64url("f"), "Zg");
  EXPECT_EQ(base64url("fo"), "Zm8");
  EXPECT_EQ(base64url("foo"), "Zm9v");
  EXPECT_EQ(base64url("foob"), "Zm9vYg");
  EXPECT_EQ(base64url("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64url("foobar"), "Zm9vYmFy");
  // The URL-safe alphabet: 0xfb 0xff would be "+/8" in plain base64.
  EXPECT_EQ(base64url(std::string{"\xfb\xff", 2}), "-_8");
}

TEST(AcmeBase64url, DecodesWhatItEncodesAndRejectsJunk) {
  std::mt19937 rng(7);
  for (int len = 0; len < 70; ++len) {
    std::string bytes(static_cast<std::size_t>(len), '\0');
    for (auto& c : bytes)
      c = static_cast<char>(rng());
    auto back = base64url_decode(base64url(bytes));
    ASSERT_TRUE(back.has_value()) << len;
    EXPECT_EQ(*back, bytes);
  }
  EXPECT_FALSE(base64url_decode("Zg==").has_value()); // padding is not base64url here
  EXPECT_FALSE(base64url_decode("Zm9+").has_value()); // plain base64 alphabet
  EXPECT_FALSE(base64url_decode("Z").has_value());    // impossible length
  EXPECT_FALSE(base64url_decode("Zh").has_value());   // non-zero leftover bits
}

TEST(AcmeJwk, HasTheP256CoordinatesInCanonicalForm) {
  ec_key key = make_key();
  std::string jwk = jwk_json(key);
  json j = json::parse(jwk);
  EXPECT_EQ(j.size(), 4u);
  EXPECT_EQ(j["kty"], "EC");
  EXPECT_EQ(j["crv"], "P-256");
  // Canonical: what a JSON library writes with sorted members and no spaces.
  EXPECT_EQ(jwk, j.dump());

  // x and y are the 32-byte halves of the uncompressed point 04||x||y.
  unsigned char point[65];
  std::size_t len = 0;
  ASSERT_EQ(EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                            sizeof point, &len),
            1);
  ASSERT_EQ(len, 65u);
  ASSERT_EQ(point[0], 0x04);
  auto x = base64url_decode(j["x"].get<std::string>());
  auto y = base64url_decode(j["y"].get<std::string>());
  ASSERT_TRUE(x && y);
  EXPECT_EQ(*x, std::string(reinterpret_cast<const char*>(point + 1), 32));
  EXPECT_EQ(*y, std::string(reinterpret_cast<const char*>(point + 33), 32));
}

TEST(AcmeJwk, ThumbprintIsSha256OfTheRecomputedCanonicalJwk) {
  // RFC 7638's worked example is an RSA key; for EC the thumbprint input is
  // rebuilt here independently from the raw public point.
  ec_key key = make_key();
  unsigned char point[65];
  std::size_t len = 0;
  ASSERT_EQ(EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                            sizeof point, &len),
            1);
  std::string input = "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"" +
                      base64url(std::string(reinterpret_cast<const char*>(point + 1), 32)) + "\",\"y\":\"" +
                      base64url(std::string(reinterpret_cast<const char*>(point + 33), 32)) + "\"}";
  std::string thumbprint = jwk_thumbprint(key);
  EXPECT_EQ(thumbprint, base64url(sha256(input)));
  EXPECT_EQ(thumbprint.size(), 43u); // 32 bytes, unpadded
  EXPECT_NE(thumbprint, jwk_thumbprint(make_key()));
  EXPECT_EQ(key_authorization("tok-EN_1", thumbprint), "tok-EN_1." + thumbprint);
}

TEST(AcmeJwk, KnownKeyHasKnownThumbprint) {
  // A fixed P-256 key; its thumbprint was computed independently with
  // Python (hashlib over the point from `openssl pkey -pubout -outform DER`).
  // Test-only key, generated for this test and used nowhere else.
  const char* pem = "-----BEGIN PRIVATE KEY-----\n"
                    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg2/i2D5158vLHTB91\n"
                    "WHIgjR3NEkL/ydY/xPFbuEmLEwKhRANCAAS3Vy0qqpk0HPIWyoIg7t98oUtp3u/w\n"
                    "aHgWOPSINO08/s4xvo+aU6pRWNQXjpLGyVGxSh3z1IzrLJP6cSRjBRCf\n"
                    "-----END PRIVATE KEY-----\n";
  auto k = ec_key::from_pem(pem);
  ASSERT_TRUE(std::holds_alternative<ec_key>(k)) << std::get<error>(k).message;
  EXPECT_EQ(
      jwk_json(std::get<ec_key>(k)),
      R"({"crv":"P-256","kty":"EC","x":"t1ctKqqZNBzyFsqCIO7ffKFLad7v8Gh4Fjj0iDTtPP4","y":"zjG-j5pTqlFY1BeOksbJUbFKHfPUjOssk_pxJGMFEJ8"})");
  EXPECT_EQ(jwk_thumbprint(std::get<ec_key>(k)), "i1xb6ObEDFNfbpw4ih9NhrGEQGajzynrRwdpEGD_RAA");
}

TEST(AcmeJws, SignatureVerifiesAndHeaderCarriesJwkOrKid) {
  ec_key key = make_key();
  auto jws = sign_jws(jws_signer{&key, {}}, "nonce-1", "https://ca.test/acme/new-acct", R"({"a":1})");
  ASSERT_TRUE(std::holds_alternative<std::string>(jws)) << std::get<error>(jws).message;
  json j = json::parse(std::get<std::string>(jws));
  ASSERT_EQ(j.size(), 3u);
  std::string protected64 = j["protected"];
  std::string payload64 = j["payload"];
  json header = json::parse(*base64url_decode(protected64));
  EXPECT_EQ(header["alg"], "ES256");
  EXPECT_EQ(header["nonce"], "nonce-1");
  EXPECT_EQ(header["url"], "https://ca.test/acme/new-acct");
  EXPECT_EQ(header["jwk"].dump(), jwk_json(key));
  EXPECT_FALSE(header.contains("kid"));
  EXPECT_EQ(*base64url_decode(payload64), R"({"a":1})");

  auto signature = base64url_decode(j["signature"].get<std::string>());
  ASSERT_TRUE(signature.has_value());
  ASSERT_EQ(signature->size(), 64u);
  EXPECT_TRUE(verify_es256(key, protected64 + "." + payload64, *signature));
  EXPECT_FALSE(verify_es256(key, protected64 + "." + base64url(R"({"a":2})"), *signature));
  EXPECT_FALSE(verify_es256(make_key(), protected64 + "." + payload64, *signature));

  // With a kid: no jwk, and an empty payload (POST-as-GET) stays empty.
  auto get = sign_jws(jws_signer{&key, "https://ca.test/acct/7"}, "n2", "https://ca.test/order/1", "");
  ASSERT_TRUE(std::holds_alternative<std::string>(get));
  json g = json::parse(std::get<std::string>(get));
  json h2 = json::parse(*base64url_decode(g["protected"].get<std::string>()));
  EXPECT_EQ(h2["kid"], "https://ca.test/acct/7");
  EXPECT_FALSE(h2.contains("jwk"));
  EXPECT_EQ(g["payload"], "");
  EXPECT_TRUE(verify_es256(key, g["protected"].get<std::string>() + ".",
                           *base64url_decode(g["signature"].get<std::string>())));
}

TEST(AcmeJws, SignatureFormatConversions) {
  EXPECT_FALSE(ecdsa_raw_to_der(std::string(63, 'x')).has_value());
  EXPECT_FALSE(ecdsa_der_to_raw("not der").has_value());
  std::string raw(64, '\0');
  raw[31] = 1;    // r = 1
  raw[32] = 0x7f; // s with a high first byte
  auto der = ecdsa_raw_to_der(raw);
  ASSERT_TRUE(der.has_value());
  EXPECT_EQ(ecdsa_der_to_raw(*der), raw);
  ec_key none;
  EXPECT_TRUE(std::holds_alternative<error>(sign_jws(jws_signer{&none, {}}, "n", "u", "")));
}

TEST(AcmeKey, PemRoundTripAndWrongKeyTypes) {
  ec_key key = make_key();
  secret_text pem = key.to_pem();
  EXPECT_TRUE(pem.view().starts_with("-----BEGIN PRIVATE KEY-----")); // PKCS#8
  auto back = ec_key::from_pem(pem.view());
  ASSERT_TRUE(std::holds_alternative<ec_key>(back));
  EXPECT_EQ(jwk_json(std::get<ec_key>(back)), jwk_json(key));

  EVP_PKEY* rsa = EVP_RSA_gen(2048);
  ASSERT_NE(rsa, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, rsa, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string rsa_pem(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  EVP_PKEY_free(rsa);
  auto r = ec_key::from_pem(rsa_pem);
  ASSERT_TRUE(std::holds_alternative<error>(r));
  EXPECT_NE(std::get<error>(r).message.find("P-256"), std::string::npos);
  // The error never echoes the key.
  EXPECT_EQ(std::get<error>(r).message.find("BEGIN"), std::string::npos);

  EVP_PKEY* p384 = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", const_cast<char*>("P-384"));
  ASSERT_NE(p384, nullptr);
  bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, p384, nullptr, nullptr, 0, nullptr, nullptr);
  n = BIO_get_mem_data(bio, &data);
  std::string p384_pem(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  EVP_PKEY_free(p384);
  EXPECT_TRUE(std::holds_alternative<error>(ec_key::from_pem(p384_pem)));
  EXPECT_TRUE(std::holds_alternative<error>(ec_key::from_pem("garbage")));
}

TEST(AcmeCsr, CarriesNamesKeyAndAValidSignature) {
  ec_key key = make_key();
  secret_text pem = key.to_pem();
  auto der = make_csr_der(pem.view(), {"app1.ika.test", "www.app1.ika.test"});
  ASSERT_TRUE(std::holds_alternative<std::string>(der)) << std::get<error>(der).message;
  const auto* p = reinterpret_cast<const unsigned char*>(std::get<std::string>(der).data());
  X509_REQ* req = d2i_X509_REQ(nullptr, &p, static_cast<long>(std::get<std::string>(der).size()));
  ASSERT_NE(req, nullptr);

  EVP_PKEY* pub = X509_REQ_get_pubkey(req);
  EXPECT_EQ(EVP_PKEY_eq(pub, key.get()), 1);
  EXPECT_EQ(X509_REQ_verify(req, pub), 1);
  EVP_PKEY_free(pub);

  char cn[256] = {};
  X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn, sizeof cn);
  EXPECT_STREQ(cn, "app1.ika.test");

  std::vector<std::string> dns;
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req);
  ASSERT_NE(exts, nullptr);
  for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i) {
    X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts, i);
    if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_subject_alt_name)
      continue;
    auto* names = static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(ext));
    for (int k = 0; k < sk_GENERAL_NAME_num(names); ++k) {
      GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, k);
      if (gn->type == GEN_DNS)
        dns.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.dNSName)),
                         static_cast<std::size_t>(ASN1_STRING_length(gn->d.dNSName)));
    }
    GENERAL_NAMES_free(names);
  }
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_REQ_free(req);
  EXPECT_EQ(dns, (std::vector<std::string>{"app1.ika.test", "www.app1.ika.test"}));

  EXPECT_TRUE(std::holds_alternative<error>(make_csr_der(pem.view(), {})));
  EXPECT_TRUE(std::holds_alternative<error>(make_csr_der(pem.view(), {"a.test,DNS:evil.test"})));
  EXPECT_TRUE(std::holds_alternative<error>(make_csr_der("nope", {"a.test"})));
}

} // namespace
} // namespace ika::acme
