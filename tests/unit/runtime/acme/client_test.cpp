// The ACME flow end to end against pebble (Let's Encrypt's test CA, a real
// process) with pebble-challtestsrv as its DNS server and an HTTP-01
// responder thread in this test, all on 127.0.0.1 with ports picked here.

#include "runtime/acme/client.hpp"

#include "runtime/acme/https_client.hpp"
#include "runtime/crypto/credentials.hpp"
#include "tests/support/pebble_fixture.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/unit/runtime/acme/acme_test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>

#include <fstream>
#include <iostream>
#include <map>
#include <mutex>

namespace ika::acme {
namespace {

using namespace std::chrono_literals;
using ika::test::temp_dir;
using test::check_chain;
using test::child_process;
using test::http_test_server;
using test::pebble_ca;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The token map the hooks fill and the HTTP-01 responder serves.
struct token_map {
  std::mutex mutex;
  std::map<std::string, std::string> tokens;
  int published = 0;
  int withdrawn = 0;

  challenge_hooks hooks() {
    return challenge_hooks{[this](std::string token, std::string key_auth) {
                             std::lock_guard lock{mutex};
                             tokens[token] = std::move(key_auth);
                             ++published;
                           },
                           [this](std::string token) {
                             std::lock_guard lock{mutex};
                             tokens.erase(token);
                             ++withdrawn;
                           }};
  }

  http_test_server::reply serve(const std::string& path) {
    static constexpr std::string_view prefix = "/.well-known/acme-challenge/";
    std::lock_guard lock{mutex};
    if (path.starts_with(prefix)) {
      auto it = tokens.find(path.substr(prefix.size()));
      if (it != tokens.end())
        return {200, it->second, "Content-Type: text/plain\r\n"};
    }
    return {404, "no such token", {}};
  }
};

std::string new_certificate_key() {
  auto k = ec_key::generate();
  return std::string{std::get<ec_key>(k).to_pem().view()};
}

class AcmePebble : public ::testing::Test {
protected:
  void start(std::vector<std::string> env = {}, bool answer_challenges = true) {
    answer_ = answer_challenges;
    responder_ = std::make_unique<http_test_server>([this](const std::string&, const std::string& path) {
      if (!answer_)
        return http_test_server::reply{404, "not here", {}};
      return tokens_.serve(path);
    });
    pebble_ = std::make_unique<pebble_ca>(dir_.path(), responder_->port(), std::move(env));
    ASSERT_TRUE(pebble_->ready) << pebble_->logs();
    settings_.directory_url = pebble_->directory_url();
    settings_.ca_bundle = pebble_->ca_file;
    settings_.account_key_file = dir_ / "account.key";
    settings_.contact_email = "ops@ika.test";
    settings_.poll_limit = 20s;
  }

  void TearDown() override {
    if (HasFailure() && pebble_)
      std::cerr << pebble_->logs() << "\n";
    pebble_.reset(); // kills the processes before the responder goes
    responder_.reset();
  }

  temp_dir dir_{"ika-acme"};
  token_map tokens_;
  std::atomic<bool> answer_{true};
  std::unique_ptr<http_test_server> responder_;
  std::unique_ptr<pebble_ca> pebble_;
  settings settings_;
};

TEST_F(AcmePebble, IssuesAVerifiableChainAndReusesTheAccount) {
  ASSERT_NO_FATAL_FAILURE(start());
  std::vector<std::string> names{"app1.ika.test", "www.app1.ika.test"};
  auto r = issue(settings_, names, new_certificate_key(), tokens_.hooks(), nullptr);
  ASSERT_TRUE(std::holds_alternative<issued>(r)) << std::get<error>(r).message;
  const auto& first = std::get<issued>(r);
  EXPECT_EQ(check_chain(first.chain_pem, pebble_->root_pem(), names), "");
  EXPECT_FALSE(first.account_url.empty());
  EXPECT_EQ(tokens_.published, 2);
  EXPECT_EQ(tokens_.withdrawn, tokens_.published);
  EXPECT_TRUE(tokens_.tokens.empty());
  EXPECT_GE(responder_->requests(), 2); // pebble really fetched the tokens

  struct stat st {};
  ASSERT_EQ(::stat(settings_.account_key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string key_before = read_file(settings_.account_key_file);

  // Same account key file: the CA finds the existing account.
  auto again = issue(settings_, {"app2.ika.test"}, new_certificate_key(), tokens_.hooks(), nullptr);
  ASSERT_TRUE(std::holds_alternative<issued>(again)) << std::get<error>(again).message;
  EXPECT_EQ(std::get<issued>(again).account_url, first.account_url);
  EXPECT_EQ(read_file(settings_.account_key_file), key_before);
  EXPECT_EQ(check_chain(std::get<issued>(again).chain_pem, pebble_->root_pem(), {"app2.ika.test"}), "");
  EXPECT_TRUE(tokens_.tokens.empty());

  // Cancelled while a token is published: stops before the next request and
  // still withdraws the token.
  std::atomic<bool> cancel{false};
  challenge_hooks hooks = tokens_.hooks();
  auto publish = hooks.publish;
  hooks.publish = [&](std::string token, std::string key_auth) {
    publish(std::move(token), std::move(key_auth));
    cancel = true;
  };
  int published_before = tokens_.published;
  auto cancelled = issue(settings_, {"app3.ika.test"}, new_certificate_key(), hooks, &cancel);
  ASSERT_TRUE(std::holds_alternative<error>(cancelled));
  EXPECT_NE(std::get<error>(cancelled).message.find("cancelled"), std::string::npos)
      << std::get<error>(cancelled).message;
  EXPECT_EQ(tokens_.published, published_before + 1);
  EXPECT_EQ(tokens_.withdrawn, tokens_.published);
  EXPECT_TRUE(tokens_.tokens.empty());
}

TEST_F(AcmePebble, SucceedsWhenTheCaRejectsHalfTheNonces) {
  ASSERT_NO_FATAL_FAILURE(start({"PEBBLE_WFE_NONCEREJECT=50"}));
  int retries = 0;
  for (const char* name : {"n1.ika.test", "n2.ika.test"}) {
    auto r = issue(settings_, {name}, new_certificate_key(), tokens_.hooks(), nullptr);
    ASSERT_TRUE(std::holds_alternative<issued>(r)) << std::get<error>(r).message;
    EXPECT_EQ(check_chain(std::get<issued>(r).chain_pem, pebble_->root_pem(), {name}), "");
    retries += std::get<issued>(r).bad_nonce_retries;
  }
  // About 20 signed requests at 50%: no rejection at all would be a 1 in 10^6 event.
  EXPECT_GT(retries, 0);
  EXPECT_TRUE(tokens_.tokens.empty());
}

TEST_F(AcmePebble, GivesUpWhenTheCaRejectsEveryNonce) {
  ASSERT_NO_FATAL_FAILURE(start({"PEBBLE_WFE_NONCEREJECT=100"}));
  auto begin = std::chrono::steady_clock::now();
  auto r = issue(settings_, {"never.ika.test"}, new_certificate_key(), tokens_.hooks(), nullptr);
  ASSERT_TRUE(std::holds_alternative<error>(r));
  const auto& message = std::get<error>(r).message;
  EXPECT_NE(message.find("newAccount"), std::string::npos) << message;
  EXPECT_NE(message.find("badNonce"), std::string::npos) << message;
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 15s); // bounded retries, not a loop
  EXPECT_EQ(tokens_.published, 0);
}

TEST_F(AcmePebble, FailedChallengeIsAnErrorNamingIt) {
  ASSERT_NO_FATAL_FAILURE(start({}, /*answer_challenges=*/false));
  auto begin = std::chrono::steady_clock::now();
  auto r = issue(settings_, {"broken.ika.test"}, new_certificate_key(), tokens_.hooks(), nullptr);
  ASSERT_TRUE(std::holds_alternative<error>(r));
  const auto& message = std::get<error>(r).message;
  EXPECT_NE(message.find("broken.ika.test"), std::string::npos) << message;
  EXPECT_NE(message.find("http-01 challenge failed"), std::string::npos) << message;
  EXPECT_NE(message.find("urn:ietf:params:acme:error:"), std::string::npos) << message;
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 15s);
  EXPECT_EQ(tokens_.published, 1);
  EXPECT_EQ(tokens_.withdrawn, 1);
  EXPECT_TRUE(tokens_.tokens.empty());
}

TEST_F(AcmePebble, UntrustedCaCertificateIsRefused) {
  ASSERT_NO_FATAL_FAILURE(start());
  settings_.ca_bundle.clear(); // the system store does not know pebble's test CA
  auto r = issue(settings_, {"app1.ika.test"}, new_certificate_key(), tokens_.hooks(), nullptr);
  ASSERT_TRUE(std::holds_alternative<error>(r));
  EXPECT_NE(std::get<error>(r).message.find("directory"), std::string::npos) << std::get<error>(r).message;
  EXPECT_NE(std::get<error>(r).message.find("not trusted"), std::string::npos) << std::get<error>(r).message;
  EXPECT_EQ(tokens_.published, 0);
}

TEST(AcmeClient, CancelledBeforeStartDoesNothing) {
  temp_dir dir{"ika-acme"};
  settings s;
  s.directory_url = "https://127.0.0.1:1/dir";
  s.account_key_file = dir / "account.key";
  std::atomic<bool> cancel{true};
  int calls = 0;
  challenge_hooks hooks{[&](std::string, std::string) { ++calls; }, [&](std::string) { ++calls; }};
  auto r = issue(s, {"a.ika.test"}, new_certificate_key(), hooks, &cancel);
  ASSERT_TRUE(std::holds_alternative<error>(r));
  EXPECT_NE(std::get<error>(r).message.find("cancelled"), std::string::npos);
  EXPECT_EQ(calls, 0);
}

TEST(AcmeClient, BadInputsAreErrorsWithoutKeyMaterial) {
  temp_dir dir{"ika-acme"};
  settings s;
  s.directory_url = "https://127.0.0.1:1/dir";
  s.account_key_file = dir / "account.key";
  challenge_hooks hooks;
  auto none = issue(s, {}, new_certificate_key(), hooks, nullptr);
  ASSERT_TRUE(std::holds_alternative<error>(none));
  auto bad_key = issue(s, {"a.ika.test"}, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                       hooks, nullptr);
  ASSERT_TRUE(std::holds_alternative<error>(bad_key));
  EXPECT_EQ(std::get<error>(bad_key).message.find("AAAA"), std::string::npos);
  // Nobody listens on port 1: a connect error naming the directory step.
  auto down = issue(s, {"a.ika.test"}, new_certificate_key(), hooks, nullptr);
  ASSERT_TRUE(std::holds_alternative<error>(down));
  EXPECT_TRUE(std::get<error>(down).message.starts_with("directory: ")) << std::get<error>(down).message;
}

TEST(AcmeClient, AccountKeyFileIsCreatedOnceAndGuarded) {
  temp_dir dir{"ika-acme"};
  std::string path = dir / "account.key";
  auto a = load_or_create_account_key(path);
  ASSERT_TRUE(std::holds_alternative<ec_key>(a)) << std::get<error>(a).message;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto b = load_or_create_account_key(path);
  ASSERT_TRUE(std::holds_alternative<ec_key>(b));
  EXPECT_EQ(jwk_thumbprint(std::get<ec_key>(a)), jwk_thumbprint(std::get<ec_key>(b)));

  ::chmod(path.c_str(), 0644);
  auto c = load_or_create_account_key(path);
  ASSERT_TRUE(std::holds_alternative<error>(c));
  EXPECT_NE(std::get<error>(c).message.find(path), std::string::npos);
  EXPECT_NE(std::get<error>(c).message.find("chmod 600"), std::string::npos);

  auto d = load_or_create_account_key(dir / "missing-dir/account.key");
  ASSERT_TRUE(std::holds_alternative<error>(d));
  EXPECT_NE(std::get<error>(d).message.find("missing-dir"), std::string::npos);
}

} // namespace
} // namespace ika::acme
