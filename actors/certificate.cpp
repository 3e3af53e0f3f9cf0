#include "actors/certificate.hpp"

#include "runtime/acme/https_client.hpp"
#include "runtime/crypto/certs.hpp"
#include "runtime/crypto/ocsp.hpp"

#include <caf/send.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <random>
#include <utility>

namespace ika::actors {

using namespace protocol;
using namespace std::chrono;

// -- pure helpers ---------------------------------------------------------------------

bool renewal_due(system_clock::time_point not_before, system_clock::time_point not_after,
                 system_clock::time_point now) {
  auto lifetime = not_after - not_before;
  if (lifetime <= system_clock::duration::zero())
    return true;
  return now >= not_after - lifetime / 3;
}

system_clock::time_point renewal_time(system_clock::time_point not_before, system_clock::time_point not_after,
                                      double jitter, system_clock::time_point now) {
  auto lifetime = not_after - not_before;
  if (lifetime <= system_clock::duration::zero())
    return now;
  jitter = std::clamp(jitter, 0.0, 1.0);
  auto spread = duration_cast<system_clock::duration>(duration<double>{lifetime / 20} * jitter);
  auto at = not_after - lifetime / 3 - spread;
  return std::max(at, now);
}

milliseconds retry_delay(std::uint32_t failures, milliseconds min_backoff, milliseconds max_backoff,
                         seconds retry_after) {
  constexpr milliseconds floor{100};
  auto backoff = std::max(min_backoff, floor);
  auto cap = std::max(max_backoff, backoff);
  for (std::uint32_t i = 1; i < failures && backoff < cap; ++i)
    backoff = backoff > cap / 2 ? cap : backoff * 2;
  backoff = std::min(backoff, cap);
  return std::max(backoff, duration_cast<milliseconds>(retry_after));
}

namespace {

std::int64_t unix_seconds(system_clock::time_point t) {
  return duration_cast<seconds>(t.time_since_epoch()).count();
}

/// Rounded up, so that "next_attempt" is never before the actual attempt.
std::int64_t unix_seconds_ceil(system_clock::time_point t) {
  return ceil<seconds>(t.time_since_epoch()).count();
}

double random_fraction() {
  static thread_local std::mt19937_64 gen{std::random_device{}()};
  return std::uniform_real_distribution<double>{0.0, 1.0}(gen);
}

file_stamp stamp_of(const std::filesystem::path& file) {
  struct stat st {};
  file_stamp s;
  if (::stat(file.c_str(), &st) != 0)
    return s;
  s.exists = true;
  s.device = static_cast<std::uint64_t>(st.st_dev);
  s.inode = static_cast<std::uint64_t>(st.st_ino);
  s.size = static_cast<std::uint64_t>(st.st_size);
  s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  s.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  return s;
}

void report(certificate_pointer self, const caf::actor& sink) {
  if (sink)
    caf::anon_send(sink, certificate_atom::value, self->state.status);
}

void arm(certificate_pointer self, milliseconds delay) {
  auto gen = ++self->state.timer_generation;
  self->delayed_send(self, std::max(delay, milliseconds{1}), timer_atom::value, gen);
}

bool has_certificate(const certificate_status& s) {
  return s.generation > 0 && s.not_after > 0;
}

bool expired_now(const certificate_status& s) {
  return has_certificate(s) && unix_seconds(system_clock::now()) > s.not_after;
}

/// The state word for "not renewing right now".
std::string resting_state(const certificate_status& s) {
  if (!has_certificate(s))
    return s.error.empty() ? "pending" : "failed";
  return expired_now(s) ? "expired" : "valid";
}

void ocsp_start(certificate_pointer self, const std::string& chain_pem);

/// Takes a new certificate described by `files` as the next generation.
void adopt(certificate_pointer self, const crypto::certificate_files& files) {
  auto& st = self->state.status;
  st.issuer = files.info.issuer;
  st.not_before = unix_seconds(files.info.not_before);
  st.not_after = unix_seconds(files.info.not_after);
  st.chain_file = files.chain_file.string();
  st.key_file = files.key_file.string();
  ++st.generation;
  st.error.clear();
  st.state = resting_state(st);
  ocsp_start(self, files.chain_pem);
}

/// Plans the next renewal of the current certificate (with jitter).
void plan_renewal(certificate_pointer self, system_clock::time_point not_before,
                  system_clock::time_point not_after) {
  auto& s = self->state;
  s.failures = 0;
  s.next_at = renewal_time(not_before, not_after, random_fraction(), system_clock::now());
  s.status.next_attempt = unix_seconds_ceil(s.next_at);
}

/// Plans a retry after a failure (backoff, at least the CA's Retry-After).
void plan_retry(certificate_pointer self, std::uint32_t retry_after_seconds) {
  auto& s = self->state;
  ++s.failures;
  auto delay =
      retry_delay(s.failures, s.settings.min_backoff, s.settings.max_backoff, seconds{retry_after_seconds});
  s.next_at = system_clock::now() + delay;
  s.status.next_attempt = unix_seconds_ceil(s.next_at);
}

/// Arms the one timer for the next thing to do: a file poll, or the next
/// renewal check (every check_interval, or sooner when a renewal is due).
void arm_next(certificate_pointer self) {
  auto& s = self->state;
  if (s.disabled)
    return;
  if (s.settings.source == "files") {
    arm(self, s.settings.poll_interval);
    return;
  }
  auto delay = s.settings.check_interval;
  if (!s.order.running && s.next_at != system_clock::time_point::max()) {
    auto until = duration_cast<milliseconds>(s.next_at - system_clock::now()) + milliseconds{1};
    delay = std::min(delay, std::max(until, milliseconds{1}));
  }
  arm(self, delay);
}

/// The certificate saved for this name in the data dir, if it loads and
/// covers the name.
std::optional<crypto::certificate_files> load_saved(certificate_pointer self, std::string* problem) {
  auto& s = self->state.settings;
  auto r = crypto::load_host_certificate(s.data_dir, s.name);
  if (auto* e = std::get_if<crypto::credential_error>(&r)) {
    *problem = e->to_string();
    return std::nullopt;
  }
  auto& saved = std::get<std::optional<crypto::certificate_files>>(r);
  if (!saved)
    return std::nullopt;
  const auto& names = saved->info.names;
  if (std::none_of(names.begin(), names.end(),
                   [&](const std::string& n) { return crypto::certificate_name_serves(n, s.name); })) {
    *problem = saved->chain_file.string() + ": the saved certificate does not cover " + s.name;
    return std::nullopt;
  }
  return std::move(saved);
}

// -- OCSP stapling ---------------------------------------------------------------------

void ocsp_arm(certificate_pointer self, milliseconds delay) {
  auto gen = ++self->state.ocsp_timer;
  self->delayed_send(self, std::max(delay, milliseconds{1}), ocsp_atom::value, gen);
}

/// Forgets the staple (it expired, or its certificate was replaced).
void ocsp_drop(certificate_status& st) {
  st.ocsp_staple.clear();
  st.ocsp_until = 0;
}

/// Asks the responder on a thread of its own; it answers with ocsp_atom.
void ocsp_fetch(certificate_pointer self) {
  auto& s = self->state;
  auto& f = s.ocsp_fetch;
  if (f.running || s.ocsp_responder.empty())
    return;
  f.finish(); // the previous thread has sent its answer already
  f.thread = std::thread{};
  auto id = ++f.id;
  f.running = true;
  auto handle = caf::actor_cast<certificate_actor>(self);
  try {
    f.thread = std::thread{
        [handle, id, url = s.ocsp_responder, request = s.ocsp_request, timeout = s.settings.ocsp_timeout] {
          std::string body, error;
          try {
            acme::http_client_settings hs;
            hs.timeout = timeout;
            hs.max_body = 64 * 1024;
            acme::https_client client{hs};
            auto r =
                client.request("POST", url, request, "application/ocsp-request", "application/ocsp-response");
            if (auto* e = std::get_if<acme::error>(&r))
              error = e->message;
            else if (auto& response = std::get<acme::http_response>(r); response.status != 200)
              error = "the OCSP responder " + url + " answered HTTP " + std::to_string(response.status);
            else
              body = std::move(response.body);
          } catch (const std::exception& e) {
            error = std::string{"asking the OCSP responder: "} + e.what();
          }
          caf::anon_send(handle, ocsp_atom::value, id, std::move(body), std::move(error));
        }};
  } catch (const std::exception& e) {
    f.running = false;
    s.status.ocsp_error = std::string{"cannot start the OCSP thread: "} + e.what();
    ocsp_arm(self, s.settings.ocsp_min_backoff);
  }
}

seconds refresh_floor(const certificate_settings& s) {
  return std::max(duration_cast<seconds>(s.ocsp_min_refresh), seconds{0});
}

/// Staples the answer kept in the data dir for the current leaf (after a
/// restart) if it is still current. True when the responder need not be
/// asked before the answer's half-life (a refresh is planned then).
bool ocsp_reuse_kept(certificate_pointer self) {
  auto& s = self->state;
  auto& st = s.status;
  if (s.settings.data_dir.empty())
    return false;
  auto kept = crypto::load_ocsp_staple(s.settings.data_dir, s.ocsp_fingerprint);
  auto* der = std::get_if<std::optional<std::string>>(&kept);
  if (der == nullptr || !der->has_value())
    return false;
  auto now = system_clock::now();
  auto checked = crypto::check_ocsp_response(**der, s.ocsp_chain, now);
  auto* staple = std::get_if<crypto::ocsp_staple>(&checked);
  if (staple == nullptr)
    return false;
  st.ocsp = "good";
  st.ocsp_until = staple->next_update;
  bool past_halfway = crypto::ocsp_halfway(*staple) <= now;
  auto refresh = crypto::ocsp_refresh_time(*staple, now, refresh_floor(s.settings));
  st.ocsp_staple = std::move(staple->der);
  if (past_halfway)
    return false; // stapled meanwhile, and asked again now
  ocsp_arm(self, duration_cast<milliseconds>(refresh - now));
  return true;
}

/// A new certificate: its predecessor's staple goes, and its own responder
/// (if it names one) is asked at once.
void ocsp_start(certificate_pointer self, const std::string& chain_pem) {
  auto& s = self->state;
  auto& st = s.status;
  ++s.ocsp_timer; // a planned refresh was for the old certificate
  s.ocsp_stale = s.ocsp_fetch.running;
  s.ocsp_failures = 0;
  s.ocsp_chain.clear();
  s.ocsp_responder.clear();
  s.ocsp_request.clear();
  ocsp_drop(st);
  st.ocsp.clear();
  st.ocsp_error.clear();
  auto query = crypto::ocsp_query_for(chain_pem);
  auto* q = std::get_if<crypto::ocsp_query>(&query);
  const auto& data_dir = s.settings.data_dir;
  // The staple kept for a replaced leaf is of no use any more.
  if (!s.ocsp_fingerprint.empty() && !data_dir.empty() &&
      (q == nullptr || q->fingerprint != s.ocsp_fingerprint))
    crypto::remove_ocsp_staple(data_dir, s.ocsp_fingerprint);
  s.ocsp_fingerprint.clear();
  if (q == nullptr) {
    st.ocsp = "failed";
    st.ocsp_error = std::get<crypto::credential_error>(query).to_string();
    return;
  }
  if (q->responder.empty())
    return; // no responder named: nothing to staple
  s.ocsp_chain = chain_pem;
  s.ocsp_responder = std::move(q->responder);
  s.ocsp_request = std::move(q->request_der);
  s.ocsp_fingerprint = std::move(q->fingerprint);
  st.ocsp = "pending";
  if (!std::exchange(s.ocsp_ask, false) && ocsp_reuse_kept(self))
    return;
  ocsp_fetch(self);
}

/// The responder's answer (or why there is none).
void on_ocsp(certificate_pointer self, const caf::actor& sink, std::string der, std::string error) {
  auto& s = self->state;
  auto& st = s.status;
  auto now = system_clock::now();
  bool verdict = false; // the CA said "revoked" or "unknown"
  if (error.empty()) {
    auto checked = crypto::check_ocsp_response(der, s.ocsp_chain, now, &verdict);
    if (auto* staple = std::get_if<crypto::ocsp_staple>(&checked)) {
      s.ocsp_failures = 0;
      st.ocsp = "good";
      st.ocsp_error.clear();
      if (!s.settings.data_dir.empty())
        if (auto e = crypto::save_ocsp_staple(s.settings.data_dir, s.ocsp_fingerprint, staple->der))
          st.ocsp_error = "keeping the OCSP response for restarts: " + e->to_string();
      st.ocsp_until = staple->next_update;
      auto refresh = crypto::ocsp_refresh_time(*staple, now, refresh_floor(s.settings));
      st.ocsp_staple = std::move(staple->der);
      ocsp_arm(self, duration_cast<milliseconds>(refresh - now));
      report(self, sink);
      return;
    }
    error = std::get<crypto::credential_error>(checked).to_string();
  }
  ++s.ocsp_failures;
  st.ocsp_error = s.ocsp_responder + ": " + error;
  auto delay = retry_delay(s.ocsp_failures, s.settings.ocsp_min_backoff, s.settings.ocsp_max_backoff);
  auto until = system_clock::time_point{seconds{st.ocsp_until}};
  if (!st.ocsp_staple.empty() && until > now && !verdict) {
    // The last good answer is still current: it stays stapled until then
    // (the responder may be down, or a network in the way).
    delay = std::min(delay, duration_cast<milliseconds>(until - now) + milliseconds{1});
  } else {
    // Nothing current, or the CA now says otherwise: no staple, and none
    // kept for a restart either.
    ocsp_drop(st);
    st.ocsp = "failed";
    if (verdict && !s.settings.data_dir.empty())
      crypto::remove_ocsp_staple(s.settings.data_dir, s.ocsp_fingerprint);
  }
  ocsp_arm(self, delay);
  report(self, sink);
}

/// The OCSP timer: drops an expired staple, asks again.
void ocsp_check(certificate_pointer self, const caf::actor& sink) {
  auto& st = self->state.status;
  if (!st.ocsp_staple.empty() && unix_seconds(system_clock::now()) >= st.ocsp_until) {
    ocsp_drop(st);
    st.ocsp = "failed";
    if (st.ocsp_error.empty())
      st.ocsp_error = "the stapled OCSP response expired before a new one came";
    report(self, sink);
  }
  ocsp_fetch(self);
}

// -- files ------------------------------------------------------------------------------

/// Re-reads the user's files when they changed since the last attempt (or
/// always with `force`); reports what changed.
void read_files(certificate_pointer self, const caf::actor& sink, bool force) {
  auto& s = self->state;
  auto stamps = std::make_pair(stamp_of(s.settings.chain_file), stamp_of(s.settings.key_file));
  if (!force && s.files_read && stamps == s.seen_files) {
    auto word = resting_state(s.status);
    if (word != s.status.state && has_certificate(s.status)) {
      s.status.state = word; // it expired meanwhile
      report(self, sink);
    }
    return;
  }
  s.files_read = true;
  s.seen_files = stamps;
  auto r = crypto::read_certificate_files(s.settings.chain_file, s.settings.key_file);
  if (auto* e = std::get_if<crypto::credential_error>(&r)) {
    s.status.error = e->to_string();
    s.status.state = resting_state(s.status);
  } else {
    adopt(self, std::get<crypto::certificate_files>(r));
  }
  report(self, sink);
}

// -- self-signed ------------------------------------------------------------------------

/// Issues a new certificate from the local CA and saves it (blocking, but
/// local and quick).
void issue_locally(certificate_pointer self, const caf::actor& sink) {
  auto& s = self->state;
  auto fail = [&](std::string why) {
    s.status.error = std::move(why);
    s.status.state = resting_state(s.status);
    plan_retry(self, 0);
    report(self, sink);
  };
  auto ca = crypto::ensure_local_ca(s.settings.data_dir);
  if (auto* e = std::get_if<crypto::credential_error>(&ca))
    return fail("local CA: " + e->to_string());
  auto validity = duration_cast<seconds>(crypto::local_certificate_validity);
  auto issued =
      crypto::issue_local_certificate(std::get<crypto::local_ca>(ca).authority, {s.settings.name}, validity);
  if (auto* e = std::get_if<crypto::credential_error>(&issued))
    return fail("issuing from the local CA: " + e->to_string());
  auto& pair = std::get<crypto::issued_certificate>(issued);
  if (auto e =
          crypto::save_host_certificate(s.settings.data_dir, s.settings.name, pair.chain_pem, pair.key_pem))
    return fail("saving: " + e->to_string());
  std::string problem;
  auto saved = load_saved(self, &problem);
  if (!saved)
    return fail("reading back: " + (problem.empty() ? std::string{"nothing saved"} : problem));
  adopt(self, *saved);
  plan_renewal(self, saved->info.not_before, saved->info.not_after);
  report(self, sink);
}

// -- acme -------------------------------------------------------------------------------

/// Starts an ACME order on a thread of its own; it answers with issued_atom.
void start_order(certificate_pointer self, const caf::actor& sink) {
  auto& s = self->state;
  if (s.order.running)
    return;
  s.order.finish(); // the previous thread has sent its result already
  s.order.thread = std::thread{};
  auto key = crypto::new_private_key_pem();
  if (auto* e = std::get_if<crypto::credential_error>(&key)) {
    s.status.error = "certificate key: " + e->to_string();
    s.status.state = resting_state(s.status);
    plan_retry(self, 0);
    report(self, sink);
    return;
  }
  auto id = ++s.order.id;
  s.order.running = true;
  s.order.cancel = std::make_shared<std::atomic<bool>>(false);
  s.status.state = has_certificate(s.status) && !expired_now(s.status) ? "renewing" : "pending";
  s.status.next_attempt = 0;
  s.next_at = system_clock::time_point::max();
  auto handle = caf::actor_cast<certificate_actor>(self);
  acme::secret_text key_pem{std::move(std::get<std::string>(key))};
  try {
    s.order.thread = std::thread{[handle, id, settings = s.settings.acme, name = s.settings.name,
                                  data_dir = s.settings.data_dir, tokens = s.settings.tokens,
                                  cancel = s.order.cancel, key_pem = std::move(key_pem)] {
      std::string error;
      std::uint32_t retry_after = 0;
      try {
        acme::challenge_hooks hooks{[tokens](std::string token, std::string key_authorization) {
                                      tokens->publish(std::move(token), std::move(key_authorization));
                                    },
                                    [tokens](std::string token) { tokens->withdraw(token); }};
        auto r = acme::issue(settings, {name}, key_pem.view(), hooks, cancel.get());
        if (auto* e = std::get_if<acme::error>(&r)) {
          error = e->message.empty() ? std::string{"ACME order failed"} : e->message;
          retry_after = e->retry_after.value_or(0);
        } else if (auto saved = crypto::save_host_certificate(
                       data_dir, name, std::get<acme::issued>(r).chain_pem, key_pem.view())) {
          error = "saving the issued certificate: " + saved->to_string();
        }
      } catch (const std::exception& e) {
        error = std::string{"ACME order: "} + e.what();
      }
      caf::anon_send(handle, issued_atom::value, id, std::move(error), retry_after);
    }};
  } catch (const std::exception& e) {
    s.order.running = false;
    s.status.error = std::string{"cannot start the ACME order's thread: "} + e.what();
    s.status.state = resting_state(s.status);
    plan_retry(self, 0);
  }
  report(self, sink);
}

void on_issued(certificate_pointer self, const caf::actor& sink, std::string error,
               std::uint32_t retry_after) {
  auto& s = self->state;
  s.order.running = false;
  s.order.finish();
  if (error.empty()) {
    std::string problem;
    auto saved = load_saved(self, &problem);
    if (saved) {
      adopt(self, *saved);
      plan_renewal(self, saved->info.not_before, saved->info.not_after);
      report(self, sink);
      return;
    }
    error =
        "reading back the issued certificate: " + (problem.empty() ? std::string{"nothing saved"} : problem);
  }
  s.status.error = std::move(error);
  s.status.state = resting_state(s.status);
  plan_retry(self, retry_after);
  report(self, sink);
}

/// Renews now (self-signed: at once; acme: starts an order).
void renew(certificate_pointer self, const caf::actor& sink) {
  if (self->state.settings.source == "acme")
    start_order(self, sink);
  else
    issue_locally(self, sink);
}

/// The periodic check (self-signed, acme): notices expiry, starts a due
/// renewal.
void check(certificate_pointer self, const caf::actor& sink) {
  auto& s = self->state;
  if (s.order.running)
    return;
  if (system_clock::now() >= s.next_at) {
    renew(self, sink);
    return;
  }
  auto word = resting_state(s.status);
  if (word == "expired" && s.status.state != word) {
    s.status.state = word;
    report(self, sink);
  }
}

/// Why these settings cannot work, or "".
std::string settings_problem(const certificate_settings& s) {
  if (!crypto::valid_certificate_name(s.name))
    return "invalid certificate name \"" + s.name +
           "\": expected a lowercase DNS name, a wildcard \"*.parent.tld\" or an IP address";
  if (s.source == "files") {
    if (s.chain_file.empty() || s.key_file.empty())
      return "certificate " + s.name + ": source \"files\" needs both a chain file and a key file";
    return {};
  }
  if (s.source != "acme" && s.source != "self-signed")
    return "certificate " + s.name + ": unknown source \"" + s.source +
           "\" (expected \"acme\", \"self-signed\" or \"files\")";
  if (s.data_dir.empty())
    return "certificate " + s.name + ": no data directory to keep it in";
  if (s.source == "acme") {
    if (s.name.starts_with("*."))
      return "ACME HTTP-01 cannot issue wildcard certificates";
    if (s.acme.directory_url.empty())
      return "certificate " + s.name + ": no ACME directory URL";
    if (!s.tokens)
      return "certificate " + s.name + ": no HTTP-01 token table";
  }
  return {};
}

/// Start: validate, then take what is there or get a certificate.
void start(certificate_pointer self, const caf::actor& sink) {
  auto& s = self->state;
  if (auto problem = settings_problem(s.settings); !problem.empty()) {
    s.disabled = true;
    s.status.state = "failed";
    s.status.error = std::move(problem);
    report(self, sink);
    return;
  }
  if (s.settings.source == "files") {
    read_files(self, sink, true);
    arm_next(self);
    return;
  }
  std::string problem;
  auto saved = load_saved(self, &problem);
  auto now = system_clock::now();
  if (saved && !saved->info.expired(now) &&
      !renewal_due(saved->info.not_before, saved->info.not_after, now)) {
    adopt(self, *saved);
    plan_renewal(self, saved->info.not_before, saved->info.not_after);
    report(self, sink);
  } else {
    // ACME takes a while: the old certificate serves while the order runs.
    // The local CA answers at once: no need to announce the old one first.
    if (saved && !saved->info.expired(now) && s.settings.source == "acme")
      adopt(self, *saved);
    renew(self, sink);
  }
  arm_next(self);
}

} // namespace

certificate_actor::behavior_type certificate(certificate_pointer self, certificate_settings settings,
                                             caf::actor sink) {
  self->state.settings = std::move(settings);
  // This actor makes keys on its own thread (it is detached), which CAF does
  // not join: the thread's random generators go with the actor, not after
  // OpenSSL's exit-time cleanup (where they would leak).
  self->attach_functor([] { crypto::release_thread_state(); });
  auto& st = self->state.status;
  st.name = self->state.settings.name;
  st.source = self->state.settings.source;
  start(self, sink);
  return {
      [self](status_atom) -> certificate_status { return self->state.status; },
      [self, sink](renew_atom) -> certificate_status {
        auto& s = self->state;
        if (s.disabled || s.order.running)
          return s.status;
        s.ocsp_ask = true; // a forced renewal asks the OCSP responder anew
        if (s.settings.source == "files")
          read_files(self, sink, true);
        else
          renew(self, sink);
        arm_next(self);
        return s.status;
      },
      [self, sink](timer_atom, std::uint64_t gen) {
        auto& s = self->state;
        if (gen != s.timer_generation || s.disabled)
          return;
        if (s.settings.source == "files")
          read_files(self, sink, false);
        else
          check(self, sink);
        arm_next(self);
      },
      [self, sink](issued_atom, std::uint64_t order, const std::string& error, std::uint32_t retry_after) {
        auto& s = self->state;
        if (!s.order.running || order != s.order.id)
          return; // a stale order's answer
        on_issued(self, sink, error, retry_after);
        arm_next(self);
      },
      [self, sink](ocsp_atom, std::uint64_t gen) {
        if (gen == self->state.ocsp_timer && !self->state.disabled)
          ocsp_check(self, sink);
      },
      [self, sink](ocsp_atom, std::uint64_t fetch, const std::string& der, const std::string& error) {
        auto& s = self->state;
        if (!s.ocsp_fetch.running || fetch != s.ocsp_fetch.id)
          return;
        s.ocsp_fetch.running = false;
        s.ocsp_fetch.finish();
        if (std::exchange(s.ocsp_stale, false)) {
          ocsp_fetch(self); // that answer was about the replaced certificate
          return;
        }
        on_ocsp(self, sink, der, error);
      },
      [self](stop_atom) -> ok_atom {
        if (auto& cancel = self->state.order.cancel)
          cancel->store(true);
        self->quit();
        return ok_atom::value;
      },
  };
}

} // namespace ika::actors
