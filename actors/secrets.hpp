#pragma once
// The `secrets` actor: one per node, the owner of the apps' secrets. It
// keeps them only sealed (secret_record: nonce + ciphertext, under the
// node's secret key, runtime/crypto/secret_box.hpp), persists them in the
// store and publishes them to a secret_vault, from which an instance
// decrypts its app's secrets when its process starts: the only place on
// the node where a value exists in plaintext (besides the message from the
// client that sets it, wiped once sealed).
//
//   auto vault = std::make_shared<secret_vault>(key);
//   auto secrets = sys.spawn(ika::actors::secrets, secrets_config{store, clock, vault, records});
//   runtime->secret_env = [vault](const std::string& app) { return vault->environment(app); };

#include "protocol/interfaces.hpp"
#include "protocol/store.hpp"
#include "runtime/crypto/secret_box.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ika::actors {

/// The largest secret value accepted (bytes).
inline constexpr std::size_t max_secret_value = 64 * 1024;

/// Why `app` is not an app id ("name/environment"), or "".
std::string check_secret_app(const std::string& app);
/// Why `name` cannot be a secret's name (an environment variable name, not
/// one ika sets), or "".
std::string check_secret_name(const std::string& name);
/// Why `value` cannot be a secret's value (too large, a NUL byte), or "".
/// Never quotes the value.
std::string check_secret_value(const std::string& value);

/// The sealed secrets of every app and the key that opens them, as
/// instances read them at launch. Thread-safe: the secrets actor publishes,
/// instance actors read.
class secret_vault {
public:
  explicit secret_vault(std::shared_ptr<const crypto::secret_key> key);

  /// Replaces every sealed secret (the secrets actor, after each change).
  void publish(std::vector<protocol::secret_record> all);

  /// "NAME=value" for each secret of `app`, decrypted now, by name. A
  /// secret that does not open is left out, with a warning naming the app
  /// and the name.
  std::vector<std::string> environment(const std::string& app) const;

  const crypto::secret_key& key() const { return *key_; }

private:
  using by_app = std::map<std::string, std::vector<protocol::secret_record>>;
  std::shared_ptr<const crypto::secret_key> key_;
  mutable std::mutex mutex_;
  std::shared_ptr<const by_app> sealed_;
};

struct secrets_config {
  /// Where secrets persist (may be invalid: nothing persists). Every change
  /// is answered only once durable there.
  protocol::store_actor store;
  /// Versions this actor's writes (this node's id), past everything stored.
  protocol::hlc clock;
  std::shared_ptr<secret_vault> vault;
  /// What the store kept, sealed under vault->key() (checked at start).
  std::vector<protocol::secret_record> records;
};

struct secrets_state {
  static inline const char* name = "ika.secrets";

  secrets_config config;
  std::map<std::string, protocol::secret_record> records; ///< by secret_record::key()

  /// Hands the current records to the vault.
  void publish() const;
};

using secrets_pointer = protocol::secrets_actor::stateful_pointer<secrets_state>;

protocol::secrets_actor::behavior_type secrets(secrets_pointer self, secrets_config config);

} // namespace ika::actors
