#include "runtime/config/node_config.hpp"

#include "runtime/config/toml_check.hpp"

#include "runtime/net/endpoint.hpp"
#include "runtime/proxy/route_table.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <utility>

namespace ika::config {

namespace {

using namespace detail;
using std::chrono::milliseconds;

constexpr std::uint64_t max_head_bytes = 1ull << 20;
constexpr std::int64_t max_header_count = 10000;
constexpr std::int64_t max_keepalive = 10000;
constexpr std::size_t max_name_length = 64;
constexpr milliseconds max_duration = std::chrono::hours{8760};
// Guards against `--config /dev/zero` and the like.
constexpr std::size_t max_file_bytes = 16u << 20;

// `[[name]]` blocks (or an inline array of inline tables).
const toml::array& expect_table_array(const checker& check, const toml::node& node, const std::string& key) {
  const auto* array = node.as_array();
  if (array == nullptr)
    check.fail(node, key,
               "expected an array of tables ([[" + key + "]]), got " + std::string{type_name(node)});
  for (std::size_t i = 0; i < array->size(); ++i)
    if (!(*array)[i].is_table())
      check.fail((*array)[i], indexed(key, i),
                 "expected a table, got " + std::string{type_name((*array)[i])});
  return *array;
}

void parse_cache(const checker& check, const toml::node& node, cache_config& out) {
  const auto& table = expect_table(check, node, "cache");
  reject_unknown(check, table, "cache",
                 std::array<std::string_view, 4>{"memory", "shards", "max_object", "lock_timeout"});
  if (const auto* n = table.get("memory"))
    out.memory = expect_size(check, *n, "cache.memory", std::uint64_t{1} << 40);
  if (const auto* n = table.get("shards"))
    out.shards = static_cast<unsigned>(expect_integer(check, *n, "cache.shards", 1, 256));
  if (const auto* n = table.get("max_object"))
    out.max_object = expect_size(check, *n, "cache.max_object");
  if (const auto* n = table.get("lock_timeout"))
    out.lock_timeout = expect_duration(check, *n, "cache.lock_timeout");
}

void parse_node(const checker& check, const toml::node& node, node_config& out) {
  const auto& table = expect_table(check, node, "node");
  reject_unknown(check, table, "node", std::array<std::string_view, 2>{"workers", "shutdown_timeout"});
  if (const auto* n = table.get("workers"))
    out.workers = static_cast<unsigned>(expect_integer(check, *n, "node.workers", 0, config::max_workers));
  if (const auto* n = table.get("shutdown_timeout"))
    out.shutdown_timeout = expect_duration(check, *n, "node.shutdown_timeout");
}

bool valid_listener_name(std::string_view name) {
  return !name.empty() && name.size() <= max_name_length &&
         std::all_of(name.begin(), name.end(), [](unsigned char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                  c == '_' || c == '.';
         });
}

// Why a listener address is not a numeric IP:PORT, as precisely as possible.
std::string listener_address_problem(std::string_view text) {
  auto expected = [&] {
    return "invalid address '" + std::string{text} + "' (expected IP:PORT or [IPv6]:PORT)";
  };
  std::string_view port;
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return expected();
    port = text.substr(close + 2);
  } else {
    auto colon = text.find(':');
    if (colon == std::string_view::npos)
      return expected();
    if (text.find(':', colon + 1) != std::string_view::npos)
      return "invalid address '" + std::string{text} + "' (an IPv6 address goes in brackets: [::1]:8080)";
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || port.size() > 5 || ec != std::errc{} || end != port.data() + port.size() ||
      value > 65535)
    return "invalid port '" + std::string{port} + "'";
  return "invalid address '" + std::string{text} +
         "' (a listener needs a numeric IP address, not a host name)";
}

bool overlaps(const asio::ip::tcp::endpoint& a, const asio::ip::tcp::endpoint& b) {
  // Port 0 binds a fresh port each time; a wildcard address covers every other one.
  if (a.port() == 0 || a.port() != b.port())
    return false;
  return a.address() == b.address() || a.address().is_unspecified() || b.address().is_unspecified();
}

void parse_listeners(const checker& check, const toml::node& node, node_config& out) {
  const auto& array = expect_table_array(check, node, "listener");
  if (array.empty())
    check.fail(node, "listener", "no listener: add at least one [[listener]] with an address");

  struct seen_listener {
    asio::ip::tcp::endpoint endpoint;
    std::string key;
  };
  std::vector<seen_listener> endpoints;
  std::map<std::string, std::string> names; // name -> key path of its listener
  std::vector<bool> named;

  for (std::size_t i = 0; i < array.size(); ++i) {
    const auto& table = *array[i].as_table();
    auto path = indexed("listener", i);
    reject_unknown(check, table, path, std::array<std::string_view, 3>{"name", "address", "tls"});

    listener_config listener;
    if (const auto* n = table.get("name")) {
      auto key = join(path, "name");
      listener.name = expect_string(check, *n, key);
      if (!valid_listener_name(listener.name))
        check.fail(*n, key,
                   "invalid listener name '" + listener.name +
                       "' (1 to 64 letters, digits, '.', '_' or '-')");
      auto [it, inserted] = names.emplace(listener.name, path);
      if (!inserted)
        check.fail(*n, key, "duplicate listener name '" + listener.name + "' (also " + it->second + ")");
    }
    named.push_back(!listener.name.empty());

    const auto* address = table.get("address");
    auto key = join(path, "address");
    if (address == nullptr)
      check.fail(table, key, "required key is missing");
    const auto& text = expect_string(check, *address, key);
    auto endpoint = net::parse_endpoint(text);
    if (!endpoint)
      check.fail(*address, key, listener_address_problem(text));
    for (const auto& other : endpoints) {
      if (!overlaps(*endpoint, other.endpoint))
        continue;
      if (endpoint->address() == other.endpoint.address())
        check.fail(*address, key,
                   "duplicate address '" + net::to_string(*endpoint) + "' (also " + other.key + ")");
      check.fail(*address, key,
                 "address '" + net::to_string(*endpoint) + "' overlaps " + other.key + " ('" +
                     net::to_string(other.endpoint) + "')");
    }
    endpoints.push_back({*endpoint, key});
    listener.address = net::to_string(*endpoint);
    if (const auto* n = table.get("tls"))
      listener.tls = expect_bool(check, *n, join(path, "tls"));
    out.listeners.push_back(std::move(listener));
  }

  // Default names skip the explicit ones, so naming one listener "http" never
  // turns an unnamed one into a duplicate.
  unsigned next[2] = {1, 1}; // http, https
  for (std::size_t i = 0; i < out.listeners.size(); ++i) {
    if (named[i])
      continue;
    std::string base = out.listeners[i].tls ? "https" : "http";
    unsigned& n = next[out.listeners[i].tls ? 1 : 0];
    std::string name;
    do {
      name = n == 1 ? base : base + "-" + std::to_string(n);
      ++n;
    } while (names.contains(name));
    names.emplace(name, indexed("listener", i));
    out.listeners[i].name = std::move(name);
  }
}

void parse_limits(const checker& check, const toml::node& node, proxy::limits& out) {
  const auto& table = expect_table(check, node, "limits");
  reject_unknown(check, table, "limits",
                 std::array<std::string_view, 13>{
                     "max_head_bytes", "max_uri_bytes", "max_headers", "max_body", "client_header_timeout",
                     "client_idle_timeout", "client_body_timeout", "send_timeout", "upstream_connect_timeout",
                     "upstream_response_timeout", "upstream_idle_timeout", "upstream_keepalive",
                     "tunnel_idle_timeout"});

  auto size = [&](std::string_view name, auto& field, std::uint64_t max) {
    if (const auto* n = table.get(name))
      field = static_cast<std::remove_reference_t<decltype(field)>>(
          expect_size(check, *n, join("limits", name), max));
  };
  auto count = [&](std::string_view name, std::size_t& field, std::int64_t min, std::int64_t max) {
    if (const auto* n = table.get(name))
      field = static_cast<std::size_t>(expect_integer(check, *n, join("limits", name), min, max));
  };
  auto duration = [&](std::string_view name, milliseconds& field) {
    if (const auto* n = table.get(name))
      field = expect_duration(check, *n, join("limits", name));
  };

  size("max_head_bytes", out.max_head_bytes, max_head_bytes);
  size("max_uri_bytes", out.max_uri_bytes, max_head_bytes);
  count("max_headers", out.max_headers, 1, max_header_count);
  size("max_body", out.max_body, std::numeric_limits<std::uint64_t>::max());
  duration("client_header_timeout", out.client_header_timeout);
  duration("client_idle_timeout", out.client_idle_timeout);
  duration("client_body_timeout", out.client_body_timeout);
  duration("send_timeout", out.send_timeout);
  duration("upstream_connect_timeout", out.upstream_connect_timeout);
  duration("upstream_response_timeout", out.upstream_response_timeout);
  duration("upstream_idle_timeout", out.upstream_idle_timeout);
  count("upstream_keepalive", out.upstream_keepalive, 0, max_keepalive);
  duration("tunnel_idle_timeout", out.tunnel_idle_timeout);

  // The request line is part of the head: a larger URI limit could never
  // apply. Only an explicit max_uri_bytes is an error; the default follows a
  // smaller max_head_bytes.
  if (out.max_uri_bytes > out.max_head_bytes && table.get("max_uri_bytes") == nullptr)
    out.max_uri_bytes = out.max_head_bytes;
  if (out.max_uri_bytes > out.max_head_bytes) {
    const auto* uri = table.get("max_uri_bytes");
    const auto* head = table.get("max_head_bytes");
    auto message = "max_uri_bytes (" + format_size(out.max_uri_bytes) + ") exceeds max_head_bytes (" +
                   format_size(out.max_head_bytes) + "): the request line is part of the head";
    if (uri != nullptr)
      check.fail(*uri, "limits.max_uri_bytes", message);
    check.fail(*head, "limits.max_head_bytes", message);
  }
}

/// `cert` and `key`, both required paths.
certificate_config parse_certificate_files(const checker& check, const toml::table& table,
                                           const std::string& path) {
  reject_unknown(check, table, path, std::array<std::string_view, 2>{"cert", "key"});
  certificate_config c;
  for (auto [field, target] : {std::pair{"cert", &c.chain_file}, std::pair{"key", &c.key_file}}) {
    const auto* n = table.get(field);
    auto key = join(path, field);
    if (n == nullptr)
      check.fail(table, key, "required key is missing");
    *target = expect_string(check, *n, key);
    if (target->empty())
      check.fail(*n, key, "empty path");
  }
  return c;
}

void parse_routes(const checker& check, const toml::node& node, node_config& out) {
  const auto& array = expect_table_array(check, node, "route");
  std::map<std::pair<std::string, std::string>, std::string> seen; // (host, path) -> key path

  for (std::size_t i = 0; i < array.size(); ++i) {
    const auto& table = *array[i].as_table();
    auto path = indexed("route", i);
    reject_unknown(check, table, path,
                   std::array<std::string_view, 9>{"host", "path", "upstreams", "max_body", "cache",
                                                   "cache_max_object", "cache_set_cookie", "https_redirect",
                                                   "tls"});

    protocol::route_spec route;
    if (const auto* n = table.get("host")) {
      auto key = join(path, "host");
      route.host = lower(expect_string(check, *n, key));
      if (route.host.empty())
        check.fail(*n, key, "empty host pattern (use \"*\" for any host)");
      if (!proxy::valid_host_pattern(route.host))
        check.fail(*n, key,
                   "invalid host pattern '" + route.host +
                       "' (expected a host name without port, \"*.name\" or \"*\")");
    }
    if (const auto* n = table.get("path")) {
      auto key = join(path, "path");
      route.path = expect_string(check, *n, key);
      if (!proxy::valid_path_pattern(route.path))
        check.fail(*n, key,
                   "invalid path pattern '" + route.path +
                       "' (expected \"/*\", a prefix such as \"/api/*\" or an exact \"/path\")");
    }

    const auto* upstreams = table.get("upstreams");
    auto upstreams_key = join(path, "upstreams");
    if (upstreams == nullptr)
      check.fail(table, upstreams_key, "required key is missing");
    const auto* list = upstreams->as_array();
    if (list == nullptr)
      check.fail(*upstreams, upstreams_key,
                 "expected an array of \"HOST:PORT\" strings, got " + std::string{type_name(*upstreams)});
    if (list->empty())
      check.fail(*upstreams, upstreams_key, "empty upstream list");
    for (std::size_t u = 0; u < list->size(); ++u) {
      const auto& item = (*list)[u];
      auto key = indexed(upstreams_key, u);
      const auto& text = expect_string(check, item, key);
      std::string error;
      auto endpoint = net::resolve_endpoint(text, error);
      if (!endpoint)
        check.fail(item, key, error);
      if (endpoint->port() == 0)
        check.fail(item, key, "port 0 is not allowed for an upstream");
      auto address = net::to_string(*endpoint);
      auto same = std::find(route.upstreams.begin(), route.upstreams.end(), address);
      if (same != route.upstreams.end())
        check.fail(item, key,
                   "duplicate upstream '" + address + "' (also " +
                       indexed(upstreams_key, static_cast<std::size_t>(same - route.upstreams.begin())) +
                       ")");
      route.upstreams.push_back(std::move(address));
    }

    if (const auto* n = table.get("max_body"))
      route.max_body = expect_size(check, *n, join(path, "max_body"));
    if (const auto* n = table.get("cache"))
      route.cache = expect_bool(check, *n, join(path, "cache"));
    if (const auto* n = table.get("cache_max_object"))
      route.cache_max_object = expect_size(check, *n, join(path, "cache_max_object"));
    if (const auto* n = table.get("cache_set_cookie"))
      route.cache_set_cookie = expect_bool(check, *n, join(path, "cache_set_cookie"));
    if (const auto* n = table.get("https_redirect"))
      route.https_redirect = expect_bool(check, *n, join(path, "https_redirect"));
    if (const auto* n = table.get("tls"); n != nullptr && n->is_table()) {
      // The route's own certificate files.
      auto key = join(path, "tls");
      if (route.host == "*")
        check.fail(*n, key,
                   "a route for every host has no name to serve a certificate for (use [[certificate]])");
      out.certificates.push_back(parse_certificate_files(check, *n->as_table(), key));
      out.certificates.back().route_host = route.host;
    } else if (n != nullptr) {
      auto key = join(path, "tls");
      route.tls = expect_string(check, *n, key);
      if (route.tls != "auto" && route.tls != "acme" && route.tls != "self-signed" && route.tls != "off")
        check.fail(*n, key,
                   "unknown mode '" + route.tls +
                       "' (expected \"auto\", \"acme\", \"self-signed\" or \"off\")");
      if (route.tls == "auto")
        route.tls.clear();
      if (route.tls == "off")
        route.https_redirect = false;
    }

    auto [it, inserted] = seen.emplace(std::pair{route.host, route.path}, path);
    if (!inserted)
      check.fail(table, path,
                 "duplicate route for host '" + route.host + "' and path '" + route.path + "' (also " +
                     it->second + ")");
    out.routes.push_back(std::move(route));
  }
}

void parse_acme(const checker& check, const toml::node& node, acme_config& out) {
  const auto& table = expect_table(check, node, "acme");
  reject_unknown(check, table, "acme", std::array<std::string_view, 3>{"directory", "ca_bundle", "email"});
  if (const auto* n = table.get("directory")) {
    out.directory = expect_string(check, *n, "acme.directory");
    if (!out.directory.starts_with("https://") && !out.directory.starts_with("http://"))
      check.fail(*n, "acme.directory", "expected an https:// URL, got '" + out.directory + "'");
  }
  if (const auto* n = table.get("ca_bundle"))
    out.ca_bundle = expect_string(check, *n, "acme.ca_bundle");
  if (const auto* n = table.get("email"))
    out.email = expect_string(check, *n, "acme.email");
}

void parse_certificates(const checker& check, const toml::node& node, node_config& out) {
  const auto& array = expect_table_array(check, node, "certificate");
  // Before the routes' own certificates: the first one here is the default.
  std::vector<certificate_config> listed;
  for (std::size_t i = 0; i < array.size(); ++i)
    listed.push_back(parse_certificate_files(check, *array[i].as_table(), indexed("certificate", i)));
  out.certificates.insert(out.certificates.begin(), listed.begin(), listed.end());
}

node_config build(const checker& check, const toml::table& root) {
  reject_unknown(
      check, root, "",
      std::array<std::string_view, 7>{"node", "listener", "limits", "route", "cache", "certificate", "acme"});
  node_config config;
  if (const auto* n = root.get("node"))
    parse_node(check, *n, config);
  const auto* listeners = root.get("listener");
  if (listeners == nullptr)
    check.fail(0, "listener", "no listener: add at least one [[listener]] with an address");
  parse_listeners(check, *listeners, config);
  if (const auto* n = root.get("limits"))
    parse_limits(check, *n, config.limits);
  if (const auto* n = root.get("route"))
    parse_routes(check, *n, config);
  if (const auto* n = root.get("cache"))
    parse_cache(check, *n, config.cache);
  if (const auto* n = root.get("certificate"))
    parse_certificates(check, *n, config);
  if (const auto* n = root.get("acme"))
    parse_acme(check, *n, config.acme);
  return config;
}

// Digits followed by one of `units`; false on anything else or on overflow.
template <std::size_t N>
bool parse_with_unit(std::string_view text,
                     const std::array<std::pair<std::string_view, std::uint64_t>, N>& units,
                     std::uint64_t& out) {
  auto digits = text.find_first_not_of("0123456789");
  if (digits == 0 || digits == std::string_view::npos)
    return false;
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + digits, n);
  if (ec != std::errc{} || end != text.data() + digits)
    return false;
  auto unit = text.substr(digits);
  for (auto [name, factor] : units) {
    if (unit != name)
      continue;
    if (n > std::numeric_limits<std::uint64_t>::max() / factor)
      return false;
    out = n * factor;
    return true;
  }
  return false;
}

} // namespace

std::string config_error::to_string() const {
  std::string out;
  if (!file.empty()) {
    out += file;
    out += line > 0 ? ":" + std::to_string(line) : std::string{};
    out += ": ";
  } else if (line > 0) {
    out += "line " + std::to_string(line) + ": ";
  }
  if (!key.empty())
    out += key + ": ";
  out += message;
  return out;
}

bool parse_size(std::string_view text, std::uint64_t& out) {
  static constexpr std::array<std::pair<std::string_view, std::uint64_t>, 4> units{
      {{"B", 1}, {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}}};
  return parse_with_unit(text, units, out);
}

bool parse_duration(std::string_view text, std::chrono::milliseconds& out) {
  static constexpr std::array<std::pair<std::string_view, std::uint64_t>, 4> units{
      {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}}};
  std::uint64_t ms = 0;
  if (!parse_with_unit(text, units, ms) || ms > static_cast<std::uint64_t>(max_duration.count()))
    return false;
  out = milliseconds{static_cast<milliseconds::rep>(ms)};
  return true;
}

config_result parse_config(std::string_view text, std::string_view source) {
  return parse_toml<config_result>(text, source, build);
}

config_result load_config(const std::string& path) {
  auto text = read_config_file(path, max_file_bytes);
  if (auto* err = std::get_if<config_error>(&text))
    return *err;
  return parse_config(std::get<std::string>(text), path);
}

} // namespace ika::config
