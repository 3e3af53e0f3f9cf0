#pragma once
// The node's own certificate authority and the TLS identities it issues for
// the mutual-TLS admin channel (and, later, for cluster peers). OpenSSL 3
// EVP/X509 APIs only; keys are ECDSA P-256, signatures SHA-256.
//
// Layout in the data dir (created at first start, never overwritten):
//
//   <data>/tls/             0700  the complete set, or absent (staged, then renamed)
//     ca.crt   ca.key       0600  the CA: self-signed, CA:TRUE, keyCertSign
//     node.crt node.key     0600  the node: serverAuth + clientAuth, SAN 127.0.0.1, ::1, localhost
//     admin.crt admin.key   0600  the first admin client: clientAuth
//   <data>/admin-credentials.pem  0600  admin cert + key + CA cert in one PEM file
//                                       (what `ika ... --credentials FILE` reads)
//   <data>/tls.lock               0600  serialises creation between processes
//
// Nothing here prints key material: no inspect(), no operator<<, errors name
// files and reasons only.

#include <openssl/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace ika::crypto {

/// A credential that could not be created, read or trusted: which file (or
/// directory) and why.
struct credential_error {
  std::string path; ///< may be empty when no file is concerned
  std::string message;

  /// "PATH: MESSAGE" (or MESSAGE alone without a path).
  std::string to_string() const;
};

/// Either a value or the reason there is none.
template <class T>
using credential_result = std::variant<T, credential_error>;

/// What a certificate is for; checked with the same purposes OpenSSL's TLS
/// stack applies to a peer (X509_PURPOSE_SSL_SERVER / _SSL_CLIENT).
enum class tls_role {
  server, ///< presents the certificate when accepting (the node)
  client, ///< presents the certificate when connecting (admin clients, peers)
};

/// One party's TLS identity as PEM text: its certificate, its private key
/// (unencrypted PKCS#8) and the CA certificate it trusts, which also signed
/// it. Values produced by this file are validated; a hand-built one is
/// checked again by every consumer. The key is wiped from memory when the
/// value dies.
struct tls_identity {
  std::string certificate_pem;
  std::string private_key_pem;
  std::string ca_certificate_pem;

  tls_identity() = default;
  tls_identity(const tls_identity&) = default;
  tls_identity(tls_identity&&) noexcept = default;
  tls_identity& operator=(const tls_identity&) = default;
  tls_identity& operator=(tls_identity&&) noexcept = default;
  ~tls_identity();
};

/// The node's certificate authority: its certificate and signing key,
/// loaded and checked (self-signed, CA:TRUE, keyCertSign, in its validity
/// period, the key matches). Move-only.
class certificate_authority {
public:
  certificate_authority(certificate_authority&&) noexcept;
  certificate_authority& operator=(certificate_authority&&) noexcept;
  ~certificate_authority();

  /// The CA certificate, PEM.
  std::string certificate_pem() const;

  /// The CA certificate (owned by this object).
  X509* certificate() const noexcept { return cert_.get(); }

  /// The CA's signing key (owned by this object; never print it).
  EVP_PKEY* key() const noexcept { return key_.get(); }

  /// Checks a certificate and key pair and makes a CA of it.
  static credential_result<certificate_authority> from_pem(std::string_view certificate_pem,
                                                           std::string_view private_key_pem);

private:
  struct x509_free {
    void operator()(X509* p) const noexcept;
  };
  struct pkey_free {
    void operator()(EVP_PKEY* p) const noexcept;
  };

  certificate_authority(X509* cert, EVP_PKEY* key) noexcept;

  std::unique_ptr<X509, x509_free> cert_;
  std::unique_ptr<EVP_PKEY, pkey_free> key_;
};

/// Where one party's TLS identity lies on disk, split as caf::openssl reads
/// it (openssl.certificate, openssl.key, openssl.cafile). CAF re-reads these
/// files for every new connection: they must stay in place while the actor
/// system using them lives.
struct tls_files {
  std::filesystem::path certificate; ///< the leaf certificate, PEM
  std::filesystem::path key;         ///< its private key, PEM (unencrypted)
  std::filesystem::path ca;          ///< the CA certificate to trust, PEM
};

/// Everything ensure_node_credentials found or made.
struct node_credentials {
  certificate_authority ca;
  tls_identity node;                      ///< the node's server (and cluster client) identity
  tls_identity admin;                     ///< the first admin client identity
  std::filesystem::path tls_dir;          ///< <data>/tls
  std::filesystem::path credentials_file; ///< <data>/admin-credentials.pem
  tls_files node_files;                   ///< tls/node.crt, tls/node.key, tls/ca.crt: the node's TLS config
  tls_files admin_files;                  ///< tls/admin.crt, tls/admin.key, tls/ca.crt
  bool created = false;                   ///< true when this call created the CA
};

/// How long what this file creates stays valid. Leaf certificates never
/// outlive their CA.
inline constexpr std::chrono::hours ca_validity{24 * 365 * 30};
inline constexpr std::chrono::hours leaf_validity{24 * 365 * 20};

/// <data>/tls
std::filesystem::path tls_dir_of(const std::filesystem::path& data_dir);

/// <data>/admin-credentials.pem
std::filesystem::path credentials_file_of(const std::filesystem::path& data_dir);

/// At first start creates the CA, the node identity and the admin identity
/// in <data>/tls (see the layout above) and the admin credentials file; on
/// later starts loads and checks them: permissions (the directory 0700, the
/// files 0600, owned by this user, regular files), each chain verifies
/// against the CA (X509_verify_cert, strict), nothing is expired, each key
/// matches its certificate. A missing credentials file is re-derived from
/// tls/admin.*; every other problem is an error naming the file, and no
/// existing file is ever replaced. Creation is all-or-nothing (a staging
/// directory renamed into place; a crash leaves no partial set) and
/// serialised between processes by a lock file. `node_name` names the node
/// in the certificates' subjects (default: the host name). Blocking file
/// I/O: startup only, never on an io thread or in an actor.
credential_result<node_credentials> ensure_node_credentials(const std::filesystem::path& data_dir,
                                                            std::string_view node_name = {});

/// Issues a new client identity (clientAuth only, CN = `name`, a fresh P-256
/// key, a random serial) signed by `ca`, for another admin client or a
/// cluster peer. `name`: 1..64 printable ASCII characters.
credential_result<tls_identity> issue_client_credentials(const certificate_authority& ca,
                                                         std::string_view name);

/// Parses and checks PEM text of an identity for `role`: the key matches the
/// certificate, the CA is a self-signed CA, the certificate verifies against
/// it for that purpose, nothing is expired. `source` names the text in errors.
credential_result<tls_identity> check_identity(const tls_identity& identity, tls_role role,
                                               std::string_view source);

/// The credentials file format: one PEM text holding the certificate, the
/// private key and the CA certificate (in that order).
std::string encode_credentials(const tls_identity& identity);

/// Splits a credentials file's text into an identity: exactly one private
/// key (unencrypted) and two certificates, in any order; the one matching
/// the key is the leaf, the other must be the CA. Checked as a client
/// identity (check_identity). `source` names the text in errors.
credential_result<tls_identity> parse_credentials(std::string_view pem, std::string_view source);

/// Writes a credentials file: created 0600 with O_EXCL next to `path`,
/// fsynced, then renamed onto `path` without replacing anything. Fails if
/// `path` exists. Returns nothing on success, else the error.
std::optional<credential_error> write_credentials_file(const std::filesystem::path& path,
                                                       const tls_identity& identity);

/// Reads and checks a credentials file (parse_credentials): what `ika ...
/// --credentials FILE` and `--data DIR` (credentials_file_of) read. Refuses
/// a file that is not a regular file owned by this user or that group or
/// others may access, as ssh does for keys. Blocking file I/O.
credential_result<tls_identity> load_client_credentials(const std::filesystem::path& path);

} // namespace ika::crypto
