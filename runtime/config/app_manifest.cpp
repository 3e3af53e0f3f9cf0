#include "runtime/config/app_manifest.hpp"

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

using std::chrono::milliseconds;

constexpr std::size_t max_app_name_length = 63;
constexpr std::size_t max_health_path_length = 1024;
constexpr std::int64_t max_threshold = 100;
// An ika.toml is a few lines; this only guards against `ika deploy` of a
// directory whose ika.toml is something else entirely.
constexpr std::size_t max_file_bytes = 1u << 20;

const std::string name_rule =
    "1 to 63 lower-case letters, digits or '-', starting with a letter, not ending in '-'";

// Thrown inside the parser only; parse_app_manifest turns it into its result.
// (The same shape as node_config.cpp's checker; both files keep theirs
// private so that neither parser's internals become an interface.)
struct failure {
  config_error error;
};

class checker {
public:
  explicit checker(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(int line, std::string key, std::string message) const {
    throw failure{config_error{file_, line, std::move(key), std::move(message)}};
  }

  [[noreturn]] void fail(const toml::source_region& at, std::string key, std::string message) const {
    fail(line_of(at), std::move(key), std::move(message));
  }

  [[noreturn]] void fail(const toml::node& at, std::string key, std::string message) const {
    fail(at.source(), std::move(key), std::move(message));
  }

  static int line_of(const toml::source_region& at) { return static_cast<int>(at.begin.line); }

private:
  std::string file_;
};

std::string join(std::string_view path, std::string_view key) {
  if (path.empty())
    return std::string{key};
  std::string out{path};
  out += '.';
  out += key;
  return out;
}

std::string indexed(std::string_view path, std::size_t i) {
  return std::string{path} + "[" + std::to_string(i + 1) + "]";
}

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string lower(std::string_view text) {
  std::string out{text};
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); });
  return out;
}

template <std::size_t N>
void reject_unknown(const checker& check, const toml::table& table, std::string_view path,
                    const std::array<std::string_view, N>& known) {
  const toml::key* first = nullptr;
  for (auto&& [key, value] : table) {
    if (std::find(known.begin(), known.end(), key.str()) != known.end())
      continue;
    // Tables iterate in key order; report the unknown key that comes first in the file.
    if (first == nullptr || key.source().begin.line < first->source().begin.line)
      first = &key;
  }
  if (first == nullptr)
    return;
  std::string expected;
  for (auto name : known) {
    expected += expected.empty() ? "" : ", ";
    expected += name;
  }
  check.fail(first->source(), join(path, first->str()), "unknown key (expected one of: " + expected + ")");
}

const toml::table& expect_table(const checker& check, const toml::node& node, const std::string& key) {
  if (const auto* table = node.as_table())
    return *table;
  check.fail(node, key, "expected a table, got " + type_name(node));
}

const std::string& expect_string(const checker& check, const toml::node& node, const std::string& key) {
  if (const auto* value = node.as_string())
    return value->get();
  check.fail(node, key, "expected a string, got " + type_name(node));
}

std::int64_t expect_integer(const checker& check, const toml::node& node, const std::string& key,
                            std::int64_t min, std::int64_t max) {
  const auto* value = node.as_integer();
  if (value == nullptr)
    check.fail(node, key, "expected an integer, got " + type_name(node));
  auto v = value->get();
  if (v < min || v > max)
    check.fail(node, key,
               "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                   std::to_string(v));
  return v;
}

milliseconds expect_duration(const checker& check, const toml::node& node, const std::string& key) {
  if (const auto* integer = node.as_integer())
    check.fail(node, key,
               "a duration needs a unit: write \"" + std::to_string(integer->get()) + "s\" (or ms, m, h)");
  const auto* text = node.as_string();
  if (text == nullptr)
    check.fail(node, key, "expected a duration such as \"10s\", got " + type_name(node));
  milliseconds value{};
  if (!parse_duration(text->get(), value))
    check.fail(node, key,
               "invalid duration '" + text->get() +
                   "' (expected \"<n>ms\", \"<n>s\", \"<n>m\" or \"<n>h\", at most 8760h)");
  if (value.count() == 0)
    check.fail(node, key, "must be greater than 0");
  return value;
}

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
                   type_name(node));
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
    check.fail(node, "routes", "expected an array of tables ([[routes]]), got " + type_name(node));
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
    std::string message = "expected a table of environment variables ([env]), got " + type_name(node);
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
      std::string message = "expected a string, got " + type_name(*value);
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

app_manifest build(const checker& check, const toml::table& root) {
  reject_unknown(check, root, "",
                 std::array<std::string_view, 9>{"name", "environment", "command", "instances", "routes",
                                                 "env", "health", "stop_timeout", "start_timeout"});
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
        expect_integer(check, *n, "instances", 1, static_cast<std::int64_t>(max_app_instances)));
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
  checker check{std::string{source}};
  try {
    auto root = toml::parse(text, source);
    return build(check, root);
  } catch (const toml::parse_error& e) {
    return config_error{std::string{source}, checker::line_of(e.source()), {}, std::string{e.description()}};
  } catch (const failure& f) {
    return f.error;
  }
}

manifest_result load_app_manifest(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file{std::fopen(path.c_str(), "rb"), &std::fclose};
  if (!file)
    return config_error{path, 0, {}, std::string{"cannot open: "} + std::strerror(errno)};
  std::string text;
  char buffer[8192];
  while (auto n = std::fread(buffer, 1, sizeof buffer, file.get())) {
    text.append(buffer, n);
    if (text.size() > max_file_bytes)
      return config_error{path, 0, {}, "file larger than 1MiB"};
  }
  if (std::ferror(file.get()))
    return config_error{path, 0, {}, std::string{"cannot read: "} + std::strerror(errno)};
  return parse_app_manifest(text, path);
}

} // namespace ika::config
