#pragma once
// OCSP stapling (RFC 6960, RFC 6066 §8): what to ask a certificate's OCSP
// responder, and whether its answer may be stapled to handshakes.
//
// The certificate actor asks (over plain HTTP, as responders are reached)
// and the node checks the answer again against the chain it loads, so a
// staple never travels with a certificate it is not about. Only a current,
// signed "good" answer is stapled; "revoked" and "unknown" are reported,
// never sent to clients as if they were news worth trusting.

#include "runtime/crypto/credentials.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace ika::crypto {

/// Where and what to ask about the leaf of a chain.
struct ocsp_query {
  std::string responder;   ///< the leaf's first http:// OCSP responder (AIA); "" when it names none
  std::string request_der; ///< a DER OCSPRequest for the leaf (no nonce: answers are cacheable)
  std::string fingerprint; ///< the leaf's SHA-256, 64 lowercase hex digits (where its staple is kept)
};

/// The query for the leaf of a PEM chain (leaf first, its issuer next). A
/// leaf that names no http:// responder gives an empty query (nothing to
/// staple); a chain without the issuer, or that does not parse, an error.
credential_result<ocsp_query> ocsp_query_for(std::string_view chain_pem);

/// A responder's answer that may be stapled.
struct ocsp_staple {
  std::string der;              ///< the OCSPResponse as received
  std::int64_t this_update = 0; ///< unix seconds
  std::int64_t next_update = 0; ///< unix seconds; a response without one counts as good for an hour
};

/// How far a responder's clock may be ahead of ours.
inline constexpr std::chrono::seconds ocsp_clock_skew{300};

/// Checks an OCSPResponse (DER) for the leaf of `chain_pem` at `now`: a
/// successful response, signed by the leaf's issuer or by a responder it
/// delegated to, that says "good" for exactly this certificate and is
/// current (thisUpdate not ahead of `now` by more than ocsp_clock_skew,
/// nextUpdate not passed). The error says which of these failed; with
/// `verdict`, *verdict is set when the CA itself, in a response that
/// checks out, said "revoked" or "unknown" (an answer to act on, where the
/// other failures may be a network's or a responder's fault).
credential_result<ocsp_staple> check_ocsp_response(std::string_view response_der, std::string_view chain_pem,
                                                   std::chrono::system_clock::time_point now,
                                                   bool* verdict = nullptr);

/// Halfway between a staple's this_update and next_update.
std::chrono::system_clock::time_point ocsp_halfway(const ocsp_staple& staple);

/// When to ask again for a staple good over [this_update, next_update]:
/// halfway through, but not sooner than `min_wait` nor later than `max_wait`
/// from `now`.
std::chrono::system_clock::time_point
ocsp_refresh_time(const ocsp_staple& staple, std::chrono::system_clock::time_point now,
                  std::chrono::seconds min_wait = std::chrono::minutes{1},
                  std::chrono::seconds max_wait = std::chrono::hours{12});

} // namespace ika::crypto
