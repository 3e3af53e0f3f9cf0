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
//
// OCSP stapling: when a certificate's leaf names an http:// OCSP responder,
// the actor asks it (on a thread of its own, like an order) and reports a
// current "good" answer with the status; the node checks it against the
// chain it loads and staples it to handshakes that ask. The answer is
// refreshed halfway through its validity; failures are retried with backoff
// while a still-current answer keeps being stapled, and an answer that
// expires is dropped. With a data dir the last good answer is kept there
// (crypto::save_ocsp_staple) and stapled again at once after a restart,
// while it is current, even if the responder is down then.

#include "protocol/interfaces.hpp"
#include "runtime/acme/challenge_tokens.hpp"
#include "runtime/acme/client.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <utility>

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
  /// OCSP stapling (any source whose certificate names a responder): the
  /// first retry after a failed fetch, doubling up to the cap, and how long
  /// one fetch may take.
  std::chrono::milliseconds ocsp_min_backoff{std::chrono::minutes{1}};
  std::chrono::milliseconds ocsp_max_backoff{std::chrono::hours{1}};
  std::chrono::milliseconds ocsp_timeout{std::chrono::seconds{5}};
  /// The soonest an answer is asked for again after a good one.
  std::chrono::milliseconds ocsp_min_refresh{std::chrono::minutes{1}};
};

/// The thread of the ACME order in flight, if any. Dying (with the actor's
/// state) cancels the order and joins the thread, so no issuing thread
/// outlives its actor.
struct certificate_order {
  std::uint64_t id = 0; ///< the current order; issued_atom of another id is stale
  bool running = false;
  std::shared_ptr<std::atomic<bool>> cancel;
  std::thread thread;

  certificate_order() = default;
  certificate_order(const certificate_order&) = delete;
  certificate_order& operator=(const certificate_order&) = delete;
  ~certificate_order() { finish(); }

  /// Cancels the order (if it still runs) and waits for its thread.
  void finish() {
    if (cancel)
      cancel->store(true);
    if (thread.joinable())
      thread.join();
  }
};

/// A file's identity and change stamps (files source): a rename, a write or
/// a chmod changes it.
struct file_stamp {
  std::uint64_t device = 0, inode = 0, size = 0;
  std::int64_t mtime_ns = 0, ctime_ns = 0;
  bool exists = false;
  bool operator==(const file_stamp&) const = default;
};

struct certificate_state {
  static inline const char* name = "ika.certificate";
  certificate_settings settings;
  protocol::certificate_status status;

  // Internals (not part of the contract).
  std::uint64_t timer_generation = 0; ///< only the timer of this generation counts
  bool disabled = false;              ///< bad settings: reported once, nothing planned
  /// When the next renewal or retry is due (self-signed, acme); max(): none.
  std::chrono::system_clock::time_point next_at = std::chrono::system_clock::time_point::max();
  std::uint32_t failures = 0;                   ///< failed attempts in a row
  std::pair<file_stamp, file_stamp> seen_files; ///< files: the stamps of the last read attempt
  bool files_read = false;
  // OCSP stapling of the current certificate.
  std::string ocsp_chain;          ///< its chain (PEM, certificates only) when it names a responder
  std::string ocsp_responder;      ///< the responder's http:// URL
  std::string ocsp_request;        ///< the DER request for it
  std::string ocsp_fingerprint;    ///< its leaf's, naming the staple kept in the data dir
  std::uint64_t ocsp_timer = 0;    ///< only the OCSP timer of this generation counts
  std::uint32_t ocsp_failures = 0; ///< failed fetches in a row
  bool ocsp_stale = false;         ///< the fetch in flight is about a replaced certificate
  bool ocsp_ask = false;           ///< ask the responder even if a current answer is kept (a renewal)
  certificate_order ocsp_fetch;    ///< the thread asking the responder, if any
  certificate_order order;         ///< last: its destructor joins the thread first
};

// -- pure helpers (unit-tested on their own) ----------------------------------------

/// Is a certificate valid over [not_before, not_after] due for renewal at
/// `now`, i.e. inside the last third of its lifetime (or expired)?
bool renewal_due(std::chrono::system_clock::time_point not_before,
                 std::chrono::system_clock::time_point not_after, std::chrono::system_clock::time_point now);

/// When to renew such a certificate: once a third of its lifetime remains,
/// earlier by `jitter` (0..1, clamped) times 1/20 of the lifetime, never
/// before `now`.
std::chrono::system_clock::time_point renewal_time(std::chrono::system_clock::time_point not_before,
                                                   std::chrono::system_clock::time_point not_after,
                                                   double jitter, std::chrono::system_clock::time_point now);

/// The wait after the `failures`-th failure in a row (1: the first):
/// `min_backoff` doubled per earlier failure, capped at `max_backoff`, and
/// at least `retry_after` (what the CA asked for); never below 100 ms, so
/// that bad settings cannot make a tight loop.
std::chrono::milliseconds retry_delay(std::uint32_t failures, std::chrono::milliseconds min_backoff,
                                      std::chrono::milliseconds max_backoff,
                                      std::chrono::seconds retry_after = std::chrono::seconds{0});

using certificate_pointer = protocol::certificate_actor::stateful_pointer<certificate_state>;

/// Spawned by the node (linked to it) for each name that needs a
/// certificate; reports (certificate_atom, certificate_status) to `sink`
/// (the node) at start and on every change.
protocol::certificate_actor::behavior_type certificate(certificate_pointer self,
                                                       certificate_settings settings, caf::actor sink);

} // namespace ika::actors
