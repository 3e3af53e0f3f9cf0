#pragma once
// Encryption of app secrets: XChaCha20-Poly1305 (libsodium's
// crypto_aead_xchacha20poly1305_ietf) under one 32-byte key, with the app
// id and the secret's name as associated data, so a ciphertext only opens
// as the (app, name) it was sealed for.
//
// The key lives in a file (0600, created once, never overwritten):
//
//   ika-secret-key 1
//   <64 lower-case hex digits>
//
// Today each node creates its own (<data>/secrets.key); the format is the
// same for a cluster key copied to every node. In memory the key sits in a
// sodium_malloc'd buffer (guard pages, locked, read-only once loaded,
// wiped when freed); every temporary copy is wiped with sodium_memzero.
//
// A key's check value (a BLAKE2b MAC of a fixed text under the key) names
// the key without revealing it: records keep the check value of the key
// that sealed them, so a wrong key is found before decrypting anything.
//
// Nothing here prints key material or plaintext: errors name files and
// reasons only.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ika::crypto {

/// Bytes of a secret key.
inline constexpr std::size_t secret_key_size = 32;
/// Bytes of a nonce (random per seal; 192 bits, so random nonces are safe).
inline constexpr std::size_t secret_nonce_size = 24;
/// Bytes the AEAD adds to a plaintext (the Poly1305 tag).
inline constexpr std::size_t secret_tag_size = 16;

/// A secret key in guarded memory. Not copyable; shared read-only between
/// threads through std::shared_ptr<const secret_key>.
class secret_key {
public:
  /// A fresh random key; nullptr only if guarded memory is unavailable.
  static std::shared_ptr<const secret_key> generate();
  /// A key from `bytes` (exactly secret_key_size of them; the caller wipes
  /// its copy); nullptr for a wrong size.
  static std::shared_ptr<const secret_key> from_bytes(const unsigned char* bytes, std::size_t size);

  ~secret_key();
  secret_key(const secret_key&) = delete;
  secret_key& operator=(const secret_key&) = delete;

  /// The raw key (secret_key_size bytes, read-only).
  const unsigned char* data() const { return key_; }
  /// The key's check value: 32 lower-case hex digits, the same for the same
  /// key everywhere, telling nothing about the key.
  const std::string& check() const { return check_; }

private:
  secret_key() = default;
  unsigned char* key_ = nullptr; ///< sodium_malloc'd
  std::string check_;
};

/// A sealed secret: what may be stored and replicated.
struct sealed_secret {
  std::vector<std::uint8_t> nonce;      ///< secret_nonce_size bytes
  std::vector<std::uint8_t> ciphertext; ///< plaintext + tag
};

/// Encrypts `plaintext` for (app, name) under `key` with a fresh random nonce.
sealed_secret seal_secret(const secret_key& key, std::string_view app, std::string_view name,
                          std::string_view plaintext);

/// Decrypts a sealed secret of (app, name); nullopt when the key is wrong,
/// the ciphertext was altered or belongs to another (app, name).
std::optional<std::string> open_secret(const secret_key& key, std::string_view app, std::string_view name,
                                       const std::vector<std::uint8_t>& nonce,
                                       const std::vector<std::uint8_t>& ciphertext);

/// Why a key file could not be read or created.
struct key_file_error {
  std::string path;
  std::string message;
  bool missing = false; ///< the file does not exist (nothing else is wrong)

  /// "PATH: MESSAGE".
  std::string to_string() const { return path + ": " + message; }
};

using key_file_result = std::variant<std::shared_ptr<const secret_key>, key_file_error>;

/// Reads a key file. Refused: a file that is not a regular file of this
/// user, that group or others may read or write (it must be 0600 or
/// stricter), or not in the format above. `missing` is set when it does not
/// exist.
key_file_result load_key_file(const std::string& path);

/// Creates a key file with a fresh key (O_EXCL, 0600, fsynced, the
/// directory fsynced); refuses to replace an existing file.
key_file_result create_key_file(const std::string& path);

} // namespace ika::crypto
