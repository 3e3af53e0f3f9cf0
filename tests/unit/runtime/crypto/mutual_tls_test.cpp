// Configuring caf::openssl: all three files or nothing, each checked, the
// config untouched on error; split files are private and go away.

#include "runtime/crypto/mutual_tls.hpp"

#include "tests/support/temp_dir.hpp"
#include "tests/unit/runtime/crypto/test_support.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>

#include <openssl/rand.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace ika::crypto {
namespace {

using ika::test::temp_dir;
using test::mode_of;
using test::read_file;
namespace fs = std::filesystem;

node_credentials make_node(const fs::path& data) {
  auto result = ensure_node_credentials(data, "test-node");
  if (auto* error = std::get_if<credential_error>(&result))
    throw std::runtime_error(error->to_string());
  return std::move(std::get<node_credentials>(result));
}

bool untouched(const caf::actor_system_config& cfg) {
  return cfg.openssl_certificate.empty() && cfg.openssl_key.empty() && cfg.openssl_cafile.empty();
}

TEST(CredentialsMutualTls, NodeFilesConfigureAllThreeKeys) {
  temp_dir dir{"ika-crypto"};
  auto creds = make_node(dir.path());
  caf::actor_system_config cfg;
  cfg.openssl_capath = "/etc/ssl/certs"; // would widen trust: cleared
  auto error = configure_mutual_tls(cfg, creds.node_files, tls_role::server);
  ASSERT_FALSE(error.has_value()) << error->to_string();
  EXPECT_EQ(cfg.openssl_certificate, creds.node_files.certificate.string());
  EXPECT_EQ(cfg.openssl_key, creds.node_files.key.string());
  EXPECT_EQ(cfg.openssl_cafile, creds.node_files.ca.string());
  EXPECT_TRUE(cfg.openssl_capath.empty());
  EXPECT_TRUE(fs::path{cfg.openssl_certificate}.is_absolute());
}

TEST(CredentialsMutualTls, ReadsUntilTheConnectionIsDrained) {
  temp_dir dir{"ika-crypto"};
  auto creds = make_node(dir.path());
  caf::actor_system_config cfg;
  ASSERT_FALSE(configure_mutual_tls(cfg, creds.node_files, tls_role::server).has_value());
  EXPECT_GE(caf::get_or(cfg, "middleman.max-consecutive-reads", std::size_t{0}), std::size_t{100'000});
}

// caf::openssl's client handshake runs on a detached thread that CAF never
// joins; one that ended after OpenSSL's exit-time cleanup leaked its random
// generators and error queue (LeakSanitizer, once in CI). Such a thread now
// frees them as it ends, while its actor system still runs.
TEST(CredentialsMutualTls, DetachedThreadsFreeTheirOpenSslStateAsTheyEnd) {
  temp_dir dir{"ika-crypto"};
  auto creds = make_node(dir.path());
  caf::actor_system_config cfg;
  ASSERT_FALSE(configure_mutual_tls(cfg, creds.node_files, tls_role::client).has_value());
  caf::actor_system sys{cfg};
  auto before = openssl_thread_states_released();
  // (An argument: CAF 0.17 binds a null reference for a function actor
  // spawned without one.)
  sys.spawn<caf::detached>(
      [](caf::event_based_actor* self, int size) {
        unsigned char bytes[16];
        EXPECT_EQ(RAND_bytes(bytes, size), 1); // this thread's generators
        self->quit();
      },
      16);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (openssl_thread_states_released() == before && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  EXPECT_EQ(openssl_thread_states_released(), before + 1);
}

TEST(CredentialsMutualTls, AnyMissingPieceIsAnErrorAndChangesNothing) {
  temp_dir dir{"ika-crypto"};
  auto creds = make_node(dir.path());
  for (int missing = 0; missing < 3; ++missing) {
    tls_files files = creds.node_files;
    (missing == 0 ? files.certificate : missing == 1 ? files.key : files.ca).clear();
    caf::actor_system_config cfg;
    auto error = configure_mutual_tls(cfg, files, tls_role::server);
    ASSERT_TRUE(error.has_value()) << missing;
    EXPECT_NE(error->message.find(missing == 0   ? "openssl.certificate"
                                  : missing == 1 ? "openssl.key"
                                                 : "openssl.cafile"),
              std::string::npos)
        << error->message;
    EXPECT_TRUE(untouched(cfg));
  }
  tls_files files = creds.node_files;
  files.ca = dir.path() / "nope.crt";
  caf::actor_system_config cfg;
  auto error = configure_mutual_tls(cfg, files, tls_role::server);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->path, files.ca.string());
  EXPECT_TRUE(untouched(cfg));
}

TEST(CredentialsMutualTls, WrongFilesAreNamed) {
  temp_dir dir{"ika-crypto"};
  auto creds = make_node(dir.path());
  caf::actor_system_config cfg;
  // The admin key with the node certificate.
  tls_files files = creds.node_files;
  files.key = creds.admin_files.key;
  auto error = configure_mutual_tls(cfg, files, tls_role::server);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->path, files.key.string()) << error->to_string();
  EXPECT_NE(error->message.find("does not match"), std::string::npos);
  // The admin certificate cannot serve.
  error = configure_mutual_tls(cfg, creds.admin_files, tls_role::server);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->path, creds.admin_files.certificate.string()) << error->to_string();
  // A CA from elsewhere.
  temp_dir other{"ika-crypto"};
  auto foreign = make_node(other.path());
  files = creds.node_files;
  files.ca = foreign.node_files.ca;
  error = configure_mutual_tls(cfg, files, tls_role::server);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->path, files.certificate.string()) << error->to_string();
  EXPECT_TRUE(untouched(cfg));
}

TEST(CredentialsMutualTls, PrivateFilesAreSplitPrivateAndRemoved) {
  temp_dir dir{"ika-crypto"};
  auto creds = make_node(dir.path());
  fs::path where;
  {
    auto written = private_tls_files::write(creds.admin, tls_role::client, dir.path());
    ASSERT_TRUE(std::holds_alternative<private_tls_files>(written))
        << std::get<credential_error>(written).to_string();
    auto moved = std::move(std::get<private_tls_files>(written));
    where = moved.directory();
    EXPECT_EQ(where.parent_path(), dir.path());
    EXPECT_EQ(mode_of(where), 0700u);
    for (auto& p : {moved.files().certificate, moved.files().key, moved.files().ca})
      EXPECT_EQ(mode_of(p), 0600u) << p;
    EXPECT_EQ(read_file(moved.files().certificate), creds.admin.certificate_pem);
    EXPECT_EQ(read_file(moved.files().ca), creds.ca.certificate_pem());
    caf::actor_system_config cfg;
    auto error = configure_mutual_tls(cfg, moved.files(), tls_role::client);
    EXPECT_FALSE(error.has_value()) << error->to_string();
  }
  EXPECT_FALSE(fs::exists(where));
  // An identity that does not hold together is not written at all.
  tls_identity broken = creds.admin;
  broken.private_key_pem = creds.node.private_key_pem;
  auto written = private_tls_files::write(broken, tls_role::client, dir.path());
  EXPECT_TRUE(std::holds_alternative<credential_error>(written));
}

} // namespace
} // namespace ika::crypto
