#pragma once
// pebble (Let's Encrypt's test CA, a real process) with pebble-challtestsrv
// as its DNS server, for tests that issue certificates over ACME: one
// fixture shared by the ACME client's tests and the certificate actor's.
// The HTTP-01 responder is the test's own (http_test_server).

#include "runtime/acme/https_client.hpp"
#include "runtime/crypto/credentials.hpp"
#include "tests/support/eventually.hpp"
#include "tests/unit/runtime/acme/acme_test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace ika::acme::test {

/// pebble + pebble-challtestsrv for one test, killed by pid at the end.
class pebble_ca {
public:
  pebble_ca(const std::string& dir, std::uint16_t http01_port, std::vector<std::string> extra_env) {
    std::filesystem::create_directories(dir + "/pebble-tls");
    auto creds = crypto::ensure_node_credentials(dir + "/pebble-tls", "pebble-test");
    if (auto* e = std::get_if<crypto::credential_error>(&creds)) {
      ADD_FAILURE() << e->to_string();
      return;
    }
    const auto& files = std::get<crypto::node_credentials>(creds).node_files;
    ca_file = files.ca.string();

    std::uint16_t dns = test::free_port(/*udp_too=*/true);
    std::uint16_t challtest_mgmt = test::free_port();
    acme_port = test::free_port();
    mgmt_port = test::free_port();
    std::uint16_t tls_port = test::free_port();
    nlohmann::json config = {{"pebble",
                              {{"listenAddress", "127.0.0.1:" + std::to_string(acme_port)},
                               {"managementListenAddress", "127.0.0.1:" + std::to_string(mgmt_port)},
                               {"certificate", files.certificate.string()},
                               {"privateKey", files.key.string()},
                               {"httpPort", http01_port},
                               {"tlsPort", tls_port},
                               {"ocspResponderURL", ""},
                               {"externalAccountBindingRequired", false}}}};
    std::string config_file = dir + "/pebble-config.json";
    std::ofstream(config_file) << config.dump(2);

    challtestsrv_ = std::make_unique<child_process>(
        std::vector<std::string>{"/usr/bin/pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6",
                                 "", "-dns01", "127.0.0.1:" + std::to_string(dns), "-http01", "", "-https01",
                                 "", "-tlsalpn01", "", "-management",
                                 "127.0.0.1:" + std::to_string(challtest_mgmt)},
        test::child_env({}), dir + "/challtestsrv.log");
    std::vector<std::string> env{"PEBBLE_VA_NOSLEEP=1"};
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    pebble_ = std::make_unique<child_process>(std::vector<std::string>{"/usr/bin/pebble", "-config",
                                                                       config_file, "-dnsserver",
                                                                       "127.0.0.1:" + std::to_string(dns)},
                                              test::child_env(env), dir + "/pebble.log");

    // Ready when challtestsrv's management port answers and pebble serves
    // its directory over TLS with the certificate made above.
    https_client probe{http_client_settings{ca_file, 1s, 1 << 20}};
    std::string challtest_url = "http://127.0.0.1:" + std::to_string(challtest_mgmt) + "/";
    ready = ika::test::eventually(
        [&] {
          if (!challtestsrv_->running() || !pebble_->running())
            return true; // give up early: the logs say why
          auto c = probe.request("GET", challtest_url);
          auto p = probe.request("GET", directory_url());
          return std::holds_alternative<http_response>(c) && std::holds_alternative<http_response>(p) &&
                 std::get<http_response>(p).status == 200;
        },
        15s);
    ready = ready && challtestsrv_->running() && pebble_->running();
  }

  std::string directory_url() const { return "https://127.0.0.1:" + std::to_string(acme_port) + "/dir"; }

  /// pebble's root certificate (it makes a new one at each start).
  std::string root_pem() const {
    https_client client{http_client_settings{ca_file, 5s, 1 << 20}};
    auto r = client.request("GET", "https://127.0.0.1:" + std::to_string(mgmt_port) + "/roots/0");
    if (!std::holds_alternative<http_response>(r))
      return {};
    return std::get<http_response>(r).body;
  }

  std::string logs() const {
    return "--- pebble log:\n" + (pebble_ ? pebble_->log_text() : std::string{}) +
           "\n--- challtestsrv log:\n" + (challtestsrv_ ? challtestsrv_->log_text() : std::string{});
  }

  bool ready = false;
  std::string ca_file;
  std::uint16_t acme_port = 0;
  std::uint16_t mgmt_port = 0;

private:
  std::unique_ptr<child_process> challtestsrv_;
  std::unique_ptr<child_process> pebble_;
};

/// Checks that `chain_pem` verifies up to `root_pem` and that its leaf
/// carries every name; an empty string, or what is wrong.
inline std::string check_chain(const std::string& chain_pem, const std::string& root_pem,
                               const std::vector<std::string>& names) {
  auto read_all = [](const std::string& pem) {
    std::vector<X509*> out;
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    while (X509* c = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr))
      out.push_back(c);
    BIO_free(bio);
    ERR_clear_error();
    return out;
  };
  auto chain = read_all(chain_pem);
  auto roots = read_all(root_pem);
  std::string problem;
  if (chain.empty() || roots.empty()) {
    problem = "no certificates (chain " + std::to_string(chain.size()) + ", roots " +
              std::to_string(roots.size()) + ")";
  } else {
    X509_STORE* store = X509_STORE_new();
    for (X509* r : roots)
      X509_STORE_add_cert(store, r);
    STACK_OF(X509)* untrusted = sk_X509_new_null();
    for (std::size_t i = 1; i < chain.size(); ++i)
      sk_X509_push(untrusted, chain[i]);
    X509_STORE_CTX* ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, chain[0], untrusted);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
    if (X509_verify_cert(ctx) != 1)
      problem = std::string{"chain does not verify: "} +
                X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    X509_STORE_free(store);
    for (const auto& n : names)
      if (problem.empty() &&
          X509_check_host(chain[0], n.data(), n.size(), X509_CHECK_FLAG_NO_WILDCARDS, nullptr) != 1)
        problem = "leaf lacks " + n;
  }
  for (X509* c : chain)
    X509_free(c);
  for (X509* r : roots)
    X509_free(r);
  return problem;
}

} // namespace ika::acme::test
