#include "runtime/crypto/ocsp.hpp"

#include "runtime/crypto/openssl_util.hpp"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>

namespace ika::crypto {

namespace {

using namespace std::chrono;
using detail::openssl_free;

using ocsp_request_ptr = std::unique_ptr<OCSP_REQUEST, openssl_free<OCSP_REQUEST, OCSP_REQUEST_free>>;
using ocsp_response_ptr = std::unique_ptr<OCSP_RESPONSE, openssl_free<OCSP_RESPONSE, OCSP_RESPONSE_free>>;
using ocsp_basic_ptr = std::unique_ptr<OCSP_BASICRESP, openssl_free<OCSP_BASICRESP, OCSP_BASICRESP_free>>;
using ocsp_certid_ptr = std::unique_ptr<OCSP_CERTID, openssl_free<OCSP_CERTID, OCSP_CERTID_free>>;

struct x509_stack_free {
  void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_free(s); } // the certificates are not owned
};
struct string_stack_free {
  void operator()(STACK_OF(OPENSSL_STRING) * s) const noexcept { X509_email_free(s); }
};

/// Responses are a few KiB; anything much larger is not one.
constexpr std::size_t max_response_size = 64 * 1024;

constexpr const char* no_issuer =
    "the certificate chain holds no issuer certificate after the leaf (OCSP needs it)";

credential_error fail(std::string message) {
  return credential_error{{}, std::move(message)};
}

/// The certificates of a chain (at least the leaf, and with `issuer` its
/// issuer next).
credential_result<detail::pem_contents> read_chain(std::string_view chain_pem, bool issuer) {
  auto parsed = detail::read_pem(chain_pem, "the certificate chain");
  if (auto* e = std::get_if<credential_error>(&parsed))
    return *e;
  auto& pem = std::get<detail::pem_contents>(parsed);
  if (pem.certificates.empty())
    return fail("the certificate chain holds no certificate");
  if (issuer && pem.certificates.size() < 2)
    return fail(no_issuer);
  return std::move(pem);
}

} // namespace

credential_result<ocsp_query> ocsp_query_for(std::string_view chain_pem) {
  auto parsed = read_chain(chain_pem, false);
  if (auto* e = std::get_if<credential_error>(&parsed))
    return *e;
  auto& pem = std::get<detail::pem_contents>(parsed);
  X509* leaf = pem.certificates[0].get();
  std::unique_ptr<STACK_OF(OPENSSL_STRING), string_stack_free> urls{X509_get1_ocsp(leaf)};
  ocsp_query query;
  for (int i = 0; urls && i < sk_OPENSSL_STRING_num(urls.get()); ++i) {
    std::string_view url{sk_OPENSSL_STRING_value(urls.get(), i)};
    if (url.starts_with("http://")) {
      query.responder = url;
      break;
    }
  }
  if (query.responder.empty())
    return query; // nothing to ask: no staple, and no error
  if (pem.certificates.size() < 2)
    return fail(no_issuer);
  X509* issuer = pem.certificates[1].get();
  ocsp_certid_ptr id{OCSP_cert_to_id(nullptr, leaf, issuer)};
  ocsp_request_ptr request{OCSP_REQUEST_new()};
  if (!id || !request || OCSP_request_add0_id(request.get(), id.get()) == nullptr)
    return fail("cannot make an OCSP request: " + detail::openssl_error());
  id.release(); // the request owns it now
  unsigned char* der = nullptr;
  int len = i2d_OCSP_REQUEST(request.get(), &der);
  if (len <= 0)
    return fail("cannot encode an OCSP request: " + detail::openssl_error());
  query.request_der.assign(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  query.fingerprint = detail::fingerprint_of(leaf);
  if (query.fingerprint.empty())
    return fail("cannot hash the certificate: " + detail::openssl_error());
  return query;
}

credential_result<ocsp_staple> check_ocsp_response(std::string_view response_der, std::string_view chain_pem,
                                                   system_clock::time_point now, bool* verdict) {
  if (verdict != nullptr)
    *verdict = false;
  if (response_der.empty())
    return fail("the OCSP responder sent an empty response");
  if (response_der.size() > max_response_size)
    return fail("the OCSP response is larger than " + std::to_string(max_response_size) + " bytes");
  auto parsed = read_chain(chain_pem, true);
  if (auto* e = std::get_if<credential_error>(&parsed))
    return *e;
  auto& pem = std::get<detail::pem_contents>(parsed);
  X509* leaf = pem.certificates[0].get();
  X509* issuer = pem.certificates[1].get();

  const auto* p = reinterpret_cast<const unsigned char*>(response_der.data());
  ocsp_response_ptr response{d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(response_der.size()))};
  if (!response || p != reinterpret_cast<const unsigned char*>(response_der.data()) + response_der.size()) {
    ERR_clear_error();
    return fail("the OCSP responder's answer is not a DER OCSPResponse");
  }
  int status = OCSP_response_status(response.get());
  if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL)
    return fail(std::string{"the OCSP responder answered \""} + OCSP_response_status_str(status) + "\"");
  ocsp_basic_ptr basic{OCSP_response_get1_basic(response.get())};
  if (!basic)
    return fail("the OCSP response holds no basic response: " + detail::openssl_error());

  // The signer must be the issuer itself or a responder it certified for
  // OCSP signing; the issuer is the trust anchor (it need not be a root).
  detail::store_ptr store{X509_STORE_new()};
  std::unique_ptr<STACK_OF(X509), x509_stack_free> certs{sk_X509_new_null()};
  if (!store || !certs || X509_STORE_add_cert(store.get(), issuer) != 1 ||
      sk_X509_push(certs.get(), issuer) <= 0)
    return fail("cannot check the OCSP response: " + detail::openssl_error());
  X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN);
  X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store.get()), system_clock::to_time_t(now));
  if (OCSP_basic_verify(basic.get(), certs.get(), store.get(), 0) != 1)
    return fail("the OCSP response is not signed by the certificate's issuer or its responder: " +
                detail::openssl_error());

  ocsp_certid_ptr id{OCSP_cert_to_id(nullptr, leaf, issuer)};
  int cert_status = 0, reason = 0;
  ASN1_GENERALIZEDTIME *revoked_at = nullptr, *this_update = nullptr, *next_update = nullptr;
  if (!id || OCSP_resp_find_status(basic.get(), id.get(), &cert_status, &reason, &revoked_at, &this_update,
                                   &next_update) != 1) {
    ERR_clear_error();
    return fail("the OCSP response says nothing about this certificate");
  }
  if (verdict != nullptr)
    *verdict = cert_status != V_OCSP_CERTSTATUS_GOOD;
  if (cert_status == V_OCSP_CERTSTATUS_REVOKED)
    return fail(std::string{"the CA says this certificate is revoked ("} +
                (reason >= 0 ? OCSP_crl_reason_str(reason) : "no reason given") + ")");
  if (cert_status != V_OCSP_CERTSTATUS_GOOD)
    return fail("the OCSP responder does not know this certificate (status \"" +
                std::string{OCSP_cert_status_str(cert_status)} + "\")");

  ocsp_staple staple;
  auto from = detail::time_of(this_update);
  if (this_update == nullptr || from == system_clock::time_point{})
    return fail("the OCSP response has no valid thisUpdate time");
  if (from > now + ocsp_clock_skew)
    return fail("the OCSP response is from the future (thisUpdate ahead of this node's clock)");
  auto until = next_update != nullptr ? detail::time_of(next_update) : from + hours{1};
  if (until <= from)
    return fail("the OCSP response's nextUpdate is not after its thisUpdate");
  if (until <= now)
    return fail("the OCSP response is out of date (its nextUpdate has passed)");
  staple.der = std::string{response_der};
  staple.this_update = duration_cast<seconds>(from.time_since_epoch()).count();
  staple.next_update = duration_cast<seconds>(until.time_since_epoch()).count();
  return staple;
}

system_clock::time_point ocsp_halfway(const ocsp_staple& staple) {
  return system_clock::time_point{
      seconds{staple.this_update + (staple.next_update - staple.this_update) / 2}};
}

system_clock::time_point ocsp_refresh_time(const ocsp_staple& staple, system_clock::time_point now,
                                           seconds min_wait, seconds max_wait) {
  return std::clamp(ocsp_halfway(staple), now + min_wait, now + std::max(min_wait, max_wait));
}

} // namespace ika::crypto
