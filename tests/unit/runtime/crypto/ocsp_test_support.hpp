#pragma once
// Shared by the OCSP tests (unit and actor): a small PKI made with OpenSSL
// (a CA, leaves that name an OCSP responder, delegated responders) and
// OCSP responses signed by whoever the test wants.

#include "tests/unit/runtime/crypto/test_support.hpp"

#include <openssl/ec.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ika::crypto::ocsp_testing {

template <class T, void (*Free)(T*)>
struct freer {
  void operator()(T* p) const noexcept { Free(p); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, freer<EVP_PKEY, EVP_PKEY_free>>;
using cert_ptr = std::unique_ptr<X509, freer<X509, X509_free>>;

inline key_ptr new_key() {
  return key_ptr{EVP_EC_gen("P-256")};
}

struct cert_spec {
  std::string cn{};
  long serial = 1;
  bool ca = false;
  std::string ocsp_url{}; ///< AIA OCSP responder ("" none)
  bool ocsp_signing = false;
};

/// A certificate for `key`, signed by `issuer` (itself when null).
inline cert_ptr make_cert(const cert_spec& spec, EVP_PKEY* key, X509* issuer = nullptr,
                          EVP_PKEY* issuer_key = nullptr) {
  cert_ptr x{X509_new()};
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), spec.serial);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 30L * 24 * 3600);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(spec.cn.c_str()), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : x.get();
  X509_set_issuer_name(x.get(), X509_get_subject_name(signer));
  X509_set_pubkey(x.get(), key);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, signer, x.get(), nullptr, nullptr, 0);
  std::vector<std::pair<int, std::string>> exts{
      {NID_basic_constraints, spec.ca ? "critical,CA:TRUE" : "critical,CA:FALSE"},
      {NID_subject_key_identifier, "hash"}};
  if (spec.ca)
    exts.emplace_back(NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
  if (!spec.ocsp_url.empty())
    exts.emplace_back(NID_info_access, "OCSP;URI:" + spec.ocsp_url);
  if (spec.ocsp_signing)
    exts.emplace_back(NID_ext_key_usage, "OCSPSigning");
  for (const auto& [nid, value] : exts) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    EXPECT_NE(ext, nullptr) << value;
    X509_add_ext(x.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256());
  return x;
}

inline std::string pem(X509* x) {
  return test::cert_pem(x);
}

inline std::string key_pem(EVP_PKEY* k) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

struct answer {
  int status = V_OCSP_CERTSTATUS_GOOD;
  long this_update = -60;  ///< seconds from now
  long next_update = 3600; ///< seconds from now; 0: none
  int response_status = OCSP_RESPONSE_STATUS_SUCCESSFUL;
};

/// A DER OCSPResponse about `leaf` (issued by `issuer`) signed by `signer`.
inline std::string respond(X509* leaf, X509* issuer, X509* signer, EVP_PKEY* signer_key, const answer& a) {
  if (a.response_status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    OCSP_RESPONSE* r = OCSP_response_create(a.response_status, nullptr);
    unsigned char* der = nullptr;
    int len = i2d_OCSP_RESPONSE(r, &der);
    std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
    OPENSSL_free(der);
    OCSP_RESPONSE_free(r);
    return out;
  }
  OCSP_BASICRESP* bs = OCSP_BASICRESP_new();
  OCSP_CERTID* id = OCSP_cert_to_id(nullptr, leaf, issuer);
  ASN1_TIME* this_update = X509_gmtime_adj(nullptr, a.this_update);
  ASN1_TIME* next_update = a.next_update != 0 ? X509_gmtime_adj(nullptr, a.next_update) : nullptr;
  ASN1_TIME* revoked_at = a.status == V_OCSP_CERTSTATUS_REVOKED ? X509_gmtime_adj(nullptr, -120) : nullptr;
  EXPECT_NE(OCSP_basic_add1_status(bs, id, a.status, a.status == V_OCSP_CERTSTATUS_REVOKED ? 1 : -1,
                                   revoked_at, this_update, next_update),
            nullptr);
  STACK_OF(X509)* extra = sk_X509_new_null();
  if (signer != issuer)
    sk_X509_push(extra, signer);
  EXPECT_EQ(OCSP_basic_sign(bs, signer, signer_key, EVP_sha256(), extra, 0), 1);
  OCSP_RESPONSE* r = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
  unsigned char* der = nullptr;
  int len = i2d_OCSP_RESPONSE(r, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  OCSP_RESPONSE_free(r);
  sk_X509_free(extra);
  ASN1_TIME_free(this_update);
  ASN1_TIME_free(next_update);
  ASN1_TIME_free(revoked_at);
  OCSP_CERTID_free(id);
  OCSP_BASICRESP_free(bs);
  return out;
}

} // namespace ika::crypto::ocsp_testing
