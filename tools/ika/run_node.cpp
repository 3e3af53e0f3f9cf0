#include "tools/ika/run_node.hpp"

#include "actors/node.hpp"
#include "protocol/types.hpp"
#include "tools/ika/node_files.hpp"
#include "tools/ika/platform.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <spdlog/spdlog.h>

#include <unistd.h>

#include <csignal>
#include <cstdio>

namespace ika::tools {

using namespace protocol;

namespace {

/// The control plane is mostly idle and latency matters more than
/// throughput: two threads, the sharing policy (measured faster than work
/// stealing for request/reply latency on these machines).
void configure_caf(caf::actor_system_config& cfg) {
  register_types(cfg);
  cfg.set("scheduler.max-threads", 2);
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
}

} // namespace

int run_node(config::node_config config, const std::optional<platform_options>& platform_opts) {
  // Signals are taken by sigwait below; every thread started from here on
  // (io threads, CAF's scheduler) inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto shutdown_timeout = config.shutdown_timeout;
  caf::actor_system_config cfg;
  configure_caf(cfg);
  if (platform_opts) {
    // The admin channel: mutual TLS with the node's own CA (created at
    // first start), or the node does not start.
    if (auto err = configure_node_tls(cfg, platform_opts->data_dir); !err.empty()) {
      std::fprintf(stderr, "ika: error: %s\n", err.c_str());
      return 1;
    }
  }
  caf::actor_system sys{cfg};
  std::unique_ptr<platform> plat;
  if (platform_opts) {
    auto opened = platform::open(sys, platform_opts->data_dir);
    if (auto* err = std::get_if<std::string>(&opened)) {
      std::fprintf(stderr, "ika: error: %s\n", err->c_str());
      return 1;
    }
    plat = std::get<std::unique_ptr<platform>>(std::move(opened));
    for (const auto& note : plat->notes())
      spdlog::warn("{}", note);
  }
  auto registry = std::make_shared<proxy::backend_registry>();
  auto node_handle = sys.spawn(actors::node, std::move(config), registry);
  caf::scoped_actor self{sys};

  int exit_code = 0;
  bool started = false;
  std::vector<std::string> http_addresses;
  self->request(node_handle, std::chrono::seconds{30}, start_atom::value)
      .receive(
          [&](const node_status& status) {
            started = true;
            for (const auto& l : status.listeners) {
              std::printf("ika: listening on %s://%s (%s)\n", l.tls ? "https" : "http", l.address.c_str(),
                          l.name.c_str());
              http_addresses.push_back(l.address);
            }
            std::fflush(stdout);
            spdlog::info("ika {} serving on {} listener(s)", status.version, status.listeners.size());
          },
          [&](const caf::error& err) {
            std::fprintf(stderr, "ika: error: %s\n", describe(sys, err).c_str());
            exit_code = 1;
          });

  if (started && plat) {
    auto admin = plat->start_admin(node_handle, registry);
    std::string bound;
    if (auto err = publish_admin(sys, admin, platform_opts->admin, bound); !err.empty()) {
      std::fprintf(stderr, "ika: error: %s\n", err.c_str());
      exit_code = 1;
      started = false;
    } else if (auto werr = write_node_file(platform_opts->data_dir,
                                           node_file{static_cast<int>(::getpid()), http_addresses, bound});
               !werr.empty()) {
      std::fprintf(stderr, "ika: error: %s\n", werr.c_str());
      exit_code = 1;
      started = false;
    } else {
      std::printf("ika: admin on %s (mutual TLS)\n", bound.c_str());
      std::fflush(stdout);
    }
  }

  if (started) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGTERM) {
      spdlog::info("SIGTERM: draining (up to {} ms)", shutdown_timeout.count());
      self->request(node_handle, shutdown_timeout + std::chrono::seconds{5}, drain_atom::value,
                    caf::timespan{shutdown_timeout})
          .receive(
              [&](const drain_result& r) {
                if (!r.complete)
                  spdlog::warn("drain deadline passed with {} connection(s) open", r.abandoned);
              },
              [&](const caf::error& err) { spdlog::error("drain failed: {}", sys.render(err)); });
    }
    if (plat)
      plat->shut_down(sys);
    self->request(node_handle, std::chrono::seconds{10}, stop_atom::value)
        .receive([](ok_atom) {},
                 [&](const caf::error& err) { spdlog::error("stop failed: {}", sys.render(err)); });
  }
  self->send_exit(node_handle, caf::exit_reason::user_shutdown);
  return exit_code;
}

} // namespace ika::tools
