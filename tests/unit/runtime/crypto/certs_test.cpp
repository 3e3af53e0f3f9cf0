// Certificate material for HTTPS: host name rules, the local CA (created
// once, private, never overwritten), issued certificates that verify as a
// TLS client would check them, inspecting user-given pairs (EC and RSA, from
// the openssl CLI), and saving a host's certificate in the data dir.

#include "runtime/crypto/certs.hpp"

#include "tests/support/temp_dir.hpp"
#include "tests/unit/runtime/crypto/test_support.hpp"

#include <openssl/x509_vfy.h>

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cctype>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <vector>

namespace ika::crypto {
namespace {

using ika::test::temp_dir;
using test::mode_of;
using test::read_file;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

template <class T>
T ok(credential_result<T> result) {
  if (auto* error = std::get_if<credential_error>(&result)) {
    ADD_FAILURE() << "unexpected error: " << error->to_string();
    throw std::runtime_error("unexpected error");
  }
  return std::move(std::get<T>(result));
}

template <class T>
credential_error error_of(credential_result<T> result) {
  if (auto* error = std::get_if<credential_error>(&result))
    return *error;
  ADD_FAILURE() << "succeeded where an error was expected";
  return {};
}

void write_file(const fs::path& path, const std::string& text, fs::perms mode) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  fs::permissions(path, mode);
}

constexpr auto private_mode = fs::perms::owner_read | fs::perms::owner_write;

/// Does the chain's leaf verify against `ca_pem` as a TLS client checks a
/// server: purpose, strict X.509, and the host name or IP address?
bool verifies_for(const std::string& chain_pem, const std::string& ca_pem, const std::string& host) {
  X509* leaf = test::parse_cert(chain_pem);
  X509* ca = test::parse_cert(ca_pem);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
  if (is_ip_literal(host))
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  else
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  bool verified = X509_verify_cert(ctx) == 1;
  bool name_ok = is_ip_literal(host) ? X509_check_ip_asc(leaf, host.c_str(), 0) == 1
                                     : X509_check_host(leaf, host.c_str(), host.size(), 0, nullptr) == 1;
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  X509_free(ca);
  X509_free(leaf);
  return verified && name_ok;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

// -- names --------------------------------------------------------------------------

TEST(CertsNames, AcceptsCanonicalDnsNamesWildcardsAndIpLiterals) {
  for (const std::string& name :
       std::vector<std::string>{"a", "localhost", "example.com", "a-b.c", "xn--bcher-kva.example", "a1.b2.c3",
                                "*.a.b", "*.example.com", "*.app.localhost", "127.0.0.1", "::1",
                                "2001:db8::1", std::string(63, 'x') + ".com"})
    EXPECT_TRUE(valid_certificate_name(name)) << name;
  // 253 characters in all is the limit: 4 labels of 63 and a dot each, minus one.
  std::string longest = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                        std::string(61, 'd');
  ASSERT_EQ(longest.size(), 253u);
  EXPECT_TRUE(valid_certificate_name(longest));
  EXPECT_FALSE(valid_certificate_name(longest + "d"));
}

TEST(CertsNames, RefusesEverythingElse) {
  for (const std::string& name : std::vector<std::string>{"",
                                                          ".",
                                                          "..",
                                                          "a..b",
                                                          ".a",
                                                          "a.",
                                                          "a/b",
                                                          "../x",
                                                          "x/../y",
                                                          "A.com",
                                                          "Localhost",
                                                          "-a.com",
                                                          "a-.com",
                                                          "a_b.com",
                                                          "a b.com",
                                                          "*",
                                                          "*.",
                                                          "*.com",
                                                          "*.localhost",
                                                          "a.*.b",
                                                          "*a.b.c",
                                                          "**.a.b",
                                                          "*.*.a.b",
                                                          "x.*",
                                                          "1.2.3",
                                                          "256.1.1.1",
                                                          "0::1",
                                                          "[::1]",
                                                          "127.0.0.1:80",
                                                          "\x01.com",
                                                          std::string(64, 'x') + ".com"})
    EXPECT_FALSE(valid_certificate_name(name)) << name;
}

TEST(CertsNames, CanonicalFormLowercasesAndDropsATrailingDot) {
  EXPECT_EQ(canonical_certificate_name("Example.COM."), "example.com");
  EXPECT_EQ(canonical_certificate_name("*.App.Test"), "*.app.test");
  EXPECT_EQ(canonical_certificate_name("0:0::1"), "::1");
  EXPECT_TRUE(valid_certificate_name(canonical_certificate_name("LocalHost.")));
  EXPECT_FALSE(valid_certificate_name(canonical_certificate_name("a/b.com")));
}

TEST(CertsNames, WildcardsMatchExactlyOneLabel) {
  EXPECT_TRUE(certificate_name_matches("example.com", "example.com"));
  EXPECT_TRUE(certificate_name_matches("example.com", "EXAMPLE.com."));
  EXPECT_TRUE(certificate_name_matches("Example.COM", "example.com"));
  EXPECT_FALSE(certificate_name_matches("example.com", "www.example.com"));
  EXPECT_TRUE(certificate_name_matches("*.a.b", "x.a.b"));
  EXPECT_TRUE(certificate_name_matches("*.a.b", "X.A.B"));
  EXPECT_FALSE(certificate_name_matches("*.a.b", "a.b"));
  EXPECT_FALSE(certificate_name_matches("*.a.b", "y.x.a.b"));
  EXPECT_FALSE(certificate_name_matches("*.a.b", ".a.b"));
  EXPECT_FALSE(certificate_name_matches("*.a.b", "xa.b"));
  EXPECT_FALSE(certificate_name_matches("*.a.b", "*.a.b"));
  EXPECT_FALSE(certificate_name_matches("*.com", "example.com")); // an invalid pattern matches nothing
  EXPECT_FALSE(certificate_name_matches("*.localhost", "app.localhost"));
  EXPECT_TRUE(certificate_name_matches("127.0.0.1", "127.0.0.1"));
  EXPECT_FALSE(certificate_name_matches("127.0.0.1", "127.0.0.2"));
  EXPECT_TRUE(certificate_name_matches("::1", "0:0::1"));
  EXPECT_FALSE(certificate_name_matches("*.0.0.1", "127.0.0.1"));
}

TEST(CertsNames, LocalNamesAreTheListedOnes) {
  for (auto name : {"localhost", "LOCALHOST", "app.localhost", "a.b.localhost", "x.test", "*.x.test",
                    "svc.internal", "myhost", "10.0.0.1", "::1"})
    EXPECT_TRUE(is_local_name(name)) << name;
  for (auto name : {"example.com", "test.com", "localhost.com", "x.local", "internal.example.com",
                    "example.test.com", "*.example.com", ""})
    EXPECT_FALSE(is_local_name(name)) << name;
}

// -- keys and the local CA ----------------------------------------------------------

TEST(CertsKeys, NewKeyIsP256InPkcs8) {
  auto pem = ok(new_private_key_pem());
  EXPECT_EQ(pem.rfind("-----BEGIN PRIVATE KEY-----", 0), 0u);
  EVP_PKEY* key = test::parse_key(pem);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
  EXPECT_EQ(EVP_PKEY_get_bits(key), 256);
  EVP_PKEY_free(key);
  EXPECT_NE(ok(new_private_key_pem()), pem);
}

TEST(CertsLocalCa, CreatedOnceThenReused) {
  temp_dir dir{"ika-crypto"};
  auto first = ok(ensure_local_ca(dir.path()));
  EXPECT_TRUE(first.created);
  EXPECT_EQ(first.certificate_file, dir.path() / "certs" / "local-ca.crt");
  EXPECT_EQ(mode_of(dir.path() / "certs"), 0700u);
  EXPECT_EQ(mode_of(dir.path() / "certs" / "local-ca.crt"), 0600u);
  EXPECT_EQ(mode_of(dir.path() / "certs" / "local-ca.key"), 0600u);
  EXPECT_EQ(read_file(first.certificate_file), first.certificate_pem);
  EXPECT_EQ(first.sha256_fingerprint.size(), 64u);
  X509* cert = test::parse_cert(first.certificate_pem);
  ASSERT_NE(cert, nullptr);
  char cn[128] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  EXPECT_EQ(std::string{cn}.rfind("ika local CA ", 0), 0u) << cn;
  EXPECT_EQ(std::string{cn}.size(), std::string{"ika local CA "}.size() + 8);
  EXPECT_NE(X509_get_extension_flags(cert) & EXFLAG_CA, 0u);
  EXPECT_NE(X509_get_key_usage(cert) & KU_KEY_CERT_SIGN, 0u);
  // About ten years.
  int days = 0, secs = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert), X509_get0_notAfter(cert)), 1);
  EXPECT_NEAR(days, 3650, 1);
  X509_free(cert);

  auto second = ok(ensure_local_ca(dir.path()));
  EXPECT_FALSE(second.created);
  EXPECT_EQ(second.sha256_fingerprint, first.sha256_fingerprint);
  EXPECT_EQ(second.certificate_pem, first.certificate_pem);
}

TEST(CertsLocalCa, ConcurrentCallsMakeOneCa) {
  temp_dir dir{"ika-crypto"};
  std::vector<std::string> fingerprints(4);
  std::vector<int> created(4, 0);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < fingerprints.size(); ++i)
    threads.emplace_back([&, i] {
      auto result = ensure_local_ca(dir.path());
      if (auto* ca = std::get_if<local_ca>(&result)) {
        fingerprints[i] = ca->sha256_fingerprint;
        created[i] = ca->created ? 1 : 0;
      }
    });
  for (auto& t : threads)
    t.join();
  for (const auto& f : fingerprints)
    EXPECT_EQ(f, fingerprints[0]);
  EXPECT_FALSE(fingerprints[0].empty());
  EXPECT_EQ(created[0] + created[1] + created[2] + created[3], 1);
}

TEST(CertsLocalCa, CorruptCertificateIsAnErrorAndIsKept) {
  temp_dir dir{"ika-crypto"};
  ok(ensure_local_ca(dir.path()));
  auto crt = dir.path() / "certs" / "local-ca.crt";
  test::overwrite(crt, "not a certificate\n");
  auto error = error_of(ensure_local_ca(dir.path()));
  EXPECT_NE(error.to_string().find(crt.string()), std::string::npos) << error.to_string();
  EXPECT_EQ(read_file(crt), "not a certificate\n");
}

TEST(CertsLocalCa, KeyWithoutCertificateIsAnError) {
  temp_dir dir{"ika-crypto"};
  ok(ensure_local_ca(dir.path()));
  auto key = dir.path() / "certs" / "local-ca.key";
  std::string key_text = read_file(key);
  fs::remove(dir.path() / "certs" / "local-ca.crt");
  auto error = error_of(ensure_local_ca(dir.path()));
  EXPECT_EQ(error.path, key.string());
  EXPECT_NE(error.message.find("remove it"), std::string::npos) << error.message;
  EXPECT_EQ(read_file(key), key_text);
}

TEST(CertsLocalCa, OpenKeyFileIsRefused) {
  temp_dir dir{"ika-crypto"};
  ok(ensure_local_ca(dir.path()));
  auto key = dir.path() / "certs" / "local-ca.key";
  fs::permissions(key, fs::perms::group_read, fs::perm_options::add);
  auto error = error_of(ensure_local_ca(dir.path()));
  EXPECT_EQ(error.path, key.string());
}

// -- issuing and inspecting ---------------------------------------------------------

TEST(CertsIssue, LeafVerifiesForEachName) {
  temp_dir dir{"ika-crypto"};
  auto ca = ok(ensure_local_ca(dir.path()));
  std::vector<std::string> names{"app.test", "*.wild.test", "127.0.0.1", "::1"};
  auto issued = ok(issue_local_certificate(ca.authority, names, local_certificate_validity));
  EXPECT_EQ(count(issued.chain_pem, "BEGIN CERTIFICATE"), 2u);
  EXPECT_NE(issued.chain_pem.find(ca.certificate_pem), std::string::npos); // the CA last
  for (auto host : {"app.test", "x.wild.test", "127.0.0.1", "::1"})
    EXPECT_TRUE(verifies_for(issued.chain_pem, ca.certificate_pem, host)) << host;
  for (auto host : {"wild.test", "y.x.wild.test", "other.test", "127.0.0.2"})
    EXPECT_FALSE(verifies_for(issued.chain_pem, ca.certificate_pem, host)) << host;
  // Not against another CA.
  temp_dir other{"ika-crypto"};
  auto other_ca = ok(ensure_local_ca(other.path()));
  EXPECT_FALSE(verifies_for(issued.chain_pem, other_ca.certificate_pem, "app.test"));
}

TEST(CertsIssue, RefusesBadRequests) {
  temp_dir dir{"ika-crypto"};
  auto ca = ok(ensure_local_ca(dir.path()));
  EXPECT_FALSE(error_of(issue_local_certificate(ca.authority, {}, 1h)).message.empty());
  for (std::string bad : {"a/b", "*.com", "..", "Upper.test"}) {
    auto error = error_of(issue_local_certificate(ca.authority, {"ok.test", bad}, 1h));
    EXPECT_NE(error.message.find(bad), std::string::npos) << error.message;
  }
  EXPECT_FALSE(error_of(issue_local_certificate(ca.authority, {"ok.test"}, 0s)).message.empty());
}

TEST(CertsInspect, DescribesAnIssuedCertificate) {
  temp_dir dir{"ika-crypto"};
  auto ca = ok(ensure_local_ca(dir.path()));
  auto before = std::chrono::system_clock::now();
  auto issued = ok(issue_local_certificate(ca.authority, {"app.test", "10.1.2.3"}, 24h));
  auto info = ok(inspect_certificate(issued.chain_pem, issued.key_pem));
  EXPECT_EQ(info.names, (std::vector<std::string>{"app.test", "10.1.2.3"}));
  X509* ca_cert = test::parse_cert(ca.certificate_pem);
  char ca_cn[128] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(ca_cert), NID_commonName, ca_cn, sizeof ca_cn);
  X509_free(ca_cert);
  EXPECT_EQ(info.issuer, ca_cn);
  EXPECT_EQ(info.subject, "O=ika, CN=app.test");
  EXPECT_EQ(info.key_type, "ECDSA P-256");
  EXPECT_EQ(info.chain_length, 2u);
  EXPECT_FALSE(info.self_signed);
  EXPECT_EQ(info.serial.size(), 32u);
  EXPECT_EQ(info.sha256_fingerprint.size(), 64u);
  EXPECT_EQ(info.sha256_fingerprint.find_first_not_of("0123456789abcdef"), std::string::npos);
  // Valid from a minute ago for a day (second resolution).
  EXPECT_LE(info.not_before, before - 59s);
  EXPECT_GE(info.not_before, before - 62s);
  EXPECT_NEAR(std::chrono::duration<double>(info.not_after - before).count(), 24 * 3600, 3);
  EXPECT_FALSE(info.expired());
  EXPECT_TRUE(info.expired(info.not_after + 1s));
  EXPECT_TRUE(info.covers("APP.test"));
  EXPECT_TRUE(info.covers("10.1.2.3"));
  EXPECT_FALSE(info.covers("other.test"));
  // Two issues never share a serial or a key.
  auto again = ok(issue_local_certificate(ca.authority, {"app.test"}, 24h));
  EXPECT_NE(ok(inspect_certificate(again.chain_pem, again.key_pem)).serial, info.serial);
  EXPECT_NE(again.key_pem, issued.key_pem);
}

TEST(CertsInspect, LeafNeverOutlivesTheCa) {
  temp_dir dir{"ika-crypto"};
  auto ca = ok(ensure_local_ca(dir.path()));
  auto issued = ok(issue_local_certificate(ca.authority, {"app.test"}, std::chrono::hours{24 * 365 * 50}));
  auto leaf = ok(inspect_certificate(issued.chain_pem, issued.key_pem));
  // The leaf's end is the CA's end: about ten years from now, not fifty.
  auto years = std::chrono::duration<double>(leaf.not_after - std::chrono::system_clock::now()).count() /
               (365.25 * 24 * 3600);
  EXPECT_NEAR(years, 10, 0.1);
}

TEST(CertsInspect, RefusesAMismatchedKeyAndBrokenChains) {
  temp_dir dir{"ika-crypto"};
  auto ca = ok(ensure_local_ca(dir.path()));
  auto a = ok(issue_local_certificate(ca.authority, {"a.test"}, 1h));
  auto b = ok(issue_local_certificate(ca.authority, {"b.test"}, 1h));
  auto error = error_of(inspect_certificate(a.chain_pem, b.key_pem));
  EXPECT_NE(error.message.find("does not match"), std::string::npos) << error.message;
  error = error_of(inspect_certificate("", a.key_pem));
  EXPECT_FALSE(error.message.empty());
  error = error_of(inspect_certificate(a.chain_pem, ""));
  EXPECT_FALSE(error.message.empty());
  error = error_of(inspect_certificate(a.key_pem, a.key_pem));
  EXPECT_NE(error.message.find("no certificate"), std::string::npos) << error.message;
  // A chain whose second certificate did not issue the first.
  temp_dir other{"ika-crypto"};
  auto other_ca = ok(ensure_local_ca(other.path()));
  std::string leaf_only = a.chain_pem.substr(0, a.chain_pem.find(ca.certificate_pem));
  error = error_of(inspect_certificate(leaf_only + other_ca.certificate_pem, a.key_pem));
  EXPECT_NE(error.message.find("did not issue"), std::string::npos) << error.message;
  // The leaf alone is fine.
  EXPECT_EQ(ok(inspect_certificate(leaf_only, a.key_pem)).chain_length, 1u);
}

/// Runs the openssl CLI (in `dir`); true when it exits 0.
bool openssl(const fs::path& dir, const std::string& args) {
  std::string command = "cd '" + dir.string() + "' && openssl " + args + " >/dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

TEST(CertsInspect, RsaPairFromOpensslReq) {
  temp_dir dir{"ika-crypto"};
  ASSERT_TRUE(openssl(dir.path(),
                      "req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.crt -days 2 "
                      "-subj /CN=rsa.example -addext subjectAltName=DNS:rsa.example,IP:10.9.8.7"));
  auto info = ok(inspect_certificate(read_file(dir.path() / "rsa.crt"), read_file(dir.path() / "rsa.key")));
  EXPECT_EQ(info.key_type, "RSA 2048");
  EXPECT_EQ(info.names, (std::vector<std::string>{"rsa.example", "10.9.8.7"}));
  EXPECT_EQ(info.issuer, "rsa.example");
  EXPECT_TRUE(info.self_signed);
  EXPECT_EQ(info.chain_length, 1u);
  EXPECT_NEAR(std::chrono::duration<double>(info.not_after - info.not_before).count(), 2 * 24 * 3600, 2);
  // openssl's own view of the serial and fingerprint agree with ours.
  ASSERT_TRUE(openssl(dir.path(), "x509 -in rsa.crt -noout -serial -fingerprint -sha256 -out facts.txt"));
  std::string facts = read_file(dir.path() / "facts.txt");
  std::string fp;
  for (char c : facts.substr(facts.find("Fingerprint=") + 12))
    if (std::isxdigit(static_cast<unsigned char>(c)))
      fp += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_EQ(fp, info.sha256_fingerprint);
  std::string serial = facts.substr(facts.find("serial=") + 7);
  serial = serial.substr(0, serial.find('\n'));
  for (auto& c : serial)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_EQ(serial, info.serial);
}

TEST(CertsInspect, TraditionalEcKeyAndCommonNameOnly) {
  temp_dir dir{"ika-crypto"};
  ASSERT_TRUE(openssl(dir.path(), "ecparam -name secp384r1 -genkey -noout -out ec.key"));
  ASSERT_TRUE(openssl(dir.path(), "req -x509 -new -key ec.key -out ec.crt -days 1 -subj /CN=Legacy.Example"));
  std::string key = read_file(dir.path() / "ec.key");
  ASSERT_NE(key.find("BEGIN EC PRIVATE KEY"), std::string::npos);
  auto info = ok(inspect_certificate(read_file(dir.path() / "ec.crt"), key));
  EXPECT_EQ(info.key_type, "ECDSA P-384");
  EXPECT_EQ(info.names, (std::vector<std::string>{"legacy.example"}));
  // A combined file (chain then key) may be given as both.
  std::string combined = read_file(dir.path() / "ec.crt") + key;
  EXPECT_EQ(ok(inspect_certificate(combined, combined)).key_type, "ECDSA P-384");
  // But not with another key in the chain text.
  auto other = ok(new_private_key_pem());
  EXPECT_FALSE(error_of(inspect_certificate(read_file(dir.path() / "ec.crt") + other, key)).message.empty());
}

// -- files --------------------------------------------------------------------------

TEST(CertsFiles, ReadsAPairAndRefusesAnOpenKey) {
  temp_dir dir{"ika-crypto"};
  auto ca = ok(ensure_local_ca(dir.path()));
  auto issued = ok(issue_local_certificate(ca.authority, {"files.test"}, 1h));
  auto chain = dir.path() / "chain.pem";
  auto key = dir.path() / "key.pem";
  write_file(chain, issued.chain_pem,
             fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  write_file(key, issued.key_pem,
             fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  auto error = error_of(read_certificate_files(chain, key));
  EXPECT_EQ(error.path, key.string());
  EXPECT_NE(error.message.find("chmod 0600"), std::string::npos) << error.message;

  fs::permissions(key, private_mode);
  auto files = ok(read_certificate_files(chain, key));
  EXPECT_EQ(files.chain_pem, issued.chain_pem);
  EXPECT_EQ(files.key_pem, issued.key_pem);
  EXPECT_EQ(files.info.names, std::vector<std::string>{"files.test"});
  EXPECT_NE(files.chain_mtime, std::chrono::system_clock::time_point{});
  EXPECT_FALSE(certificate_files_changed(files));

  // A symbolic link to the key is followed (certbot's live/ directory).
  auto link = dir.path() / "key-link.pem";
  fs::create_symlink(key, link);
  EXPECT_EQ(ok(read_certificate_files(chain, link)).info.sha256_fingerprint, files.info.sha256_fingerprint);

  // A rewritten chain is noticed; so is a removed key.
  fs::last_write_time(chain, fs::last_write_time(chain) + 5s);
  EXPECT_TRUE(certificate_files_changed(files));
  auto reread = ok(read_certificate_files(chain, key));
  EXPECT_FALSE(certificate_files_changed(reread));
  fs::remove(link);
  fs::remove(key);
  EXPECT_TRUE(certificate_files_changed(reread));
  EXPECT_EQ(error_of(read_certificate_files(chain, key)).path, key.string());
}

TEST(CertsFiles, WildcardSaveAndLoadRoundTrip) {
  temp_dir dir{"ika-crypto"};
  auto ca = ok(ensure_local_ca(dir.path()));
  auto issued = ok(issue_local_certificate(ca.authority, {"*.wild.test", "wild.test"}, 1h));
  EXPECT_EQ(ok(host_certificate_dir_of(dir.path(), "*.wild.test")),
            dir.path() / "certs" / "_wildcard_.wild.test");
  EXPECT_FALSE(ok(load_host_certificate(dir.path(), "*.wild.test")).has_value());

  EXPECT_FALSE(
      save_host_certificate(dir.path(), "*.wild.test", issued.chain_pem, issued.key_pem).has_value());
  auto file = dir.path() / "certs" / "_wildcard_.wild.test" / "certificate.pem";
  EXPECT_EQ(mode_of(file), 0600u);
  EXPECT_EQ(mode_of(file.parent_path()), 0700u);
  auto loaded = ok(load_host_certificate(dir.path(), "*.wild.test"));
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->chain_pem, issued.chain_pem);
  EXPECT_EQ(loaded->key_pem, issued.key_pem);
  EXPECT_TRUE(loaded->info.covers("x.wild.test"));
  EXPECT_EQ(loaded->chain_file, file);
  EXPECT_FALSE(certificate_files_changed(*loaded));
  EXPECT_EQ(saved_certificate_names(dir.path()), std::vector<std::string>{"*.wild.test"});

  // Saving again replaces it in one step; nothing else is left in the directory.
  auto renewed = ok(issue_local_certificate(ca.authority, {"*.wild.test"}, 2h));
  EXPECT_FALSE(
      save_host_certificate(dir.path(), "*.wild.test", renewed.chain_pem, renewed.key_pem).has_value());
  auto reloaded = ok(load_host_certificate(dir.path(), "*.wild.test"));
  ASSERT_TRUE(reloaded.has_value());
  EXPECT_EQ(reloaded->key_pem, renewed.key_pem);
  EXPECT_EQ(std::distance(fs::directory_iterator(file.parent_path()), fs::directory_iterator{}), 1);

  // A file others may read is refused on load.
  fs::permissions(file, fs::perms::others_read, fs::perm_options::add);
  EXPECT_EQ(error_of(load_host_certificate(dir.path(), "*.wild.test")).path, file.string());
}

TEST(CertsFiles, RefusesUnsafeHostNamesAndBadPairs) {
  temp_dir dir{"ika-crypto"};
  auto ca = ok(ensure_local_ca(dir.path()));
  auto issued = ok(issue_local_certificate(ca.authority, {"a.test"}, 1h));
  for (std::string bad :
       {"", ".", "..", "../x", "a/b", "/etc", "A.test", "*.com", "local-ca.crt", "local-ca.key"}) {
    EXPECT_TRUE(std::holds_alternative<credential_error>(host_certificate_dir_of(dir.path(), bad))) << bad;
    EXPECT_TRUE(save_host_certificate(dir.path(), bad, issued.chain_pem, issued.key_pem).has_value()) << bad;
    EXPECT_TRUE(std::holds_alternative<credential_error>(load_host_certificate(dir.path(), bad))) << bad;
  }
  auto other = ok(issue_local_certificate(ca.authority, {"b.test"}, 1h));
  auto problem = save_host_certificate(dir.path(), "a.test", issued.chain_pem, other.key_pem);
  ASSERT_TRUE(problem.has_value());
  EXPECT_NE(problem->message.find("does not match"), std::string::npos) << problem->message;
  EXPECT_FALSE(fs::exists(dir.path() / "certs" / "a.test"));
  // Only the CA's files are in certs/; nothing escaped the data dir.
  EXPECT_TRUE(saved_certificate_names(dir.path()).empty());
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator{}), 1);
}

} // namespace
} // namespace ika::crypto
