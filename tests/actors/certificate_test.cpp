// The certificate actor in a real actor system, reporting to a scoped actor:
// self-signed certificates from the local CA, the user's files (made with
// the openssl CLI) watched for changes, and ACME orders against pebble (a
// real process) or against peers that fail or hang. Plus its pure helpers.

#include "actors/certificate.hpp"

#include "protocol/types.hpp"
#include "runtime/crypto/certs.hpp"
#include "runtime/crypto/ocsp.hpp"
#include "tests/actors/actor_test_config.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/pebble_fixture.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/runtime/acme/acme_test_support.hpp"
#include "tests/unit/runtime/crypto/ocsp_test_support.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <vector>

namespace {

using namespace ika;
using namespace ika::actors;
using namespace ika::protocol;
using namespace std::chrono;
using namespace std::chrono_literals;
using ika::test::temp_dir;

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::int64_t unix_now() {
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

/// An actor system and a scoped actor that is the certificate actor's sink.
class CertificateActorTest : public ::testing::Test {
protected:
  CertificateActorTest() : sys_(test::actor_test_config()), sink_(sys_) {}
  // A test that failed half-way leaves its actors running: they go now, or
  // the actor system would wait for them for ever.
  ~CertificateActorTest() override {
    for (const auto& a : spawned_)
      caf::anon_send_exit(a, caf::exit_reason::kill);
  }

  certificate_actor spawn(certificate_settings settings) {
    auto a = sys_.spawn(certificate, std::move(settings), caf::actor_cast<caf::actor>(sink_));
    spawned_.push_back(a);
    return a;
  }

  /// The next status the actor reports, or nothing within `timeout`.
  std::optional<certificate_status> next_status(milliseconds timeout) {
    std::optional<certificate_status> out;
    sink_->receive([&](certificate_atom, const certificate_status& s) { out = s; },
                   caf::after(timeout) >> [] {});
    if (out)
      seen_.push_back(*out);
    return out;
  }

  /// Reads statuses until one satisfies `pred` (returned) or `timeout`.
  template <class Pred>
  std::optional<certificate_status> wait_for(Pred pred, milliseconds timeout = 10s) {
    auto deadline = steady_clock::now() + timeout;
    for (;;) {
      auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
      if (left <= 0ms)
        return std::nullopt;
      auto s = next_status(left);
      if (!s)
        return std::nullopt;
      if (pred(*s))
        return s;
    }
  }

  template <class T>
  std::optional<T> ask(const certificate_actor& a, T dummy, auto atom) {
    std::optional<T> out;
    (void)dummy;
    sink_->request(a, 5s, atom).receive([&](T& x) { out = std::move(x); }, [&](caf::error&) {});
    return out;
  }

  std::optional<certificate_status> status_of(const certificate_actor& a) {
    return ask(a, certificate_status{}, status_atom::value);
  }

  bool stop(const certificate_actor& a) { return ask(a, ok_atom::value, stop_atom::value).has_value(); }

  /// Every status seen so far, for failure messages.
  std::string history() const {
    std::string out;
    for (const auto& s : seen_)
      out += "  " + s.state + " gen " + std::to_string(s.generation) + " error \"" + s.error + "\"\n";
    return out;
  }

  caf::actor_system sys_;
  caf::scoped_actor sink_;
  std::vector<certificate_status> seen_;
  std::vector<certificate_actor> spawned_;
};

// -- pure helpers -------------------------------------------------------------------------

TEST(CertificateActorHelpers, RenewalTimeIsTheLastThirdMinusJitter) {
  auto nb = system_clock::time_point{} + hours{24 * 1000};
  auto na = nb + hours{24 * 90};
  auto lifetime = na - nb;
  auto now = nb + hours{1};
  auto third = na - lifetime / 3;
  EXPECT_EQ(renewal_time(nb, na, 0.0, now), third);
  auto full = renewal_time(nb, na, 1.0, now);
  EXPECT_EQ(full, third - lifetime / 20);
  for (double j : {0.1, 0.5, 0.9}) {
    auto t = renewal_time(nb, na, j, now);
    EXPECT_LT(t, third);
    EXPECT_GT(t, full);
  }
  // Clamped jitter, never before now, and a nonsense lifetime is due now.
  EXPECT_EQ(renewal_time(nb, na, 7.0, now), full);
  EXPECT_EQ(renewal_time(nb, na, -1.0, now), third);
  auto late = na - hours{1};
  EXPECT_EQ(renewal_time(nb, na, 0.5, late), late);
  EXPECT_EQ(renewal_time(na, nb, 0.5, now), now);
}

TEST(CertificateActorHelpers, RenewalIsDueInTheLastThird) {
  auto nb = system_clock::time_point{} + hours{24 * 1000};
  auto na = nb + hours{90};
  EXPECT_FALSE(renewal_due(nb, na, nb));
  EXPECT_FALSE(renewal_due(nb, na, nb + hours{59}));
  EXPECT_TRUE(renewal_due(nb, na, nb + hours{60}));
  EXPECT_TRUE(renewal_due(nb, na, na + hours{1}));
  EXPECT_TRUE(renewal_due(na, nb, nb));
}

TEST(CertificateActorHelpers, RetryDelayDoublesCapsAndHonoursRetryAfter) {
  EXPECT_EQ(retry_delay(1, 30s, 6h), 30s);
  EXPECT_EQ(retry_delay(2, 30s, 6h), 60s);
  EXPECT_EQ(retry_delay(3, 30s, 6h), 120s);
  EXPECT_EQ(retry_delay(12, 30s, 6h), 6h);
  EXPECT_EQ(retry_delay(4'000'000'000u, 30s, 6h), 6h); // no overflow
  EXPECT_EQ(retry_delay(1, 30s, 6h, 3600s), 3600s);    // the CA's Retry-After wins
  EXPECT_EQ(retry_delay(12, 30s, 6h, 10s), 6h);
  EXPECT_EQ(retry_delay(1, 0ms, 0ms), 100ms); // never a tight loop
  EXPECT_EQ(retry_delay(3, 200ms, 500ms), 500ms);
}

// -- names ----------------------------------------------------------------------------------

TEST_F(CertificateActorTest, InvalidNameFailsWithAClearError) {
  temp_dir dir{"ika-certificate"};
  certificate_settings s;
  s.name = "Bad Name/..";
  s.source = "self-signed";
  s.data_dir = dir.path();
  auto a = spawn(s);
  auto st = next_status(5s);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->state, "failed");
  EXPECT_NE(st->error.find("invalid certificate name"), std::string::npos) << st->error;
  EXPECT_EQ(st->generation, 0u);
  EXPECT_TRUE(st->chain_file.empty());
  EXPECT_FALSE(std::filesystem::exists(dir / "certs"));
  EXPECT_TRUE(stop(a));
}

TEST_F(CertificateActorTest, WildcardWithAcmeFailsWithoutAnOrder) {
  temp_dir dir{"ika-certificate"};
  acme::test::http_test_server ca{[](const std::string&, const std::string&) {
    return acme::test::http_test_server::reply{500, "no", {}};
  }};
  certificate_settings s;
  s.name = "*.apps.example.com";
  s.source = "acme";
  s.data_dir = dir.path();
  s.acme.directory_url = "http://127.0.0.1:" + std::to_string(ca.port()) + "/dir";
  s.tokens = std::make_shared<acme::challenge_tokens>();
  auto a = spawn(s);
  auto st = next_status(5s);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->state, "failed");
  EXPECT_EQ(st->error, "ACME HTTP-01 cannot issue wildcard certificates");
  auto again = ask(a, certificate_status{}, renew_atom::value);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->state, "failed");
  EXPECT_FALSE(next_status(300ms)) << history();
  EXPECT_EQ(ca.requests(), 0);
  EXPECT_TRUE(stop(a));
}

// -- self-signed ----------------------------------------------------------------------------

TEST_F(CertificateActorTest, SelfSignedIsIssuedSavedAndReused) {
  temp_dir dir{"ika-certificate"};
  certificate_settings s;
  s.name = "app.test";
  s.source = "self-signed";
  s.data_dir = dir.path();
  auto a = spawn(s);
  auto st = wait_for([](const certificate_status& x) { return x.state == "valid"; });
  ASSERT_TRUE(st) << history();
  EXPECT_EQ(st->name, "app.test");
  EXPECT_EQ(st->source, "self-signed");
  EXPECT_EQ(st->generation, 1u);
  EXPECT_EQ(st->error, "");
  EXPECT_EQ(st->chain_file, st->key_file);
  EXPECT_EQ(st->chain_file, dir / "certs/app.test/certificate.pem");
  EXPECT_NEAR(static_cast<double>(st->not_after - st->not_before),
              static_cast<double>(duration_cast<seconds>(crypto::local_certificate_validity).count()), 120.0);
  EXPECT_NE(st->issuer.find("ika local CA"), std::string::npos) << st->issuer;
  EXPECT_GT(st->next_attempt, unix_now() + 200 * 24 * 3600); // renewal in the last third
  struct stat info {};
  ASSERT_EQ(::stat(st->chain_file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  std::string pem = slurp(st->chain_file);
  EXPECT_EQ(acme::test::check_chain(pem, slurp(dir / "certs/local-ca.crt"), {"app.test"}), "");
  EXPECT_TRUE(stop(a));

  // A second actor on the same data dir takes the saved one as it is.
  auto b = spawn(s);
  auto again = wait_for([](const certificate_status& x) { return x.state == "valid"; });
  ASSERT_TRUE(again) << history();
  EXPECT_EQ(again->not_after, st->not_after);
  EXPECT_EQ(again->not_before, st->not_before);
  EXPECT_EQ(slurp(st->chain_file), pem); // not issued again
  auto now = status_of(b);
  ASSERT_TRUE(now);
  EXPECT_EQ(now->state, "valid");

  // renew issues a new one at once: a new generation, a new serial.
  auto renewed = ask(b, certificate_status{}, renew_atom::value);
  ASSERT_TRUE(renewed);
  EXPECT_EQ(renewed->generation, 2u);
  auto next = next_status(5s);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->generation, 2u);
  EXPECT_NE(slurp(st->chain_file), pem);
  EXPECT_TRUE(stop(b));
}

TEST_F(CertificateActorTest, SelfSignedWildcardCoversItsSubdomains) {
  temp_dir dir{"ika-certificate"};
  certificate_settings s;
  s.name = "*.apps.test";
  s.source = "self-signed";
  s.data_dir = dir.path();
  auto a = spawn(s);
  auto st = next_status(5s);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->state, "valid") << st->error;
  EXPECT_EQ(st->chain_file, dir / "certs/_wildcard_.apps.test/certificate.pem");
  EXPECT_EQ(acme::test::check_chain(slurp(st->chain_file), slurp(dir / "certs/local-ca.crt"), {}), "");
  auto files = crypto::read_certificate_files(st->chain_file, st->key_file);
  ASSERT_TRUE(std::holds_alternative<crypto::certificate_files>(files));
  EXPECT_TRUE(std::get<crypto::certificate_files>(files).info.covers("x.apps.test"));
  EXPECT_FALSE(std::get<crypto::certificate_files>(files).info.covers("apps.test"));
  EXPECT_TRUE(stop(a));
}

TEST_F(CertificateActorTest, SelfSignedIsRenewedByTheTimerInTheLastThird) {
  temp_dir dir{"ika-certificate"};
  // A saved certificate valid from a minute ago for 38 s more: its last
  // third (32.7 s) begins in 5.3 s, minus up to 4.9 s of jitter.
  auto ca = crypto::ensure_local_ca(dir.path());
  ASSERT_TRUE(std::holds_alternative<crypto::local_ca>(ca));
  auto short_lived =
      crypto::issue_local_certificate(std::get<crypto::local_ca>(ca).authority, {"soon.test"}, 38s);
  ASSERT_TRUE(std::holds_alternative<crypto::issued_certificate>(short_lived));
  auto& pair = std::get<crypto::issued_certificate>(short_lived);
  ASSERT_FALSE(crypto::save_host_certificate(dir.path(), "soon.test", pair.chain_pem, pair.key_pem));

  certificate_settings s;
  s.name = "soon.test";
  s.source = "self-signed";
  s.data_dir = dir.path();
  auto a = spawn(s);
  auto first = next_status(5s);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->state, "valid");
  EXPECT_EQ(first->generation, 1u);
  EXPECT_LE(first->not_after, unix_now() + 39); // the saved one, not due yet
  EXPECT_GE(first->next_attempt, unix_now());
  EXPECT_LE(first->next_attempt, unix_now() + 6);
  auto renewed = next_status(8s);
  ASSERT_TRUE(renewed) << history();
  EXPECT_EQ(renewed->generation, 2u);
  EXPECT_EQ(renewed->state, "valid");
  EXPECT_GT(renewed->not_after, unix_now() + 300 * 24 * 3600);
  EXPECT_TRUE(stop(a));
}

// -- files ----------------------------------------------------------------------------------

/// A P-256 certificate and key for `name` made with the openssl CLI, valid
/// for `days`; the key chmod 0600 (or `key_mode`).
bool make_pair_with_openssl(const std::string& chain, const std::string& key, const std::string& name,
                            int days, mode_t key_mode = 0600) {
  std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout '" +
                    key + "' -out '" + chain + "' -days " + std::to_string(days) + " -subj /CN=" + name +
                    " -addext subjectAltName=DNS:" + name + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0)
    return false;
  return ::chmod(key.c_str(), key_mode) == 0;
}

TEST_F(CertificateActorTest, FilesAreLoadedWatchedAndABrokenPairKeepsTheOldOne) {
  temp_dir dir{"ika-certificate"};
  std::string chain = dir / "chain.pem", key = dir / "key.pem";
  ASSERT_TRUE(make_pair_with_openssl(chain, key, "files.test", 30));
  certificate_settings s;
  s.name = "files.test";
  s.source = "files";
  s.data_dir = dir.path();
  s.chain_file = chain;
  s.key_file = key;
  s.poll_interval = 50ms;
  auto a = spawn(s);
  auto st = next_status(5s);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->state, "valid") << st->error;
  EXPECT_EQ(st->generation, 1u);
  EXPECT_EQ(st->chain_file, chain);
  EXPECT_EQ(st->key_file, key);
  EXPECT_EQ(st->issuer, "files.test"); // self-signed by openssl
  EXPECT_NEAR(static_cast<double>(st->not_after), static_cast<double>(unix_now() + 30 * 24 * 3600), 120.0);
  EXPECT_FALSE(next_status(200ms)) << "no change, no news\n" << history();

  // A new pair, each file written aside and renamed into place.
  ASSERT_TRUE(make_pair_with_openssl(dir / "chain.new", dir / "key.new", "files.test", 60));
  ASSERT_EQ(::rename((dir / "key.new").c_str(), key.c_str()), 0);
  ASSERT_EQ(::rename((dir / "chain.new").c_str(), chain.c_str()), 0);
  auto changed = wait_for(
      [](const certificate_status& x) { return x.generation == 2 && x.state == "valid" && x.error.empty(); },
      2s);
  ASSERT_TRUE(changed) << history();
  EXPECT_NEAR(static_cast<double>(changed->not_after), static_cast<double>(unix_now() + 60 * 24 * 3600),
              120.0);

  // A broken key: reported, the old generation stays.
  {
    std::ofstream out(dir / "key.bad");
    out << "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n";
  }
  ASSERT_EQ(::chmod((dir / "key.bad").c_str(), 0600), 0);
  ASSERT_EQ(::rename((dir / "key.bad").c_str(), key.c_str()), 0);
  auto broken = wait_for([](const certificate_status& x) { return !x.error.empty(); }, 2s);
  ASSERT_TRUE(broken) << history();
  EXPECT_EQ(broken->generation, 2u);
  EXPECT_EQ(broken->state, "valid");
  EXPECT_EQ(broken->not_after, changed->not_after);
  EXPECT_NE(broken->error.find(key), std::string::npos) << broken->error;
  EXPECT_FALSE(next_status(200ms)) << "the same broken file is reported once\n" << history();

  // renew re-reads at once (still broken: same answer).
  auto renewed = ask(a, certificate_status{}, renew_atom::value);
  ASSERT_TRUE(renewed);
  EXPECT_EQ(renewed->generation, 2u);
  EXPECT_FALSE(renewed->error.empty());
  EXPECT_TRUE(stop(a));
}

// OCSP stapling as the actor runs it: the responder's good answer is
// reported (and kept in the data dir), refreshed; a responder that fails
// leaves the current answer stapled; a revocation drops it (and the kept
// one); a good answer later is stapled again.
TEST_F(CertificateActorTest, OcspAnswersAreStapledKeptAndDroppedOnRevocation) {
  namespace ot = ika::crypto::ocsp_testing;
  temp_dir dir{"ika-certificate"};
  std::mutex m;
  int http_status = 200;
  std::string answer;
  acme::test::http_test_server responder{[&](const std::string& method, const std::string&) {
    std::lock_guard<std::mutex> guard{m};
    if (method != "POST")
      return acme::test::http_test_server::reply{405, "", {}};
    return acme::test::http_test_server::reply{http_status, answer,
                                               "Content-Type: application/ocsp-response\r\n"};
  }};
  auto ca_key = ot::new_key(), leaf_key = ot::new_key();
  auto ca = ot::make_cert({.cn = "OCSP test CA", .serial = 1, .ca = true}, ca_key.get());
  auto leaf = ot::make_cert({.cn = "ocsp.test",
                             .serial = 2,
                             .ocsp_url = "http://127.0.0.1:" + std::to_string(responder.port()) + "/"},
                            leaf_key.get(), ca.get(), ca_key.get());
  std::string chain = dir / "chain.pem", key = dir / "key.pem";
  {
    std::ofstream(chain) << ot::pem(leaf.get()) << ot::pem(ca.get());
    std::ofstream(key) << ot::key_pem(leaf_key.get());
  }
  ASSERT_EQ(::chmod(key.c_str(), 0600), 0);
  // Past its half-life at once: asked again every second (the floor here).
  auto set_answer = [&](int status, int cert_status) {
    std::lock_guard<std::mutex> guard{m};
    http_status = status;
    answer = ot::respond(leaf.get(), ca.get(), ca.get(), ca_key.get(), {cert_status, -60, 30});
  };
  set_answer(200, V_OCSP_CERTSTATUS_GOOD);
  certificate_settings s;
  s.name = "ocsp.test";
  s.source = "files";
  s.data_dir = dir.path();
  s.chain_file = chain;
  s.key_file = key;
  s.ocsp_min_refresh = 1s;
  s.ocsp_min_backoff = 100ms;
  s.ocsp_max_backoff = 200ms;
  auto a = spawn(s);
  auto history_of = [&] {
    std::string out;
    for (const auto& x : seen_)
      out += "  ocsp " + x.ocsp + " staple " + std::to_string(x.ocsp_staple.size()) + " error \"" +
             x.ocsp_error + "\"\n";
    return out;
  };
  auto good = wait_for([](const certificate_status& x) { return x.ocsp == "good"; });
  ASSERT_TRUE(good) << history_of();
  EXPECT_FALSE(good->ocsp_staple.empty());
  EXPECT_GT(good->ocsp_until, unix_now());
  auto fingerprint =
      std::get<crypto::ocsp_query>(crypto::ocsp_query_for(ot::pem(leaf.get()) + ot::pem(ca.get())))
          .fingerprint;
  auto kept = crypto::load_ocsp_staple(dir.path(), fingerprint);
  ASSERT_TRUE(std::holds_alternative<std::optional<std::string>>(kept));
  EXPECT_EQ(std::get<std::optional<std::string>>(kept).value_or(""), good->ocsp_staple);

  // The responder fails: the current answer stays stapled, the error shows.
  set_answer(503, V_OCSP_CERTSTATUS_GOOD);
  auto failing = wait_for([](const certificate_status& x) { return !x.ocsp_error.empty(); });
  ASSERT_TRUE(failing) << history_of();
  EXPECT_NE(failing->ocsp_error.find("answered HTTP 503"), std::string::npos) << failing->ocsp_error;
  EXPECT_EQ(failing->ocsp, "good");
  EXPECT_FALSE(failing->ocsp_staple.empty());

  // Revoked: no staple from now on, none kept for a restart.
  set_answer(200, V_OCSP_CERTSTATUS_REVOKED);
  auto revoked =
      wait_for([](const certificate_status& x) { return x.ocsp_error.find("revoked") != std::string::npos; });
  ASSERT_TRUE(revoked) << history_of();
  EXPECT_EQ(revoked->ocsp, "failed");
  EXPECT_TRUE(revoked->ocsp_staple.empty());
  EXPECT_EQ(revoked->ocsp_until, 0);
  kept = crypto::load_ocsp_staple(dir.path(), fingerprint);
  ASSERT_TRUE(std::holds_alternative<std::optional<std::string>>(kept));
  EXPECT_FALSE(std::get<std::optional<std::string>>(kept).has_value());

  // Good again (a wrong revocation undone): stapled again.
  set_answer(200, V_OCSP_CERTSTATUS_GOOD);
  auto again = wait_for([](const certificate_status& x) { return x.ocsp == "good" && x.ocsp_error.empty(); });
  ASSERT_TRUE(again) << history_of();
  EXPECT_FALSE(again->ocsp_staple.empty());
  // The certificate itself never changed.
  EXPECT_EQ(again->generation, good->generation);
  EXPECT_GE(responder.requests(), 4);
  EXPECT_TRUE(stop(a));
}

TEST_F(CertificateActorTest, FilesWithAKeyOthersCanReadFail) {
  temp_dir dir{"ika-certificate"};
  std::string chain = dir / "chain.pem", key = dir / "key.pem";
  ASSERT_TRUE(make_pair_with_openssl(chain, key, "files.test", 30, 0644));
  certificate_settings s;
  s.name = "files.test";
  s.source = "files";
  s.chain_file = chain;
  s.key_file = key;
  s.poll_interval = 50ms;
  auto a = spawn(s);
  auto st = next_status(5s);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->state, "failed");
  EXPECT_EQ(st->generation, 0u);
  EXPECT_TRUE(st->chain_file.empty());
  EXPECT_NE(st->error.find("group or others may access"), std::string::npos) << st->error;
  EXPECT_NE(st->error.find(key), std::string::npos) << st->error;
  // Fixing the permissions is noticed by the poll.
  ASSERT_EQ(::chmod(key.c_str(), 0600), 0);
  auto fixed = wait_for([](const certificate_status& x) { return x.state == "valid"; }, 2s);
  ASSERT_TRUE(fixed) << history();
  EXPECT_EQ(fixed->generation, 1u);
  EXPECT_EQ(fixed->error, "");
  EXPECT_TRUE(stop(a));
}

// -- acme without a CA ----------------------------------------------------------------------

TEST_F(CertificateActorTest, AcmeFailuresAreRetriedWithBackoff) {
  temp_dir dir{"ika-certificate"};
  certificate_settings s;
  s.name = "down.example.com";
  s.source = "acme";
  s.data_dir = dir.path();
  s.acme.directory_url = "http://127.0.0.1:" + std::to_string(acme::test::free_port()) + "/dir";
  s.acme.account_key_file = dir / "account.key";
  s.acme.request_timeout = 2s;
  s.tokens = std::make_shared<acme::challenge_tokens>();
  s.min_backoff = 200ms;
  s.max_backoff = 800ms;
  auto a = spawn(s);
  auto first = wait_for([](const certificate_status& x) { return x.state == "failed"; }, 5s);
  ASSERT_TRUE(first) << history();
  EXPECT_FALSE(first->error.empty());
  EXPECT_GE(first->next_attempt, unix_now());
  EXPECT_EQ(first->generation, 0u);
  EXPECT_EQ(seen_.front().state, "pending"); // the order's start was reported

  // Over 2.2 s: retries after 0.2, 0.4, 0.8, 0.8 s: about 5 failures, not dozens.
  int failures = 1;
  auto window_end = steady_clock::now() + 2200ms;
  while (steady_clock::now() < window_end) {
    auto left = duration_cast<milliseconds>(window_end - steady_clock::now());
    auto st = next_status(std::max(left, 1ms));
    if (st && st->state == "failed")
      ++failures;
  }
  EXPECT_GE(failures, 3) << history();
  EXPECT_LE(failures, 7) << history();
  EXPECT_TRUE(stop(a));
}

TEST_F(CertificateActorTest, AcmeStopDuringAnOrderReturnsPromptly) {
  temp_dir dir{"ika-certificate"};
  acme::test::http_test_server hung{
      [](const std::string&, const std::string&) { return acme::test::http_test_server::reply{}; },
      /*respond=*/false};
  certificate_settings s;
  s.name = "slow.example.com";
  s.source = "acme";
  s.data_dir = dir.path();
  s.acme.directory_url = "http://127.0.0.1:" + std::to_string(hung.port()) + "/dir";
  s.acme.account_key_file = dir / "account.key";
  s.acme.request_timeout = 1s;
  s.tokens = std::make_shared<acme::challenge_tokens>();
  auto a = spawn(s);
  auto pending = next_status(5s);
  ASSERT_TRUE(pending);
  EXPECT_EQ(pending->state, "pending");
  ASSERT_TRUE(ika::test::eventually([&] { return hung.requests() >= 1; }, 5s));
  // renew while the order runs: the current status, no second order.
  auto during = ask(a, certificate_status{}, renew_atom::value);
  ASSERT_TRUE(during);
  EXPECT_EQ(during->state, "pending");
  sink_->monitor(a);
  auto t0 = steady_clock::now();
  EXPECT_TRUE(stop(a));
  EXPECT_LT(steady_clock::now() - t0, 1s);
  // The actor ends once its order thread has given up (request_timeout).
  bool down = false;
  sink_->receive([&](const caf::down_msg&) { down = true; }, caf::after(5s) >> [] {});
  EXPECT_TRUE(down);
  EXPECT_EQ(hung.requests(), 1);
}

// -- acme against pebble --------------------------------------------------------------------

TEST_F(CertificateActorTest, AcmeIssuesFromPebbleRenewsAndReusesTheSavedCertificate) {
  temp_dir dir{"ika-certificate"};
  auto tokens = std::make_shared<acme::challenge_tokens>();
  std::atomic<int> served{0};
  std::atomic<bool> answer{true};
  acme::test::http_test_server responder{[&](const std::string&, const std::string& path) {
    static constexpr std::string_view prefix = "/.well-known/acme-challenge/";
    if (answer && path.starts_with(prefix))
      if (auto found = tokens->find(std::string_view{path}.substr(prefix.size()))) {
        ++served;
        return acme::test::http_test_server::reply{200, *found, "Content-Type: text/plain\r\n"};
      }
    return acme::test::http_test_server::reply{404, "no such token", {}};
  }};
  auto pebble = std::make_unique<acme::test::pebble_ca>(dir.path(), responder.port(),
                                                        std::vector<std::string>{"PEBBLE_AUTHZREUSE=0"});
  ASSERT_TRUE(pebble->ready) << pebble->logs();

  certificate_settings s;
  s.name = "cert.ika.test";
  s.source = "acme";
  s.data_dir = dir / "data";
  s.acme.directory_url = pebble->directory_url();
  s.acme.ca_bundle = pebble->ca_file;
  s.acme.account_key_file = dir / "account.key";
  s.acme.poll_limit = 20s;
  s.tokens = tokens;
  auto a = spawn(s);
  auto valid =
      wait_for([](const certificate_status& x) { return x.state == "valid" || x.state == "failed"; }, 25s);
  ASSERT_TRUE(valid) << history() << pebble->logs();
  ASSERT_EQ(valid->state, "valid") << valid->error << "\n" << pebble->logs();
  EXPECT_EQ(valid->generation, 1u);
  EXPECT_NE(valid->issuer.find("Pebble"), std::string::npos) << valid->issuer;
  EXPECT_EQ(valid->chain_file, s.data_dir.string() + "/certs/cert.ika.test/certificate.pem");
  EXPECT_EQ(valid->chain_file, valid->key_file);
  EXPECT_GT(valid->next_attempt, unix_now());
  EXPECT_GE(served.load(), 1);
  EXPECT_EQ(tokens->size(), 0u); // withdrawn after the order
  std::string first_pem = slurp(valid->chain_file);
  EXPECT_EQ(acme::test::check_chain(first_pem, pebble->root_pem(), {"cert.ika.test"}), "");

  auto renewing = ask(a, certificate_status{}, renew_atom::value);
  ASSERT_TRUE(renewing);
  EXPECT_EQ(renewing->state, "renewing");
  EXPECT_EQ(renewing->generation, 1u);
  auto renewed =
      wait_for([](const certificate_status& x) { return x.generation == 2 || x.state == "valid"; }, 25s);
  ASSERT_TRUE(renewed) << history();
  EXPECT_EQ(renewed->generation, 2u) << renewed->error;
  EXPECT_EQ(renewed->state, "valid");
  EXPECT_NE(slurp(valid->chain_file), first_pem);

  // A renewal that fails (the responder stops answering): the current
  // certificate stays, the error is reported, a retry is planned. Pebble
  // reuses a valid authorization now and then even with
  // PEBBLE_AUTHZREUSE=0 (it reuses when rand.Intn(100) <= the percentage):
  // then there is no challenge to fail and the renewal succeeds, so the
  // test asks again (five misses in a row: 1 in 10^10).
  answer = false;
  std::optional<certificate_status> failed;
  std::string kept_pem;
  for (int attempt = 0; attempt < 5 && !(failed && !failed->error.empty()); ++attempt) {
    kept_pem = slurp(valid->chain_file);
    std::uint64_t before = failed ? failed->generation : renewed->generation;
    ASSERT_TRUE(ask(a, certificate_status{}, renew_atom::value));
    failed = wait_for(
        [before](const certificate_status& x) {
          return !x.error.empty() || (x.state == "valid" && x.generation > before);
        },
        25s);
    ASSERT_TRUE(failed) << history();
  }
  ASSERT_FALSE(failed->error.empty()) << history();
  EXPECT_EQ(failed->state, "valid");
  EXPECT_NE(failed->error.find("404"), std::string::npos) << failed->error;
  EXPECT_GE(failed->next_attempt, unix_now() + 25); // min_backoff 30 s
  EXPECT_EQ(slurp(valid->chain_file), kept_pem);
  EXPECT_EQ(tokens->size(), 0u);
  EXPECT_TRUE(stop(a));

  // A new actor (a restarted node) takes the saved certificate without an order.
  int served_before = served.load();
  auto b = spawn(s);
  auto reused = next_status(5s);
  ASSERT_TRUE(reused);
  EXPECT_EQ(reused->state, "valid");
  EXPECT_EQ(reused->not_after, renewed->not_after);
  EXPECT_EQ(served.load(), served_before);
  EXPECT_TRUE(stop(b));
  pebble.reset(); // kills pebble before the responder goes
}

} // namespace
