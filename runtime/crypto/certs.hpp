#pragma once
// Certificate material for the HTTPS listener (issue 6): host name rules,
// the local CA that signs self-signed certificates for local names, issuing
// and inspecting certificate/key pairs, reading user-given certificate files
// and saving a host's certificate in the data dir. PEM text at the
// boundary: actors pass it in messages. Blocking file I/O: call the file
// functions from a blocking context (a detached actor or a worker thread),
// never on an io thread.
//
// Layout in the data dir:
//
//   <data>/certs/                   0700
//     local-ca.crt  local-ca.key    0600  the local CA (created once, never overwritten)
//     local-ca.lock                 0600  serialises the CA's creation between processes
//     <dir>/certificate.pem         0600  a host's chain (leaf first) then its key, replaced
//                                         atomically (one rename); <dir> is the host name,
//                                         "*." written "_wildcard_." (host_certificate_dir_of)
//     ocsp/<sha256 of leaf>.der     0600  the last good OCSP response for a leaf, replaced
//                                         atomically (save_ocsp_staple)
//
// Nothing here prints key material: errors name files and reasons only.

#include "runtime/crypto/credentials.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ika::crypto {

// -- host names -------------------------------------------------------------------

/// A name a certificate may carry, in canonical form: a DNS name of
/// lowercase LDH labels (each 1..63 characters, no leading or trailing
/// hyphen, at most 253 in all, no trailing dot, the last label not all
/// digits; single labels like "localhost" are fine), a wildcard "*.a.b"
/// whose star is the whole leftmost label with at least two labels after it
/// ("*.localhost" and "*.com" are refused: OpenSSL and browsers never match
/// them), or an IPv4/IPv6 literal as inet_ntop writes it. Canonicalise user
/// input with canonical_certificate_name first.
bool valid_certificate_name(std::string_view name);

/// `name` in ASCII lowercase without one trailing dot, and an IP literal in
/// inet_ntop's form ("::1" for "0::1"); nothing else is changed, so the
/// result may still be invalid.
std::string canonical_certificate_name(std::string_view name);

/// True when `host` is an IP literal (IPv4 dotted quad or IPv6, no brackets).
bool is_ip_literal(std::string_view host);

/// Does a certificate name cover `host`? Case-insensitive; a trailing dot
/// on `host` is ignored. A wildcard matches exactly one non-empty leftmost
/// label ("*.a.b" matches "x.a.b", not "a.b" nor "y.x.a.b") and never an IP
/// literal; IP literals match the same address. An invalid pattern matches
/// nothing.
bool certificate_name_matches(std::string_view pattern, std::string_view host);

/// Does a certificate going by `name` serve `host`: is it `host` itself (a
/// wildcard name for the same wildcard host) or does it cover it?
bool certificate_name_serves(std::string_view name, std::string_view host);

/// Names that get a certificate from the local CA by default (everything
/// else gets one from ACME): "localhost" and names under it, names under
/// ".test" and ".internal", single-label names and IP literals. Applies to
/// wildcard patterns too ("*.a.test" is local).
bool is_local_name(std::string_view host);

// -- keys and certificates --------------------------------------------------------

/// A new ECDSA P-256 private key, unencrypted PKCS#8 PEM ("PRIVATE KEY").
credential_result<std::string> new_private_key_pem();

/// A leaf certificate and its key, as a TLS server presents them. The key
/// is wiped from memory when the value dies.
struct issued_certificate {
  std::string key_pem;   ///< PKCS#8 PEM
  std::string chain_pem; ///< the leaf, then its issuer(s), PEM

  issued_certificate() = default;
  issued_certificate(const issued_certificate&) = default;
  issued_certificate(issued_certificate&&) noexcept = default;
  issued_certificate& operator=(const issued_certificate&) = default;
  issued_certificate& operator=(issued_certificate&&) noexcept = default;
  ~issued_certificate();
};

/// What inspect_certificate learnt of a chain's leaf.
struct certificate_info {
  std::vector<std::string> names; ///< SAN DNS names and IP addresses (the CN when there is no SAN)
  std::string subject;            ///< the leaf's subject, one line ("CN=a.test, O=ika")
  std::string issuer;             ///< the issuer's CN, or its whole one-line name without a CN
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
  std::string serial;             ///< lowercase hex, no separators
  std::string sha256_fingerprint; ///< lowercase hex of the SHA-256 of the leaf's DER
  std::string key_type;           ///< "ECDSA P-256", "RSA 2048", "Ed25519", ...
  std::size_t chain_length = 0;   ///< certificates in the chain, leaf included
  bool self_signed = false;       ///< the leaf signed itself

  /// Is `now` outside [not_before, not_after]?
  bool expired(std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

  /// Does any of `names` cover `host` (certificate_name_matches)?
  bool covers(std::string_view host) const;
};

/// Checks a chain and its key and describes the leaf: the chain holds at
/// least one certificate, leaf first, each followed by its issuer
/// (X509_check_issued); `key_pem` holds exactly one private key ("PRIVATE
/// KEY" or "EC PRIVATE KEY", unencrypted) and it is the leaf's key. A key
/// inside `chain_pem` is allowed only if it is that same key (one combined
/// file). Expiry is not checked but reported (certificate_info::expired).
credential_result<certificate_info> inspect_certificate(std::string_view chain_pem, std::string_view key_pem);

// -- the local CA -----------------------------------------------------------------

/// The CA that signs certificates for local names. Users trust its
/// certificate (`ika certs ca` prints certificate_pem) to get no warnings.
struct local_ca {
  certificate_authority authority;
  std::string certificate_pem;
  std::string sha256_fingerprint;         ///< lowercase hex of its DER's SHA-256
  std::filesystem::path certificate_file; ///< <data>/certs/local-ca.crt
  bool created = false;                   ///< true when this call created it
};

/// How long the local CA is valid; leaves never outlive it.
inline constexpr std::chrono::hours local_ca_validity{24 * 3650};

/// A sensible validity for local leaf certificates (Apple's clients refuse
/// TLS server certificates valid longer than 825 days).
inline constexpr std::chrono::hours local_certificate_validity{24 * 397};

/// <data>/certs
std::filesystem::path certs_dir_of(const std::filesystem::path& data_dir);

/// Loads the local CA from <data>/certs/local-ca.{crt,key}, or at first use
/// creates it there (a fresh P-256 key; subject "O=ika, CN=ika local CA
/// <8 hex digits>"; CA:TRUE, keyCertSign, 10 years). Creation is serialised
/// between processes by flock on local-ca.lock and written to temporary
/// files that are linked into place, the key first, so the certificate's
/// presence marks a complete CA. On load: the directory must be 0700 and
/// the files regular, this user's and 0600; the certificate must be a valid
/// self-signed CA whose key matches. Any problem is an error naming the
/// file; an existing file is never replaced (a key without a certificate is
/// an error too: remove it to start over). An expired CA (after ten years)
/// is an error as well: remove both files to make a new one, which users
/// must then trust again.
credential_result<local_ca> ensure_local_ca(const std::filesystem::path& data_dir);

/// Issues a serverAuth leaf for `names` (each valid_certificate_name; IP
/// literals become IP SANs, others DNS SANs; CN = the first name when it
/// fits in 64 characters) with a fresh P-256 key and a random 128-bit
/// serial, valid from a minute ago for `validity` (clipped to the CA's own
/// end). The chain is the leaf then the CA certificate.
credential_result<issued_certificate> issue_local_certificate(const certificate_authority& ca,
                                                              const std::vector<std::string>& names,
                                                              std::chrono::seconds validity);

// -- certificate files ------------------------------------------------------------

/// A chain and key read from files, checked with inspect_certificate.
/// `chain_pem` holds only the certificates, leaf first; `key_pem` is the key
/// re-encoded as PKCS#8 PEM (wiped when the value dies). The mtimes are
/// taken before reading, for change watching (certificate_files_changed).
struct certificate_files {
  std::filesystem::path chain_file;
  std::filesystem::path key_file;
  std::string chain_pem;
  std::string key_pem;
  std::chrono::system_clock::time_point chain_mtime;
  std::chrono::system_clock::time_point key_mtime;
  certificate_info info;

  certificate_files() = default;
  certificate_files(const certificate_files&) = default;
  certificate_files(certificate_files&&) noexcept = default;
  certificate_files& operator=(const certificate_files&) = default;
  certificate_files& operator=(certificate_files&&) noexcept = default;
  ~certificate_files();
};

/// Reads a PEM chain file and its key file (both may be the same file;
/// symbolic links are followed, as certbot's live/ directory needs). The
/// key file must be a regular file that group and others cannot access
/// (mode & 077 == 0); the chain file need not be private. Blocking I/O.
credential_result<certificate_files> read_certificate_files(const std::filesystem::path& chain_file,
                                                            const std::filesystem::path& key_file);

/// True when either file's mtime differs from when `loaded` was read, or a
/// file cannot be stat'ed any more. Blocking I/O (two stat calls).
bool certificate_files_changed(const certificate_files& loaded);

/// <data>/certs/<dir> for a host's saved certificate: `host` must be
/// valid_certificate_name (which rules out "/", "..", and empty labels); a
/// leading "*." becomes "_wildcard_."; the CA's own file names are refused.
credential_result<std::filesystem::path> host_certificate_dir_of(const std::filesystem::path& data_dir,
                                                                 std::string_view host);

/// Saves a chain and its key for `host` as <dir>/certificate.pem (0600,
/// the chain then the key), replacing any earlier one with one atomic
/// rename; the pair is checked with inspect_certificate first (it need not
/// cover `host`: a wildcard certificate may be saved under a host's name).
/// Creates <data>/certs and <dir> 0700. Returns nothing on success.
std::optional<credential_error> save_host_certificate(const std::filesystem::path& data_dir,
                                                      std::string_view host, std::string_view chain_pem,
                                                      std::string_view key_pem);

/// Reads back what save_host_certificate saved: nullopt when nothing is
/// saved for `host`, else the checked files (read_certificate_files, with
/// the file required to be this user's too).
credential_result<std::optional<certificate_files>>
load_host_certificate(const std::filesystem::path& data_dir, std::string_view host);

/// OCSP staples kept across restarts: <data>/certs/ocsp/<fingerprint>.der
/// (0600), `fingerprint` being the leaf's SHA-256 in 64 lowercase hex digits
/// (ocsp_query::fingerprint; anything else is refused). Saving replaces an
/// earlier staple with one atomic rename and creates the directories 0700;
/// loading gives nullopt when none is saved. A loaded staple is only bytes:
/// check it (check_ocsp_response) before stapling it.
std::optional<credential_error> save_ocsp_staple(const std::filesystem::path& data_dir,
                                                 std::string_view fingerprint, std::string_view der);
credential_result<std::optional<std::string>> load_ocsp_staple(const std::filesystem::path& data_dir,
                                                               std::string_view fingerprint);
/// Removes a saved staple (none saved is fine).
void remove_ocsp_staple(const std::filesystem::path& data_dir, std::string_view fingerprint) noexcept;

/// The host names that have a saved certificate directory under
/// <data>/certs (wildcards as "*.a.b"), sorted; directories whose names do
/// not map back to a valid name are skipped.
std::vector<std::string> saved_certificate_names(const std::filesystem::path& data_dir);

/// Frees the calling thread's OpenSSL state (its random generators, its
/// error queue) now. For threads that may still be ending when the process
/// exits, after OpenSSL's own thread-exit hook is gone: CAF's detached
/// actors run on threads it never joins.
void release_thread_state() noexcept;

} // namespace ika::crypto
