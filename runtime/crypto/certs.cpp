#include "runtime/crypto/certs.hpp"

#include "runtime/crypto/openssl_util.hpp"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <system_error>

namespace ika::crypto {

namespace fs = std::filesystem;

namespace {

using detail::bio_ptr;
using detail::openssl_error;
using detail::pem_contents;
using detail::pkey_ptr;
using detail::x509_ptr;

constexpr std::size_t max_file_size = 1 << 20;
constexpr const char* ca_crt_name = "local-ca.crt";
constexpr const char* ca_key_name = "local-ca.key";
constexpr const char* ca_lock_name = "local-ca.lock";
constexpr const char* ca_tmp_prefix = ".local-ca.tmp-";
constexpr const char* host_file_name = "certificate.pem";
constexpr std::string_view wildcard_dir_prefix = "_wildcard_.";

credential_error fail(const fs::path& path, std::string message) {
  return credential_error{path.string(), std::move(message)};
}

credential_error fail(const std::string& source, std::string message) {
  return credential_error{source, std::move(message)};
}

std::string errno_text(int err) {
  return std::generic_category().message(err);
}

void wipe(std::string& s) {
  if (!s.empty())
    OPENSSL_cleanse(s.data(), s.size());
}

struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0)
      ::close(fd);
  }
};

std::string lowercase(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// -- names ----------------------------------------------------------------------

bool valid_label(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
    return false;
  return std::all_of(label.begin(), label.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

/// A lowercase LDH DNS name whose last label is not all digits.
bool valid_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253)
    return false;
  std::string_view last;
  while (true) {
    auto dot = name.find('.');
    last = name.substr(0, dot);
    if (!valid_label(last))
      return false;
    if (dot == std::string_view::npos)
      break;
    name.remove_prefix(dot + 1);
  }
  return !std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// The address of an IP literal (4 or 16 bytes), or 0 bytes.
std::size_t parse_ip(std::string_view host, unsigned char (&out)[16]) {
  if (host.empty() || host.size() > 45)
    return 0;
  std::string s{host};
  if (::inet_pton(AF_INET, s.c_str(), out) == 1)
    return 4;
  if (::inet_pton(AF_INET6, s.c_str(), out) == 1)
    return 16;
  return 0;
}

std::string ip_text(const unsigned char* addr, std::size_t n) {
  char buf[INET6_ADDRSTRLEN] = {};
  if ((n != 4 && n != 16) || ::inet_ntop(n == 4 ? AF_INET : AF_INET6, addr, buf, sizeof buf) == nullptr)
    return {};
  return buf;
}

// -- building certificates --------------------------------------------------------

struct cert_spec {
  std::string common_name; // empty: none
  bool is_ca = false;
  std::string key_usage;
  std::string extended_key_usage; // empty: none
  std::string subject_alt_name;   // empty: none
  long not_before_offset = -60;   // seconds relative to now
  long validity_seconds = 0;      // from now
};

bool add_ext(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  if (ext == nullptr)
    return false;
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1;
}

bool set_random_serial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1)
    return false;
  bytes[0] &= 0x7f; // positive
  bytes[0] |= 0x01; // never zero, always 16 bytes
  BIGNUM* bn = BN_bin2bn(bytes, sizeof bytes, nullptr);
  if (bn == nullptr)
    return false;
  bool ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nullptr;
  BN_free(bn);
  return ok;
}

/// A certificate for `subject_key` signed by `issuer_key`; self-signed when
/// `issuer` is null. Never outlives the issuer.
credential_result<x509_ptr> build_certificate(const cert_spec& spec, EVP_PKEY* subject_key, X509* issuer,
                                              EVP_PKEY* issuer_key) {
  auto failed = [](const char* what) {
    return credential_error{"",
                            std::string{"cannot create a certificate ("} + what + "): " + openssl_error()};
  };
  x509_ptr cert{X509_new()};
  if (!cert || X509_set_version(cert.get(), 2) != 1 || !set_random_serial(cert.get()))
    return failed("serial");
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), spec.not_before_offset) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.validity_seconds) == nullptr)
    return failed("validity");
  if (issuer != nullptr &&
      ASN1_TIME_compare(X509_get0_notAfter(cert.get()), X509_get0_notAfter(issuer)) > 0 &&
      X509_set1_notAfter(cert.get(), X509_get0_notAfter(issuer)) != 1)
    return failed("validity");
  X509_NAME* subject = X509_get_subject_name(cert.get());
  auto add = [&](const char* field, const std::string& value) {
    return X509_NAME_add_entry_by_txt(subject, field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0) == 1;
  };
  if (!add("O", "ika") || (!spec.common_name.empty() && !add("CN", spec.common_name)))
    return failed("subject");
  if (X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : subject) != 1)
    return failed("issuer");
  if (X509_set_pubkey(cert.get(), subject_key) != 1)
    return failed("public key");
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  if (!add_ext(cert.get(), &ctx, NID_basic_constraints,
               spec.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE") ||
      !add_ext(cert.get(), &ctx, NID_key_usage, spec.key_usage) ||
      !add_ext(cert.get(), &ctx, NID_subject_key_identifier, "hash") ||
      !add_ext(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"))
    return failed("extensions");
  if (!spec.extended_key_usage.empty() &&
      !add_ext(cert.get(), &ctx, NID_ext_key_usage, spec.extended_key_usage))
    return failed("extended key usage");
  if (!spec.subject_alt_name.empty() &&
      !add_ext(cert.get(), &ctx, NID_subject_alt_name, spec.subject_alt_name))
    return failed("subject alternative names");
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0)
    return failed("signature");
  return cert;
}

credential_result<pkey_ptr> make_key() {
  pkey_ptr key{EVP_EC_gen("P-256")};
  if (!key)
    return credential_error{"", "cannot generate a P-256 key: " + openssl_error()};
  return key;
}

// -- describing certificates ------------------------------------------------------

std::string utf8_of(const ASN1_STRING* s) {
  unsigned char* out = nullptr;
  int n = ASN1_STRING_to_UTF8(&out, s);
  if (n < 0)
    return {};
  std::string text(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
  OPENSSL_free(out);
  return text;
}

std::string common_name_of(const X509_NAME* name) {
  int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (i < 0)
    return {};
  return utf8_of(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
}

std::string one_line(const X509_NAME* name) {
  bio_ptr bio{BIO_new(BIO_s_mem())};
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0,
                                 XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN |
                                     (ASN1_STRFLGS_RFC2253 & ~ASN1_STRFLGS_ESC_MSB)) < 0)
    return {};
  return detail::bio_text(bio.get());
}

std::vector<std::string> names_of(X509* cert) {
  std::vector<std::string> out;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type == GEN_DNS) {
        const ASN1_IA5STRING* s = gn->d.dNSName;
        out.push_back(lowercase(std::string_view{reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                                 static_cast<std::size_t>(ASN1_STRING_length(s))}));
      } else if (gn->type == GEN_IPADD) {
        const ASN1_OCTET_STRING* s = gn->d.iPAddress;
        auto text = ip_text(ASN1_STRING_get0_data(s), static_cast<std::size_t>(ASN1_STRING_length(s)));
        if (!text.empty())
          out.push_back(std::move(text));
      }
    }
    GENERAL_NAMES_free(sans);
  }
  ERR_clear_error();
  if (out.empty()) {
    auto cn = common_name_of(X509_get_subject_name(cert));
    if (!cn.empty())
      out.push_back(lowercase(cn));
  }
  return out;
}

std::string serial_of(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (bn == nullptr)
    return {};
  char* hex = BN_bn2hex(bn);
  BN_free(bn);
  if (hex == nullptr)
    return {};
  std::string out = lowercase(hex);
  OPENSSL_free(hex);
  return out;
}

std::string key_type_of(EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
      return "RSA " + std::to_string(EVP_PKEY_get_bits(key));
    case EVP_PKEY_EC: {
      char group[80] = {};
      std::size_t len = 0;
      if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) != 1)
        return "ECDSA";
      const char* nist = EC_curve_nid2nist(OBJ_sn2nid(group));
      return std::string{"ECDSA "} + (nist != nullptr ? nist : group);
    }
    case EVP_PKEY_ED25519:
      return "Ed25519";
    case EVP_PKEY_ED448:
      return "Ed448";
    default: {
      const char* name = EVP_PKEY_get0_type_name(key);
      return name != nullptr ? name : "unknown";
    }
  }
}

/// A checked chain and key.
struct parsed_pair {
  std::vector<x509_ptr> chain;
  pkey_ptr key;
  certificate_info info;
};

credential_result<parsed_pair> parse_pair(std::string_view chain_pem, const std::string& chain_source,
                                          std::string_view key_pem, const std::string& key_source) {
  auto chain_r = detail::read_pem(chain_pem, chain_source);
  if (auto* error = std::get_if<credential_error>(&chain_r))
    return *error;
  auto& chain = std::get<pem_contents>(chain_r);
  if (chain.certificates.empty())
    return fail(chain_source, "holds no certificate");
  auto key_r = detail::read_pem(key_pem, key_source);
  if (auto* error = std::get_if<credential_error>(&key_r))
    return *error;
  auto& key = std::get<pem_contents>(key_r);
  if (!key.key)
    return fail(key_source, "holds no private key");
  X509* leaf = chain.certificates.front().get();
  bool same = key_source == chain_source;
  if (EVP_PKEY_eq(X509_get0_pubkey(leaf), key.key.get()) != 1) {
    ERR_clear_error();
    return fail(key_source, "the private key does not match the first certificate" +
                                (same ? std::string{} : " in " + chain_source));
  }
  if (chain.key && EVP_PKEY_eq(chain.key.get(), key.key.get()) != 1) {
    ERR_clear_error();
    return fail(chain_source, "holds a private key other than the one in " + key_source);
  }
  for (std::size_t i = 0; i + 1 < chain.certificates.size(); ++i) {
    if (X509_check_issued(chain.certificates[i + 1].get(), chain.certificates[i].get()) != X509_V_OK) {
      ERR_clear_error();
      return fail(chain_source, "certificate " + std::to_string(i + 2) + " did not issue certificate " +
                                    std::to_string(i + 1) +
                                    ": list the leaf first, then each issuer in turn");
    }
  }
  parsed_pair out;
  certificate_info& info = out.info;
  info.names = names_of(leaf);
  info.subject = one_line(X509_get_subject_name(leaf));
  info.issuer = common_name_of(X509_get_issuer_name(leaf));
  if (info.issuer.empty())
    info.issuer = one_line(X509_get_issuer_name(leaf));
  info.not_before = detail::time_of(X509_get0_notBefore(leaf));
  info.not_after = detail::time_of(X509_get0_notAfter(leaf));
  info.serial = serial_of(leaf);
  info.sha256_fingerprint = detail::fingerprint_of(leaf);
  info.key_type = key_type_of(key.key.get());
  info.chain_length = chain.certificates.size();
  info.self_signed = X509_self_signed(leaf, 0) == 1;
  ERR_clear_error();
  out.chain = std::move(chain.certificates);
  out.key = std::move(key.key);
  return out;
}

std::string chain_pem_of(const std::vector<x509_ptr>& chain) {
  std::string out;
  for (const auto& cert : chain)
    out += detail::pem_of(cert.get());
  return out;
}

// -- files ------------------------------------------------------------------------

std::chrono::system_clock::time_point mtime_of(const struct stat& st) {
  return std::chrono::system_clock::time_point{
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds{st.st_mtim.tv_sec} + std::chrono::nanoseconds{st.st_mtim.tv_nsec})};
}

struct file_text {
  std::string text;
  std::chrono::system_clock::time_point mtime;
};

/// Reads a user-given file (symbolic links followed); a key file must be
/// private (mode & 077 == 0).
credential_result<file_text> read_user_file(const fs::path& path, bool key_file) {
  fd_guard f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)};
  if (f.fd < 0)
    return fail(path, "cannot open: " + errno_text(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0)
    return fail(path, "cannot stat: " + errno_text(errno));
  if (!S_ISREG(st.st_mode))
    return fail(path, "is not a regular file");
  if (key_file && (st.st_mode & 077) != 0)
    return fail(path, "is a key file that group or others may access (chmod 0600 it)");
  if (static_cast<std::size_t>(st.st_size) > max_file_size)
    return fail(path, "too large for a PEM file");
  file_text out;
  out.mtime = mtime_of(st);
  out.text.resize(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < out.text.size()) {
    auto n = ::read(f.fd, out.text.data() + got, out.text.size() - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int err = errno;
      wipe(out.text);
      return fail(path, "cannot read: " + errno_text(err));
    }
    if (n == 0)
      break;
    got += static_cast<std::size_t>(n);
  }
  out.text.resize(got);
  return out;
}

/// Makes `dir` 0700 if missing (parents as needed) and checks that it is a
/// directory of this user's that group and others cannot access.
std::optional<credential_error> ensure_private_dir(const fs::path& dir) {
  std::error_code ec;
  if (dir.has_parent_path() && !fs::is_directory(dir.parent_path(), ec)) {
    fs::create_directories(dir.parent_path(), ec);
    if (ec)
      return fail(dir.parent_path(), "cannot create directory: " + ec.message());
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return fail(dir, "cannot create directory: " + errno_text(errno));
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0)
    return fail(dir, "cannot stat: " + errno_text(errno));
  if (!S_ISDIR(st.st_mode))
    return fail(dir, "is not a directory");
  if (st.st_uid != ::geteuid())
    return fail(dir, "is not owned by this user");
  if ((st.st_mode & 077) != 0)
    return fail(dir, "group or others may access this directory (chmod 0700 it)");
  return std::nullopt;
}

void fsync_dir(const fs::path& dir) {
  fd_guard f{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (f.fd >= 0)
    ::fsync(f.fd);
}

/// Writes `content` to a new 0600 temporary file "<prefix>XXXXXX" (fsynced)
/// and returns its path.
credential_result<fs::path> write_temp_file(const fs::path& prefix, std::string_view content) {
  std::string name = prefix.string() + "XXXXXX";
  fd_guard f{::mkostemp(name.data(), O_CLOEXEC)}; // 0600, O_EXCL
  if (f.fd < 0)
    return fail(prefix.parent_path(), "cannot create a temporary file: " + errno_text(errno));
  auto abandon = [&](std::string message) {
    ::unlink(name.c_str());
    return fail(fs::path{name}, std::move(message));
  };
  if (::fchmod(f.fd, 0600) != 0)
    return abandon("cannot chmod 0600: " + errno_text(errno));
  while (!content.empty()) {
    auto n = ::write(f.fd, content.data(), content.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return abandon("cannot write: " + errno_text(errno));
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fsync(f.fd) != 0)
    return abandon("cannot fsync: " + errno_text(errno));
  return fs::path{name};
}

/// Links a temporary file to `path` without ever replacing `path`; the
/// temporary name is removed either way.
std::optional<credential_error> link_into_place(const fs::path& tmp, const fs::path& path) {
  int rc = ::link(tmp.c_str(), path.c_str());
  int err = errno;
  ::unlink(tmp.c_str());
  if (rc != 0)
    return fail(path, err == EEXIST ? std::string{"already exists; not replacing it"}
                                    : "cannot create: " + errno_text(err));
  return std::nullopt;
}

/// Creates the local CA's two files; the caller holds the lock and has seen
/// that neither exists.
std::optional<credential_error> create_local_ca(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().filename().string().rfind(ca_tmp_prefix, 0) == 0)
      fs::remove(entry.path(), ec); // left over by a crash; we hold the lock
  auto key_r = make_key();
  if (auto* error = std::get_if<credential_error>(&key_r))
    return *error;
  auto& key = std::get<pkey_ptr>(key_r);
  unsigned char id[4];
  if (RAND_bytes(id, sizeof id) != 1)
    return credential_error{"", "cannot draw random bytes: " + openssl_error()};
  cert_spec spec;
  spec.common_name = "ika local CA " + detail::hex_of(id, sizeof id);
  spec.is_ca = true;
  spec.key_usage = "critical,keyCertSign,cRLSign";
  spec.validity_seconds =
      static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(local_ca_validity).count());
  auto cert_r = build_certificate(spec, key.get(), nullptr, key.get());
  if (auto* error = std::get_if<credential_error>(&cert_r))
    return *error;
  std::string cert_text = detail::pem_of(std::get<x509_ptr>(cert_r).get());
  std::string key_text = detail::pem_of(key.get());
  if (cert_text.empty() || key_text.empty()) {
    wipe(key_text);
    return fail(dir, "cannot encode the local CA: " + openssl_error());
  }
  auto key_tmp = write_temp_file(dir / ca_tmp_prefix, key_text);
  wipe(key_text);
  if (auto* error = std::get_if<credential_error>(&key_tmp))
    return *error;
  auto cert_tmp = write_temp_file(dir / ca_tmp_prefix, cert_text);
  if (auto* error = std::get_if<credential_error>(&cert_tmp)) {
    ::unlink(std::get<fs::path>(key_tmp).c_str());
    return *error;
  }
  // The key first: a certificate in place means a complete CA.
  if (auto problem = link_into_place(std::get<fs::path>(key_tmp), dir / ca_key_name)) {
    ::unlink(std::get<fs::path>(cert_tmp).c_str());
    return problem;
  }
  if (auto problem = link_into_place(std::get<fs::path>(cert_tmp), dir / ca_crt_name))
    return problem;
  fsync_dir(dir);
  return std::nullopt;
}

} // namespace

// -- names ------------------------------------------------------------------------

bool is_ip_literal(std::string_view host) {
  unsigned char addr[16];
  return parse_ip(host, addr) != 0;
}

std::string canonical_certificate_name(std::string_view name) {
  std::string out = lowercase(name);
  if (!out.empty() && out.back() == '.')
    out.pop_back();
  unsigned char addr[16];
  if (auto n = parse_ip(out, addr); n != 0)
    return ip_text(addr, n);
  return out;
}

bool valid_certificate_name(std::string_view name) {
  unsigned char addr[16];
  if (auto n = parse_ip(name, addr); n != 0)
    return ip_text(addr, n) == name;
  if (name.substr(0, 2) == "*.") {
    auto parent = name.substr(2);
    return parent.find('.') != std::string_view::npos && valid_dns_name(parent);
  }
  return valid_dns_name(name);
}

bool certificate_name_matches(std::string_view pattern, std::string_view host) {
  std::string p = canonical_certificate_name(pattern);
  std::string h = canonical_certificate_name(host);
  if (!valid_certificate_name(p) || !valid_certificate_name(h) || h.front() == '*')
    return false;
  if (p.front() != '*')
    return p == h;
  if (is_ip_literal(h))
    return false;
  std::string_view suffix = std::string_view{p}.substr(1); // ".a.b"
  if (h.size() <= suffix.size() || std::string_view{h}.substr(h.size() - suffix.size()) != suffix)
    return false;
  // Exactly one label in front: no dot in what the star stands for.
  return std::string_view{h}.substr(0, h.size() - suffix.size()).find('.') == std::string_view::npos;
}

bool certificate_name_serves(std::string_view name, std::string_view host) {
  return name == host || certificate_name_matches(name, host);
}

bool is_local_name(std::string_view host) {
  std::string h = canonical_certificate_name(host);
  if (h.substr(0, 2) == "*.")
    h.erase(0, 2);
  if (h.empty())
    return false;
  if (is_ip_literal(h) || h.find('.') == std::string::npos)
    return true;
  auto under = [&](std::string_view suffix) {
    return h.size() > suffix.size() && std::string_view{h}.substr(h.size() - suffix.size()) == suffix;
  };
  return under(".localhost") || under(".test") || under(".internal");
}

// -- keys and certificates --------------------------------------------------------

credential_result<std::string> new_private_key_pem() {
  auto key = make_key();
  if (auto* error = std::get_if<credential_error>(&key))
    return *error;
  std::string pem = detail::pem_of(std::get<pkey_ptr>(key).get());
  if (pem.empty())
    return credential_error{"", "cannot encode a private key: " + openssl_error()};
  return pem;
}

issued_certificate::~issued_certificate() {
  wipe(key_pem);
}

bool certificate_info::expired(std::chrono::system_clock::time_point now) const {
  return now < not_before || now > not_after;
}

bool certificate_info::covers(std::string_view host) const {
  return std::any_of(names.begin(), names.end(),
                     [&](const std::string& name) { return certificate_name_matches(name, host); });
}

credential_result<certificate_info> inspect_certificate(std::string_view chain_pem,
                                                        std::string_view key_pem) {
  auto parsed = parse_pair(chain_pem, "certificate chain", key_pem, "private key");
  if (auto* error = std::get_if<credential_error>(&parsed))
    return *error;
  return std::move(std::get<parsed_pair>(parsed).info);
}

// -- the local CA -----------------------------------------------------------------

fs::path certs_dir_of(const fs::path& data_dir) {
  return data_dir / "certs";
}

credential_result<local_ca> ensure_local_ca(const fs::path& data_dir) {
  if (data_dir.empty())
    return credential_error{"", "no data directory given"};
  const fs::path dir = certs_dir_of(data_dir);
  if (auto problem = ensure_private_dir(dir))
    return *problem;
  const fs::path lock_path = dir / ca_lock_name;
  fd_guard lock{::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)};
  if (lock.fd < 0)
    return fail(lock_path, "cannot open the lock file: " + errno_text(errno));
  int rc;
  do
    rc = ::flock(lock.fd, LOCK_EX);
  while (rc != 0 && errno == EINTR);
  if (rc != 0)
    return fail(lock_path, "cannot lock: " + errno_text(errno));

  const fs::path crt = dir / ca_crt_name;
  const fs::path key = dir / ca_key_name;
  bool created = false;
  struct stat st {};
  if (::lstat(crt.c_str(), &st) != 0) {
    if (errno != ENOENT)
      return fail(crt, "cannot stat: " + errno_text(errno));
    if (::lstat(key.c_str(), &st) == 0)
      return fail(key, std::string{"exists without "} + ca_crt_name +
                           " (an interrupted creation?); remove it to create a new local CA");
    if (auto problem = create_local_ca(dir))
      return *problem;
    created = true;
  }

  // Whether just made or found: one path, one set of checks.
  auto crt_text = detail::read_private_file(crt);
  if (auto* error = std::get_if<credential_error>(&crt_text))
    return *error;
  auto key_text = detail::read_private_file(key);
  if (auto* error = std::get_if<credential_error>(&key_text))
    return *error;
  auto ca = certificate_authority::from_pem(std::get<std::string>(crt_text), std::get<std::string>(key_text));
  wipe(std::get<std::string>(key_text));
  if (auto* error = std::get_if<credential_error>(&ca))
    return fail(crt, error->message + " (with " + key.string() + ")");
  local_ca out{std::move(std::get<certificate_authority>(ca)), {}, {}, crt, created};
  out.certificate_pem = out.authority.certificate_pem();
  out.sha256_fingerprint = detail::fingerprint_of(out.authority.certificate());
  return out;
}

credential_result<issued_certificate> issue_local_certificate(const certificate_authority& ca,
                                                              const std::vector<std::string>& names,
                                                              std::chrono::seconds validity) {
  if (ca.certificate() == nullptr || ca.key() == nullptr)
    return credential_error{"", "no CA"};
  if (names.empty())
    return credential_error{"", "a certificate needs at least one name"};
  if (names.size() > 100)
    return credential_error{"", "a certificate holds at most 100 names"};
  if (validity.count() <= 0)
    return credential_error{"", "a certificate's validity must be positive"};
  std::string sans;
  for (const auto& name : names) {
    if (!valid_certificate_name(name))
      return credential_error{"", "\"" + name + "\" is not a valid certificate name"};
    if (!sans.empty())
      sans += ',';
    sans += (is_ip_literal(name) ? "IP:" : "DNS:") + name;
  }
  auto key = make_key();
  if (auto* error = std::get_if<credential_error>(&key))
    return *error;
  cert_spec spec;
  if (names.front().size() <= 64)
    spec.common_name = names.front();
  spec.key_usage = "critical,digitalSignature";
  spec.extended_key_usage = "serverAuth";
  spec.subject_alt_name = sans;
  spec.validity_seconds = static_cast<long>(std::min<std::chrono::seconds::rep>(validity.count(), LONG_MAX));
  auto cert = build_certificate(spec, std::get<pkey_ptr>(key).get(), ca.certificate(), ca.key());
  if (auto* error = std::get_if<credential_error>(&cert))
    return *error;
  issued_certificate out;
  out.key_pem = detail::pem_of(std::get<pkey_ptr>(key).get());
  out.chain_pem = detail::pem_of(std::get<x509_ptr>(cert).get()) + ca.certificate_pem();
  if (out.key_pem.empty() || out.chain_pem.empty())
    return credential_error{"", "cannot encode the certificate: " + openssl_error()};
  return out;
}

// -- certificate files ------------------------------------------------------------

certificate_files::~certificate_files() {
  wipe(key_pem);
}

credential_result<certificate_files> read_certificate_files(const fs::path& chain_file,
                                                            const fs::path& key_file) {
  auto key_r = read_user_file(key_file, true);
  if (auto* error = std::get_if<credential_error>(&key_r))
    return *error;
  auto& key = std::get<file_text>(key_r);
  struct wiper {
    std::string& s;
    ~wiper() { wipe(s); }
  } wipe_key{key.text};
  auto chain_r = read_user_file(chain_file, chain_file == key_file);
  if (auto* error = std::get_if<credential_error>(&chain_r))
    return *error;
  auto& chain = std::get<file_text>(chain_r);
  struct wiper wipe_chain {
    chain.text
  }; // may hold the key too (one combined file)
  auto parsed = parse_pair(chain.text, chain_file.string(), key.text, key_file.string());
  if (auto* error = std::get_if<credential_error>(&parsed))
    return *error;
  auto& pair = std::get<parsed_pair>(parsed);
  certificate_files out;
  out.chain_file = chain_file;
  out.key_file = key_file;
  out.chain_pem = chain_pem_of(pair.chain);
  out.key_pem = detail::pem_of(pair.key.get());
  if (out.chain_pem.empty() || out.key_pem.empty())
    return fail(chain_file, "cannot encode: " + openssl_error());
  out.chain_mtime = chain.mtime;
  out.key_mtime = key.mtime;
  out.info = std::move(pair.info);
  return out;
}

bool certificate_files_changed(const certificate_files& loaded) {
  auto changed = [](const fs::path& path, std::chrono::system_clock::time_point mtime) {
    struct stat st {};
    return ::stat(path.c_str(), &st) != 0 || mtime_of(st) != mtime;
  };
  return changed(loaded.chain_file, loaded.chain_mtime) || changed(loaded.key_file, loaded.key_mtime);
}

credential_result<fs::path> host_certificate_dir_of(const fs::path& data_dir, std::string_view host) {
  if (!valid_certificate_name(host))
    return credential_error{"", "\"" + std::string{host} + "\" is not a valid certificate name"};
  if (host == ca_crt_name || host == ca_key_name || host == ca_lock_name)
    return credential_error{"", "\"" + std::string{host} + "\" is reserved for the local CA's files"};
  std::string dir{host};
  if (host.substr(0, 2) == "*.")
    dir = std::string{wildcard_dir_prefix} + std::string{host.substr(2)};
  return certs_dir_of(data_dir) / dir;
}

std::optional<credential_error> save_host_certificate(const fs::path& data_dir, std::string_view host,
                                                      std::string_view chain_pem, std::string_view key_pem) {
  auto dir_r = host_certificate_dir_of(data_dir, host);
  if (auto* error = std::get_if<credential_error>(&dir_r))
    return *error;
  const fs::path& dir = std::get<fs::path>(dir_r);
  std::string h{host};
  auto parsed = parse_pair(chain_pem, "certificate chain for " + h, key_pem, "private key for " + h);
  if (auto* error = std::get_if<credential_error>(&parsed))
    return *error;
  auto& pair = std::get<parsed_pair>(parsed);
  if (auto problem = ensure_private_dir(certs_dir_of(data_dir)))
    return problem;
  if (auto problem = ensure_private_dir(dir))
    return problem;
  std::string text = chain_pem_of(pair.chain);
  std::string key_text = detail::pem_of(pair.key.get());
  if (text.empty() || key_text.empty()) {
    wipe(key_text);
    return fail(dir, "cannot encode the certificate: " + openssl_error());
  }
  text += key_text;
  wipe(key_text);
  auto tmp = write_temp_file(dir / ("." + std::string{host_file_name} + ".tmp-"), text);
  wipe(text);
  if (auto* error = std::get_if<credential_error>(&tmp))
    return *error;
  const fs::path path = dir / host_file_name;
  if (::rename(std::get<fs::path>(tmp).c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(std::get<fs::path>(tmp).c_str());
    return fail(path, "cannot move the new certificate into place: " + errno_text(err));
  }
  fsync_dir(dir);
  return std::nullopt;
}

namespace {

constexpr std::size_t max_staple_size = 64 * 1024;

credential_result<fs::path> staple_path_of(const fs::path& data_dir, std::string_view fingerprint) {
  bool hex = fingerprint.size() == 64 && std::all_of(fingerprint.begin(), fingerprint.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
             });
  if (!hex)
    return fail(certs_dir_of(data_dir) / "ocsp",
                "not a certificate fingerprint: \"" + std::string{fingerprint.substr(0, 80)} + "\"");
  return certs_dir_of(data_dir) / "ocsp" / (std::string{fingerprint} + ".der");
}

} // namespace

std::optional<credential_error> save_ocsp_staple(const fs::path& data_dir, std::string_view fingerprint,
                                                 std::string_view der) {
  auto path_r = staple_path_of(data_dir, fingerprint);
  if (auto* error = std::get_if<credential_error>(&path_r))
    return *error;
  const fs::path& path = std::get<fs::path>(path_r);
  if (der.empty() || der.size() > max_staple_size)
    return fail(path, "an OCSP response of " + std::to_string(der.size()) + " bytes is not kept");
  if (auto problem = ensure_private_dir(certs_dir_of(data_dir)))
    return problem;
  if (auto problem = ensure_private_dir(path.parent_path()))
    return problem;
  auto tmp = write_temp_file(path.parent_path() / ("." + std::string{fingerprint} + ".tmp-"), der);
  if (auto* error = std::get_if<credential_error>(&tmp))
    return *error;
  if (::rename(std::get<fs::path>(tmp).c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(std::get<fs::path>(tmp).c_str());
    return fail(path, "cannot move the OCSP response into place: " + errno_text(err));
  }
  fsync_dir(path.parent_path());
  return std::nullopt;
}

credential_result<std::optional<std::string>> load_ocsp_staple(const fs::path& data_dir,
                                                               std::string_view fingerprint) {
  auto path_r = staple_path_of(data_dir, fingerprint);
  if (auto* error = std::get_if<credential_error>(&path_r))
    return *error;
  const fs::path& path = std::get<fs::path>(path_r);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      return std::optional<std::string>{};
    return fail(path, "cannot stat: " + errno_text(errno));
  }
  if (static_cast<std::size_t>(st.st_size) > max_staple_size)
    return fail(path, "too large for an OCSP response");
  auto der = detail::read_private_file(path);
  if (auto* error = std::get_if<credential_error>(&der))
    return *error;
  return std::optional<std::string>{std::move(std::get<std::string>(der))};
}

void remove_ocsp_staple(const fs::path& data_dir, std::string_view fingerprint) noexcept {
  auto path_r = staple_path_of(data_dir, fingerprint);
  if (auto* path = std::get_if<fs::path>(&path_r))
    ::unlink(path->c_str());
}

credential_result<std::optional<certificate_files>> load_host_certificate(const fs::path& data_dir,
                                                                          std::string_view host) {
  auto dir_r = host_certificate_dir_of(data_dir, host);
  if (auto* error = std::get_if<credential_error>(&dir_r))
    return *error;
  const fs::path path = std::get<fs::path>(dir_r) / host_file_name;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      return std::optional<certificate_files>{};
    return fail(path, "cannot stat: " + errno_text(errno));
  }
  auto text_r = detail::read_private_file(path);
  if (auto* error = std::get_if<credential_error>(&text_r))
    return *error;
  auto& text = std::get<std::string>(text_r);
  auto parsed = parse_pair(text, path.string(), text, path.string());
  wipe(text);
  if (auto* error = std::get_if<credential_error>(&parsed))
    return *error;
  auto& pair = std::get<parsed_pair>(parsed);
  certificate_files out;
  out.chain_file = out.key_file = path;
  out.chain_pem = chain_pem_of(pair.chain);
  out.key_pem = detail::pem_of(pair.key.get());
  if (out.chain_pem.empty() || out.key_pem.empty())
    return fail(path, "cannot encode: " + openssl_error());
  out.chain_mtime = out.key_mtime = mtime_of(st);
  out.info = std::move(pair.info);
  return std::optional<certificate_files>{std::move(out)};
}

std::vector<std::string> saved_certificate_names(const fs::path& data_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(certs_dir_of(data_dir), ec)) {
    if (!entry.is_directory(ec))
      continue;
    std::string name = entry.path().filename().string();
    if (name.rfind(wildcard_dir_prefix, 0) == 0)
      name = "*." + name.substr(wildcard_dir_prefix.size());
    if (valid_certificate_name(name))
      out.push_back(std::move(name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

void release_thread_state() noexcept {
  OPENSSL_thread_stop();
}

} // namespace ika::crypto
