#pragma once
// The certificate actor: one per certificate name (a host, or "*.parent"
// for files that cover it). It gets the certificate from its source, keeps
// it in the data dir, renews it, and tells the node (certificate_atom,
// certificate_status) about every change; the node loads the files into the
// HTTPS listeners. The data plane never waits on it.
//
// Sources:
//   self-signed  issued at once by the node's local CA (crypto::ensure_local_ca),
//                saved under <data>/certs/<host>/, renewed like any other
//   files        the user's chain and key files: checked at start and polled
//                for changes (a new generation when either file changes and
//                the pair still loads; a broken pair keeps the old one and
//                reports the error)
//   acme         a saved certificate is used at once if it is still valid;
//                otherwise (or once a third of its lifetime remains, with
//                jitter) an order runs on a thread of its own (acme::issue),
//                its HTTP-01 tokens published in `tokens`; failures are
//                retried with backoff (at least the CA's Retry-After, never a
//                tight loop) while the old certificate, or the node's
//                default one, keeps serving.

#include "protocol/interfaces.hpp"
#include "runtime/acme/challenge_tokens.hpp"
#include "runtime/acme/client.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

namespace ika::actors {

struct certificate_settings {
  std::string name;   ///< canonical host name or "*.parent"
  std::string source; ///< "acme", "self-signed" or "files"
  std::filesystem::path data_dir;
  // files
  std::filesystem::path chain_file, key_file;
  std::chrono::milliseconds poll_interval{2000};
  // acme
  acme::settings acme;
  std::shared_ptr<acme::challenge_tokens> tokens;
  /// Renewal once this fraction of the lifetime remains (1/3), checked every
  /// `check_interval` and at start.
  std::chrono::milliseconds check_interval{std::chrono::hours{1}};
  /// First retry after a failure; doubles up to `max_backoff`.
  std::chrono::milliseconds min_backoff{std::chrono::seconds{30}};
  std::chrono::milliseconds max_backoff{std::chrono::hours{6}};
};

struct certificate_state {
  static inline const char* name = "ika.certificate";
  certificate_settings settings;
  protocol::certificate_status status;
};

using certificate_pointer = protocol::certificate_actor::stateful_pointer<certificate_state>;

/// Spawned by the node (linked to it) for each name that needs a
/// certificate; reports (certificate_atom, certificate_status) to `sink`
/// (the node) at start and on every change.
protocol::certificate_actor::behavior_type certificate(certificate_pointer self,
                                                       certificate_settings settings, caf::actor sink);

} // namespace ika::actors
