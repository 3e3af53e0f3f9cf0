#pragma once
// The ACME (RFC 8555) order flow with HTTP-01 challenges: one blocking call
// that turns a list of DNS names and a certificate key into a certificate
// chain. Run it on a dedicated thread (it blocks on HTTP and polls), never on
// an io thread or inside an actor handler; hand the result back by message.
//
// Flow: GET directory, HEAD newNonce, newAccount (an existing account for the
// key is reused), newOrder, then per authorization: POST-as-GET, publish the
// http-01 key authorization, POST {} to the challenge, poll until decided,
// withdraw the token (always); then finalize with a CSR, poll the order and
// download the chain. badNonce is retried with the CA's fresh nonce.

#include "runtime/acme/jws.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ika::acme {

/// Where the CA is and who the account is.
struct settings {
  std::string directory_url;    ///< e.g. https://acme-v02.api.letsencrypt.org/directory
  std::string ca_bundle;        ///< PEM CAs to trust for the CA's HTTPS; empty: the system store
  std::string account_key_file; ///< P-256 PKCS#8 PEM; created 0600 if missing, reused afterwards
  std::string contact_email;    ///< optional; sent as mailto: on account creation
  /// Upper bound for polling one authorization, and the order after finalize.
  std::chrono::milliseconds poll_limit{60'000};
  /// Upper bound for one HTTP request to the CA.
  std::chrono::milliseconds request_timeout{30'000};
};

/// How the HTTP-01 responder (elsewhere: ika's HTTP listener) learns what to
/// serve at /.well-known/acme-challenge/TOKEN. Called on the issuing thread;
/// must not throw. `withdraw` is called for every published token, whatever
/// the outcome.
struct challenge_hooks {
  std::function<void(std::string token, std::string key_authorization)> publish;
  std::function<void(std::string token)> withdraw;
};

/// What a successful issuance gives.
struct issued {
  std::string chain_pem;     ///< leaf first, then the intermediates, PEM
  std::string account_url;   ///< the account ("kid") used
  int bad_nonce_retries = 0; ///< requests the CA refused with badNonce and that were retried
};

using result = outcome<issued>;

/// Issues a certificate for `names` (DNS names; the first becomes the CN)
/// whose key is `certificate_key_pem` (a P-256 private key, PEM). `cancel`
/// (may be null) is checked between steps and while polling. On failure the
/// error names the step and the CA's problem document (type and detail), and
/// carries the CA's Retry-After, if any. Never throws; never puts key
/// material in messages.
result issue(const settings& settings, const std::vector<std::string>& names,
             std::string_view certificate_key_pem, const challenge_hooks& hooks,
             const std::atomic<bool>* cancel = nullptr);

/// Loads the account key from `path`, or creates it there (P-256, PKCS#8,
/// mode 0600, O_EXCL) when the file does not exist. Refuses a file that
/// group or others can access. Blocking file I/O.
outcome<ec_key> load_or_create_account_key(const std::string& path);

} // namespace ika::acme
