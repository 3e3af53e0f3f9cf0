#pragma once
// Mutual TLS for CAF 0.17's caf::openssl middleman, from the credentials of
// credentials.hpp.
//
// What caf::openssl 0.17.6 does with the configuration (libcaf_openssl
// session.cpp / manager.cpp): when any of openssl.certificate, .key,
// .passphrase, .capath or .cafile is set, "authentication" is on and every
// connection (both directions) gets a context with
// SSL_CTX_use_certificate_chain_file(certificate), SSL_CTX_use_PrivateKey_file
// (key), SSL_CTX_load_verify_locations(cafile, capath), SSL_VERIFY_PEER |
// SSL_VERIFY_FAIL_IF_NO_PEER_CERT and the cipher list "HIGH:!aNULL:!MD5"
// (TLS_method, so TLS 1.3 when both ends can). When none is set it uses
// anonymous ECDH ("AECDH-AES256-SHA", no verification): that is what
// configure_mutual_tls makes impossible. 0.17 has no cipher-list option.
// CAF re-reads the three files for every new connection, so they must stay
// in place while the actor system lives.

#include "runtime/crypto/credentials.hpp"

#include <caf/fwd.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>

namespace ika::crypto {

/// An identity split into three 0600 files in a fresh 0700 directory, for a
/// client whose identity comes from one combined PEM file (the leaf alone
/// in `certificate`, the CA alone in `ca`: a peer trusts exactly the CA).
/// Removes the directory when it dies: keep it alive longer than the actor
/// system configured with it. Move-only.
class private_tls_files {
public:
  private_tls_files(private_tls_files&& other) noexcept;
  private_tls_files& operator=(private_tls_files&& other) noexcept;
  private_tls_files(const private_tls_files&) = delete;
  private_tls_files& operator=(const private_tls_files&) = delete;
  ~private_tls_files();

  /// Checks `identity` (check_identity for `role`) and writes it into a new
  /// directory made with mkdtemp below `parent` (default: the system's temp
  /// directory).
  static credential_result<private_tls_files> write(const tls_identity& identity, tls_role role,
                                                    const std::filesystem::path& parent = {});

  /// The three files.
  const tls_files& files() const noexcept { return files_; }

  /// The private directory holding them.
  const std::filesystem::path& directory() const noexcept { return dir_; }

private:
  private_tls_files(std::filesystem::path dir, tls_files files);

  std::filesystem::path dir_;
  tls_files files_;
};

/// Sets `cfg` up for caf::openssl mutual TLS with `files`: reads and checks
/// them first (each a private file, the key matches the certificate, the
/// certificate verifies against the CA for `role`, nothing expired), then
/// sets openssl.certificate, .key and .cafile to their absolute paths and
/// clears .capath and .passphrase. On any error, names the file and leaves
/// `cfg` untouched. Call it after cfg.load<caf::io::middleman>() and
/// cfg.load<caf::openssl::manager>() (and after any cfg.parse), before
/// building the actor system; never publish with caf::openssl when it
/// failed. The node passes node_credentials::node_files with
/// tls_role::server; a client passes private_tls_files::files() (or
/// node_credentials::admin_files) with tls_role::client.
std::optional<credential_error> configure_mutual_tls(caf::actor_system_config& cfg, const tls_files& files,
                                                     tls_role role);

/// Makes every thread of actor systems built from `cfg` free its OpenSSL
/// state (random generators, error queue) as it ends, before CAF counts it
/// as gone. caf::openssl makes a client's TLS handshake on the detached
/// thread of its middleman actor, which CAF never joins: without this, such
/// a thread could still be ending when the process exits, after OpenSSL's
/// exit-time cleanup, and its state would leak. configure_mutual_tls calls it.
void release_openssl_state_as_threads_end(caf::actor_system_config& cfg);

/// How many threads have freed their OpenSSL state through that hook in this
/// process so far.
std::uint64_t openssl_thread_states_released() noexcept;

/// Checks a running actor system before it publishes or connects with
/// caf::openssl: the OpenSSL module is loaded and certificate, key and CA
/// file are all set (so CAF cannot fall back to anonymous TLS), and the
/// OpenSSL error-queue guard is linked in. An error otherwise.
std::optional<credential_error> require_mutual_tls(caf::actor_system& system);

/// Whether libcaf_openssl's SSL_read/SSL_write/SSL_accept/SSL_connect calls
/// go through ika's guard, which clears OpenSSL's per-thread error queue
/// first (openssl_error_guard.cpp says why caf::openssl 0.17 needs it).
bool openssl_error_guard_active();

} // namespace ika::crypto
