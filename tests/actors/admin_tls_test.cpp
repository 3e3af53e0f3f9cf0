// The admin channel's admission, with real CAF actor systems over
// caf::openssl in one process: a node publishes a typed actor with its own
// credentials; only a client holding a certificate from the node's CA gets
// through. Plain TCP, anonymous TLS (no certificate, or aNULL ciphers only)
// and certificates from another CA are refused, and the node keeps serving.

#include "protocol/atoms.hpp"
#include "protocol/types.hpp"
#include "runtime/crypto/credentials.hpp"
#include "runtime/crypto/mutual_tls.hpp"
#include "tests/support/temp_dir.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/all.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace {

using namespace ika;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using ika::test::temp_dir;

/// Test-only interface: answers get with a fixed string.
using echo_actor = caf::typed_actor<caf::replies_to<protocol::get_atom>::with<std::string>>;

// Takes its answer as an argument: CAF 0.17 spawning a function actor with
// no arguments binds a reference to a null pointer (UBSan stops there).
echo_actor::behavior_type echo_impl(std::string answer) {
  return {[answer](protocol::get_atom) { return answer; }};
}

crypto::node_credentials make_node(const fs::path& data) {
  auto result = crypto::ensure_node_credentials(data, "admin-tls-test");
  if (auto* error = std::get_if<crypto::credential_error>(&result))
    throw std::runtime_error(error->to_string());
  return std::move(std::get<crypto::node_credentials>(result));
}

/// A config as ika builds one: middleman, OpenSSL, ika's types, few threads.
std::unique_ptr<caf::actor_system_config> base_config() {
  auto cfg = std::make_unique<caf::actor_system_config>();
  cfg->load<caf::io::middleman>();
  cfg->load<caf::openssl::manager>();
  protocol::register_types(*cfg);
  cfg->set("scheduler.max-threads", 2);
  return cfg;
}

/// The node side, started the way the node must do it: configure mutual TLS
/// or stop, build the system, check it, publish on 127.0.0.1.
struct server {
  std::unique_ptr<caf::actor_system_config> cfg;
  std::unique_ptr<caf::actor_system> sys;
  echo_actor actor;
  std::uint16_t port = 0;

  ~server() {
    if (actor)
      caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    actor = nullptr;
    sys.reset(); // waits for every actor, closes the published port
  }
};

/// Returns an error text, or an empty string with `out` running.
std::string start_server(const crypto::tls_files& files, server& out) {
  out.cfg = base_config();
  if (auto error = crypto::configure_mutual_tls(*out.cfg, files, crypto::tls_role::server))
    return error->to_string();
  out.sys = std::make_unique<caf::actor_system>(*out.cfg);
  if (auto error = crypto::require_mutual_tls(*out.sys))
    return error->to_string();
  out.actor = out.sys->spawn(echo_impl, std::string{"admitted"});
  auto port = caf::openssl::publish(out.actor, 0, "127.0.0.1");
  if (!port)
    return out.sys->render(port.error());
  out.port = *port;
  return {};
}

/// A client as `ika` runs one: credentials file → private split files →
/// configured system → remote_actor; it stays connected until destroyed.
class admin_client {
public:
  admin_client(const fs::path& credentials_file, std::uint16_t port) {
    auto identity = crypto::load_client_credentials(credentials_file);
    if (auto* error = std::get_if<crypto::credential_error>(&identity)) {
      error_ = "error: " + error->to_string();
      return;
    }
    auto files =
        crypto::private_tls_files::write(std::get<crypto::tls_identity>(identity), crypto::tls_role::client);
    if (auto* error = std::get_if<crypto::credential_error>(&files)) {
      error_ = "error: " + error->to_string();
      return;
    }
    split_.emplace(std::get<crypto::private_tls_files>(std::move(files))); // outlives the system
    cfg_ = base_config();
    if (auto error = crypto::configure_mutual_tls(*cfg_, split_->files(), crypto::tls_role::client)) {
      error_ = "error: " + error->to_string();
      return;
    }
    sys_ = std::make_unique<caf::actor_system>(*cfg_);
    auto handle = caf::openssl::remote_actor<echo_actor>(*sys_, "127.0.0.1", port);
    if (!handle) {
      error_ = "error: " + sys_->render(handle.error());
      return;
    }
    node_ = *handle;
  }

  /// One request on the same connection: the reply, or "error: ...".
  std::string ask() {
    if (!error_.empty())
      return error_;
    std::string out;
    caf::scoped_actor self{*sys_};
    self->request(node_, 10s, protocol::get_atom::value)
        .receive([&](const std::string& reply) { out = reply; },
                 [&](const caf::error& error) { out = "error: " + sys_->render(error); });
    return out;
  }

private:
  std::string error_;
  std::optional<crypto::private_tls_files> split_;
  std::unique_ptr<caf::actor_system_config> cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  echo_actor node_;
};

/// One request on a new client system, as one `ika` command makes it.
std::string ask_node(const fs::path& credentials_file, std::uint16_t port) {
  return admin_client{credentials_file, port}.ask();
}

/// A connected TCP socket to 127.0.0.1:port with 10 s send/receive timeouts.
int connect_to(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// What a hand-made TLS client saw.
struct tls_attempt {
  bool connected = false;    ///< TCP connect worked
  bool handshake_ok = false; ///< SSL_connect returned 1 (in TLS 1.3 the server may still refuse after)
  bool got_app_data = false; ///< the node sent application data: admitted to BASP
  bool timed_out = false;    ///< neither data nor a close within the timeout
};

/// Connects with `ctx`, then reads until the first application byte, a
/// close, or the timeout.
tls_attempt try_tls(SSL_CTX* ctx, std::uint16_t port) {
  tls_attempt out;
  int fd = connect_to(port);
  if (fd < 0)
    return out;
  out.connected = true;
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  out.handshake_ok = SSL_connect(ssl) == 1;
  if (out.handshake_ok) {
    char buf[256];
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n > 0) {
      out.got_app_data = true;
    } else {
      int err = SSL_get_error(ssl, n);
      out.timed_out = err == SSL_ERROR_WANT_READ || (err == SSL_ERROR_SYSCALL && errno == EAGAIN);
    }
  }
  ERR_clear_error();
  SSL_free(ssl);
  ::close(fd);
  return out;
}

/// A client context that does not check the server (the attacker's view).
SSL_CTX* client_ctx() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  return ctx;
}

bool use_identity(SSL_CTX* ctx, const crypto::tls_files& files) {
  return SSL_CTX_use_certificate_chain_file(ctx, files.certificate.c_str()) == 1 &&
         SSL_CTX_use_PrivateKey_file(ctx, files.key.c_str(), SSL_FILETYPE_PEM) == 1;
}

class AdminTls : public ::testing::Test {
protected:
  void SetUp() override {
    node = std::make_unique<crypto::node_credentials>(make_node(node_dir.path()));
    auto error = start_server(node->node_files, srv);
    ASSERT_TRUE(error.empty()) << error;
    ASSERT_NE(srv.port, 0);
  }

  /// The admin client is admitted: the node still serves.
  void expect_admin_admitted() { EXPECT_EQ(ask_node(node->credentials_file, srv.port), "admitted"); }

  temp_dir node_dir{"ika-admin-tls"};
  temp_dir other_dir{"ika-admin-tls"};
  std::unique_ptr<crypto::node_credentials> node;
  server srv;
};

TEST_F(AdminTls, AdminClientIsAdmitted) {
  expect_admin_admitted();
  // Twice: each request on a new client system, new connection.
  expect_admin_admitted();
}

TEST_F(AdminTls, RawClientWithTheAdminCertificateReachesBasp) {
  // The control for the refusals below: the same hand-made client, with a
  // valid certificate, is admitted and receives the node's BASP handshake.
  SSL_CTX* ctx = client_ctx();
  ASSERT_TRUE(use_identity(ctx, node->admin_files));
  auto seen = try_tls(ctx, srv.port);
  SSL_CTX_free(ctx);
  EXPECT_TRUE(seen.handshake_ok);
  EXPECT_TRUE(seen.got_app_data);
  expect_admin_admitted();
}

TEST_F(AdminTls, PlainTcpGarbageIsRejectedAndTheNodeKeepsServing) {
  int fd = connect_to(srv.port);
  ASSERT_GE(fd, 0);
  std::string garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  garbage.append(4096, '\x5a');
  ::send(fd, garbage.data(), garbage.size(), MSG_NOSIGNAL);
  std::string got;
  bool closed = false;
  for (;;) {
    char buf[512];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      got.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    closed = n == 0 || errno == ECONNRESET;
    break;
  }
  ::close(fd);
  EXPECT_TRUE(closed) << "the node neither closed nor refused a plain TCP client";
  // At most a TLS alert record came back (content type 21), never BASP.
  if (!got.empty()) {
    EXPECT_EQ(static_cast<unsigned char>(got[0]), 21u);
  }
  expect_admin_admitted();
}

TEST_F(AdminTls, AnonymousTlsClientIsNotAdmitted) {
  // No client certificate, any cipher: TLS 1.3 then fails after the client's
  // Finished, TLS 1.2 during the handshake; never any application data.
  for (int max_version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    SSL_CTX* ctx = client_ctx();
    SSL_CTX_set_max_proto_version(ctx, max_version);
    auto seen = try_tls(ctx, srv.port);
    SSL_CTX_free(ctx);
    EXPECT_TRUE(seen.connected);
    EXPECT_FALSE(seen.got_app_data) << max_version;
    EXPECT_FALSE(seen.timed_out) << max_version;
  }
  // Anonymous cipher suites only (what CAF itself uses without
  // certificates): no cipher in common, the handshake fails.
  SSL_CTX* ctx = client_ctx();
  SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  ASSERT_EQ(SSL_CTX_set_cipher_list(ctx, "aNULL:@SECLEVEL=0"), 1);
  auto seen = try_tls(ctx, srv.port);
  // The same, with a valid client certificate offered: still refused.
  SSL_CTX* ctx_cert = client_ctx();
  SSL_CTX_set_max_proto_version(ctx_cert, TLS1_2_VERSION);
  ASSERT_EQ(SSL_CTX_set_cipher_list(ctx_cert, "aNULL:@SECLEVEL=0"), 1);
  ASSERT_TRUE(use_identity(ctx_cert, node->admin_files));
  auto seen_cert = try_tls(ctx_cert, srv.port);
  SSL_CTX_free(ctx);
  SSL_CTX_free(ctx_cert);
  EXPECT_TRUE(seen.connected);
  EXPECT_FALSE(seen.handshake_ok);
  EXPECT_FALSE(seen.got_app_data);
  EXPECT_FALSE(seen_cert.handshake_ok);
  EXPECT_FALSE(seen_cert.got_app_data);
  expect_admin_admitted();
}

TEST_F(AdminTls, ClientWithACertificateFromAnotherCaIsRefused) {
  auto other = make_node(other_dir.path());
  // Through CAF, as `ika --credentials FILE` would try it.
  auto reply = ask_node(other.credentials_file, srv.port);
  EXPECT_EQ(reply.rfind("error: ", 0), 0u) << reply;
  // A hand-made client that skips checking the node: the node refuses it.
  for (int max_version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    SSL_CTX* ctx = client_ctx();
    SSL_CTX_set_max_proto_version(ctx, max_version);
    ASSERT_TRUE(use_identity(ctx, other.admin_files));
    auto seen = try_tls(ctx, srv.port);
    SSL_CTX_free(ctx);
    EXPECT_FALSE(seen.got_app_data) << max_version;
    EXPECT_FALSE(seen.timed_out) << max_version;
  }
  // The other node's own certificate (a server one) is no better.
  SSL_CTX* ctx = client_ctx();
  ASSERT_TRUE(use_identity(ctx, other.node_files));
  auto seen = try_tls(ctx, srv.port);
  SSL_CTX_free(ctx);
  EXPECT_FALSE(seen.got_app_data);
  expect_admin_admitted();
}

TEST_F(AdminTls, EverythingRefusedInARowThenTheAdminStillGetsIn) {
  auto other = make_node(other_dir.path());
  int fd = connect_to(srv.port);
  ASSERT_GE(fd, 0);
  ::send(fd, "\x16\x03\x01\xff\xff garbage", 14, MSG_NOSIGNAL);
  ::close(fd);
  SSL_CTX* anon = client_ctx();
  EXPECT_FALSE(try_tls(anon, srv.port).got_app_data);
  SSL_CTX_free(anon);
  EXPECT_NE(ask_node(other.credentials_file, srv.port), "admitted");
  expect_admin_admitted();
}

/// Reads until the node closes `fd` (or 10 s pass); true if it closed.
bool wait_for_close(int fd) {
  for (;;) {
    char buf[512];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0)
      continue;
    return n == 0 || errno == ECONNRESET;
  }
}

TEST_F(AdminTls, FailedConnectionsLeaveEstablishedOnesWorking) {
  // caf::openssl 0.17 leaves OpenSSL's per-thread error queue as a failed
  // connection filled it (it drains the queue only to log, and Debian builds
  // it without logs); the next connection on the multiplexer thread whose
  // read then ends in "want read" took the stale error for its own and was
  // dropped, its pending requests left without an answer. The node
  // processes each failure below before this client asks again (the node
  // has closed the failing socket first).
  admin_client established{node->credentials_file, srv.port};
  ASSERT_EQ(established.ask(), "admitted");
  auto other = make_node(other_dir.path());
  for (int round = 0; round < 3; ++round) {
    // A peer admitted to BASP that goes away without a close_notify, as
    // every `ika` command does: "unexpected eof while reading".
    SSL_CTX* ctx = client_ctx();
    ASSERT_TRUE(use_identity(ctx, node->admin_files));
    int fd = connect_to(srv.port);
    ASSERT_GE(fd, 0);
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    ASSERT_EQ(SSL_connect(ssl), 1);
    char buf[64];
    ASSERT_GT(SSL_read(ssl, buf, sizeof buf), 0); // the node's BASP handshake
    ::shutdown(fd, SHUT_WR);
    EXPECT_TRUE(wait_for_close(fd));
    ERR_clear_error();
    SSL_free(ssl);
    ::close(fd);
    SSL_CTX_free(ctx);
    ASSERT_EQ(established.ask(), "admitted") << "after an abrupt close, round " << round;

    // A refused handshake: no client certificate.
    SSL_CTX* anon = client_ctx();
    EXPECT_FALSE(try_tls(anon, srv.port).got_app_data);
    SSL_CTX_free(anon);
    ASSERT_EQ(established.ask(), "admitted") << "after a refused handshake, round " << round;

    // A certificate from another CA, through CAF.
    EXPECT_NE(ask_node(other.credentials_file, srv.port), "admitted");
    ASSERT_EQ(established.ask(), "admitted") << "after a foreign certificate, round " << round;

    // Garbage instead of a ClientHello.
    fd = connect_to(srv.port);
    ASSERT_GE(fd, 0);
    ::send(fd, "\x16\x03\x01\x00\x05garbage", 12, MSG_NOSIGNAL);
    EXPECT_TRUE(wait_for_close(fd));
    ::close(fd);
    ASSERT_EQ(established.ask(), "admitted") << "after garbage, round " << round;
  }
}

TEST(AdminTlsSetup, MissingCredentialsPublishNothing) {
  temp_dir dir{"ika-admin-tls"};
  {
    server srv;
    auto error = start_server(crypto::tls_files{}, srv);
    EXPECT_NE(error.find("openssl.certificate"), std::string::npos) << error;
    EXPECT_EQ(srv.sys, nullptr); // no system, nothing published
    EXPECT_EQ(srv.port, 0);
  }
  {
    server srv;
    auto missing = dir.path() / "nowhere" / "tls";
    crypto::tls_files files{missing / "node.crt", missing / "node.key", missing / "ca.crt"};
    auto error = start_server(files, srv);
    EXPECT_NE(error.find((missing / "node.crt").string()), std::string::npos) << error;
    EXPECT_EQ(srv.sys, nullptr);
  }
  {
    // A system built without configure_mutual_tls is caught before publishing.
    auto cfg = base_config();
    caf::actor_system sys{*cfg};
    auto error = crypto::require_mutual_tls(sys);
    ASSERT_TRUE(error.has_value());
    EXPECT_NE(error->message.find("anonymous"), std::string::npos);
  }
  {
    // Without the OpenSSL module at all.
    caf::actor_system_config cfg;
    cfg.load<caf::io::middleman>();
    caf::actor_system sys{cfg};
    EXPECT_TRUE(crypto::require_mutual_tls(sys).has_value());
  }
}

TEST(AdminTlsSetup, WithoutConfigurationCafWouldAdmitAnonymousClients) {
  // Why configure_mutual_tls exists, and proof that try_tls notices an
  // admission: CAF 0.17 with no openssl.* keys serves anonymous ECDH.
  auto cfg = base_config();
  server srv;
  srv.cfg = std::move(cfg);
  srv.sys = std::make_unique<caf::actor_system>(*srv.cfg);
  srv.actor = srv.sys->spawn(echo_impl, std::string{"admitted"});
  auto port = caf::openssl::publish(srv.actor, 0, "127.0.0.1");
  ASSERT_TRUE(port) << srv.sys->render(port.error());
  SSL_CTX* ctx = client_ctx();
  SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
  ASSERT_EQ(SSL_CTX_set_cipher_list(ctx, "aNULL:@SECLEVEL=0"), 1);
  auto seen = try_tls(ctx, *port);
  SSL_CTX_free(ctx);
  EXPECT_TRUE(seen.handshake_ok);
  EXPECT_TRUE(seen.got_app_data);
}

} // namespace
