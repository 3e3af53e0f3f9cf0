#include "runtime/crypto/secret_box.hpp"

#include <sodium.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace ika::crypto {

namespace {

constexpr std::string_view key_file_header = "ika-secret-key 1\n";
constexpr std::string_view check_text = "ika secret key check 1";
constexpr std::size_t check_size = 16;
/// Header, the key in hex, a newline.
constexpr std::size_t key_file_size = key_file_header.size() + 2 * secret_key_size + 1;

bool sodium_ready() {
  static const int r = sodium_init();
  return r >= 0;
}

/// app + '\0' + name: neither part holds a NUL, so the pair is unambiguous.
std::string associated_data(std::string_view app, std::string_view name) {
  std::string ad;
  ad.reserve(app.size() + 1 + name.size());
  ad.append(app);
  ad.push_back('\0');
  ad.append(name);
  return ad;
}

std::string errno_text(int err) {
  return std::strerror(err);
}

/// Wipes a stack buffer when the scope ends, however it ends.
template <class T>
struct wipe_on_exit {
  T& buf;
  ~wipe_on_exit() { sodium_memzero(buf.data(), buf.size()); }
};

struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0)
      ::close(fd);
  }
};

key_file_error key_error(const std::string& path, std::string message, bool missing = false) {
  return key_file_error{path, std::move(message), missing};
}

} // namespace

// -- secret_key -----------------------------------------------------------------

std::shared_ptr<const secret_key> secret_key::generate() {
  if (!sodium_ready())
    return nullptr;
  std::array<unsigned char, secret_key_size> raw{};
  wipe_on_exit wipe{raw};
  crypto_aead_xchacha20poly1305_ietf_keygen(raw.data());
  return from_bytes(raw.data(), raw.size());
}

std::shared_ptr<const secret_key> secret_key::from_bytes(const unsigned char* bytes, std::size_t size) {
  if (!sodium_ready() || size != secret_key_size)
    return nullptr;
  std::shared_ptr<secret_key> key{new secret_key};
  key->key_ = static_cast<unsigned char*>(sodium_malloc(secret_key_size));
  if (key->key_ == nullptr)
    return nullptr;
  std::memcpy(key->key_, bytes, secret_key_size);
  std::array<unsigned char, check_size> mac{};
  crypto_generichash(mac.data(), mac.size(), reinterpret_cast<const unsigned char*>(check_text.data()),
                     check_text.size(), key->key_, secret_key_size);
  std::array<char, 2 * check_size + 1> hex{};
  sodium_bin2hex(hex.data(), hex.size(), mac.data(), mac.size());
  key->check_.assign(hex.data(), 2 * check_size);
  sodium_mprotect_readonly(key->key_);
  return key;
}

secret_key::~secret_key() {
  if (key_ != nullptr)
    sodium_free(key_); // wipes the buffer (and lifts the read-only protection first)
}

// -- seal / open ----------------------------------------------------------------

sealed_secret seal_secret(const secret_key& key, std::string_view app, std::string_view name,
                          std::string_view plaintext) {
  sealed_secret out;
  out.nonce.resize(secret_nonce_size);
  randombytes_buf(out.nonce.data(), out.nonce.size());
  out.ciphertext.resize(plaintext.size() + secret_tag_size);
  auto ad = associated_data(app, name);
  unsigned long long written = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      out.ciphertext.data(), &written, reinterpret_cast<const unsigned char*>(plaintext.data()),
      plaintext.size(), reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr,
      out.nonce.data(), key.data());
  out.ciphertext.resize(static_cast<std::size_t>(written));
  return out;
}

std::optional<std::string> open_secret(const secret_key& key, std::string_view app, std::string_view name,
                                       const std::vector<std::uint8_t>& nonce,
                                       const std::vector<std::uint8_t>& ciphertext) {
  if (nonce.size() != secret_nonce_size || ciphertext.size() < secret_tag_size)
    return std::nullopt;
  std::string plain(ciphertext.size() - secret_tag_size, '\0');
  auto ad = associated_data(app, name);
  unsigned long long written = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(plain.data()), &written,
                                                 nullptr, ciphertext.data(), ciphertext.size(),
                                                 reinterpret_cast<const unsigned char*>(ad.data()), ad.size(),
                                                 nonce.data(), key.data()) != 0) {
    sodium_memzero(plain.data(), plain.size());
    return std::nullopt;
  }
  plain.resize(static_cast<std::size_t>(written));
  return plain;
}

// -- key files ------------------------------------------------------------------

key_file_result load_key_file(const std::string& path) {
  if (!sodium_ready())
    return key_error(path, "libsodium failed to initialise");
  fd_guard f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (f.fd < 0) {
    int err = errno;
    if (err == ENOENT)
      return key_error(path, "does not exist", true);
    return key_error(path, "cannot open: " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0)
    return key_error(path, "cannot stat: " + errno_text(errno));
  if (!S_ISREG(st.st_mode))
    return key_error(path, "is not a regular file");
  if (st.st_uid != ::geteuid())
    return key_error(path, "is not owned by this user");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return key_error(path, std::string{"is mode "} + mode +
                               ": group or others may access the secret key (chmod 0600 it)");
  }
  std::array<char, key_file_size + 2> buf{};
  wipe_on_exit wipe_buf{buf};
  std::size_t got = 0;
  while (got < buf.size()) {
    auto n = ::read(f.fd, buf.data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return key_error(path, "cannot read: " + errno_text(errno));
    if (n == 0)
      break;
    got += static_cast<std::size_t>(n);
  }
  std::string_view text{buf.data(), got};
  const std::string expected = "expected \"ika-secret-key 1\" and a line of 64 hex digits";
  if (!text.starts_with(key_file_header))
    return key_error(path, "not an ika secret key file (" + expected + ")");
  text.remove_prefix(key_file_header.size());
  if (text.ends_with('\n'))
    text.remove_suffix(1);
  if (text.size() != 2 * secret_key_size)
    return key_error(path, "malformed secret key file (" + expected + ")");
  std::array<unsigned char, secret_key_size> raw{};
  wipe_on_exit wipe_raw{raw};
  std::size_t bin_len = 0;
  if (sodium_hex2bin(raw.data(), raw.size(), text.data(), text.size(), nullptr, &bin_len, nullptr) != 0 ||
      bin_len != secret_key_size)
    return key_error(path, "malformed secret key file (" + expected + ")");
  auto key = secret_key::from_bytes(raw.data(), raw.size());
  if (!key)
    return key_error(path, "cannot allocate guarded memory for the key");
  return key;
}

key_file_result create_key_file(const std::string& path) {
  if (!sodium_ready())
    return key_error(path, "libsodium failed to initialise");
  auto key = secret_key::generate();
  if (!key)
    return key_error(path, "cannot allocate guarded memory for the key");
  std::array<char, key_file_size + 1> text{};
  wipe_on_exit wipe{text};
  std::memcpy(text.data(), key_file_header.data(), key_file_header.size());
  sodium_bin2hex(text.data() + key_file_header.size(), 2 * secret_key_size + 1, key->data(), secret_key_size);
  text[key_file_size - 1] = '\n';

  fd_guard f{::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)};
  if (f.fd < 0) {
    int err = errno;
    if (err == EEXIST)
      return key_error(path, "exists already (a key file is never overwritten)");
    return key_error(path, "cannot create: " + errno_text(err));
  }
  auto failed = [&](std::string message) {
    ::unlink(path.c_str()); // ours: created above with O_EXCL
    return key_error(path, std::move(message));
  };
  if (::fchmod(f.fd, 0600) != 0)
    return failed("cannot chmod 0600: " + errno_text(errno));
  std::size_t done = 0;
  while (done < key_file_size) {
    auto n = ::write(f.fd, text.data() + done, key_file_size - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return failed("cannot write: " + errno_text(errno));
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(f.fd) != 0)
    return failed("cannot fsync: " + errno_text(errno));
  auto dir = std::filesystem::path{path}.parent_path();
  fd_guard d{::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd >= 0)
    ::fsync(d.fd);
  return key;
}

} // namespace ika::crypto
