#include "runtime/net/tls_context.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <cstring>
#include <ctime>

namespace ika::net {
namespace {

// TLS 1.2: forward secrecy and AEAD only. TLS 1.3 keeps OpenSSL's suites
// (AES-GCM and ChaCha20-Poly1305).
constexpr const char* tls12_ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* groups = "X25519:P-256:P-384";

std::string openssl_errors() {
  std::string text;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!text.empty())
      text += "; ";
    text += buf;
  }
  return text.empty() ? std::string{"unknown OpenSSL error"} : text;
}

handshake_source* source_of(SSL* ssl) noexcept {
  return static_cast<handshake_source*>(SSL_get_app_data(ssl));
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned inlen, void*) {
  // The client's list is length-prefixed names; only HTTP/1.1 is spoken.
  for (unsigned i = 0; i < inlen;) {
    unsigned n = in[i];
    if (i + 1 + n > inlen)
      break;
    if (n == 8 && std::memcmp(in + i + 1, "http/1.1", 8) == 0) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(n);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + n;
  }
  // Nothing we speak (h2 only): go on without ALPN, as nginx does.
  return SSL_TLSEXT_ERR_NOACK;
}

int ticket_callback(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                    EVP_MAC_CTX* mac, int encrypt) {
  auto* source = source_of(ssl);
  if (source == nullptr)
    return encrypt ? -1 : 0;
  return source->tickets().callback(ssl, name, iv, cipher, mac, encrypt);
}

int choose_certificate(SSL* ssl, int* alert, void*) {
  auto* source = source_of(ssl);
  if (source == nullptr)
    return SSL_TLSEXT_ERR_NOACK;
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  std::string_view host = name != nullptr ? std::string_view{name} : std::string_view{};
  // Names compare in lower case; a name too long for a host is no match.
  char lower[256];
  if (host.size() >= sizeof lower)
    host = {};
  for (std::size_t i = 0; i < host.size(); ++i) {
    char c = host[i];
    lower[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
  }
  if (!host.empty() && lower[host.size() - 1] == '.')
    host.remove_suffix(1);
  const tls_certificate* cert = source->certificates().find({lower, host.size()});
  if (cert == nullptr) {
    *alert = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  // Connections start on the default certificate's context: most pick it.
  if (SSL_get_SSL_CTX(ssl) != cert->context.get() && SSL_set_SSL_CTX(ssl, cert->context.get()) == nullptr) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}

/// The ex-data slot of a context's staple (a tls_staple it owns).
int staple_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr,
                                                    [](void*, void* staple, CRYPTO_EX_DATA*, int, long,
                                                       void*) { delete static_cast<tls_staple*>(staple); });
  return index;
}

/// Staples the OCSP response of the context the connection ended up on,
/// for a client that asked; OpenSSL calls it after the servername callback.
int staple_status(SSL* ssl, void*) {
  const auto* staple =
      static_cast<const tls_staple*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), staple_index()));
  if (staple == nullptr || staple->der.empty() || std::time(nullptr) >= staple->until)
    return SSL_TLSEXT_ERR_NOACK;
  auto* copy = static_cast<unsigned char*>(OPENSSL_memdup(staple->der.data(), staple->der.size()));
  if (copy == nullptr)
    return SSL_TLSEXT_ERR_NOACK;
  if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(staple->der.size())) != 1) {
    OPENSSL_free(copy);
    return SSL_TLSEXT_ERR_NOACK;
  }
  return SSL_TLSEXT_ERR_OK; // OpenSSL owns the copy now
}

/// What every context of ours has, base or certificate.
bool apply_settings(SSL_CTX* ctx) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1 || SSL_CTX_set1_groups_list(ctx, groups) != 1)
    return false;
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // Records come from memory: take as much as there is in one read.
  SSL_CTX_set_read_ahead(ctx, 1);
  // Resumption is stateless (tickets); no server-side session cache.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 1);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_callback);
  // ALPN is answered from the context the connection ends up on.
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  // Called for every ClientHello, with SNI or without, on whichever
  // context the connection started.
  SSL_CTX_set_tlsext_servername_callback(ctx, choose_certificate);
  SSL_CTX_set_tlsext_status_cb(ctx, staple_status);
  return true;
}

struct bio_free {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct pkey_free {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct x509_free {
  void operator()(X509* x) const noexcept { X509_free(x); }
};

} // namespace

std::shared_ptr<const tls_certificate> make_tls_certificate(std::string name, std::string_view chain_pem,
                                                            std::string_view key_pem, std::string& error,
                                                            tls_staple staple) {
  ERR_clear_error();
  ssl_ctx_ptr ctx{SSL_CTX_new(TLS_server_method())};
  if (!ctx || !apply_settings(ctx.get())) {
    error = "cannot create a TLS context: " + openssl_errors();
    return nullptr;
  }
  std::unique_ptr<BIO, bio_free> chain{BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size()))};
  std::unique_ptr<X509, x509_free> leaf{PEM_read_bio_X509(chain.get(), nullptr, nullptr, nullptr)};
  if (!leaf || SSL_CTX_use_certificate(ctx.get(), leaf.get()) != 1) {
    error = "the certificate does not load: " + openssl_errors();
    return nullptr;
  }
  // The rest of the chain, in order.
  for (;;) {
    std::unique_ptr<X509, x509_free> next{PEM_read_bio_X509(chain.get(), nullptr, nullptr, nullptr)};
    if (!next)
      break;
    if (SSL_CTX_add1_chain_cert(ctx.get(), next.get()) != 1) {
      error = "the certificate chain does not load: " + openssl_errors();
      return nullptr;
    }
  }
  ERR_clear_error(); // the end of the PEM text
  std::unique_ptr<BIO, bio_free> key_bio{BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()))};
  std::unique_ptr<EVP_PKEY, pkey_free> key{PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr)};
  if (!key) {
    error = "the private key does not load"; // never any key text in messages
    ERR_clear_error();
    return nullptr;
  }
  if (X509_check_private_key(leaf.get(), key.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 || SSL_CTX_check_private_key(ctx.get()) != 1) {
    error = "the private key does not belong to the certificate";
    ERR_clear_error();
    return nullptr;
  }
  if (!staple.der.empty()) {
    auto owned = std::make_unique<tls_staple>(std::move(staple));
    if (SSL_CTX_set_ex_data(ctx.get(), staple_index(), owned.get()) != 1) {
      error = "cannot attach the OCSP staple: " + openssl_errors();
      return nullptr;
    }
    owned.release(); // the context frees it
  }
  auto cert = std::make_shared<tls_certificate>();
  cert->name = std::move(name);
  cert->context = std::move(ctx);
  return cert;
}

void certificate_table::add(std::string_view name, std::shared_ptr<const tls_certificate> cert) {
  if (name.starts_with("*.")) {
    std::string parent{name.substr(2)};
    wildcard_[std::move(parent)] = std::move(cert);
  } else {
    std::string key{name};
    exact_[std::move(key)] = std::move(cert);
  }
}

const tls_certificate* certificate_table::find(std::string_view server_name) const noexcept {
  if (!server_name.empty()) {
    if (auto it = exact_.find(server_name); it != exact_.end())
      return it->second.get();
    // "*.parent" covers exactly one label more than the parent.
    auto dot = server_name.find('.');
    if (dot != std::string_view::npos && dot > 0) {
      if (auto it = wildcard_.find(server_name.substr(dot + 1)); it != wildcard_.end())
        return it->second.get();
    }
  }
  return fallback_.get();
}

// No key is made before the first ticket needs one: a listener that never
// sees a TLS handshake (every plain one) does not initialise OpenSSL's
// random generator, which costs a plain proxy ~1.5 MiB of resident pages.
ticket_keys::ticket_keys() = default;

ticket_keys::~ticket_keys() {
  OPENSSL_cleanse(keys_.data(), sizeof keys_);
}

void ticket_keys::make(key& k) {
  RAND_bytes(k.name.data(), static_cast<int>(k.name.size()));
  RAND_priv_bytes(k.aes.data(), static_cast<int>(k.aes.size()));
  RAND_priv_bytes(k.hmac.data(), static_cast<int>(k.hmac.size()));
}

void ticket_keys::ensure_keys() {
  if (ready_)
    return;
  for (auto& k : keys_)
    make(k);
  ready_ = true;
}

void ticket_keys::rotate() {
  std::lock_guard<std::mutex> guard{mutex_};
  if (!ready_)
    return; // nothing sealed yet: the first ticket makes fresh keys
  keys_[1] = keys_[0];
  make(keys_[0]);
}

int ticket_keys::callback(SSL*, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                          EVP_MAC_CTX* mac, int encrypt) {
  std::lock_guard<std::mutex> guard{mutex_};
  ensure_keys();
  const key* k = nullptr;
  int result = 1;
  if (encrypt) {
    k = &keys_[0];
    std::memcpy(name, k->name.data(), k->name.size());
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1)
      return -1;
  } else {
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      if (std::memcmp(name, keys_[i].name.data(), keys_[i].name.size()) == 0) {
        k = &keys_[i];
        result = i == 0 ? 1 : 2; // 2: valid, but issue a ticket under the new key
        break;
      }
    }
    if (k == nullptr)
      return 0; // unknown key: a full handshake
  }
  OSSL_PARAM params[3];
  params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
                                                const_cast<unsigned char*>(k->hmac.data()), k->hmac.size());
  params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0);
  params[2] = OSSL_PARAM_construct_end();
  if (EVP_MAC_CTX_set_params(mac, params) != 1)
    return -1;
  int ok = encrypt ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, k->aes.data(), iv)
                   : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, k->aes.data(), iv);
  return ok == 1 ? result : -1;
}

ssl_ctx_ptr make_listener_context(std::string& error) {
  ERR_clear_error();
  ssl_ctx_ptr ctx{SSL_CTX_new(TLS_server_method())};
  if (!ctx || !apply_settings(ctx.get())) {
    error = "cannot create a TLS context: " + openssl_errors();
    return nullptr;
  }
  return ctx;
}

} // namespace ika::net
