#include "runtime/acme/jws.hpp"

#include <nlohmann/json.hpp>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>

namespace ika::acme {

namespace {

template <class T, void (*Free)(T*)>
struct freer {
  void operator()(T* p) const noexcept { Free(p); }
};
using bio_ptr = std::unique_ptr<BIO, freer<BIO, BIO_free_all>>;
using bn_ptr = std::unique_ptr<BIGNUM, freer<BIGNUM, BN_free>>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, freer<EVP_MD_CTX, EVP_MD_CTX_free>>;
using sig_ptr = std::unique_ptr<ECDSA_SIG, freer<ECDSA_SIG, ECDSA_SIG_free>>;
using req_ptr = std::unique_ptr<X509_REQ, freer<X509_REQ, X509_REQ_free>>;
using name_ptr = std::unique_ptr<X509_NAME, freer<X509_NAME, X509_NAME_free>>;
using ext_stack_ptr = std::unique_ptr<STACK_OF(X509_EXTENSION), decltype([](STACK_OF(X509_EXTENSION) * s) {
                                        sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
                                      })>;

constexpr std::size_t coordinate_size = 32;

std::string openssl_reason() {
  unsigned long err = ERR_peek_last_error();
  ERR_clear_error();
  if (err == 0)
    return "unknown OpenSSL error";
  const char* reason = ERR_reason_error_string(err);
  return reason != nullptr ? reason : "OpenSSL error " + std::to_string(err);
}

bool is_p256(EVP_PKEY* key) {
  if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
    return false;
  char group[64] = {};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) != 1)
    return false;
  return std::string_view{group, len} == "prime256v1" || std::string_view{group, len} == "P-256";
}

std::string coordinate(EVP_PKEY* key, const char* param) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, param, &raw) != 1)
    return {};
  bn_ptr bn{raw};
  std::array<unsigned char, coordinate_size> out{};
  if (BN_bn2binpad(bn.get(), out.data(), static_cast<int>(out.size())) != static_cast<int>(out.size()))
    return {};
  return std::string(reinterpret_cast<const char*>(out.data()), out.size());
}

std::string sha256(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr) != 1)
    return {};
  return std::string(reinterpret_cast<const char*>(md.data()), len);
}

} // namespace

// --- secret_text ---------------------------------------------------------

secret_text::secret_text(secret_text&& other) noexcept : text_(std::move(other.text_)) {
  other.wipe();
}

secret_text& secret_text::operator=(const secret_text& other) {
  if (this != &other) {
    wipe();
    text_ = other.text_;
  }
  return *this;
}

secret_text& secret_text::operator=(secret_text&& other) noexcept {
  if (this != &other) {
    wipe();
    text_ = std::move(other.text_);
    other.wipe();
  }
  return *this;
}

secret_text::~secret_text() {
  wipe();
}

void secret_text::wipe() noexcept {
  if (!text_.empty())
    OPENSSL_cleanse(text_.data(), text_.size());
  text_.clear();
}

// --- base64url -----------------------------------------------------------

std::string base64url(std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    std::uint32_t v = byte(i) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
  } else if (rest == 2) {
    std::uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z')
      return c - 'A';
    if (c >= 'a' && c <= 'z')
      return c - 'a' + 26;
    if (c >= '0' && c <= '9')
      return c - '0' + 52;
    if (c == '-')
      return 62;
    if (c == '_')
      return 63;
    return -1;
  };
  if (text.size() % 4 == 1)
    return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = value(c);
    if (v < 0)
      return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  // Leftover bits must be zero (canonical encoding).
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
    return std::nullopt;
  return out;
}

// --- ec_key --------------------------------------------------------------

void ec_key::pkey_free::operator()(EVP_PKEY* p) const noexcept {
  EVP_PKEY_free(p);
}

outcome<ec_key> ec_key::generate() {
  ERR_clear_error();
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", const_cast<char*>("P-256"));
  if (raw == nullptr)
    return error{"cannot generate a P-256 key: " + openssl_reason(), std::nullopt};
  ec_key key;
  key.key_.reset(raw);
  return key;
}

outcome<ec_key> ec_key::from_pem(std::string_view pem) {
  if (pem.size() > (1 << 16))
    return error{"private key PEM is too large", std::nullopt};
  ERR_clear_error();
  bio_ptr bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
  if (!bio)
    return error{"cannot read the private key: " + openssl_reason(), std::nullopt};
  // No passphrase callback: an encrypted key fails instead of prompting.
  EVP_PKEY* raw = PEM_read_bio_PrivateKey(
      bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr);
  if (raw == nullptr) {
    ERR_clear_error(); // the queue may hold details about the key text
    return error{"not an unencrypted PEM private key", std::nullopt};
  }
  ec_key key;
  key.key_.reset(raw);
  if (!is_p256(raw))
    return error{"the private key is not an ECDSA P-256 key", std::nullopt};
  return key;
}

secret_text ec_key::to_pem() const {
  if (!key_)
    return {};
  bio_ptr bio{BIO_new(BIO_s_secmem())};
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return {};
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  if (n <= 0 || data == nullptr)
    return {};
  return secret_text{std::string(data, static_cast<std::size_t>(n))};
}

// --- JWK, thumbprint, signatures -------------------------------------------

std::string jwk_json(const ec_key& key) {
  if (!key)
    return {};
  std::string x = coordinate(key.get(), OSSL_PKEY_PARAM_EC_PUB_X);
  std::string y = coordinate(key.get(), OSSL_PKEY_PARAM_EC_PUB_Y);
  if (x.empty() || y.empty())
    return {};
  // Written by hand: RFC 7638 fixes the member order and forbids whitespace.
  return R"({"crv":"P-256","kty":"EC","x":")" + base64url(x) + R"(","y":")" + base64url(y) + R"("})";
}

std::string jwk_thumbprint(const ec_key& key) {
  std::string jwk = jwk_json(key);
  return jwk.empty() ? std::string{} : base64url(sha256(jwk));
}

std::string key_authorization(std::string_view token, std::string_view thumbprint) {
  std::string out{token};
  out += '.';
  out += thumbprint;
  return out;
}

std::optional<std::string> ecdsa_der_to_raw(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  sig_ptr sig{d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()))};
  if (!sig || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size())
    return std::nullopt;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::array<unsigned char, 2 * coordinate_size> out{};
  constexpr int half = static_cast<int>(coordinate_size);
  if (BN_bn2binpad(r, out.data(), half) != half || BN_bn2binpad(s, out.data() + half, half) != half)
    return std::nullopt;
  return std::string(reinterpret_cast<const char*>(out.data()), out.size());
}

std::optional<std::string> ecdsa_raw_to_der(std::string_view raw) {
  if (raw.size() != 2 * coordinate_size)
    return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  constexpr int half = static_cast<int>(coordinate_size);
  bn_ptr r{BN_bin2bn(bytes, half, nullptr)};
  bn_ptr s{BN_bin2bn(bytes + half, half, nullptr)};
  sig_ptr sig{ECDSA_SIG_new()};
  if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1)
    return std::nullopt;
  (void)r.release(); // owned by sig now
  (void)s.release();
  unsigned char* out = nullptr;
  int len = i2d_ECDSA_SIG(sig.get(), &out);
  if (len <= 0)
    return std::nullopt;
  std::string der(reinterpret_cast<const char*>(out), static_cast<std::size_t>(len));
  OPENSSL_free(out);
  return der;
}

std::string es256_sign(const ec_key& key, std::string_view data) {
  if (!key)
    return {};
  md_ctx_ptr ctx{EVP_MD_CTX_new()};
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSignUpdate(ctx.get(), data.data(), data.size()) != 1)
    return {};
  std::size_t len = 0;
  if (EVP_DigestSignFinal(ctx.get(), nullptr, &len) != 1)
    return {};
  std::string der(len, '\0');
  if (EVP_DigestSignFinal(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &len) != 1)
    return {};
  der.resize(len);
  return ecdsa_der_to_raw(der).value_or(std::string{});
}

outcome<std::string> sign_jws(const jws_signer& signer, std::string_view nonce, std::string_view url,
                              std::string_view payload) {
  if (signer.key == nullptr || !*signer.key)
    return error{"no account key to sign with", std::nullopt};
  nlohmann::json header = {{"alg", "ES256"}, {"nonce", nonce}, {"url", url}};
  if (signer.kid.empty()) {
    auto jwk = nlohmann::json::parse(jwk_json(*signer.key), nullptr, false);
    if (jwk.is_discarded())
      return error{"cannot make the account key's JWK", std::nullopt};
    header["jwk"] = std::move(jwk);
  } else {
    header["kid"] = signer.kid;
  }
  std::string protected64 = base64url(header.dump());
  std::string payload64 = base64url(payload);
  std::string signature = es256_sign(*signer.key, protected64 + "." + payload64);
  if (signature.empty()) {
    ERR_clear_error();
    return error{"cannot sign the request with the account key", std::nullopt};
  }
  nlohmann::json jws = {
      {"protected", protected64}, {"payload", payload64}, {"signature", base64url(signature)}};
  return jws.dump();
}

// --- CSR -----------------------------------------------------------------

outcome<std::string> make_csr_der(std::string_view key_pem, const std::vector<std::string>& names) {
  if (names.empty())
    return error{"CSR: no names", std::nullopt};
  for (const auto& n : names)
    if (n.empty() || n.size() > 253 || n.find_first_of(", \t\r\n") != std::string::npos)
      return error{"CSR: invalid name \"" + n + "\"", std::nullopt};
  auto key = ec_key::from_pem(key_pem);
  if (auto* e = std::get_if<error>(&key))
    return error{"CSR: certificate key: " + e->message, std::nullopt};
  const ec_key& k = std::get<ec_key>(key);

  ERR_clear_error();
  req_ptr req{X509_REQ_new()};
  if (!req || X509_REQ_set_version(req.get(), 0) != 1)
    return error{"CSR: " + openssl_reason(), std::nullopt};
  name_ptr subject{X509_NAME_new()};
  if (!subject ||
      X509_NAME_add_entry_by_txt(subject.get(), "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(names.front().c_str()), -1, -1,
                                 0) != 1 ||
      X509_REQ_set_subject_name(req.get(), subject.get()) != 1)
    return error{"CSR: subject: " + openssl_reason(), std::nullopt};
  if (X509_REQ_set_pubkey(req.get(), k.get()) != 1)
    return error{"CSR: public key: " + openssl_reason(), std::nullopt};

  std::string san;
  for (const auto& n : names) {
    if (!san.empty())
      san += ',';
    san += "DNS:" + n;
  }
  ext_stack_ptr exts{sk_X509_EXTENSION_new_null()};
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
  if (!exts || ext == nullptr || sk_X509_EXTENSION_push(exts.get(), ext) == 0) {
    X509_EXTENSION_free(ext);
    return error{"CSR: subjectAltName: " + openssl_reason(), std::nullopt};
  }
  if (X509_REQ_add_extensions(req.get(), exts.get()) != 1)
    return error{"CSR: extensions: " + openssl_reason(), std::nullopt};
  if (X509_REQ_sign(req.get(), k.get(), EVP_sha256()) <= 0)
    return error{"CSR: signing: " + openssl_reason(), std::nullopt};

  unsigned char* out = nullptr;
  int len = i2d_X509_REQ(req.get(), &out);
  if (len <= 0)
    return error{"CSR: encoding: " + openssl_reason(), std::nullopt};
  std::string der(reinterpret_cast<const char*>(out), static_cast<std::size_t>(len));
  OPENSSL_free(out);
  return der;
}

} // namespace ika::acme
