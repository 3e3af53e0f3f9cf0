// The `ika` command.

#include "runtime/config/app_manifest.hpp"
#include "runtime/config/node_config.hpp"
#include "runtime/net/endpoint.hpp"
#include "tools/ika/client.hpp"
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
int proxy_command(const std::string& from, const std::vector<std::string>& to, unsigned workers,
                  std::uint64_t cache_mb, const std::string& cert, const std::string& key) {
  if (cert.empty() != key.empty())
    return fail(cert.empty() ? "--key needs --cert" : "--cert needs --key");
  ika::config::node_config config;
  config.workers = workers;
  // The cache only when asked for, with the budget given.
  config.cache.memory = cache_mb << 20;
  auto listen = ika::net::parse_endpoint(from);
  if (!listen)
    return fail("--from: invalid address '" + from + "' (expected IP:PORT, e.g. 127.0.0.1:8080)");
  config.listeners.push_back({"proxy", ika::net::to_string(*listen), !cert.empty()});
  if (!cert.empty())
    config.certificates.push_back({cert, key, {}});
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
  route.cache = cache_mb > 0;
  config.routes.push_back(std::move(route));
  return ika::tools::run_node(std::move(config));
}

/// `ika serve`: a node with a data dir and an admin endpoint; listeners and
/// static routes from --config, or one HTTP listener (--http).
int serve_command(const std::string& path, const std::string& http, bool http_set, const std::string& https,
                  const std::string& data, const std::string& admin, unsigned workers, bool workers_set) {
  ika::config::node_config config;
  if (!path.empty()) {
    auto result = ika::config::load_config(path);
    if (auto* err = std::get_if<ika::config::config_error>(&result))
      return fail(err->to_string());
    config = std::get<ika::config::node_config>(std::move(result));
  }
  if (http_set || config.listeners.empty()) {
    auto ep = ika::net::parse_endpoint(http);
    if (!ep)
      return fail("--http: invalid address '" + http + "' (expected IP:PORT, e.g. 127.0.0.1:8080)");
    config.listeners.clear();
    config.listeners.push_back({"http", ika::net::to_string(*ep)});
  }
  if (!https.empty()) {
    auto ep = ika::net::parse_endpoint(https);
    if (!ep)
      return fail("--https: invalid address '" + https + "' (expected IP:PORT, e.g. 127.0.0.1:8443)");
    for (auto& l : config.listeners)
      if (l.address == ika::net::to_string(*ep) && ep->port() != 0)
        return fail("--https: " + https + " is also listener " + l.name + "'s address");
    config.listeners.push_back({"https", ika::net::to_string(*ep), true});
  }
  if (!ika::net::parse_endpoint(admin))
    return fail("--admin: invalid address '" + admin + "' (expected IP:PORT, e.g. 127.0.0.1:7700)");
  if (workers_set)
    config.workers = workers;
  ika::tools::platform_options platform;
  platform.data_dir = data.empty() ? ika::tools::data_dir_default() : data;
  platform.admin = admin;
  config.data_dir = platform.data_dir;
  return ika::tools::run_node(std::move(config), platform);
}

/// Adds --data, --node, --credentials and --json to a client command.
void client_flags(CLI::App* cmd, ika::tools::client_options& o) {
  cmd->add_option("--data", o.data_dir, "The node's data dir (default: $IKA_DATA or ~/.local/share/ika)");
  cmd->add_option("--node", o.node, "The node's admin address IP:PORT (default: from the data dir)");
  cmd->add_option("--credentials", o.credentials, "Admin credentials PEM file (default: from the data dir)");
  cmd->add_flag("--json", o.json, "Print JSON");
}

/// If the deepest command given requires a subcommand and the next word
/// is not one of its subcommands, says so (with the ones it has) and
/// returns true.
bool unknown_command(CLI::App& app) {
  CLI::App* cmd = &app;
  std::string path = "ika";
  for (;;) {
    auto subs = cmd->get_subcommands();
    if (subs.empty())
      break;
    cmd = subs.front();
    path += " " + cmd->get_name();
  }
  auto rest = cmd->remaining();
  if (rest.empty() || rest.front().empty() || rest.front().front() == '-')
    return false;
  std::string known;
  for (const auto* sub : cmd->get_subcommands([](const CLI::App*) { return true; }))
    known += (known.empty() ? "" : ", ") + sub->get_name();
  std::fprintf(stderr, "ika: error: unknown command '%s %s' (commands: %s; `%s --help` describes them)\n",
               path.c_str(), rest.front().c_str(), known.c_str(), path.c_str());
  return true;
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

  auto* serve = app.add_subcommand("serve", "Run a node: listeners, deployed apps, the admin endpoint");
  std::string config_path, http = "127.0.0.1:8080", data, admin = "127.0.0.1:7700";
  serve->add_option("--config,-c", config_path, "Listeners, limits and static routes (TOML)");
  auto* serve_http =
      serve->add_option("--http", http, "HTTP listener IP:PORT (default 127.0.0.1:8080; port 0: any)");
  std::string https;
  serve->add_option("--https", https, "Also an HTTPS listener IP:PORT (certificates by SNI; port 0: any)");
  serve->add_option("--data", data, "Data dir (default: $IKA_DATA or ~/.local/share/ika)");
  serve->add_option("--admin", admin, "Admin endpoint IP:PORT, mutual TLS (default 127.0.0.1:7700)");
  auto* serve_workers = serve->add_option("--workers", workers, "io threads (default: one per core)")
                            ->check(CLI::Range(0u, ika::config::max_workers));

  auto* proxy =
      app.add_subcommand("proxy", "Run a quick reverse proxy: --from ADDR --to ADDR [--to ADDR ...]");
  std::string from;
  std::vector<std::string> to;
  proxy->add_option("--from", from, "Address to listen on, IP:PORT (port 0: any)")->required();
  proxy->add_option("--to", to, "Upstream HOST:PORT; repeat for round robin")->required();
  proxy->add_option("--workers", workers, "io threads (default: one per core)")
      ->check(CLI::Range(0u, ika::config::max_workers));
  std::uint64_t cache_mb = 0;
  proxy
      ->add_option("--cache-mb", cache_mb,
                   "Cache responses (as Cache-Control allows) in a memory budget of N MiB (default 0: off)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 20));
  std::string cert_file, key_file;
  proxy->add_option("--cert", cert_file, "Terminate TLS with this PEM certificate chain (leaf first)");
  proxy->add_option("--key", key_file, "The certificate's PEM private key (mode 0600)");

  ika::tools::client_options copts;
  std::string app_name, dir = ".", instance;
  std::uint32_t count = 0, lines = 100;
  bool follow = false;

  auto* deploy = app.add_subcommand("deploy", "Deploy the app in DIR (default .) to the node");
  deploy->add_option("dir", dir, "App directory with an ika.toml");
  client_flags(deploy, copts);
  auto* apps = app.add_subcommand("apps", "List the deployed apps");
  client_flags(apps, copts);
  auto* status = app.add_subcommand("status", "Show an app's instances (all apps without APP)");
  status->add_option("app", app_name, "App name (or name/environment)");
  client_flags(status, copts);
  auto* scale = app.add_subcommand("scale", "Set an app's number of instances");
  scale->add_option("app", app_name, "App name")->required();
  scale->add_option("instances", count, "Instances (0-64; 0 = on demand)")
      ->required()
      ->check(CLI::Range(0u, ika::config::max_app_instances));
  client_flags(scale, copts);
  auto* logs = app.add_subcommand("logs", "Show an app's output");
  logs->add_option("app", app_name, "App name")->required();
  logs->add_flag("-f,--follow", follow, "Keep printing new lines");
  logs->add_option("--instance", instance, "Only this instance (its id, or just its number)");
  logs->add_option("-n,--lines", lines, "Lines to show (default 100)");
  client_flags(logs, copts);
  auto* stop = app.add_subcommand("stop", "Stop an app's instances (its routes answer 503)");
  stop->add_option("app", app_name, "App name")->required();
  client_flags(stop, copts);
  auto* start = app.add_subcommand("start", "Start a stopped app");
  start->add_option("app", app_name, "App name")->required();
  client_flags(start, copts);
  auto* del = app.add_subcommand("delete", "Stop an app and remove it from the node");
  del->add_option("app", app_name, "App name")->required();
  client_flags(del, copts);
  std::string version;
  auto* releases = app.add_subcommand("releases", "List an app's kept releases (the last 10)");
  releases->add_option("app", app_name, "App name")->required();
  client_flags(releases, copts);
  auto* rollback =
      app.add_subcommand("rollback", "Roll an app back to a kept release (default: the previous)");
  rollback->add_option("app", app_name, "App name")->required();
  rollback->add_option("version", version, "Release version or a unique prefix (7+ hex digits)");
  client_flags(rollback, copts);
  // ika secrets set|list|unset
  auto* secrets = app.add_subcommand("secrets", "Manage an app's secrets (encrypted environment variables)");
  secrets->require_subcommand(1);
  std::string secret_key, secret_file;
  auto* secrets_set =
      secrets->add_subcommand("set", "Set a secret; the value is read from stdin or --from-file");
  secrets_set->add_option("app", app_name, "App name")->required();
  secrets_set->add_option("key", secret_key, "Variable name")->required();
  secrets_set->add_option("--from-file", secret_file, "Read the value from this file (as is)");
  client_flags(secrets_set, copts);
  // A value given after KEY is refused below without being echoed (CLI11's
  // own "not expected" error would print it).
  secrets_set->allow_extras();
  auto* secrets_list = secrets->add_subcommand("list", "List an app's secrets (names, never values)");
  secrets_list->add_option("app", app_name, "App name")->required();
  client_flags(secrets_list, copts);
  auto* cache = app.add_subcommand("cache", "The node's response cache");
  cache->require_subcommand(1);
  auto* cache_stats = cache->add_subcommand("stats", "Objects, bytes and hit counts of every cache shard");
  client_flags(cache_stats, copts);
  std::string cache_prefix;
  auto* cache_purge =
      cache->add_subcommand("purge", "Drop an app's cached responses (those under PATH-PREFIX, or all)");
  cache_purge->add_option("app", app_name, "App name")->required();
  cache_purge->add_option("prefix", cache_prefix, "Path prefix, e.g. /static/ (default: every path)");
  client_flags(cache_purge, copts);
  auto* certs = app.add_subcommand("certs", "The node's TLS certificates: hosts, issuer, expiry, state");
  client_flags(certs, copts);
  std::string cert_host;
  auto* certs_renew = certs->add_subcommand("renew", "Renew HOST's certificate now");
  certs_renew->add_option("host", cert_host, "Host name")->required();
  client_flags(certs_renew, copts);
  std::string add_cert, add_key;
  auto* certs_add =
      certs->add_subcommand("add", "Serve HOST with this certificate (replaces ACME/self-signed)");
  certs_add->add_option("host", cert_host, "Host name")->required();
  certs_add->add_option("--cert", add_cert, "PEM chain, leaf first")->required();
  certs_add->add_option("--key", add_key, "PEM private key (mode 0600)")->required();
  client_flags(certs_add, copts);
  auto* certs_ca = certs->add_subcommand("ca", "Print the node's local CA certificate (PEM) to trust");
  certs_ca->add_option("--data", copts.data_dir,
                       "The node's data dir (default: $IKA_DATA or ~/.local/share/ika)");
  auto* secrets_unset = secrets->add_subcommand("unset", "Remove a secret");
  secrets_unset->add_option("app", app_name, "App name")->required();
  secrets_unset->add_option("key", secret_key, "Variable name")->required();
  client_flags(secrets_unset, copts);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::RequiredError& e) {
    // CLI11 says "A subcommand is required" for `ika frobnicate`: name the
    // word it did not know, and what it knows. `ika` alone gets the help.
    if (argc == 1) {
      std::fputs(app.help().c_str(), stderr);
      return exit_usage;
    }
    if (unknown_command(app))
      return exit_usage;
    app.exit(e);
    return exit_usage;
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return exit_usage;
  }

  using namespace ika::tools;
  if (serve->parsed())
    return serve_command(config_path, http, serve_http->count() > 0, https, data, admin, workers,
                         serve_workers->count() > 0);
  if (deploy->parsed())
    return deploy_command(copts, dir);
  if (apps->parsed())
    return apps_command(copts);
  if (status->parsed())
    return status_command(copts, app_name);
  if (scale->parsed())
    return scale_command(copts, app_name, count);
  if (logs->parsed())
    return logs_command(copts, app_name, instance, lines, follow);
  if (stop->parsed())
    return stop_command(copts, app_name);
  if (start->parsed())
    return start_command(copts, app_name);
  if (del->parsed())
    return delete_command(copts, app_name);
  if (releases->parsed())
    return releases_command(copts, app_name);
  if (rollback->parsed())
    return rollback_command(copts, app_name, version);
  if (secrets_set->parsed()) {
    if (!secrets_set->remaining().empty())
      return fail(
          "ika secrets set takes APP and KEY only: the value is read from stdin or --from-file, "
          "never from the command line (ps and the shell's history would show it); nothing was stored");
    return secrets_set_command(copts, app_name, secret_key, secret_file);
  }
  if (cache_stats->parsed())
    return cache_stats_command(copts);
  if (certs_renew->parsed())
    return certs_renew_command(copts, cert_host);
  if (certs_add->parsed())
    return certs_add_command(copts, cert_host, add_cert, add_key);
  if (certs_ca->parsed())
    return certs_ca_command(copts);
  if (certs->parsed())
    return certs_command(copts);
  if (cache_purge->parsed())
    return cache_purge_command(copts, app_name, cache_prefix);
  if (secrets_list->parsed())
    return secrets_list_command(copts, app_name);
  if (secrets_unset->parsed())
    return secrets_unset_command(copts, app_name, secret_key);
  if (proxy->parsed())
    return proxy_command(from, to, workers, cache_mb, cert_file, key_file);
  return exit_usage;
}
