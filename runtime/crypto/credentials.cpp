#include "runtime/crypto/credentials.hpp"

#include "runtime/crypto/openssl_util.hpp"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <system_error>
#include <vector>

namespace ika::crypto {

namespace fs = std::filesystem;

std::string credential_error::to_string() const {
  return path.empty() ? message : path + ": " + message;
}

tls_identity::~tls_identity() {
  if (!private_key_pem.empty())
    OPENSSL_cleanse(private_key_pem.data(), private_key_pem.size());
}

// -- certificate_authority ----------------------------------------------------

void certificate_authority::x509_free::operator()(X509* p) const noexcept {
  X509_free(p);
}

void certificate_authority::pkey_free::operator()(EVP_PKEY* p) const noexcept {
  EVP_PKEY_free(p);
}

certificate_authority::certificate_authority(X509* cert, EVP_PKEY* key) noexcept : cert_(cert), key_(key) {}

certificate_authority::certificate_authority(certificate_authority&&) noexcept = default;
certificate_authority& certificate_authority::operator=(certificate_authority&&) noexcept = default;
certificate_authority::~certificate_authority() = default;

std::string certificate_authority::certificate_pem() const {
  return detail::pem_of(cert_.get());
}

namespace {

using detail::bio_ptr;
using detail::openssl_error;
using detail::pem_contents;
using detail::pkey_ptr;
using detail::x509_ptr;

credential_error fail(const fs::path& path, std::string message) {
  return credential_error{path.string(), std::move(message)};
}

credential_error fail(std::string_view source, std::string message) {
  return credential_error{std::string{source}, std::move(message)};
}

credential_error fail(const std::string& source, std::string message) {
  return credential_error{source, std::move(message)};
}

std::string errno_text(int err) {
  return std::generic_category().message(err);
}

// -- building certificates ----------------------------------------------------

struct cert_spec {
  std::string common_name;
  bool is_ca = false;
  std::string key_usage;          // e.g. "critical,digitalSignature"
  std::string extended_key_usage; // empty: none
  std::string subject_alt_name;   // empty: none
  long validity_seconds = 0;
};

bool add_ext(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  if (ext == nullptr)
    return false;
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1;
}

bool set_name(X509_NAME* name, const std::string& common_name) {
  auto add = [&](const char* field, const std::string& value) {
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1, 0) == 1;
  };
  return add("O", "ika") && add("CN", common_name);
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

/// Makes a certificate for `subject_key`, signed by `issuer_key`; a
/// self-signed one when `issuer` is null. Never outlives the issuer.
credential_result<x509_ptr> make_certificate(const cert_spec& spec, EVP_PKEY* subject_key, X509* issuer,
                                             EVP_PKEY* issuer_key) {
  auto failed = [](const char* what) {
    return credential_error{"",
                            std::string{"cannot create a certificate ("} + what + "): " + openssl_error()};
  };
  x509_ptr cert{X509_new()};
  if (!cert || X509_set_version(cert.get(), 2) != 1 || !set_random_serial(cert.get()))
    return failed("serial");
  // An hour of slack for clocks that disagree a little.
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), spec.validity_seconds) == nullptr)
    return failed("validity");
  if (issuer != nullptr &&
      ASN1_TIME_compare(X509_get0_notAfter(cert.get()), X509_get0_notAfter(issuer)) > 0 &&
      X509_set1_notAfter(cert.get(), X509_get0_notAfter(issuer)) != 1)
    return failed("validity");
  if (!set_name(X509_get_subject_name(cert.get()), spec.common_name))
    return failed("subject");
  if (X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer)
                                                         : X509_get_subject_name(cert.get())) != 1)
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

constexpr long seconds_of(std::chrono::hours h) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(h).count());
}

// -- checking -----------------------------------------------------------------

std::string time_text(const ASN1_TIME* t) {
  bio_ptr bio{BIO_new(BIO_s_mem())};
  if (!bio || ASN1_TIME_print(bio.get(), t) != 1)
    return "?";
  return detail::bio_text(bio.get());
}

std::optional<std::string> check_validity(X509* cert) {
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0)
    return "certificate is not valid before " + time_text(X509_get0_notBefore(cert));
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0)
    return "certificate expired on " + time_text(X509_get0_notAfter(cert));
  return std::nullopt;
}

std::optional<std::string> check_ca_certificate(X509* ca) {
  uint32_t flags = X509_get_extension_flags(ca);
  if ((flags & EXFLAG_CA) == 0)
    return std::string{"not a CA certificate (basicConstraints CA:TRUE missing)"};
  if ((flags & EXFLAG_KUSAGE) == 0 || (X509_get_key_usage(ca) & KU_KEY_CERT_SIGN) == 0)
    return std::string{"CA certificate lacks the keyCertSign key usage"};
  if (X509_self_signed(ca, 1) != 1) {
    ERR_clear_error();
    return std::string{"CA certificate is not self-signed"};
  }
  return check_validity(ca);
}

std::optional<std::string> verify_chain(X509* leaf, X509* ca, tls_role role) {
  detail::store_ptr store{X509_STORE_new()};
  detail::store_ctx_ptr ctx{X509_STORE_CTX_new()};
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr) != 1)
    return "cannot verify: " + openssl_error();
  X509_STORE_CTX_set_purpose(ctx.get(),
                             role == tls_role::server ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT);
  X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx.get()), X509_V_FLAG_X509_STRICT);
  if (X509_verify_cert(ctx.get()) == 1)
    return std::nullopt;
  ERR_clear_error();
  return std::string{"does not verify against the CA certificate for TLS "} +
         (role == tls_role::server ? "server" : "client") +
         " use: " + X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
}

/// A parsed identity and the names of where each part came from.
struct parsed_identity {
  x509_ptr certificate;
  pkey_ptr key;
  x509_ptr ca;
  std::string certificate_source;
  std::string key_source;
  std::string ca_source;
};

std::optional<credential_error> check_parsed(const parsed_identity& id,
                                             std::initializer_list<tls_role> roles) {
  if (auto problem = check_ca_certificate(id.ca.get()))
    return fail(id.ca_source, *problem);
  if (X509_check_private_key(id.certificate.get(), id.key.get()) != 1) {
    ERR_clear_error();
    return fail(id.key_source, "private key does not match the certificate" +
                                   (id.key_source == id.certificate_source ? std::string{}
                                                                           : " in " + id.certificate_source));
  }
  if ((X509_get_extension_flags(id.certificate.get()) & EXFLAG_CA) != 0)
    return fail(id.certificate_source, "is a CA certificate, not a TLS identity");
  if (auto problem = check_validity(id.certificate.get()))
    return fail(id.certificate_source, *problem);
  for (auto role : roles)
    if (auto problem = verify_chain(id.certificate.get(), id.ca.get(), role))
      return fail(id.certificate_source, "certificate " + *problem);
  return std::nullopt;
}

/// Exactly one certificate and nothing else.
credential_result<x509_ptr> one_certificate(std::string_view pem, std::string_view source) {
  auto parsed = detail::read_pem(pem, source);
  if (auto* error = std::get_if<credential_error>(&parsed))
    return *error;
  auto& contents = std::get<pem_contents>(parsed);
  if (contents.certificates.size() != 1 || contents.key)
    return fail(source, "expected exactly one certificate and nothing else, found " + contents.summary());
  return std::move(contents.certificates.front());
}

/// Exactly one private key and nothing else.
credential_result<pkey_ptr> one_key(std::string_view pem, std::string_view source) {
  auto parsed = detail::read_pem(pem, source);
  if (auto* error = std::get_if<credential_error>(&parsed))
    return *error;
  auto& contents = std::get<pem_contents>(parsed);
  if (!contents.certificates.empty() || !contents.key)
    return fail(source, "expected exactly one private key and nothing else, found " + contents.summary());
  return std::move(contents.key);
}

credential_result<parsed_identity> parse_parts(std::string_view cert_pem, std::string_view cert_source,
                                               std::string_view key_pem, std::string_view key_source,
                                               std::string_view ca_pem, std::string_view ca_source) {
  parsed_identity out;
  out.certificate_source = cert_source;
  out.key_source = key_source;
  out.ca_source = ca_source;
  auto cert = one_certificate(cert_pem, cert_source);
  if (auto* error = std::get_if<credential_error>(&cert))
    return *error;
  out.certificate = std::move(std::get<x509_ptr>(cert));
  auto key = one_key(key_pem, key_source);
  if (auto* error = std::get_if<credential_error>(&key))
    return *error;
  out.key = std::move(std::get<pkey_ptr>(key));
  auto ca = one_certificate(ca_pem, ca_source);
  if (auto* error = std::get_if<credential_error>(&ca))
    return *error;
  out.ca = std::move(std::get<x509_ptr>(ca));
  return out;
}

tls_identity identity_of(const parsed_identity& id) {
  tls_identity out;
  out.certificate_pem = detail::pem_of(id.certificate.get());
  out.private_key_pem = detail::pem_of(id.key.get());
  out.ca_certificate_pem = detail::pem_of(id.ca.get());
  return out;
}

// -- files ----------------------------------------------------------------------

std::optional<credential_error> check_private_dir(const fs::path& dir) {
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

struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0)
      ::close(fd);
  }
};

/// Writes all of `content` to a freshly created `fd` (named `path`), 0600, fsynced.
std::optional<credential_error> write_fd(const fd_guard& f, const fs::path& path, std::string_view content) {
  if (::fchmod(f.fd, 0600) != 0)
    return fail(path, "cannot chmod 0600: " + errno_text(errno));
  while (!content.empty()) {
    auto n = ::write(f.fd, content.data(), content.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return fail(path, "cannot write: " + errno_text(errno));
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fsync(f.fd) != 0)
    return fail(path, "cannot fsync: " + errno_text(errno));
  return std::nullopt;
}

std::optional<credential_error> write_new_file(const fs::path& path, std::string_view content) {
  fd_guard f{::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)};
  if (f.fd < 0)
    return fail(path, "cannot create: " + errno_text(errno));
  return write_fd(f, path, content);
}

void fsync_dir(const fs::path& dir) {
  fd_guard f{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (f.fd >= 0)
    ::fsync(f.fd);
}

/// Makes `dir` (and missing parents) if it does not exist; the last
/// component is created 0700.
std::optional<credential_error> ensure_dir(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec))
    return std::nullopt;
  if (dir.has_parent_path()) {
    fs::create_directories(dir.parent_path(), ec);
    if (ec)
      return fail(dir.parent_path(), "cannot create directory: " + ec.message());
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return fail(dir, "cannot create directory: " + errno_text(errno));
  if (!fs::is_directory(dir, ec))
    return fail(dir, "is not a directory");
  return std::nullopt;
}

// -- the node's set -------------------------------------------------------------

constexpr const char* ca_crt = "ca.crt";
constexpr const char* ca_key = "ca.key";
constexpr const char* node_crt = "node.crt";
constexpr const char* node_key = "node.key";
constexpr const char* admin_crt = "admin.crt";
constexpr const char* admin_key = "admin.key";
constexpr const char* staging_prefix = ".tls.staging-";

std::string default_node_name() {
  char host[HOST_NAME_MAX + 1] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
    return "ika";
  return host;
}

std::string clip(std::string s, std::size_t n) {
  if (s.size() > n)
    s.resize(n);
  return s;
}

/// Creates the whole set in a staging directory and renames it to `tls`.
/// The caller holds the lock and has seen that `tls` does not exist.
std::optional<credential_error> create_node_set(const fs::path& data_dir, const fs::path& tls,
                                                const std::string& node_name) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(data_dir, ec))
    if (entry.path().filename().string().rfind(staging_prefix, 0) == 0)
      fs::remove_all(entry.path(), ec); // left over by a crash; we hold the lock
  std::string pattern = (data_dir / staging_prefix).string() + "XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr)
    return fail(data_dir, "cannot create a staging directory: " + errno_text(errno));
  fs::path staging = pattern;
  auto abandon = [&](credential_error error) {
    fs::remove_all(staging, ec);
    return error;
  };

  auto ca_key_r = make_key();
  auto node_key_r = make_key();
  auto admin_key_r = make_key();
  for (auto* r : {&ca_key_r, &node_key_r, &admin_key_r})
    if (auto* error = std::get_if<credential_error>(r))
      return abandon(*error);
  auto& cak = std::get<pkey_ptr>(ca_key_r);
  auto& nodek = std::get<pkey_ptr>(node_key_r);
  auto& admink = std::get<pkey_ptr>(admin_key_r);

  cert_spec ca_spec{clip("ika CA " + node_name, 64), true, "critical,keyCertSign,cRLSign", "", "",
                    seconds_of(ca_validity)};
  auto ca_cert_r = make_certificate(ca_spec, cak.get(), nullptr, cak.get());
  if (auto* error = std::get_if<credential_error>(&ca_cert_r))
    return abandon(*error);
  auto& ca_cert = std::get<x509_ptr>(ca_cert_r);
  cert_spec node_spec{clip(node_name, 64),
                      false,
                      "critical,digitalSignature",
                      "serverAuth,clientAuth",
                      "IP:127.0.0.1,IP:::1,DNS:localhost",
                      seconds_of(leaf_validity)};
  auto node_cert_r = make_certificate(node_spec, nodek.get(), ca_cert.get(), cak.get());
  if (auto* error = std::get_if<credential_error>(&node_cert_r))
    return abandon(*error);
  cert_spec admin_spec{"admin",      false, "critical,digitalSignature",
                       "clientAuth", "",    seconds_of(leaf_validity)};
  auto admin_cert_r = make_certificate(admin_spec, admink.get(), ca_cert.get(), cak.get());
  if (auto* error = std::get_if<credential_error>(&admin_cert_r))
    return abandon(*error);

  struct out_file {
    const char* name;
    std::string text;
  };
  std::vector<out_file> files;
  files.push_back({ca_crt, detail::pem_of(ca_cert.get())});
  files.push_back({ca_key, detail::pem_of(cak.get())});
  files.push_back({node_crt, detail::pem_of(std::get<x509_ptr>(node_cert_r).get())});
  files.push_back({node_key, detail::pem_of(nodek.get())});
  files.push_back({admin_crt, detail::pem_of(std::get<x509_ptr>(admin_cert_r).get())});
  files.push_back({admin_key, detail::pem_of(admink.get())});
  std::optional<credential_error> problem;
  for (auto& f : files) {
    if (!problem && f.text.empty())
      problem = fail(staging / f.name, "cannot encode: " + openssl_error());
    if (!problem)
      problem = write_new_file(staging / f.name, f.text);
    OPENSSL_cleanse(f.text.data(), f.text.size());
  }
  if (problem)
    return abandon(*problem);
  fsync_dir(staging);
  if (::rename(staging.c_str(), tls.c_str()) != 0)
    return abandon(fail(tls, "cannot move the new credentials into place: " + errno_text(errno)));
  fsync_dir(data_dir);
  return std::nullopt;
}

credential_result<std::string> read_text(const fs::path& path) {
  return detail::read_private_file(path);
}

} // namespace

// -- public functions -----------------------------------------------------------

credential_result<certificate_authority> certificate_authority::from_pem(std::string_view certificate_pem,
                                                                         std::string_view private_key_pem) {
  auto cert = one_certificate(certificate_pem, "CA certificate");
  if (auto* error = std::get_if<credential_error>(&cert))
    return *error;
  auto key = one_key(private_key_pem, "CA key");
  if (auto* error = std::get_if<credential_error>(&key))
    return *error;
  auto& c = std::get<x509_ptr>(cert);
  auto& k = std::get<pkey_ptr>(key);
  if (auto problem = check_ca_certificate(c.get()))
    return credential_error{"", *problem};
  if (X509_check_private_key(c.get(), k.get()) != 1) {
    ERR_clear_error();
    return credential_error{"", "the CA key does not match the CA certificate"};
  }
  return certificate_authority{c.release(), k.release()};
}

fs::path tls_dir_of(const fs::path& data_dir) {
  return data_dir / "tls";
}

fs::path credentials_file_of(const fs::path& data_dir) {
  return data_dir / "admin-credentials.pem";
}

credential_result<node_credentials> ensure_node_credentials(const fs::path& data_dir,
                                                            std::string_view node_name) {
  if (data_dir.empty())
    return credential_error{"", "no data directory given"};
  if (auto problem = ensure_dir(data_dir))
    return *problem;
  const fs::path tls = tls_dir_of(data_dir);
  const fs::path lock_path = data_dir / "tls.lock";
  fd_guard lock{::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)};
  if (lock.fd < 0)
    return fail(lock_path, "cannot open the lock file: " + errno_text(errno));
  int rc;
  do
    rc = ::flock(lock.fd, LOCK_EX);
  while (rc != 0 && errno == EINTR);
  if (rc != 0)
    return fail(lock_path, "cannot lock: " + errno_text(errno));

  bool created = false;
  struct stat st {};
  if (::lstat(tls.c_str(), &st) != 0) {
    if (errno != ENOENT)
      return fail(tls, "cannot stat: " + errno_text(errno));
    std::string name = node_name.empty() ? default_node_name() : std::string{node_name};
    if (auto problem = create_node_set(data_dir, tls, name))
      return *problem;
    created = true;
  }
  if (auto problem = check_private_dir(tls))
    return *problem;

  // Load everything back, whether just made or found: one path, one set of checks.
  std::string texts[6];
  const char* names[6] = {ca_crt, ca_key, node_crt, node_key, admin_crt, admin_key};
  struct wipe {
    std::string* texts;
    ~wipe() {
      for (int i = 0; i < 6; ++i)
        OPENSSL_cleanse(texts[i].data(), texts[i].size());
    }
  } wiper{texts};
  for (int i = 0; i < 6; ++i) {
    auto text = read_text(tls / names[i]);
    if (auto* error = std::get_if<credential_error>(&text))
      return *error;
    texts[i] = std::move(std::get<std::string>(text));
  }
  auto src = [&](const char* name) { return (tls / name).string(); };

  auto ca_cert = one_certificate(texts[0], src(ca_crt));
  if (auto* error = std::get_if<credential_error>(&ca_cert))
    return *error;
  auto ca_k = one_key(texts[1], src(ca_key));
  if (auto* error = std::get_if<credential_error>(&ca_k))
    return *error;
  auto& cac = std::get<x509_ptr>(ca_cert);
  auto& cak = std::get<pkey_ptr>(ca_k);
  if (auto problem = check_ca_certificate(cac.get()))
    return fail(src(ca_crt), *problem);
  if (X509_check_private_key(cac.get(), cak.get()) != 1) {
    ERR_clear_error();
    return fail(src(ca_key), "private key does not match the certificate in " + src(ca_crt));
  }

  auto node_id = parse_parts(texts[2], src(node_crt), texts[3], src(node_key), texts[0], src(ca_crt));
  if (auto* error = std::get_if<credential_error>(&node_id))
    return *error;
  if (auto problem = check_parsed(std::get<parsed_identity>(node_id), {tls_role::server, tls_role::client}))
    return *problem;
  auto admin_id = parse_parts(texts[4], src(admin_crt), texts[5], src(admin_key), texts[0], src(ca_crt));
  if (auto* error = std::get_if<credential_error>(&admin_id))
    return *error;
  if (auto problem = check_parsed(std::get<parsed_identity>(admin_id), {tls_role::client}))
    return *problem;

  // Checked above with the file names; from_pem cannot fail now.
  auto ca = certificate_authority::from_pem(texts[0], texts[1]);
  if (auto* error = std::get_if<credential_error>(&ca))
    return fail(src(ca_crt), error->message);
  node_credentials out{std::move(std::get<certificate_authority>(ca)),
                       identity_of(std::get<parsed_identity>(node_id)),
                       identity_of(std::get<parsed_identity>(admin_id)),
                       tls,
                       credentials_file_of(data_dir),
                       tls_files{tls / node_crt, tls / node_key, tls / ca_crt},
                       tls_files{tls / admin_crt, tls / admin_key, tls / ca_crt},
                       created};

  // The admin credentials file: re-derived when missing, else checked.
  if (::lstat(out.credentials_file.c_str(), &st) != 0) {
    if (errno != ENOENT)
      return fail(out.credentials_file, "cannot stat: " + errno_text(errno));
    if (auto problem = write_credentials_file(out.credentials_file, out.admin))
      return *problem;
  }
  auto client = load_client_credentials(out.credentials_file);
  if (auto* error = std::get_if<credential_error>(&client))
    return *error;
  if (std::get<tls_identity>(client).ca_certificate_pem != out.node.ca_certificate_pem)
    return fail(out.credentials_file, "was issued by another CA than " + src(ca_crt));
  return out;
}

credential_result<tls_identity> issue_client_credentials(const certificate_authority& ca,
                                                         std::string_view name) {
  if (name.empty() || name.size() > 64)
    return credential_error{"", "a client name has 1 to 64 characters"};
  for (char c : name)
    if (c < 0x20 || c > 0x7e)
      return credential_error{"", "a client name holds printable ASCII characters only"};
  if (ca.certificate() == nullptr || ca.key() == nullptr)
    return credential_error{"", "no CA"};
  auto key = make_key();
  if (auto* error = std::get_if<credential_error>(&key))
    return *error;
  cert_spec spec{std::string{name}, false, "critical,digitalSignature",
                 "clientAuth",      "",    seconds_of(leaf_validity)};
  auto cert = make_certificate(spec, std::get<pkey_ptr>(key).get(), ca.certificate(), ca.key());
  if (auto* error = std::get_if<credential_error>(&cert))
    return *error;
  tls_identity out;
  out.certificate_pem = detail::pem_of(std::get<x509_ptr>(cert).get());
  out.private_key_pem = detail::pem_of(std::get<pkey_ptr>(key).get());
  out.ca_certificate_pem = ca.certificate_pem();
  return check_identity(out, tls_role::client, name);
}

credential_result<tls_identity> check_identity(const tls_identity& identity, tls_role role,
                                               std::string_view source) {
  std::string s{source};
  auto parsed = parse_parts(identity.certificate_pem, s + " (certificate)", identity.private_key_pem,
                            s + " (private key)", identity.ca_certificate_pem, s + " (CA certificate)");
  if (auto* error = std::get_if<credential_error>(&parsed))
    return *error;
  if (auto problem = check_parsed(std::get<parsed_identity>(parsed), {role}))
    return *problem;
  return identity_of(std::get<parsed_identity>(parsed));
}

std::string encode_credentials(const tls_identity& identity) {
  auto with_newline = [](const std::string& s) { return s.empty() || s.back() == '\n' ? s : s + '\n'; };
  return with_newline(identity.certificate_pem) + with_newline(identity.private_key_pem) +
         with_newline(identity.ca_certificate_pem);
}

credential_result<tls_identity> parse_credentials(std::string_view pem, std::string_view source) {
  auto parsed = detail::read_pem(pem, source);
  if (auto* error = std::get_if<credential_error>(&parsed))
    return *error;
  auto& contents = std::get<pem_contents>(parsed);
  if (contents.certificates.size() != 2 || !contents.key)
    return fail(source, "expected a certificate, its private key and the CA certificate, found " +
                            contents.summary());
  bool first = X509_check_private_key(contents.certificates[0].get(), contents.key.get()) == 1;
  bool second = X509_check_private_key(contents.certificates[1].get(), contents.key.get()) == 1;
  ERR_clear_error();
  if (first == second)
    return fail(source, first ? "the private key matches both certificates"
                              : "the private key matches neither certificate");
  parsed_identity id;
  id.certificate = std::move(contents.certificates[first ? 0 : 1]);
  id.ca = std::move(contents.certificates[first ? 1 : 0]);
  id.key = std::move(contents.key);
  id.certificate_source = id.key_source = id.ca_source = std::string{source};
  if (auto problem = check_parsed(id, {tls_role::client}))
    return *problem;
  return identity_of(id);
}

std::optional<credential_error> write_credentials_file(const fs::path& path, const tls_identity& identity) {
  auto checked = check_identity(identity, tls_role::client, path.string());
  if (auto* error = std::get_if<credential_error>(&checked))
    return *error;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0)
    return fail(path, "already exists; not replacing it");
  std::string tmp = path.string() + ".tmp-XXXXXX";
  fd_guard f{::mkostemp(tmp.data(), O_CLOEXEC)}; // created 0600 with O_EXCL
  if (f.fd < 0)
    return fail(path, "cannot create a temporary file next to it: " + errno_text(errno));
  std::string text = encode_credentials(std::get<tls_identity>(checked));
  auto problem = write_fd(f, tmp, text);
  OPENSSL_cleanse(text.data(), text.size());
  if (problem) {
    ::unlink(tmp.c_str());
    return problem;
  }
  // link() never replaces an existing file, unlike rename().
  int rc = ::link(tmp.c_str(), path.c_str());
  int err = errno;
  ::unlink(tmp.c_str());
  if (rc != 0)
    return fail(path, err == EEXIST ? std::string{"already exists; not replacing it"}
                                    : "cannot create: " + errno_text(err));
  fsync_dir(path.has_parent_path() ? path.parent_path() : fs::path{"."});
  return std::nullopt;
}

credential_result<tls_identity> load_client_credentials(const fs::path& path) {
  auto text = read_text(path);
  if (auto* error = std::get_if<credential_error>(&text))
    return *error;
  auto& t = std::get<std::string>(text);
  auto out = parse_credentials(t, path.string());
  OPENSSL_cleanse(t.data(), t.size());
  return out;
}

} // namespace ika::crypto
