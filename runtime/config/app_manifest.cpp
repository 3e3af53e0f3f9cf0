#include "runtime/config/app_manifest.hpp"

#include "runtime/config/toml_check.hpp"

#include "runtime/proxy/route_table.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

namespace ika::config {

namespace {

using namespace detail;
using std::chrono::milliseconds;

constexpr std::size_t max_app_name_length = 63;
constexpr std::size_t max_health_path_length = 1024;
constexpr std::int64_t max_threshold = 100;
// An ika.toml is a few lines; this only guards against `ika deploy` of a
// directory whose ika.toml is something else entirely.
constexpr std::size_t max_file_bytes = 1u << 20;

const std::string name_rule =
    "1 to 63 lower-case letters, digits or '-', starting with a letter, not ending in '-'";

const toml::node& require(const checker& check, const toml::table& table, std::string_view name,
                          const std::string& key, int line, std::string_view hint = {}) {
  if (const auto* node = table.get(name))
    return *node;
  std::string message = "required key is missing";
  if (!hint.empty())
    message += " (" + std::string{hint} + ")";
  check.fail(line, key, std::move(message));
}

std::string format_duration(milliseconds value) {
  constexpr std::array<std::pair<std::int64_t, std::string_view>, 3> units{
      {{3'600'000, "h"}, {60'000, "m"}, {1000, "s"}}};
  for (auto [factor, unit] : units)
    if (value.count() % factor == 0)
      return std::to_string(value.count() / factor) + std::string{unit};
  return std::to_string(value.count()) + "ms";
}

bool has_nul(std::string_view text) {
  return text.find('\0') != std::string_view::npos;
}

std::string parse_name(const checker& check, const toml::node& node, const std::string& key,
                       std::string_view what) {
  const auto& name = expect_string(check, node, key);
  if (!valid_app_name(name))
    check.fail(node, key, "invalid " + std::string{what} + " name '" + name + "' (" + name_rule + ")");
  return name;
}

void parse_command(const checker& check, const toml::node& node, app_manifest& out) {
  const auto* array = node.as_array();
  if (array == nullptr)
    check.fail(node, "command",
               "expected an array of strings (the program and its arguments, run without a shell, e.g. "
               "[\"python3\", \"app.py\"]), got " +
                   std::string{type_name(node)});
  if (array->empty())
    check.fail(node, "command", "empty command: the first element is the program to run");
  for (std::size_t i = 0; i < array->size(); ++i) {
    auto key = indexed("command", i);
    const auto& arg = expect_string(check, (*array)[i], key);
    if (arg.empty())
      check.fail((*array)[i], key, i == 0 ? "empty program name" : "empty argument");
    if (has_nul(arg))
      check.fail((*array)[i], key, "contains a NUL character");
    out.command.push_back(arg);
  }
}

void parse_routes(const checker& check, const toml::node& node, app_manifest& out) {
  const auto* array = node.as_array();
  if (array == nullptr)
    check.fail(node, "routes",
               "expected an array of tables ([[routes]]), got " + std::string{type_name(node)});
  if (array->empty())
    check.fail(node, "routes", "no route: add at least one [[routes]] with a host");
  std::map<std::pair<std::string, std::string>, std::string> seen; // (host, path) -> key path

  for (std::size_t i = 0; i < array->size(); ++i) {
    auto path = indexed("routes", i);
    const auto& table = expect_table(check, (*array)[i], path);
    reject_unknown(check, table, path, std::array<std::string_view, 2>{"host", "path"});

    app_route route;
    auto host_key = join(path, "host");
    const auto& host = require(check, table, "host", host_key, checker::line_of(table.source()),
                               "the host name this route answers, or \"*\" for any host");
    route.host = lower(expect_string(check, host, host_key));
    if (route.host.empty())
      check.fail(host, host_key, "empty host pattern (use \"*\" for any host)");
    if (!proxy::valid_host_pattern(route.host))
      check.fail(host, host_key,
                 "invalid host pattern '" + route.host +
                     "' (expected a host name without port, \"*.name\" or \"*\")");

    if (const auto* n = table.get("path")) {
      auto key = join(path, "path");
      route.path = expect_string(check, *n, key);
      if (!proxy::valid_path_pattern(route.path))
        check.fail(*n, key,
                   "invalid path pattern '" + route.path +
                       "' (expected \"/*\", a prefix such as \"/api/*\" or an exact \"/path\")");
    }

    auto [it, inserted] = seen.emplace(std::pair{route.host, route.path}, path);
    if (!inserted)
      check.fail(table, path,
                 "duplicate route for host '" + route.host + "' and path '" + route.path + "' (also " +
                     it->second + ")");
    out.routes.push_back(std::move(route));
  }
}

void parse_env(const checker& check, const toml::node& node, app_manifest& out) {
  const auto* table = node.as_table();
  if (table == nullptr) {
    std::string message =
        "expected a table of environment variables ([env]), got " + std::string{type_name(node)};
    if (node.is_string())
      message += " (the environment name is the key 'environment')";
    check.fail(node, "env", std::move(message));
  }
  // Report in file order, as a reader scans the table.
  std::vector<std::pair<const toml::key*, const toml::node*>> entries;
  for (auto&& [key, value] : *table)
    entries.emplace_back(&key, &value);
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.first->source().begin.line < b.first->source().begin.line;
  });
  for (auto [key, value] : entries) {
    const auto& name = key->str();
    auto path = join("env", name);
    if (!valid_env_name(name))
      check.fail(key->source(), path,
                 "invalid variable name '" + std::string{name} + "' (expected [A-Za-z_][A-Za-z0-9_]*)");
    if (auto reason = reserved_env_reason(name); !reason.empty())
      check.fail(key->source(), path, std::string{reason});
    const auto* text = value->as_string();
    if (text == nullptr) {
      std::string message = "expected a string, got " + std::string{type_name(*value)};
      if (value->is_integer() || value->is_floating_point() || value->is_boolean())
        message += " (environment values are strings: quote it)";
      check.fail(*value, path, std::move(message));
    }
    if (has_nul(text->get()))
      check.fail(*value, path, "contains a NUL character");
    out.env.emplace(std::string{name}, text->get());
  }
}

bool valid_health_path(std::string_view path) {
  if (path.empty() || path.front() != '/' || path.size() > max_health_path_length)
    return false;
  return std::none_of(path.begin(), path.end(),
                      [](unsigned char c) { return c <= 0x20 || c == 0x7f || c == '#'; });
}

void parse_health(const checker& check, const toml::node& node, app_manifest& out) {
  const auto& table = expect_table(check, node, "health");
  reject_unknown(check, table, "health",
                 std::array<std::string_view, 5>{"path", "interval", "timeout", "healthy_threshold",
                                                 "unhealthy_threshold"});
  health_config health;
  const auto& path = require(check, table, "path", "health.path", checker::line_of(table.source()),
                             "the path ika requests, e.g. \"/healthz\"");
  health.path = expect_string(check, path, "health.path");
  if (!valid_health_path(health.path))
    check.fail(path, "health.path",
               "invalid health path '" + health.path +
                   "' (expected an absolute path such as \"/healthz\", without spaces or '#')");
  if (const auto* n = table.get("interval"))
    health.interval = expect_duration(check, *n, "health.interval");
  if (const auto* n = table.get("timeout"))
    health.timeout = expect_duration(check, *n, "health.timeout");
  if (const auto* n = table.get("healthy_threshold"))
    health.healthy_threshold =
        static_cast<unsigned>(expect_integer(check, *n, "health.healthy_threshold", 1, max_threshold));
  if (const auto* n = table.get("unhealthy_threshold"))
    health.unhealthy_threshold =
        static_cast<unsigned>(expect_integer(check, *n, "health.unhealthy_threshold", 1, max_threshold));

  // A probe that may outlast its interval would overlap the next one.
  if (health.timeout > health.interval) {
    auto message = "health.timeout (" + format_duration(health.timeout) + ") exceeds health.interval (" +
                   format_duration(health.interval) + ")";
    if (const auto* timeout = table.get("timeout"))
      check.fail(*timeout, "health.timeout", message);
    check.fail(*table.get("interval"), "health.interval", message);
  }
  out.health = std::move(health);
}

void parse_rollout(const checker& check, const toml::node& node, app_manifest& out) {
  const auto& table = expect_table(check, node, "deploy");
  reject_unknown(check, table, "deploy",
                 std::array<std::string_view, 3>{"max_surge", "hold", "drain_timeout"});
  if (const auto* n = table.get("max_surge"))
    out.rollout.max_surge = static_cast<unsigned>(
        expect_integer(check, *n, "deploy.max_surge", 1, static_cast<std::int64_t>(max_app_instances)));
  if (const auto* n = table.get("hold"))
    out.rollout.hold = expect_duration(check, *n, "deploy.hold", true);
  if (const auto* n = table.get("drain_timeout"))
    out.rollout.drain_timeout = expect_duration(check, *n, "deploy.drain_timeout");
}

void parse_demand(const checker& check, const toml::node& node, app_manifest& out) {
  const auto& table = expect_table(check, node, "on_demand");
  reject_unknown(check, table, "on_demand",
                 std::array<std::string_view, 3>{"idle_timeout", "max_waiters", "wait_timeout"});
  if (const auto* n = table.get("idle_timeout"))
    out.demand.idle_timeout = expect_duration(check, *n, "on_demand.idle_timeout");
  if (const auto* n = table.get("max_waiters"))
    out.demand.max_waiters =
        static_cast<unsigned>(expect_integer(check, *n, "on_demand.max_waiters", 1, max_demand_waiters));
  if (const auto* n = table.get("wait_timeout"))
    out.demand.wait_timeout = expect_duration(check, *n, "on_demand.wait_timeout");
}

void parse_cache(const checker& check, const toml::node& node, app_manifest& out) {
  const auto& table = expect_table(check, node, "cache");
  reject_unknown(check, table, "cache",
                 std::array<std::string_view, 3>{"enabled", "max_object", "set_cookie"});
  if (const auto* n = table.get("enabled"))
    out.cache.enabled = expect_bool(check, *n, "cache.enabled");
  if (const auto* n = table.get("max_object"))
    out.cache.max_object = expect_size(check, *n, "cache.max_object");
  if (const auto* n = table.get("set_cookie"))
    out.cache.set_cookie = expect_bool(check, *n, "cache.set_cookie");
}

void parse_tls(const checker& check, const toml::node& node, app_manifest& out) {
  const auto& table = expect_table(check, node, "tls");
  reject_unknown(check, table, "tls", std::array<std::string_view, 2>{"mode", "redirect"});
  if (const auto* n = table.get("mode")) {
    out.tls.mode = expect_string(check, *n, "tls.mode");
    if (out.tls.mode != "auto" && out.tls.mode != "acme" && out.tls.mode != "self-signed" &&
        out.tls.mode != "off")
      check.fail(*n, "tls.mode",
                 "unknown mode '" + out.tls.mode +
                     "' (expected \"auto\", \"acme\", \"self-signed\" or \"off\")");
  }
  if (const auto* n = table.get("redirect"))
    out.tls.redirect = expect_bool(check, *n, "tls.redirect");
}

app_manifest build(const checker& check, const toml::table& root) {
  reject_unknown(check, root, "",
                 std::array<std::string_view, 13>{"name", "environment", "command", "instances", "routes",
                                                  "env", "health", "stop_timeout", "start_timeout", "deploy",
                                                  "on_demand", "cache", "tls"});
  app_manifest manifest;
  manifest.name = parse_name(check, require(check, root, "name", "name", 0, "the app's name, e.g. \"hello\""),
                             "name", "app");
  if (const auto* n = root.get("environment"))
    manifest.environment = parse_name(check, *n, "environment", "environment");
  parse_command(
      check,
      require(check, root, "command", "command", 0, "the program and its arguments, e.g. [\"./server\"]"),
      manifest);
  if (const auto* n = root.get("instances"))
    manifest.instances = static_cast<unsigned>(
        expect_integer(check, *n, "instances", 0, static_cast<std::int64_t>(max_app_instances)));
  parse_routes(check, require(check, root, "routes", "routes", 0, "add at least one [[routes]] with a host"),
               manifest);
  if (const auto* n = root.get("env"))
    parse_env(check, *n, manifest);
  if (const auto* n = root.get("health"))
    parse_health(check, *n, manifest);
  if (const auto* n = root.get("stop_timeout"))
    manifest.stop_timeout = expect_duration(check, *n, "stop_timeout");
  if (const auto* n = root.get("start_timeout"))
    manifest.start_timeout = expect_duration(check, *n, "start_timeout");
  if (const auto* n = root.get("deploy"))
    parse_rollout(check, *n, manifest);
  if (const auto* n = root.get("on_demand"))
    parse_demand(check, *n, manifest);
  if (const auto* n = root.get("cache"))
    parse_cache(check, *n, manifest);
  if (const auto* n = root.get("tls"))
    parse_tls(check, *n, manifest);
  return manifest;
}

} // namespace

bool valid_app_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > max_app_name_length || name.front() < 'a' || name.front() > 'z' ||
      name.back() == '-')
    return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

std::string instance_id_prefix(std::string_view app_id) {
  std::string id{app_id};
  std::replace(id.begin(), id.end(), '/', '-');
  return id;
}

std::string instance_id_of(std::string_view app_id, std::string_view given) {
  auto number = [](std::string_view s) {
    return !s.empty() && s.size() <= 9 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  auto prefix = instance_id_prefix(app_id) + "-";
  if (number(given))
    return prefix + std::string{given};
  if (given.substr(0, prefix.size()) == prefix && number(given.substr(prefix.size())))
    return std::string{given};
  return {};
}

bool valid_env_name(std::string_view name) noexcept {
  auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (name.empty() || !letter(name.front()))
    return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return letter(c) || (c >= '0' && c <= '9'); });
}

std::string_view reserved_env_reason(std::string_view name) noexcept {
  if (name == "PORT")
    return "PORT is set by ika: the port each instance must listen on";
  if (name == "HOST")
    return "HOST is set by ika: the address each instance must listen on (127.0.0.1)";
  if (name.starts_with("IKA_"))
    return "names starting with IKA_ are reserved for ika";
  return {};
}

manifest_result parse_app_manifest(std::string_view text, std::string_view source) {
  return parse_toml<manifest_result>(text, source, build);
}

manifest_result load_app_manifest(const std::string& path) {
  auto text = read_config_file(path, max_file_bytes);
  if (auto* err = std::get_if<config_error>(&text))
    return *err;
  return parse_app_manifest(std::get<std::string>(text), path);
}

} // namespace ika::config
