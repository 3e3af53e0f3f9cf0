#pragma once
// The cryptographic pieces of ACME (RFC 8555 §6.2, RFC 7515/7517/7638):
// base64url, ECDSA P-256 keys, their JWK and thumbprint, ES256 flattened JWS
// objects, key authorizations and the CSR sent at finalization.
//
// Nothing here prints key material: errors name the step and the reason.
// Private key PEM text lives in `secret_text`, wiped when it dies.

#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ika::acme {

/// Why an ACME step failed: the step and the reason (for a CA error, its
/// problem document type and detail), and how long the CA asked to wait
/// before trying again (Retry-After), if it said so.
struct error {
  std::string message;
  std::optional<std::uint32_t> retry_after; ///< seconds
};

/// Either a value or the reason there is none.
template <class T>
using outcome = std::variant<T, error>;

/// Text that holds key material: wiped (OPENSSL_cleanse) when destroyed or
/// assigned over. Never log it.
class secret_text {
public:
  secret_text() = default;
  explicit secret_text(std::string text) noexcept : text_(std::move(text)) {}
  secret_text(const secret_text&) = default;
  secret_text(secret_text&& other) noexcept;
  secret_text& operator=(const secret_text& other);
  secret_text& operator=(secret_text&& other) noexcept;
  ~secret_text();

  std::string_view view() const noexcept { return text_; }
  bool empty() const noexcept { return text_.empty(); }

private:
  void wipe() noexcept;
  std::string text_;
};

/// base64url without padding (RFC 7515 §2).
std::string base64url(std::string_view bytes);

/// Decodes base64url without padding; nothing on a bad character or length.
std::optional<std::string> base64url_decode(std::string_view text);

/// An owned EVP_PKEY holding an ECDSA P-256 key pair.
class ec_key {
public:
  ec_key() = default;
  ec_key(ec_key&&) noexcept = default;
  ec_key& operator=(ec_key&&) noexcept = default;

  /// A fresh P-256 key.
  static outcome<ec_key> generate();

  /// Reads a P-256 private key from PEM (PKCS#8 "PRIVATE KEY" or SEC1
  /// "EC PRIVATE KEY"); anything else is an error.
  static outcome<ec_key> from_pem(std::string_view pem);

  /// The private key as unencrypted PKCS#8 PEM (made in secure memory).
  secret_text to_pem() const;

  EVP_PKEY* get() const noexcept { return key_.get(); }
  explicit operator bool() const noexcept { return key_ != nullptr; }

private:
  struct pkey_free {
    void operator()(EVP_PKEY* p) const noexcept;
  };
  std::unique_ptr<EVP_PKEY, pkey_free> key_;
};

/// The public JWK of a P-256 key with members in lexicographic order and no
/// whitespace: {"crv":"P-256","kty":"EC","x":"...","y":"..."} (32-byte
/// coordinates). This is also the RFC 7638 thumbprint input.
std::string jwk_json(const ec_key& key);

/// RFC 7638 thumbprint: base64url(SHA-256(jwk_json(key))).
std::string jwk_thumbprint(const ec_key& key);

/// RFC 8555 §8.1: token "." thumbprint.
std::string key_authorization(std::string_view token, std::string_view thumbprint);

/// ES256 signature of `data` as raw r||s (64 bytes); empty on failure.
std::string es256_sign(const ec_key& key, std::string_view data);

/// Converts an ECDSA DER signature to raw r||s of 32-byte halves; nothing
/// if it does not parse or a half is too long.
std::optional<std::string> ecdsa_der_to_raw(std::string_view der);

/// Converts raw r||s (64 bytes) back to DER; nothing on a bad length.
std::optional<std::string> ecdsa_raw_to_der(std::string_view raw);

/// How the protected header names the signer: its JWK (newAccount) or its
/// account URL ("kid", every later request).
struct jws_signer {
  const ec_key* key = nullptr;
  std::string kid; ///< empty: put the JWK in the header instead
};

/// A flattened JWS JSON object (RFC 7515 §7.2.2) for an ACME POST: protected
/// header {"alg":"ES256","jwk"|"kid","nonce","url"}, base64url payload
/// (an empty payload makes a POST-as-GET), ES256 signature.
outcome<std::string> sign_jws(const jws_signer& signer, std::string_view nonce, std::string_view url,
                              std::string_view payload);

/// A PKCS#10 CSR in DER for `names` (SAN dNSName for each, CN = the first),
/// signed with SHA-256 by the P-256 key given as PEM.
outcome<std::string> make_csr_der(std::string_view key_pem, const std::vector<std::string>& names);

} // namespace ika::acme
