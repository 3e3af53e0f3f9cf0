#include "runtime/crypto/mutual_tls.hpp"

#include "runtime/crypto/certs.hpp"
#include "runtime/crypto/openssl_util.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/thread_hook.hpp>

#include <openssl/crypto.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <system_error>

namespace ika::crypto {

namespace fs = std::filesystem;

namespace {

std::optional<credential_error> write_private(const fs::path& path, std::string_view content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return credential_error{path.string(), "cannot create: " + std::generic_category().message(errno)};
  bool ok = ::fchmod(fd, 0600) == 0;
  while (ok && !content.empty()) {
    auto n = ::write(fd, content.data(), content.size());
    if (n < 0 && errno == EINTR)
      continue;
    ok = n > 0;
    if (ok)
      content.remove_prefix(static_cast<std::size_t>(n));
  }
  int err = errno;
  ::close(fd);
  if (!ok)
    return credential_error{path.string(), "cannot write: " + std::generic_category().message(err)};
  return std::nullopt;
}

} // namespace

private_tls_files::private_tls_files(fs::path dir, tls_files files)
    : dir_(std::move(dir)), files_(std::move(files)) {}

private_tls_files::private_tls_files(private_tls_files&& other) noexcept
    : dir_(std::move(other.dir_)), files_(std::move(other.files_)) {
  other.dir_.clear();
}

private_tls_files& private_tls_files::operator=(private_tls_files&& other) noexcept {
  if (this != &other) {
    std::error_code ec;
    if (!dir_.empty())
      fs::remove_all(dir_, ec);
    dir_ = std::move(other.dir_);
    files_ = std::move(other.files_);
    other.dir_.clear();
  }
  return *this;
}

private_tls_files::~private_tls_files() {
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

credential_result<private_tls_files> private_tls_files::write(const tls_identity& identity, tls_role role,
                                                              const fs::path& parent) {
  auto checked = check_identity(identity, role, "TLS identity");
  if (auto* error = std::get_if<credential_error>(&checked))
    return *error;
  std::error_code ec;
  fs::path base = parent.empty() ? fs::temp_directory_path(ec) : parent;
  if (ec)
    return credential_error{"", "no temporary directory: " + ec.message()};
  std::string pattern = (base / "ika-tls-").string() + "XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr)
    return credential_error{base.string(),
                            "cannot create a private directory: " + std::generic_category().message(errno)};
  private_tls_files out{fs::path{pattern}, tls_files{}};
  out.files_ = tls_files{out.dir_ / "cert.pem", out.dir_ / "key.pem", out.dir_ / "ca.pem"};
  const auto& id = std::get<tls_identity>(checked);
  if (auto problem = write_private(out.files_.certificate, id.certificate_pem))
    return *problem;
  if (auto problem = write_private(out.files_.key, id.private_key_pem))
    return *problem;
  if (auto problem = write_private(out.files_.ca, id.ca_certificate_pem))
    return *problem;
  return out;
}

namespace {

/// Reads per readiness event on a caf::openssl connection (see below).
constexpr std::size_t max_tls_consecutive_reads = 1'000'000;

std::atomic<std::uint64_t> thread_states_released{0};

class openssl_thread_hook final : public caf::thread_hook {
public:
  void init(caf::actor_system&) override {}
  void thread_started() override {}
  void thread_terminates() override {
    release_thread_state();
    thread_states_released.fetch_add(1, std::memory_order_relaxed);
  }
};

} // namespace

std::optional<credential_error> configure_mutual_tls(caf::actor_system_config& cfg, const tls_files& files,
                                                     tls_role role) {
  if (files.certificate.empty())
    return credential_error{"", "no certificate file for openssl.certificate"};
  if (files.key.empty())
    return credential_error{"", "no private key file for openssl.key"};
  if (files.ca.empty())
    return credential_error{"", "no CA certificate file for openssl.cafile"};
  std::string texts[3];
  const fs::path* paths[3] = {&files.certificate, &files.key, &files.ca};
  for (int i = 0; i < 3; ++i) {
    auto text = detail::read_private_file(*paths[i]);
    if (auto* error = std::get_if<credential_error>(&text)) {
      for (auto& t : texts)
        OPENSSL_cleanse(t.data(), t.size());
      return *error;
    }
    texts[i] = std::move(std::get<std::string>(text));
  }
  tls_identity identity;
  identity.certificate_pem = std::move(texts[0]);
  identity.private_key_pem = std::move(texts[1]);
  identity.ca_certificate_pem = std::move(texts[2]);
  OPENSSL_cleanse(texts[1].data(), texts[1].size());
  // Name the files themselves in errors: split the identity check by part.
  auto checked = check_identity(identity, role, files.certificate.string());
  if (auto* error = std::get_if<credential_error>(&checked)) {
    credential_error e = *error;
    auto rename = [&](const std::string& suffix, const fs::path& path) {
      std::string tag = files.certificate.string() + suffix;
      if (e.path == tag)
        e.path = path.string();
      std::string::size_type at;
      while ((at = e.message.find(tag)) != std::string::npos)
        e.message.replace(at, tag.size(), path.string());
    };
    rename(" (certificate)", files.certificate);
    rename(" (private key)", files.key);
    rename(" (CA certificate)", files.ca);
    return e;
  }
  std::error_code ec;
  auto cert = fs::absolute(files.certificate, ec);
  auto key = fs::absolute(files.key, ec);
  auto ca = fs::absolute(files.ca, ec);
  if (ec)
    return credential_error{files.certificate.string(), "cannot make the path absolute: " + ec.message()};
  // caf::openssl keeps decrypted bytes inside OpenSSL, where epoll cannot
  // see them: a read loop that stops at middleman.max-consecutive-reads
  // (50: 25 small BASP messages) while a TLS record still holds more leaves
  // them there until the peer happens to send again, which for a reply may
  // be never. Reading until the socket is drained avoids that.
  cfg.set("middleman.max-consecutive-reads", max_tls_consecutive_reads);
  cfg.openssl_certificate = cert.string();
  cfg.openssl_key = key.string();
  cfg.openssl_cafile = ca.string();
  cfg.openssl_capath.clear();
  cfg.openssl_passphrase.clear();
  release_openssl_state_as_threads_end(cfg);
  return std::nullopt;
}

void release_openssl_state_as_threads_end(caf::actor_system_config& cfg) {
  cfg.add_thread_hook<openssl_thread_hook>();
}

std::uint64_t openssl_thread_states_released() noexcept {
  return thread_states_released.load(std::memory_order_relaxed);
}

std::optional<credential_error> require_mutual_tls(caf::actor_system& system) {
  if (!system.has_openssl_manager())
    return credential_error{"", "the actor system has no caf::openssl module"};
  const auto& cfg = system.config();
  if (cfg.openssl_certificate.empty() || cfg.openssl_key.empty() || cfg.openssl_cafile.empty())
    return credential_error{"", "TLS credentials are not configured (certificate, key and CA file are all "
                                "required); refusing anonymous TLS"};
  if (!system.openssl_manager().authentication_enabled())
    return credential_error{"", "caf::openssl does not authenticate peers"};
  if (!openssl_error_guard_active())
    return credential_error{"",
                            "the OpenSSL error-queue guard (runtime/crypto/openssl_error_guard.cpp) is not "
                            "linked into this executable; without it caf::openssl drops healthy connections"};
  return std::nullopt;
}

} // namespace ika::crypto
