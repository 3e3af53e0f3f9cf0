#pragma once
// Internal to runtime/crypto: owning OpenSSL handles, PEM reading and
// writing, and reading private files. Not for use outside this folder.

#include "runtime/crypto/credentials.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ika::crypto::detail {

template <class T, void (*Free)(T*)>
struct openssl_free {
  void operator()(T* p) const noexcept { Free(p); }
};

using x509_ptr = std::unique_ptr<X509, openssl_free<X509, X509_free>>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_free<EVP_PKEY, EVP_PKEY_free>>;
using bio_ptr = std::unique_ptr<BIO, openssl_free<BIO, BIO_free_all>>;
using store_ptr = std::unique_ptr<X509_STORE, openssl_free<X509_STORE, X509_STORE_free>>;
using store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, openssl_free<X509_STORE_CTX, X509_STORE_CTX_free>>;

/// The queued OpenSSL errors as text (the queue is emptied).
std::string openssl_error();

/// Everything a memory BIO holds.
std::string bio_text(BIO* bio);

/// Bytes as lowercase hex digits.
std::string hex_of(const unsigned char* data, std::size_t n);

/// A certificate's SHA-256 in 64 lowercase hex digits; empty on failure.
std::string fingerprint_of(X509* cert);

/// An ASN.1 time as a time point; the epoch when it does not convert.
std::chrono::system_clock::time_point time_of(const ASN1_TIME* t);

/// PEM of a certificate; empty on failure.
std::string pem_of(X509* cert);

/// PEM (unencrypted PKCS#8) of a private key; empty on failure. Goes through
/// secure memory that is wiped when freed.
std::string pem_of(EVP_PKEY* key);

/// The certificates and private keys found in PEM text.
struct pem_contents {
  std::vector<x509_ptr> certificates;
  pkey_ptr key;         ///< the last key found
  std::size_t keys = 0; ///< how many keys were found

  /// E.g. "2 certificates and 1 private key".
  std::string summary() const;
};

/// Reads every PEM block of `text`: CERTIFICATE, PRIVATE KEY and EC PRIVATE
/// KEY are understood; anything else (an encrypted key, a CSR, broken
/// base64) is an error naming `source`. More than one key is an error.
credential_result<pem_contents> read_pem(std::string_view text, std::string_view source);

/// Reads a small file that must be a regular file (no symlink), owned by
/// this user, that group and others may not access (mode & 077 == 0).
credential_result<std::string> read_private_file(const std::filesystem::path& path);

} // namespace ika::crypto::detail
