// The `ika` command.

#include "runtime/config/node_config.hpp"
#include "runtime/net/endpoint.hpp"
#include "tools/ika/run_node.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <string>
#include <variant>
#include <vector>

namespace {

constexpr int exit_usage = 2;

int fail(const std::string& message) {
  std::fprintf(stderr, "ika: error: %s\n", message.c_str());
  return exit_usage;
}

/// `ika proxy`: one listener, one catch-all route, round robin.
int proxy_command(const std::string& from, const std::vector<std::string>& to, unsigned workers) {
  ika::config::node_config config;
  config.workers = workers;
  auto listen = ika::net::parse_endpoint(from);
  if (!listen)
    return fail("--from: invalid address '" + from + "' (expected IP:PORT, e.g. 127.0.0.1:8080)");
  config.listeners.push_back({"proxy", ika::net::to_string(*listen)});
  ika::protocol::route_spec route;
  for (const auto& t : to) {
    std::string error;
    auto ep = ika::net::resolve_endpoint(t, error);
    if (!ep)
      return fail("--to: '" + t + "': " + error);
    if (ep->port() == 0)
      return fail("--to: '" + t + "': port 0 is not an upstream");
    route.upstreams.push_back(ika::net::to_string(*ep));
  }
  config.routes.push_back(std::move(route));
  return ika::tools::run_node(std::move(config));
}

int serve_command(const std::string& path, unsigned workers, bool workers_set) {
  auto result = ika::config::load_config(path);
  if (auto* err = std::get_if<ika::config::config_error>(&result))
    return fail(err->to_string());
  auto config = std::get<ika::config::node_config>(std::move(result));
  if (workers_set)
    config.workers = workers;
  return ika::tools::run_node(std::move(config));
}

} // namespace

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("ika"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  CLI::App app{"ika: a deployment platform runtime (reverse proxy, process supervisor)", "ika"};
  app.set_version_flag("--version", std::string{"ika "} + IKA_VERSION);
  app.require_subcommand(1);
  app.fallthrough(false);

  unsigned workers = 0;

  auto* serve = app.add_subcommand("serve", "Run a node with listeners and routes from a TOML file");
  std::string config_path;
  serve->add_option("--config,-c", config_path, "Configuration file (TOML)")->required();
  auto* serve_workers = serve->add_option("--workers", workers, "io threads (default: one per core)");

  auto* proxy =
      app.add_subcommand("proxy", "Run a quick reverse proxy: --from ADDR --to ADDR [--to ADDR ...]");
  std::string from;
  std::vector<std::string> to;
  proxy->add_option("--from", from, "Address to listen on, IP:PORT (port 0: any)")->required();
  proxy->add_option("--to", to, "Upstream HOST:PORT; repeat for round robin")->required();
  proxy->add_option("--workers", workers, "io threads (default: one per core)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return exit_usage;
  }

  if (serve->parsed())
    return serve_command(config_path, workers, serve_workers->count() > 0);
  if (proxy->parsed())
    return proxy_command(from, to, workers);
  return exit_usage;
}
