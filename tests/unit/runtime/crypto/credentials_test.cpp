// The node's CA and TLS identities: created once, complete and private,
// loaded and checked on every later start; anything broken is refused with
// the file named.

#include "runtime/crypto/credentials.hpp"

#include "tests/support/temp_dir.hpp"
#include "tests/unit/runtime/crypto/test_support.hpp"

#include <openssl/x509_vfy.h>

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace ika::crypto {
namespace {

using ika::test::temp_dir;
using test::mode_of;
using test::read_file;
namespace fs = std::filesystem;

node_credentials ensure_ok(const fs::path& data) {
  auto result = ensure_node_credentials(data, "test-node");
  if (auto* error = std::get_if<credential_error>(&result)) {
    ADD_FAILURE() << "unexpected error: " << error->to_string();
    throw std::runtime_error("ensure_node_credentials failed");
  }
  return std::move(std::get<node_credentials>(result));
}

credential_error ensure_error(const fs::path& data) {
  auto result = ensure_node_credentials(data, "test-node");
  if (auto* error = std::get_if<credential_error>(&result))
    return *error;
  ADD_FAILURE() << "ensure_node_credentials succeeded";
  return {};
}

credential_error load_error(const fs::path& file) {
  auto result = load_client_credentials(file);
  if (auto* error = std::get_if<credential_error>(&result))
    return *error;
  ADD_FAILURE() << "load_client_credentials succeeded";
  return {};
}

/// Does `leaf` verify against `ca` for the purpose, as a TLS peer would check it?
bool verifies(const std::string& leaf_pem, const std::string& ca_pem, int purpose) {
  X509* leaf = test::parse_cert(leaf_pem);
  X509* ca = test::parse_cert(ca_pem);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx, purpose);
  bool ok = X509_verify_cert(ctx) == 1;
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  X509_free(ca);
  X509_free(leaf);
  return ok;
}

TEST(Credentials, FirstStartCreatesACompletePrivateSet) {
  temp_dir dir{"ika-crypto"};
  auto creds = ensure_ok(dir.path());
  EXPECT_TRUE(creds.created);
  auto tls = dir.path() / "tls";
  EXPECT_EQ(creds.tls_dir, tls);
  EXPECT_EQ(creds.credentials_file, dir.path() / "admin-credentials.pem");
  EXPECT_EQ(mode_of(tls), 0700u);
  for (auto name : {"ca.crt", "ca.key", "node.crt", "node.key", "admin.crt", "admin.key"})
    EXPECT_EQ(mode_of(tls / name), 0600u) << name;
  EXPECT_EQ(mode_of(creds.credentials_file), 0600u);
  EXPECT_EQ(creds.node_files.certificate, tls / "node.crt");
  EXPECT_EQ(creds.node_files.key, tls / "node.key");
  EXPECT_EQ(creds.node_files.ca, tls / "ca.crt");
  EXPECT_EQ(creds.admin_files.certificate, tls / "admin.crt");
  // Nothing else is left behind: no staging directory, no temp file.
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(dir.path()))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"admin-credentials.pem", "tls", "tls.lock"}));
  // What the files hold is what was returned.
  EXPECT_EQ(read_file(tls / "node.crt"), creds.node.certificate_pem);
  EXPECT_EQ(read_file(tls / "ca.crt"), creds.ca.certificate_pem());
}

TEST(Credentials, CertificatesHaveTheRightKeysPurposesAndNames) {
  temp_dir dir{"ika-crypto"};
  auto creds = ensure_ok(dir.path());
  X509* node = test::parse_cert(creds.node.certificate_pem);
  X509* admin = test::parse_cert(creds.admin.certificate_pem);
  X509* ca = creds.ca.certificate();
  ASSERT_NE(node, nullptr);
  ASSERT_NE(admin, nullptr);
  for (X509* x : {node, admin, ca}) {
    EXPECT_EQ(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
    char group[64] = {};
    size_t len = 0;
    EXPECT_EQ(EVP_PKEY_get_group_name(X509_get0_pubkey(x), group, sizeof group, &len), 1);
    EXPECT_STREQ(group, "prime256v1");
  }
  EXPECT_EQ(X509_check_ca(ca), 1);
  EXPECT_EQ(X509_check_ca(node), 0);
  EXPECT_EQ(X509_check_purpose(node, X509_PURPOSE_SSL_SERVER, 0), 1);
  EXPECT_EQ(X509_check_purpose(node, X509_PURPOSE_SSL_CLIENT, 0), 1);
  EXPECT_EQ(X509_check_purpose(admin, X509_PURPOSE_SSL_CLIENT, 0), 1);
  EXPECT_NE(X509_check_purpose(admin, X509_PURPOSE_SSL_SERVER, 0), 1);
  EXPECT_EQ(X509_check_ip_asc(node, "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(node, "::1", 0), 1);
  EXPECT_EQ(X509_check_host(node, "localhost", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_host(node, "example.com", 0, 0, nullptr), 1);
  // Leaves never outlive the CA.
  EXPECT_LE(ASN1_TIME_compare(X509_get0_notAfter(node), X509_get0_notAfter(ca)), 0);
  X509_free(node);
  X509_free(admin);
}

TEST(Credentials, ChainsVerifyAgainstTheirCaOnly) {
  temp_dir a{"ika-crypto"}, b{"ika-crypto"};
  auto one = ensure_ok(a.path());
  auto two = ensure_ok(b.path());
  auto ca1 = one.ca.certificate_pem();
  auto ca2 = two.ca.certificate_pem();
  EXPECT_NE(ca1, ca2);
  EXPECT_TRUE(verifies(one.admin.certificate_pem, ca1, X509_PURPOSE_SSL_CLIENT));
  EXPECT_TRUE(verifies(one.node.certificate_pem, ca1, X509_PURPOSE_SSL_SERVER));
  EXPECT_FALSE(verifies(one.admin.certificate_pem, ca2, X509_PURPOSE_SSL_CLIENT));
  EXPECT_FALSE(verifies(two.node.certificate_pem, ca1, X509_PURPOSE_SSL_SERVER));
  EXPECT_FALSE(verifies(one.admin.certificate_pem, ca1, X509_PURPOSE_SSL_SERVER));
}

TEST(Credentials, LaterStartsLoadTheSameSetAndChangeNothing) {
  temp_dir dir{"ika-crypto"};
  auto first = ensure_ok(dir.path());
  auto before = read_file(dir.path() / "tls" / "ca.key");
  auto file_before = read_file(first.credentials_file);
  auto second = ensure_ok(dir.path());
  EXPECT_FALSE(second.created);
  EXPECT_EQ(second.ca.certificate_pem(), first.ca.certificate_pem());
  EXPECT_EQ(second.node.certificate_pem, first.node.certificate_pem);
  EXPECT_EQ(second.node.private_key_pem, first.node.private_key_pem);
  EXPECT_EQ(second.admin.certificate_pem, first.admin.certificate_pem);
  EXPECT_EQ(read_file(dir.path() / "tls" / "ca.key"), before);
  EXPECT_EQ(read_file(first.credentials_file), file_before);
}

TEST(Credentials, ConcurrentFirstStartsMakeOneSet) {
  temp_dir dir{"ika-crypto"};
  auto data = dir.path() / "data"; // missing: created on the way
  std::atomic<int> created{0};
  std::vector<std::string> cas(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      auto r = ensure_node_credentials(data, "n");
      if (auto* c = std::get_if<node_credentials>(&r)) {
        created += c->created ? 1 : 0;
        cas[static_cast<std::size_t>(i)] = c->ca.certificate_pem();
      }
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(created.load(), 1);
  for (auto& ca : cas)
    EXPECT_EQ(ca, cas[0]);
  EXPECT_FALSE(cas[0].empty());
  EXPECT_EQ(mode_of(data), 0700u);
}

TEST(Credentials, ACrashedCreationLeavesNothingThatCounts) {
  temp_dir dir{"ika-crypto"};
  // What a crash during creation leaves: a staging directory, never `tls`.
  auto staging = dir.path() / ".tls.staging-AbC123";
  fs::create_directory(staging);
  test::overwrite(staging / "ca.crt", "half a file");
  auto creds = ensure_ok(dir.path());
  EXPECT_TRUE(creds.created);
  EXPECT_FALSE(fs::exists(staging));
}

TEST(Credentials, AnUnusableDataDirIsNamed) {
  temp_dir dir{"ika-crypto"};
  auto file = dir.path() / "plain-file";
  test::overwrite(file, "x");
  auto error = ensure_error(file);
  EXPECT_EQ(error.path, file.string()) << error.to_string();
  error = ensure_error(fs::path{});
  EXPECT_NE(error.message.find("no data directory"), std::string::npos);
}

TEST(Credentials, MissingCredentialsFileIsDerivedAgain) {
  temp_dir dir{"ika-crypto"};
  auto first = ensure_ok(dir.path());
  auto text = read_file(first.credentials_file);
  fs::remove(first.credentials_file);
  auto second = ensure_ok(dir.path());
  EXPECT_FALSE(second.created);
  EXPECT_EQ(read_file(second.credentials_file), text);
  EXPECT_EQ(mode_of(second.credentials_file), 0600u);
}

TEST(Credentials, CredentialsFileFromAnotherCaIsRefused) {
  temp_dir a{"ika-crypto"}, b{"ika-crypto"};
  auto one = ensure_ok(a.path());
  auto two = ensure_ok(b.path());
  test::overwrite(one.credentials_file, read_file(two.credentials_file));
  auto error = ensure_error(a.path());
  EXPECT_EQ(error.path, one.credentials_file.string());
  EXPECT_NE(error.message.find("another CA"), std::string::npos) << error.message;
}

TEST(Credentials, LoosePermissionsAreRefusedWithTheFileNamed) {
  temp_dir dir{"ika-crypto"};
  auto creds = ensure_ok(dir.path());
  auto key = dir.path() / "tls" / "node.key";
  fs::permissions(key, fs::perms::group_read, fs::perm_options::add);
  auto error = ensure_error(dir.path());
  EXPECT_EQ(error.path, key.string());
  EXPECT_NE(error.message.find("0600"), std::string::npos) << error.message;
  fs::permissions(key, fs::perms::group_read, fs::perm_options::remove);
  ensure_ok(dir.path());

  fs::permissions(creds.tls_dir, fs::perms::others_exec, fs::perm_options::add);
  error = ensure_error(dir.path());
  EXPECT_EQ(error.path, creds.tls_dir.string());
  EXPECT_NE(error.message.find("0700"), std::string::npos) << error.message;
}

TEST(Credentials, CorruptedFilesAreRefusedWithTheFileNamed) {
  for (auto name : {"ca.crt", "ca.key", "node.crt", "node.key", "admin.crt", "admin.key"}) {
    temp_dir dir{"ika-crypto"};
    ensure_ok(dir.path());
    auto file = dir.path() / "tls" / name;
    auto text = read_file(file);
    // Flip characters in the middle of the base64 body.
    text[text.size() / 2] = text[text.size() / 2] == 'A' ? 'B' : 'A';
    text[text.size() / 2 + 1] = '!';
    test::overwrite(file, text);
    auto error = ensure_error(dir.path());
    EXPECT_EQ(error.path, file.string()) << name << ": " << error.to_string();

    test::overwrite(file, "not a PEM file\n");
    error = ensure_error(dir.path());
    EXPECT_EQ(error.path, file.string()) << name << ": " << error.to_string();
    EXPECT_NE(error.message.find("no PEM"), std::string::npos) << error.message;
  }
}

TEST(Credentials, MismatchedKeyIsRefusedWithTheKeyNamed) {
  temp_dir dir{"ika-crypto"};
  ensure_ok(dir.path());
  auto tls = dir.path() / "tls";
  test::overwrite(tls / "node.key", read_file(tls / "admin.key"));
  auto error = ensure_error(dir.path());
  EXPECT_EQ(error.path, (tls / "node.key").string());
  EXPECT_NE(error.message.find("does not match"), std::string::npos) << error.message;
}

TEST(Credentials, ExpiredAndNotYetValidCertificatesAreRefused) {
  temp_dir dir{"ika-crypto"};
  ensure_ok(dir.path());
  auto tls = dir.path() / "tls";
  auto ca = read_file(tls / "ca.crt");
  auto ca_key = read_file(tls / "ca.key");
  auto key = read_file(tls / "node.key");
  auto good = read_file(tls / "node.crt");

  test::overwrite(tls / "node.crt", test::signed_cert(ca, ca_key, key, -2 * 86400, -86400));
  auto error = ensure_error(dir.path());
  EXPECT_EQ(error.path, (tls / "node.crt").string());
  EXPECT_NE(error.message.find("expired"), std::string::npos) << error.message;

  test::overwrite(tls / "node.crt", test::signed_cert(ca, ca_key, key, 86400, 2 * 86400));
  error = ensure_error(dir.path());
  EXPECT_EQ(error.path, (tls / "node.crt").string());
  EXPECT_NE(error.message.find("not valid before"), std::string::npos) << error.message;

  // A currently valid one the test made is accepted: the checks are about time.
  test::overwrite(tls / "node.crt", test::signed_cert(ca, ca_key, key, -60, 86400));
  ensure_ok(dir.path());
}

TEST(Credentials, CertificateFromAnotherCaIsRefused) {
  temp_dir a{"ika-crypto"}, b{"ika-crypto"};
  ensure_ok(a.path());
  ensure_ok(b.path());
  auto tls = a.path() / "tls";
  test::overwrite(tls / "admin.crt", read_file(b.path() / "tls" / "admin.crt"));
  test::overwrite(tls / "admin.key", read_file(b.path() / "tls" / "admin.key"));
  auto error = ensure_error(a.path());
  EXPECT_EQ(error.path, (tls / "admin.crt").string());
  EXPECT_NE(error.message.find("does not verify"), std::string::npos) << error.message;
}

TEST(Credentials, NoExistingFileIsReplaced) {
  temp_dir dir{"ika-crypto"};
  auto creds = ensure_ok(dir.path());
  auto error = write_credentials_file(creds.credentials_file, creds.admin);
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->message.find("already exists"), std::string::npos);
  // An empty tls directory is not a set: refused, not filled in.
  temp_dir other{"ika-crypto"};
  fs::create_directory(other.path() / "tls");
  fs::permissions(other.path() / "tls", fs::perms::owner_all);
  auto e = ensure_error(other.path());
  EXPECT_EQ(e.path, (other.path() / "tls" / "ca.crt").string());
}

TEST(CredentialsFile, LoadsWhatTheNodeWrote) {
  temp_dir dir{"ika-crypto"};
  auto creds = ensure_ok(dir.path());
  auto loaded = load_client_credentials(creds.credentials_file);
  ASSERT_TRUE(std::holds_alternative<tls_identity>(loaded)) << std::get<credential_error>(loaded).to_string();
  auto& id = std::get<tls_identity>(loaded);
  EXPECT_EQ(id.certificate_pem, creds.admin.certificate_pem);
  EXPECT_EQ(id.private_key_pem, creds.admin.private_key_pem);
  EXPECT_EQ(id.ca_certificate_pem, creds.ca.certificate_pem());
}

TEST(CredentialsFile, AnyOrderOfTheThreeBlocksParses) {
  temp_dir dir{"ika-crypto"};
  auto creds = ensure_ok(dir.path());
  auto text = creds.ca.certificate_pem() + creds.admin.private_key_pem + "comment lines are ignored\n" +
              creds.admin.certificate_pem;
  auto parsed = parse_credentials(text, "mixed.pem");
  ASSERT_TRUE(std::holds_alternative<tls_identity>(parsed)) << std::get<credential_error>(parsed).to_string();
  EXPECT_EQ(std::get<tls_identity>(parsed).certificate_pem, creds.admin.certificate_pem);
}

TEST(CredentialsFile, BrokenFilesAreRefusedWithTheFileNamed) {
  temp_dir dir{"ika-crypto"};
  auto creds = ensure_ok(dir.path());
  auto file = dir.path() / "creds.pem";

  auto error = load_error(file);
  EXPECT_EQ(error.path, file.string());
  EXPECT_NE(error.message.find("cannot open"), std::string::npos);

  test::overwrite(file, creds.admin.certificate_pem + creds.admin.private_key_pem);
  error = load_error(file);
  EXPECT_EQ(error.path, file.string());
  EXPECT_NE(error.message.find("1 certificate and 1 private key"), std::string::npos) << error.message;

  test::overwrite(file,
                  creds.node.certificate_pem + creds.admin.private_key_pem + creds.ca.certificate_pem());
  error = load_error(file);
  EXPECT_NE(error.message.find("matches neither"), std::string::npos) << error.message;

  test::overwrite(file, encode_credentials(creds.admin) + creds.node.private_key_pem);
  error = load_error(file);
  EXPECT_NE(error.message.find("more than one private key"), std::string::npos) << error.message;

  test::overwrite(file, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n");
  error = load_error(file);
  EXPECT_NE(error.message.find("encrypted"), std::string::npos) << error.message;

  test::overwrite(file, encode_credentials(creds.admin));
  fs::permissions(file, fs::perms::others_read, fs::perm_options::add);
  error = load_error(file);
  EXPECT_NE(error.message.find("0600"), std::string::npos) << error.message;

  auto link = dir.path() / "link.pem";
  fs::create_symlink(creds.credentials_file, link);
  error = load_error(link);
  EXPECT_EQ(error.path, link.string());
  EXPECT_NE(error.message.find("symbolic link"), std::string::npos) << error.message;

  error = load_error(dir.path());
  EXPECT_NE(error.message.find("not a regular file"), std::string::npos) << error.message;
}

TEST(CredentialsFile, AServerOnlyOrCaIdentityIsNotAClientIdentity) {
  temp_dir dir{"ika-crypto"};
  auto creds = ensure_ok(dir.path());
  tls_identity ca_as_leaf;
  ca_as_leaf.certificate_pem = creds.ca.certificate_pem();
  ca_as_leaf.private_key_pem = read_file(dir.path() / "tls" / "ca.key");
  ca_as_leaf.ca_certificate_pem = creds.ca.certificate_pem();
  auto checked = check_identity(ca_as_leaf, tls_role::client, "ca-as-leaf");
  ASSERT_TRUE(std::holds_alternative<credential_error>(checked));
  // The admin identity cannot serve.
  checked = check_identity(creds.admin, tls_role::server, "admin");
  ASSERT_TRUE(std::holds_alternative<credential_error>(checked));
  EXPECT_NE(std::get<credential_error>(checked).message.find("server"), std::string::npos);
  checked = check_identity(creds.node, tls_role::server, "node");
  EXPECT_TRUE(std::holds_alternative<tls_identity>(checked));
}

TEST(CredentialsIssue, NewClientIdentitiesChainToTheCa) {
  temp_dir dir{"ika-crypto"};
  auto creds = ensure_ok(dir.path());
  auto issued = issue_client_credentials(creds.ca, "peer-1");
  ASSERT_TRUE(std::holds_alternative<tls_identity>(issued)) << std::get<credential_error>(issued).to_string();
  auto& id = std::get<tls_identity>(issued);
  EXPECT_TRUE(verifies(id.certificate_pem, creds.ca.certificate_pem(), X509_PURPOSE_SSL_CLIENT));
  EXPECT_NE(id.certificate_pem, creds.admin.certificate_pem);
  X509* x = test::parse_cert(id.certificate_pem);
  char cn[128] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
  EXPECT_STREQ(cn, "peer-1");
  X509_free(x);

  auto file = dir.path() / "peer.pem";
  EXPECT_FALSE(write_credentials_file(file, id).has_value());
  EXPECT_EQ(mode_of(file), 0600u);
  EXPECT_TRUE(std::holds_alternative<tls_identity>(load_client_credentials(file)));

  EXPECT_TRUE(std::holds_alternative<credential_error>(issue_client_credentials(creds.ca, "")));
  EXPECT_TRUE(std::holds_alternative<credential_error>(issue_client_credentials(creds.ca, "a\nb")));
  EXPECT_TRUE(
      std::holds_alternative<credential_error>(issue_client_credentials(creds.ca, std::string(65, 'x'))));
}

TEST(CredentialsAuthority, FromPemChecksTheCa) {
  temp_dir dir{"ika-crypto"};
  auto creds = ensure_ok(dir.path());
  auto ca_key = read_file(dir.path() / "tls" / "ca.key");
  EXPECT_TRUE(std::holds_alternative<certificate_authority>(
      certificate_authority::from_pem(creds.ca.certificate_pem(), ca_key)));
  // A leaf is not a CA; a foreign key does not fit.
  EXPECT_TRUE(std::holds_alternative<credential_error>(
      certificate_authority::from_pem(creds.node.certificate_pem, creds.node.private_key_pem)));
  EXPECT_TRUE(std::holds_alternative<credential_error>(
      certificate_authority::from_pem(creds.ca.certificate_pem(), creds.node.private_key_pem)));
}

} // namespace
} // namespace ika::crypto
