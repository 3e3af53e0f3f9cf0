#include "tools/ika/client.hpp"

#include "actors/secrets.hpp"
#include "protocol/interfaces.hpp"
#include "protocol/types.hpp"
#include "runtime/config/app_manifest.hpp"
#include "runtime/crypto/certs.hpp"
#include "runtime/crypto/mutual_tls.hpp"
#include "runtime/deploy/archive.hpp"
#include "tools/ika/node_files.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include <nlohmann/json.hpp>
#include <sodium.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <variant>

namespace ika::tools {

using namespace protocol;
using json = nlohmann::json;

namespace {

constexpr int exit_failure = 1;
constexpr int exit_usage = 2;
constexpr auto command_timeout = std::chrono::seconds{60};

int fail(const std::string& message, int code = exit_failure) {
  std::fprintf(stderr, "ika: error: %s\n", message.c_str());
  return code;
}

/// The client's actor system: the middleman with mutual TLS, our types.
/// Members in this order: the TLS files outlive the system that reads them.
struct client_system {
  explicit client_system(const client_options& o) {
    register_types(cfg);
    cfg.set("scheduler.max-threads", 2);
    cfg.set("logger.file-verbosity", caf::atom("quiet"));
    cfg.set("logger.console-verbosity", caf::atom("quiet"));
    error = configure_client_tls(cfg, o, files);
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  std::optional<crypto::private_tls_files> files;
  std::string error;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
};

/// How long a fresh admin connection may take to answer its first request,
/// and how many connections a command tries.
constexpr auto connection_check_timeout = std::chrono::seconds{3};
constexpr int connection_attempts = 3;

/// Connects to the node's admin actor, or says why not.
std::variant<admin_actor, std::string> connect(client_system& cs, const client_options& o) {
  if (!cs.error.empty())
    return cs.error;
  std::string address = o.node;
  if (address.empty()) {
    auto files = read_node_file(o.data_dir.empty() ? data_dir_default() : o.data_dir);
    if (auto* err = std::get_if<std::string>(&files))
      return *err;
    address = std::get<node_file>(files).admin;
  }
  // A first round trip proves the connection; a new actor system makes a
  // new one. (Connections that were dropped under caf::openssl with nothing
  // coming back were the stale OpenSSL error queue that
  // runtime/crypto/openssl_error_guard.cpp now clears.)
  for (int attempt = 1;; ++attempt) {
    auto admin = connect_admin(*cs.sys, address);
    if (auto* err = std::get_if<std::string>(&admin))
      return *err;
    bool answered = false;
    {
      caf::scoped_actor self{*cs.sys};
      self->request(std::get<admin_actor>(admin), connection_check_timeout, status_atom::value)
          .receive([&](const node_status&) { answered = true; }, [&](const caf::error&) {});
    }
    if (answered) {
      // The handshake has read the key; no copy of it stays on disk while a
      // long command (logs -f) runs or after it is killed.
      cs.files.reset();
      return admin;
    }
    if (attempt == connection_attempts)
      return "the node at " + address + " does not answer (" + std::to_string(connection_attempts) +
             " attempts)";
    cs.sys.reset();
    cs.sys = std::make_unique<caf::actor_system>(cs.cfg);
  }
}

/// Connects, or says why not (on stderr) and returns nothing.
std::optional<admin_actor> connect_or_fail(client_system& cs, const client_options& o) {
  auto conn = connect(cs, o);
  if (auto* err = std::get_if<std::string>(&conn)) {
    fail(*err);
    return std::nullopt;
  }
  return std::get<admin_actor>(conn);
}

std::string json_or(const json& j) {
  return j.dump(2);
}

json to_json(const instance_status& s) {
  return json{{"id", s.id},
              {"pid", s.pid},
              {"port", s.port},
              {"state", s.state},
              {"since_ms", s.since_ms},
              {"restarts", s.restarts},
              {"in_flight", s.in_flight},
              {"release", s.release},
              {"detail", s.detail}};
}

json to_json(const app_status& s) {
  json instances = json::array();
  for (const auto& i : s.instance_list)
    instances.push_back(to_json(i));
  return json{{"app", s.id},
              {"release", s.release},
              {"next_release", s.next_release},
              {"rollout", s.rollout},
              {"desired", s.desired},
              {"state", s.state},
              {"instances", s.instances},
              {"healthy", s.healthy},
              {"routes", s.routes},
              {"instance_list", instances}};
}

json to_json(const log_line& l) {
  return json{{"at_ms", l.at_ms}, {"instance", l.instance}, {"stream", l.stream}, {"text", l.text}};
}

std::string short_release(const std::string& v) {
  return v.substr(0, 12);
}

std::string format_time(std::int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

std::string format_uptime(std::int64_t since_ms) {
  if (since_ms == 0)
    return "-";
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto s = std::max<std::int64_t>(0, (now - since_ms) / 1000);
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%lldm%llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lldh%lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60));
  return buf;
}

void print_line(const log_line& l) {
  std::printf("%s %s %s %s\n", format_time(l.at_ms).c_str(), l.instance.c_str(), l.stream.c_str(),
              l.text.c_str());
}

void print_status(const app_status& s) {
  std::printf("app       %s\nstate     %s (%u/%u healthy, desired %s)\nrelease   %s\n", s.id.c_str(),
              s.state.c_str(), s.healthy, s.instances, s.desired.c_str(), s.release.c_str());
  if (!s.next_release.empty())
    std::printf("rollout   rolling out %s: %s\n", short_release(s.next_release).c_str(),
                s.rollout.empty() ? "in progress" : s.rollout.c_str());
  for (const auto& r : s.routes)
    std::printf("route     %s\n", r.c_str());
  std::printf("\n%-28s %-8s %-6s %-11s %-8s %-8s %-9s %s\n", "INSTANCE", "PID", "PORT", "STATE", "UPTIME",
              "RESTARTS", "IN-FLIGHT", "RELEASE");
  for (const auto& i : s.instance_list) {
    std::printf("%-28s %-8d %-6u %-11s %-8s %-8u %-9d %s\n", i.id.c_str(), i.pid, i.port, i.state.c_str(),
                format_uptime(i.since_ms).c_str(), i.restarts, i.in_flight, short_release(i.release).c_str());
    if (!i.detail.empty() && i.state != "healthy")
      std::printf("  %s\n", i.detail.c_str());
  }
}

std::string utc_time(std::int64_t unix_seconds) {
  if (unix_seconds <= 0)
    return "-";
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json certificate_json(const certificate_status& c) {
  return json{{"name", c.name},
              {"source", c.source},
              {"state", c.state},
              {"issuer", c.issuer},
              {"not_before", utc_time(c.not_before)},
              {"not_after", utc_time(c.not_after)},
              {"generation", c.generation},
              {"error", c.error},
              {"next_attempt", utc_time(c.next_attempt)},
              {"ocsp", c.ocsp},
              {"ocsp_until", utc_time(c.ocsp_until)},
              {"ocsp_error", c.ocsp_error}};
}

/// The table `ika certs` prints, also under `ika status APP`.
void print_certificates(const std::vector<certificate_status>& certs) {
  std::printf("%-32s %-11s %-9s %-21s %s\n", "HOST", "SOURCE", "STATE", "EXPIRES", "ISSUER");
  for (const auto& c : certs) {
    std::printf("%-32s %-11s %-9s %-21s %s\n", c.name.c_str(), c.source.c_str(), c.state.c_str(),
                utc_time(c.not_after).c_str(), c.issuer.empty() ? "-" : c.issuer.c_str());
    if (!c.error.empty())
      std::printf("  error: %s (next attempt %s)\n", c.error.c_str(), utc_time(c.next_attempt).c_str());
    if (c.ocsp == "good")
      std::printf("  ocsp: stapled, good until %s\n", utc_time(c.ocsp_until).c_str());
    else if (!c.ocsp.empty())
      std::printf("  ocsp: %s\n", c.ocsp.c_str());
    if (!c.ocsp_error.empty())
      std::printf("  ocsp error: %s\n", c.ocsp_error.c_str());
  }
}

/// The reply to one request to the admin actor, or why none came: the
/// node's error, the timeout, or the connection lost meanwhile. A helper
/// makes the request and watches the node's proxy, so a lost connection
/// ends the wait at once (a blocking request would sit out its timeout).
template <class Reply, class... Ts>
std::variant<Reply, std::string> call(client_system& cs, const admin_actor& admin, caf::timespan timeout,
                                      const Ts&... xs) {
  caf::scoped_actor self{*cs.sys};
  // The waiter goes in as an argument: CAF 0.17 spawning a function actor
  // with none binds a reference to a null pointer (UBSan stops there).
  cs.sys->spawn(
      [=](caf::event_based_actor* helper, const caf::actor& waiter) {
        helper->monitor(admin);
        helper->set_down_handler([=](caf::down_msg&) {
          helper->send(waiter, caf::make_error(caf::sec::socket_disconnected));
          helper->quit();
        });
        helper->request(admin, timeout, xs...)
            .then(
                [=](Reply& r) {
                  helper->send(waiter, std::move(r));
                  helper->quit();
                },
                [=](caf::error& err) {
                  helper->send(waiter, std::move(err));
                  helper->quit();
                });
      },
      caf::actor_cast<caf::actor>(self));
  std::variant<Reply, std::string> out{std::string{}};
  self->receive([&](Reply& r) { out = std::move(r); },
                [&](caf::error& err) {
                  if (err == caf::sec::socket_disconnected)
                    out = std::string{"lost the connection to the node"};
                  else if (err == caf::sec::request_timeout)
                    out = "the node did not answer within " +
                          std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) +
                          " s";
                  else
                    out = describe(*cs.sys, err);
                });
  return out;
}

/// Sends one request and waits; `ok` gets the reply. Returns the exit code.
template <class Reply, class... Ts>
int ask(const client_options& o, std::function<int(Reply&)> ok, Ts... xs) {
  client_system cs{o};
  auto admin = connect_or_fail(cs, o);
  if (!admin)
    return exit_failure;
  auto reply = call<Reply>(cs, *admin, command_timeout, xs...);
  if (auto* err = std::get_if<std::string>(&reply))
    return fail(*err);
  return ok(std::get<Reply>(reply));
}

int with_app(const std::string& app, std::string& id) {
  std::string error;
  id = normalize_app_id(app, error);
  if (id.empty())
    return fail(error, exit_usage);
  return 0;
}

int print_app(const client_options& o, const app_status& s) {
  if (o.json)
    std::printf("%s\n", json_or(to_json(s)).c_str());
  else
    print_status(s);
  return 0;
}

/// Receives deploy progress (on a CAF thread) and prints it as it comes.
caf::behavior progress_printer(caf::event_based_actor*, bool json_lines) {
  return {
      [json_lines](progress_atom, const deploy_event& ev) {
        if (json_lines) {
          std::printf("%s\n", json{{"event", ev.step},
                                   {"app", ev.app},
                                   {"instance", ev.instance},
                                   {"state", ev.state},
                                   {"detail", ev.detail}}
                                  .dump()
                                  .c_str());
        } else if (ev.step == "instance") {
          std::printf("  instance %s: %s%s%s\n", ev.instance.c_str(), ev.state.c_str(),
                      ev.detail.empty() ? "" : " - ", ev.detail.c_str());
        } else {
          std::printf("  %s\n", ev.detail.c_str());
        }
        std::fflush(stdout);
      },
  };
}

/// Prints the outcome of a deploy (or a rollback: `what` says which, with
/// the app); returns the exit code.
int report_deploy(const client_options& o, const deploy_result& r, const std::string& what) {
  if (o.json) {
    json logs = json::array();
    for (const auto& l : r.logs)
      logs.push_back(to_json(l));
    std::printf("%s\n", json{{"ok", r.ok},
                             {"changed", r.changed},
                             {"app", r.app},
                             {"release", r.release},
                             {"message", r.message},
                             {"logs", logs}}
                            .dump(2)
                            .c_str());
  } else if (r.ok) {
    std::printf("ika: %s: %s\n", r.app.c_str(),
                r.changed ? ("release " + r.release + " is live").c_str()
                          : "unchanged (this release is live already)");
  } else {
    std::fprintf(stderr, "ika: error: %s failed: %s\n", what.c_str(), r.message.c_str());
    if (!r.logs.empty()) {
      std::fprintf(stderr, "last output of the new instances:\n");
      for (const auto& l : r.logs)
        std::fprintf(stderr, "  %s %s %s\n", l.instance.c_str(), l.stream.c_str(), l.text.c_str());
    }
  }
  return r.ok ? 0 : exit_failure;
}

/// Prints new log lines of a followed app.
caf::behavior log_printer(caf::event_based_actor*, bool json_lines) {
  return {
      [json_lines](logs_atom, const log_line& l) {
        if (json_lines)
          std::printf("%s\n", to_json(l).dump().c_str());
        else
          print_line(l);
        std::fflush(stdout);
      },
  };
}

} // namespace

std::string data_dir_default() {
  if (const char* d = std::getenv("IKA_DATA"); d != nullptr && *d != '\0')
    return d;
  const char* home = std::getenv("HOME");
  return std::string{home != nullptr && *home != '\0' ? home : "/root"} + "/.local/share/ika";
}

std::string normalize_app_id(const std::string& app, std::string& error) {
  auto slash = app.find('/');
  std::string name = app.substr(0, slash);
  std::string env = slash == std::string::npos ? "production" : app.substr(slash + 1);
  if (!config::valid_app_name(name)) {
    error = "app '" + app + "': a name is [a-z][a-z0-9-]{0,62}, not ending in '-'";
    return {};
  }
  if (!config::valid_app_name(env)) {
    error = "app '" + app + "': an environment is [a-z][a-z0-9-]{0,62}, not ending in '-'";
    return {};
  }
  return name + "/" + env;
}

int deploy_command(const client_options& o, const std::string& dir) {
  auto manifest_path = dir + "/ika.toml";
  auto loaded = config::load_app_manifest(manifest_path);
  if (auto* err = std::get_if<config::config_error>(&loaded))
    return fail(err->to_string(), exit_usage);
  const auto& manifest = std::get<config::app_manifest>(loaded);
  auto app_id = manifest.id();
  if (!o.json)
    std::printf("ika: deploying %s from %s\n  packing...\n", app_id.c_str(), dir.c_str());
  std::fflush(stdout);
  auto packed = deploy::pack_directory(dir);
  if (auto* err = std::get_if<deploy::archive_error>(&packed))
    return fail("packing " + dir + ": " + err->to_string());
  auto& archive = std::get<deploy::packed_archive>(packed);
  if (!o.json)
    std::printf("  packed %zu file(s), %zu bytes: release %s\n", archive.entries, archive.bytes.size(),
                short_release(archive.version).c_str());
  std::fflush(stdout); // before an error on stderr

  client_system cs{o};
  auto connected = connect_or_fail(cs, o);
  if (!connected)
    return exit_failure;
  const auto& admin = *connected;
  auto watcher = cs.sys->spawn(progress_printer, o.json);
  deploy_request req{archive.version, caf::actor_cast<caf::actor>(watcher)};

  std::optional<deploy_result> result;
  std::string error;
  auto send_deploy = [&] {
    result.reset();
    auto reply = call<deploy_result>(cs, admin, std::chrono::seconds{3600}, deploy_atom::value, req);
    if (auto* r = std::get_if<deploy_result>(&reply))
      result = std::move(*r);
    else
      error = std::get<std::string>(reply);
  };
  send_deploy();
  if (result && result->unknown_release) {
    auto chunks = deploy::split_chunks(archive.bytes);
    std::size_t total = chunks.size();
    for (std::size_t i = 0; i < total && error.empty(); ++i) {
      upload_chunk c;
      c.version = archive.version;
      c.index = static_cast<std::uint32_t>(i);
      c.total = static_cast<std::uint32_t>(total);
      c.size = archive.bytes.size();
      c.data = std::string{chunks[i]};
      auto reply = call<std::uint32_t>(cs, admin, command_timeout, upload_atom::value, c);
      if (auto* err = std::get_if<std::string>(&reply))
        error = *err;
      if (!o.json && error.empty())
        std::printf("  uploaded %zu/%zu\n", i + 1, total);
      std::fflush(stdout);
    }
    if (error.empty())
      send_deploy();
  }
  caf::anon_send_exit(watcher, caf::exit_reason::user_shutdown);
  if (!error.empty())
    return fail(error);
  return report_deploy(o, *result, "deploy of " + app_id); // each call gave a result or an error
}

int apps_command(const client_options& o) {
  return ask<std::vector<app_status>>(
      o,
      [&](std::vector<app_status>& apps) {
        if (o.json) {
          json out = json::array();
          for (const auto& a : apps)
            out.push_back(to_json(a));
          std::printf("%s\n", out.dump(2).c_str());
          return 0;
        }
        if (apps.empty()) {
          std::printf("no apps deployed (ika deploy DIR deploys one)\n");
          return 0;
        }
        std::printf("%-32s %-11s %-9s %-14s %s\n", "APP", "STATE", "HEALTHY", "RELEASE", "ROUTES");
        for (const auto& a : apps) {
          std::string routes;
          for (const auto& r : a.routes)
            routes += (routes.empty() ? "" : ", ") + r;
          std::printf("%-32s %-11s %u/%-7u %-14s %s\n", a.id.c_str(), a.state.c_str(), a.healthy, a.instances,
                      short_release(a.release).c_str(), routes.c_str());
        }
        return 0;
      },
      apps_atom::value);
}

/// A command about one app that answers with its status.
template <class Atom, class... Ts>
int app_status_command(const client_options& o, const std::string& app, Atom atom, Ts... xs) {
  std::string id;
  if (int rc = with_app(app, id))
    return rc;
  return ask<app_status>(
      o, [&](app_status& s) { return print_app(o, s); }, atom, id, xs...);
}

int status_command(const client_options& o, const std::string& app) {
  if (app.empty())
    return apps_command(o);
  std::string id;
  if (int rc = with_app(app, id))
    return rc;
  client_system cs{o};
  auto connected = connect_or_fail(cs, o);
  if (!connected)
    return exit_failure;
  const auto& admin = *connected;
  auto reply = call<app_status>(cs, admin, command_timeout, status_atom::value, id);
  if (auto* err = std::get_if<std::string>(&reply))
    return fail(*err);
  const auto& s = std::get<app_status>(reply);
  // The certificates that serve the app's hosts (their state, and why an
  // order failed).
  std::vector<certificate_status> certs;
  auto all = call<std::vector<certificate_status>>(cs, admin, command_timeout, certificate_atom::value);
  if (auto* list = std::get_if<std::vector<certificate_status>>(&all))
    for (auto& c : *list)
      for (const auto& r : s.routes) {
        auto host = r.substr(0, r.find(' '));
        if (crypto::certificate_name_serves(c.name, host)) {
          certs.push_back(std::move(c));
          break;
        }
      }
  if (o.json) {
    auto out = to_json(s);
    out["certificates"] = json::array();
    for (const auto& c : certs)
      out["certificates"].push_back(certificate_json(c));
    std::printf("%s\n", json_or(out).c_str());
    return 0;
  }
  print_status(s);
  if (!certs.empty()) {
    std::printf("\n");
    print_certificates(certs);
  }
  return 0;
}

int scale_command(const client_options& o, const std::string& app, std::uint32_t instances) {
  return app_status_command(o, app, scale_atom::value, instances);
}

int stop_command(const client_options& o, const std::string& app) {
  return app_status_command(o, app, stop_atom::value);
}

int start_command(const client_options& o, const std::string& app) {
  return app_status_command(o, app, start_atom::value);
}

int delete_command(const client_options& o, const std::string& app) {
  std::string id;
  if (int rc = with_app(app, id))
    return rc;
  return ask<ok_atom>(
      o,
      [&](ok_atom) {
        if (o.json)
          std::printf("%s\n", json{{"app", id}, {"deleted", true}}.dump(2).c_str());
        else
          std::printf("ika: %s deleted\n", id.c_str());
        return 0;
      },
      delete_atom::value, id);
}

int logs_command(const client_options& o, const std::string& app, const std::string& instance,
                 std::uint32_t lines, bool follow) {
  std::string id;
  if (int rc = with_app(app, id))
    return rc;
  std::string instance_id;
  if (!instance.empty()) {
    instance_id = config::instance_id_of(id, instance);
    if (instance_id.empty())
      return fail("--instance '" + instance + "': not an instance of " + id + " (those are " +
                      config::instance_id_prefix(id) + "-N; N alone will do)",
                  exit_usage);
  }
  client_system cs{o};
  auto connected = connect_or_fail(cs, o);
  if (!connected)
    return exit_failure;
  const auto& admin = *connected;
  log_query q{id, instance_id, lines};
  auto reply = call<std::vector<log_line>>(cs, admin, command_timeout, logs_atom::value, q);
  if (auto* err = std::get_if<std::string>(&reply))
    return fail(*err);
  const auto& ls = std::get<std::vector<log_line>>(reply);
  if (o.json && !follow) {
    json out = json::array();
    for (const auto& l : ls)
      out.push_back(to_json(l));
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    // Following: one JSON object per line, as they come.
    for (const auto& l : ls)
      if (o.json)
        std::printf("%s\n", to_json(l).dump().c_str());
      else
        print_line(l);
  }
  std::fflush(stdout);
  if (!follow)
    return 0;
  int code = 0;
  caf::scoped_actor self{*cs.sys};
  auto printer = cs.sys->spawn(log_printer, o.json);
  self->request(admin, command_timeout, follow_atom::value, q, caf::actor_cast<caf::actor>(printer))
      .receive([](ok_atom) {}, [&](const caf::error& err) { code = fail(describe(*cs.sys, err)); });
  if (code != 0)
    return code;
  // Until the node goes away (or the user interrupts).
  self->monitor(admin);
  bool down = false;
  self->receive_while([&] { return !down; })([&](const caf::down_msg&) { down = true; });
  self->send_exit(printer, caf::exit_reason::user_shutdown);
  return fail("the node went away");
}

// -- commands a watcher follows: rollback, secrets ----------------------------

namespace {

/// Sends (xs..., watcher) to the admin actor and waits for the outcome of the
/// rollout it starts, printing its progress meanwhile.
template <class... Ts>
std::variant<deploy_result, std::string> watched(const client_options& o, const Ts&... xs) {
  client_system cs{o};
  auto conn = connect(cs, o);
  if (auto* err = std::get_if<std::string>(&conn))
    return *err;
  auto admin = std::get<admin_actor>(conn);
  auto watcher = cs.sys->spawn(progress_printer, o.json);
  auto reply =
      call<deploy_result>(cs, admin, std::chrono::seconds{3600}, xs..., caf::actor_cast<caf::actor>(watcher));
  caf::anon_send_exit(watcher, caf::exit_reason::user_shutdown);
  if (auto* err = std::get_if<std::string>(&reply))
    return *err;
  return std::move(std::get<deploy_result>(reply));
}

/// Sends a secret change and prints its outcome (the app's restart).
template <class... Ts>
int secret_change(const client_options& o, const Ts&... xs) {
  auto outcome = watched(o, xs...);
  if (auto* err = std::get_if<std::string>(&outcome))
    return fail(*err);
  const auto& r = std::get<deploy_result>(outcome);
  if (o.json)
    std::printf(
        "%s\n",
        json{{"ok", r.ok}, {"changed", r.changed}, {"app", r.app}, {"message", r.message}}.dump(2).c_str());
  else if (r.ok)
    std::printf("ika: %s\n", r.message.c_str());
  else
    std::fprintf(stderr, "ika: error: %s\n", r.message.c_str());
  return r.ok ? 0 : exit_failure;
}

} // namespace

int releases_command(const client_options& o, const std::string& app) {
  std::string id;
  if (int rc = with_app(app, id))
    return rc;
  return ask<std::vector<release_info>>(
      o,
      [&](std::vector<release_info>& rs) {
        if (o.json) {
          json out = json::array();
          for (const auto& r : rs)
            out.push_back(json{{"version", r.version},
                               {"created_ms", r.created_ms},
                               {"live", r.live},
                               {"files", r.files},
                               {"bytes", r.bytes}});
          std::printf("%s\n", out.dump(2).c_str());
          return 0;
        }
        if (rs.empty()) {
          std::printf("no releases of %s kept\n", id.c_str());
          return 0;
        }
        std::printf("%-14s %-24s %-5s %8s %12s\n", "VERSION", "CREATED", "LIVE", "FILES", "SIZE");
        for (const auto& r : rs)
          std::printf("%-14s %-24s %-5s %8llu %12llu\n", short_release(r.version).c_str(),
                      r.created_ms == 0 ? "-" : format_time(r.created_ms).c_str(), r.live ? "*" : "",
                      static_cast<unsigned long long>(r.files), static_cast<unsigned long long>(r.bytes));
        return 0;
      },
      releases_atom::value, id);
}

int cache_stats_command(const client_options& o) {
  return ask<cache_status>(
      o,
      [&](cache_status& c) {
        cache_shard_status total;
        for (const auto& s : c.shards) {
          total.objects += s.objects;
          total.bytes += s.bytes;
          total.hits += s.hits;
          total.misses += s.misses;
          total.stale += s.stale;
          total.bypass += s.bypass;
          total.collapsed += s.collapsed;
          total.stored += s.stored;
          total.refused += s.refused;
          total.evicted += s.evicted;
          total.purged += s.purged;
          total.fills += s.fills;
        }
        auto row = [](const cache_shard_status& s) {
          return json{{"objects", s.objects},     {"bytes", s.bytes},   {"hits", s.hits},
                      {"misses", s.misses},       {"stale", s.stale},   {"bypass", s.bypass},
                      {"collapsed", s.collapsed}, {"stored", s.stored}, {"refused", s.refused},
                      {"evicted", s.evicted},     {"purged", s.purged}, {"fills", s.fills}};
        };
        if (o.json) {
          json out = row(total);
          out["budget"] = c.budget;
          out["max_object"] = c.max_object;
          out["shards"] = json::array();
          for (const auto& s : c.shards) {
            auto r = row(s);
            r["shard"] = s.shard;
            r["budget"] = s.budget;
            out["shards"].push_back(std::move(r));
          }
          std::printf("%s\n", out.dump(2).c_str());
          return 0;
        }
        if (c.shards.empty()) {
          std::printf("the node has no response cache\n");
          return 0;
        }
        std::uint64_t lookups = total.hits + total.misses + total.stale;
        std::printf("budget %llu bytes in %zu shards, objects up to %llu bytes\n",
                    static_cast<unsigned long long>(c.budget), c.shards.size(),
                    static_cast<unsigned long long>(c.max_object));
        std::printf("%-6s %9s %12s %10s %10s %8s %8s %9s %9s %9s\n", "SHARD", "OBJECTS", "BYTES", "HITS",
                    "MISSES", "STALE", "BYPASS", "COLLAPSED", "STORED", "EVICTED");
        for (const auto& s : c.shards)
          std::printf("%-6u %9llu %12llu %10llu %10llu %8llu %8llu %9llu %9llu %9llu\n", s.shard,
                      static_cast<unsigned long long>(s.objects), static_cast<unsigned long long>(s.bytes),
                      static_cast<unsigned long long>(s.hits), static_cast<unsigned long long>(s.misses),
                      static_cast<unsigned long long>(s.stale), static_cast<unsigned long long>(s.bypass),
                      static_cast<unsigned long long>(s.collapsed), static_cast<unsigned long long>(s.stored),
                      static_cast<unsigned long long>(s.evicted));
        std::printf("hit ratio %.1f%% of %llu lookups\n",
                    lookups == 0 ? 0.0
                                 : 100.0 * static_cast<double>(total.hits) / static_cast<double>(lookups),
                    static_cast<unsigned long long>(lookups));
        return 0;
      },
      cache_atom::value);
}

int certs_command(const client_options& o) {
  return ask<std::vector<certificate_status>>(
      o,
      [&](std::vector<certificate_status>& certs) {
        if (o.json) {
          json out = json::array();
          for (const auto& c : certs)
            out.push_back(certificate_json(c));
          std::printf("%s\n", out.dump(2).c_str());
          return 0;
        }
        if (certs.empty()) {
          std::printf("no certificates (the node has no HTTPS listener, or no route needs one)\n");
          return 0;
        }
        print_certificates(certs);
        return 0;
      },
      certificate_atom::value);
}

/// A host name from the command line, checked as the node checks it.
int check_host(const std::string& host) {
  if (!crypto::valid_certificate_name(crypto::canonical_certificate_name(host)))
    return fail("invalid host name '" + host + "' (a DNS name, *.parent for a wildcard, or an IP address)",
                exit_usage);
  return 0;
}

int certs_renew_command(const client_options& o, const std::string& host) {
  if (int rc = check_host(host))
    return rc;
  return ask<certificate_status>(
      o,
      [&](certificate_status& c) {
        if (o.json)
          std::printf("%s\n", certificate_json(c).dump(2).c_str());
        else
          std::printf("%s: %s (%s)\n", c.name.c_str(), c.state.c_str(), c.source.c_str());
        return 0;
      },
      renew_atom::value, host);
}

int certs_add_command(const client_options& o, const std::string& host, const std::string& cert,
                      const std::string& key) {
  if (int rc = check_host(host))
    return rc;
  // Checked here first (a readable key file is refused), then on the node.
  auto files = crypto::read_certificate_files(cert, key);
  if (auto* e = std::get_if<crypto::credential_error>(&files))
    return fail(e->to_string(), exit_usage);
  auto& f = std::get<crypto::certificate_files>(files);
  if (!f.info.covers(crypto::canonical_certificate_name(host)))
    return fail(cert + " does not cover " + host + " (it is for " +
                    (f.info.names.empty() ? std::string{"no name"} : f.info.names.front()) + ")",
                exit_usage);
  return ask<certificate_status>(
      o,
      [&](certificate_status& c) {
        if (o.json)
          std::printf("%s\n", certificate_json(c).dump(2).c_str());
        else
          std::printf("%s: %s certificate from %s, valid until %s\n", c.name.c_str(), c.source.c_str(),
                      c.issuer.c_str(), utc_time(c.not_after).c_str());
        return 0;
      },
      certificate_atom::value, host, f.chain_pem, std::string{f.key_pem});
}

int certs_ca_command(const client_options& o) {
  auto path =
      std::filesystem::path{o.data_dir.empty() ? data_dir_default() : o.data_dir} / "certs" / "local-ca.crt";
  std::ifstream in{path};
  if (!in)
    return fail("no local CA at " + path.string() + " (the node makes it when it first needs a certificate)");
  std::stringstream text;
  text << in.rdbuf();
  std::fputs(text.str().c_str(), stdout);
  return 0;
}

int cache_purge_command(const client_options& o, const std::string& app, const std::string& prefix) {
  std::string id;
  if (int rc = with_app(app, id))
    return rc;
  if (!prefix.empty() && prefix.front() != '/')
    return fail("a path prefix starts with '/': '" + prefix + "'", exit_usage);
  return ask<std::uint64_t>(
      o,
      [&](std::uint64_t& n) {
        if (o.json)
          std::printf("%s\n", json{{"app", id}, {"prefix", prefix}, {"purged", n}}.dump(2).c_str());
        else
          std::printf("purged %llu cached responses of %s%s%s\n", static_cast<unsigned long long>(n),
                      id.c_str(), prefix.empty() ? "" : " under ", prefix.c_str());
        return 0;
      },
      purge_atom::value, id, prefix);
}

int rollback_command(const client_options& o, const std::string& app, const std::string& version) {
  std::string id;
  if (int rc = with_app(app, id))
    return rc;
  if (!o.json)
    std::printf("ika: rolling %s back to %s\n", id.c_str(),
                version.empty() ? "the previous release" : version.c_str());
  std::fflush(stdout);
  auto outcome = watched(o, rollback_atom::value, id, version);
  if (auto* err = std::get_if<std::string>(&outcome))
    return fail(*err);
  return report_deploy(o, std::get<deploy_result>(outcome), "rollback of " + id);
}

/// Reads `in` into `out` (reserved once, so the value is never copied by a
/// reallocation), at most `limit` + 1 bytes: a `--from-file /dev/zero` ends.
void read_at_most(std::istream& in, std::size_t limit, std::string& out) {
  out.reserve(limit + 1);
  std::istreambuf_iterator<char> it{in}, end;
  for (; it != end && out.size() <= limit; ++it)
    out.push_back(*it);
}

int secrets_set_command(const client_options& o, const std::string& app, const std::string& key,
                        const std::string& from_file) {
  std::string id;
  if (int rc = with_app(app, id))
    return rc;
  if (auto why = actors::check_secret_name(key); !why.empty())
    return fail(why, exit_usage);
  secret_value value;
  struct wipe {
    std::string& s;
    ~wipe() { sodium_memzero(s.data(), s.size()); }
  } wipe_value{value.bytes};
  if (!from_file.empty()) {
    std::ifstream in{from_file, std::ios::binary};
    if (!in)
      return fail("--from-file " + from_file + ": cannot open", exit_usage);
    read_at_most(in, actors::max_secret_value, value.bytes);
    if (in.bad())
      return fail("--from-file " + from_file + ": cannot read", exit_usage);
  } else {
    if (::isatty(STDIN_FILENO))
      std::fprintf(stderr, "ika: reading the value of %s from stdin (end with Ctrl-D)\n", key.c_str());
    read_at_most(std::cin, actors::max_secret_value + 2, value.bytes); // + a final CRLF
    if (value.bytes.ends_with('\n')) {
      value.bytes.pop_back();
      if (value.bytes.ends_with('\r'))
        value.bytes.pop_back();
    }
  }
  if (value.bytes.size() > actors::max_secret_value)
    return fail("secret " + key + ": the value is more than " + std::to_string(actors::max_secret_value) +
                    " bytes; at most " + std::to_string(actors::max_secret_value) + " are accepted",
                exit_usage);
  if (auto why = actors::check_secret_value(value.bytes); !why.empty())
    return fail("secret " + key + ": " + why, exit_usage);
  return secret_change(o, secret_set_atom::value, id, key, value);
}

int secrets_unset_command(const client_options& o, const std::string& app, const std::string& key) {
  std::string id;
  if (int rc = with_app(app, id))
    return rc;
  return secret_change(o, secret_del_atom::value, id, key);
}

int secrets_list_command(const client_options& o, const std::string& app) {
  std::string id;
  if (int rc = with_app(app, id))
    return rc;
  return ask<std::vector<secret_info>>(
      o,
      [&](std::vector<secret_info>& list) {
        if (o.json) {
          json out = json::array();
          for (const auto& i : list)
            out.push_back(json{{"name", i.name}, {"set_ms", i.set_ms}});
          std::printf("%s\n", out.dump(2).c_str());
        } else if (list.empty()) {
          std::printf("no secrets for %s (ika secrets set %s KEY < file sets one)\n", id.c_str(),
                      app.c_str());
        } else {
          std::printf("%-32s %s\n", "NAME", "SET");
          for (const auto& i : list)
            std::printf("%-32s %s\n", i.name.c_str(), format_time(i.set_ms).c_str());
        }
        return 0;
      },
      secrets_atom::value, id);
}

} // namespace ika::tools
