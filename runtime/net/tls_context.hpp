#pragma once
// Server-side TLS contexts and the certificate table the io threads choose
// from by SNI.
//
// Every certificate gets its own SSL_CTX (chain + key, made once by whoever
// publishes it); a listener has one more, its base context, which carries
// the protocol settings and callbacks and no certificate. During a
// handshake the base context's servername callback (OpenSSL calls it with
// or without SNI) looks the name up in the connection's thread's snapshot
// of the certificate table and switches the connection to that
// certificate's context with SSL_set_SSL_CTX: an exact name, then the
// `*.parent` wildcard, then the fallback. A handshake never waits on an
// actor; a replaced certificate is used by the next handshake, and open
// connections keep the context they took (SSL_set_SSL_CTX holds a
// reference).
//
// Protocol settings (base and certificate contexts alike): TLS 1.2 and 1.3
// only, ECDHE with AEAD ciphers, server preference, no renegotiation, no
// compression, ALPN http/1.1, session tickets (TLS 1.3: one per handshake)
// under keys that rotate, buffers released while a connection is idle, and
// the certificate's OCSP staple for clients that ask (status_request), kept
// with its context.

#include "runtime/bridge/snapshot.hpp"

#include <openssl/ssl.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ika::net {

struct ssl_ctx_free {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, ssl_ctx_free>;

/// An OCSP response (DER) stapled to the handshakes that ask for one, while
/// it is current.
struct tls_staple {
  std::string der;
  std::int64_t until = 0; ///< unix seconds: not stapled from then on
};

/// One certificate ready for handshakes: its context and what it is for.
struct tls_certificate {
  std::string name; ///< host name or "*.parent" (or "" for a fallback)
  ssl_ctx_ptr context;
};

/// Makes a certificate's context from a PEM chain (leaf first) and its PEM
/// private key, with an OCSP staple if there is one (checked by the caller:
/// crypto::check_ocsp_response). Null with `error` set when they do not
/// load or do not match.
std::shared_ptr<const tls_certificate> make_tls_certificate(std::string name, std::string_view chain_pem,
                                                            std::string_view key_pem, std::string& error,
                                                            tls_staple staple = {});

/// The certificates a listener offers, chosen by SNI. Immutable once
/// published.
class certificate_table {
public:
  /// Adds a certificate for its name ("host" or "*.parent", lower case).
  void add(const std::shared_ptr<const tls_certificate>& cert) { add(cert->name, cert); }
  /// Adds a certificate for `name` (one certificate may cover several).
  void add(std::string_view name, std::shared_ptr<const tls_certificate> cert);
  /// The certificate used when no name matches (or none is sent).
  void set_fallback(std::shared_ptr<const tls_certificate> cert) { fallback_ = std::move(cert); }

  /// Exact name, then `*.parent`, then the fallback; null if none.
  const tls_certificate* find(std::string_view server_name) const noexcept;

  std::size_t size() const noexcept { return exact_.size() + wildcard_.size(); }
  const std::shared_ptr<const tls_certificate>& fallback() const noexcept { return fallback_; }

private:
  struct hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  using map = std::unordered_map<std::string, std::shared_ptr<const tls_certificate>, hash, std::equal_to<>>;
  map exact_;
  map wildcard_; ///< by parent: "*.example.com" under "example.com"
  std::shared_ptr<const tls_certificate> fallback_;
};

/// Session ticket keys of a listener: the newest one seals new tickets, the
/// previous one still opens tickets sealed before the last rotation.
/// Rotated by the listener's owner; read by handshakes on any io thread.
class ticket_keys {
public:
  ticket_keys();
  ~ticket_keys();
  ticket_keys(const ticket_keys&) = delete;
  ticket_keys& operator=(const ticket_keys&) = delete;

  /// A new key seals from now on; the oldest is forgotten.
  void rotate();

  /// OpenSSL's ticket key callback, on the context's ex-data.
  int callback(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
               int encrypt);

private:
  struct key {
    std::array<unsigned char, 16> name;
    std::array<unsigned char, 32> aes;
    std::array<unsigned char, 32> hmac;
  };
  static void make(key& k);
  void ensure_keys(); ///< under mutex_

  mutable std::mutex mutex_;
  bool ready_ = false;        ///< keys_ made (on the first ticket)
  std::array<key, 2> keys_{}; ///< [0] newest
};

/// What a connection's handshake reads, set as its SSL's app data by the
/// connection: its io thread's snapshot of the listener's certificates and
/// the listener's ticket keys.
class handshake_source {
public:
  virtual const certificate_table& certificates() noexcept = 0;
  virtual ticket_keys& tickets() noexcept = 0;

protected:
  ~handshake_source() = default;
};

/// A listener's base context: settings and callbacks, no certificate. Each
/// SSL made from it (or from a certificate's context, which has the same
/// callbacks: a connection may start on the default certificate's context
/// and is switched only when SNI picks another) must carry a
/// handshake_source as its app data.
ssl_ctx_ptr make_listener_context(std::string& error);

} // namespace ika::net
