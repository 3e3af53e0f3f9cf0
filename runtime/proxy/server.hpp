#pragma once
// One bound address of the proxy: an SO_REUSEPORT acceptor on every io
// thread, the connections they accept, and the route snapshot those
// connections read. Owned and driven by a `listener` actor; every method is
// called from that actor (or before the io threads start) and only ever
// posts work to the io threads.

#include "runtime/acme/challenge_tokens.hpp"
#include "runtime/bridge/snapshot.hpp"
#include "runtime/net/io_pool.hpp"
#include "runtime/net/tls_context.hpp"
#include "runtime/proxy/limits.hpp"
#include "runtime/proxy/route_table.hpp"
#include "runtime/proxy/worker.hpp"

#include <asio/ip/tcp.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace ika::proxy {

class client_session;

/// State shared by a server and its connections (which outlive neither).
struct listener_shared {
  listener_shared(std::string n, const limits& l, std::size_t threads);

  /// What a TLS handshake on one io thread reads.
  struct handshake_view final : net::handshake_source {
    std::optional<bridge::snapshot_reader<net::certificate_table>> reader;
    net::ticket_keys* keys = nullptr;
    const net::certificate_table& certificates() noexcept override { return reader->get(); }
    net::ticket_keys& tickets() noexcept override { return *keys; }
  };

  struct alignas(64) thread_slot {
    std::optional<bridge::snapshot_reader<route_table>> routes;
    handshake_view handshakes;
    std::atomic<std::uint64_t> requests{0}; ///< written by its io thread only
  };

  std::string name;
  proxy::limits config;
  std::string proto = "http";
  // HTTPS: the listener's base TLS context (null for plain HTTP), the
  // certificates it chooses from and its session ticket keys.
  net::ssl_ctx_ptr tls;
  bridge::snapshot_cell<net::certificate_table> certificates;
  net::ticket_keys tickets;
  /// Plain HTTP: the port of the node's HTTPS listener that routes with TLS
  /// redirect to (0: none).
  std::atomic<std::uint16_t> https_port{0};
  /// Plain HTTP: the ACME HTTP-01 answers to give (set before start()).
  std::shared_ptr<const acme::challenge_tokens> challenges;
  bridge::snapshot_cell<route_table> routes;
  std::atomic<bool> draining{false};
  std::atomic<std::uint64_t> connections{0};
  std::unique_ptr<thread_slot[]> slots;
  std::size_t slot_count;
};

class server {
public:
  server(net::io_pool& pool, workers& w, std::string name, asio::ip::tcp::endpoint address, const limits& l);
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds one acceptor per io thread (all on the same port; port 0 picks a
  /// free one). Must run before the io pool starts.
  std::error_code open();

  /// Starts accepting (posts an accept loop to each io thread).
  void start();

  /// The address actually bound.
  asio::ip::tcp::endpoint local_endpoint() const { return bound_; }

  /// Makes `table` the one new requests are routed with.
  void publish(std::shared_ptr<const route_table> table);

  /// Makes this an HTTPS listener (before start()); false with `error` when
  /// OpenSSL cannot make the context.
  bool enable_tls(std::string& error);
  bool secure() const noexcept { return shared_->tls != nullptr; }

  /// Makes `table` the certificates new handshakes choose from.
  void publish_certificates(std::shared_ptr<const net::certificate_table> table);

  /// A new session ticket key seals from now on (the previous one still
  /// opens tickets).
  void rotate_ticket_keys() { shared_->tickets.rotate(); }

  /// Plain HTTP: answers ACME HTTP-01 challenges from `tokens` (before start()).
  void set_challenges(std::shared_ptr<const acme::challenge_tokens> tokens) {
    shared_->challenges = std::move(tokens);
  }

  /// Plain HTTP: where routes with TLS redirect to.
  void set_https_port(std::uint16_t port) noexcept {
    shared_->https_port.store(port, std::memory_order_relaxed);
  }

  /// Stops accepting, closes idle keep-alive connections, and makes busy
  /// ones close after their current response.
  void drain();

  /// Closes every connection now.
  void close_all();

  /// Destroys the acceptors. Only after the io threads have stopped, and
  /// before the io contexts go: io objects must not outlive their context
  /// (actors may still hold this server for a while).
  void release_io() noexcept { acceptors_.clear(); }

  /// False once every acceptor is closed (after drain() or close_all()).
  bool accepting() const noexcept { return open_acceptors_.load(std::memory_order_acquire) > 0; }

  std::uint64_t connections() const noexcept;
  std::uint64_t requests() const noexcept;
  std::size_t routes() const;
  const std::string& name() const noexcept { return shared_->name; }

private:
  net::io_pool& pool_;
  workers& workers_;
  asio::ip::tcp::endpoint address_;
  asio::ip::tcp::endpoint bound_;
  std::shared_ptr<listener_shared> shared_;
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors_;
  std::atomic<std::size_t> open_acceptors_{0};
  void close_acceptors(bool now);
};

} // namespace ika::proxy
