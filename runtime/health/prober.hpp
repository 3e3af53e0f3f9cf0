#pragma once
// Active health checks of app instances (ARCHITECTURE.md, "Health"):
// `GET <path>` with `Host: <app>.ika.internal` and the instance's token in
// `X-Ika-Health`, healthy on 2xx; without a path, a TCP connect is the
// check. Probes run as coroutines on one io thread of the control plane, so
// no actor ever blocks on an app; the result goes to a callback (which sends
// an actor message).

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <chrono>
#include <functional>
#include <string>

namespace ika::health {

/// What to check, and how long it may take in all (connect, send, answer).
struct probe_spec {
  asio::ip::tcp::endpoint endpoint;
  std::string path;  ///< empty: a TCP connect is the check
  std::string host;  ///< Host header value
  std::string token; ///< X-Ika-Health header value
  std::chrono::milliseconds timeout{2000};
};

struct probe_result {
  bool ok = false;
  std::string detail; ///< why it failed ("connection refused", "status 503", "timed out")
};

/// Starts probes on `io` (whose thread runs them). Thread-safe. A queued
/// probe refers to its prober: keep the prober alive until `io` has run
/// or dropped every probe started on it (the platform owns one for the
/// node's whole life).
class prober {
public:
  explicit prober(asio::io_context& io) : io_{io} {}

  /// Runs one probe; `done` is called exactly once, on the io thread.
  void probe(probe_spec spec, std::function<void(probe_result)> done);

private:
  asio::io_context& io_;
};

} // namespace ika::health
