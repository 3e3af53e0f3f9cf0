#include "runtime/crypto/openssl_util.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <ctime>
#include <system_error>

namespace ika::crypto::detail {

namespace {

constexpr std::size_t max_pem_size = 1 << 20;

credential_error fail(std::string_view source, std::string message) {
  return credential_error{std::string{source}, std::move(message)};
}

} // namespace

std::string openssl_error() {
  std::string out;
  while (unsigned long err = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof buf);
    if (!out.empty())
      out += "; ";
    out += buf;
  }
  return out.empty() ? std::string{"unknown OpenSSL error"} : out;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 && data != nullptr ? std::string(data, static_cast<std::size_t>(n)) : std::string{};
}

std::string hex_of(const unsigned char* data, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 0x0f];
  }
  return out;
}

std::string fingerprint_of(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(cert, EVP_sha256(), md, &n) != 1)
    return {};
  return hex_of(md, n);
}

std::chrono::system_clock::time_point time_of(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1)
    return {};
  return std::chrono::system_clock::from_time_t(::timegm(&tm));
}

std::string pem_of(X509* cert) {
  bio_ptr bio{BIO_new(BIO_s_mem())};
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1)
    return {};
  return bio_text(bio.get());
}

std::string pem_of(EVP_PKEY* key) {
  bio_ptr bio{BIO_new(BIO_s_secmem())};
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return {};
  return bio_text(bio.get());
}

std::string pem_contents::summary() const {
  auto count = [](std::size_t n, const char* one, const char* many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
  };
  return count(certificates.size(), "certificate", "certificates") + " and " +
         count(keys, "private key", "private keys");
}

credential_result<pem_contents> read_pem(std::string_view text, std::string_view source) {
  if (text.size() > max_pem_size)
    return fail(source, "too large for PEM credentials");
  bio_ptr bio{BIO_new_mem_buf(text.data(), static_cast<int>(text.size()))};
  if (!bio)
    return fail(source, "cannot read: " + openssl_error());
  ERR_clear_error();
  pem_contents out;
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1)
      break;
    std::string block{name};
    bool header_empty = header == nullptr || header[0] == '\0';
    OPENSSL_free(name);
    OPENSSL_free(header);
    std::optional<credential_error> problem;
    const unsigned char* p = data;
    if (!header_empty) {
      problem = fail(source, "PEM block \"" + block + "\" has headers (an encrypted key?); not supported");
    } else if (block == "CERTIFICATE") {
      x509_ptr cert{d2i_X509(nullptr, &p, len)};
      if (!cert || p != data + len)
        problem = fail(source, "a CERTIFICATE block does not hold a valid certificate");
      else
        out.certificates.push_back(std::move(cert));
    } else if (block == "PRIVATE KEY" || block == "EC PRIVATE KEY") {
      pkey_ptr key{d2i_AutoPrivateKey(nullptr, &p, len)};
      if (!key)
        problem = fail(source, "a " + block + " block does not hold a valid private key");
      else if (++out.keys > 1)
        problem = fail(source, "holds more than one private key");
      else
        out.key = std::move(key);
    } else if (block == "ENCRYPTED PRIVATE KEY") {
      problem = fail(source, "holds an encrypted private key; ika needs it unencrypted (mode 0600)");
    } else {
      problem = fail(source, "holds an unexpected PEM block \"" + block + "\"");
    }
    OPENSSL_clear_free(data, static_cast<std::size_t>(len));
    if (problem) {
      ERR_clear_error();
      return *problem;
    }
  }
  unsigned long err = ERR_peek_last_error();
  // Running out of blocks ends with "no start line": the normal end.
  if (err != 0 && !(ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE)) {
    ERR_clear_error();
    return fail(source, "malformed PEM");
  }
  ERR_clear_error();
  if (out.certificates.empty() && out.keys == 0)
    return fail(source, "holds no PEM certificate or key");
  return out;
}

credential_result<std::string> read_private_file(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    int err = errno;
    if (err == ELOOP)
      return fail(path.string(), "is a symbolic link; refusing it");
    return fail(path.string(), "cannot open: " + std::generic_category().message(err));
  }
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } guard{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return fail(path.string(), "cannot stat: " + std::generic_category().message(errno));
  if (!S_ISREG(st.st_mode))
    return fail(path.string(), "is not a regular file");
  if (st.st_uid != ::geteuid())
    return fail(path.string(), "is not owned by this user");
  if ((st.st_mode & 077) != 0)
    return fail(path.string(), "group or others may access this file (chmod 0600 it)");
  if (static_cast<std::size_t>(st.st_size) > max_pem_size)
    return fail(path.string(), "too large for PEM credentials");
  std::string out;
  out.resize(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < out.size()) {
    auto n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return fail(path.string(), "cannot read: " + std::generic_category().message(errno));
    if (n == 0)
      break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return out;
}

} // namespace ika::crypto::detail
