#include "runtime/proxy/route_table.hpp"

#include "runtime/net/endpoint.hpp"

#include <algorithm>
#include <set>

namespace ika::proxy {

namespace {

bool valid_label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

void sort_group(std::vector<route>& g) {
  std::stable_sort(g.begin(), g.end(), [](const route& a, const route& b) {
    if (a.exact_path != b.exact_path)
      return a.exact_path;
    auto la = a.exact_path ? a.path.size() : a.prefix.size();
    auto lb = b.exact_path ? b.path.size() : b.prefix.size();
    return la > lb;
  });
}

} // namespace

bool valid_host_pattern(std::string_view host) noexcept {
  if (host == "*")
    return true;
  if (host.starts_with("*."))
    host.remove_prefix(2);
  if (host.empty() || host.size() > 253 || host.front() == '.' || host.back() == '.' ||
      host.find("..") != std::string_view::npos)
    return false;
  if (host.front() == '[' && host.back() == ']') // IPv6 literal
    return host.find_first_not_of("0123456789abcdef:.", 1) == host.size() - 1;
  return std::all_of(host.begin(), host.end(), valid_label_char);
}

bool valid_path_pattern(std::string_view path) noexcept {
  if (path.empty() || path.front() != '/')
    return false;
  if (path.find("//") != std::string_view::npos)
    return false;
  auto star = path.find('*');
  if (star != std::string_view::npos && !(star == path.size() - 1 && path[star - 1] == '/'))
    return false;
  for (char c : path)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '?' || c == '#')
      return false;
  return true;
}

bool route::matches_path(std::string_view p) const noexcept {
  if (exact_path)
    return p == path;
  if (prefix.empty())
    return true;
  // By whole segments: "/api" matches "/api" and "/api/...", never "/apix".
  return p.starts_with(prefix) && (p.size() == prefix.size() || p[prefix.size()] == '/');
}

std::string route_table::compile(const std::vector<protocol::route_spec>& specs, route_table& out,
                                 const app_map& apps) {
  route_table t;
  std::set<std::pair<std::string, std::string>> seen;
  std::map<std::string, group> wild;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto& s = specs[i];
    auto where = "route " + std::to_string(i + 1) + " (" + s.host + " " + s.path + ")";
    if (!valid_host_pattern(s.host))
      return where + ": invalid host pattern '" + s.host + "'";
    if (!valid_path_pattern(s.path))
      return where + ": invalid path pattern '" + s.path + "'";
    if (!seen.emplace(s.host, s.path).second)
      return where + ": duplicate route for host '" + s.host + "' and path '" + s.path + "'";
    if (!s.app.empty() && !s.upstreams.empty())
      return where + ": a route goes to an app or to upstreams, not both";
    if (s.app.empty() && s.upstreams.empty())
      return where + ": no upstreams";
    route r;
    r.host = s.host;
    r.path = s.path;
    r.max_body = s.max_body;
    r.https_redirect = s.https_redirect;
    if (s.cache) {
      auto c = std::make_shared<route_cache>();
      c->max_object = s.cache_max_object;
      c->allow_set_cookie = s.cache_set_cookie;
      c->app = std::make_shared<const std::string>(s.app);
      r.cache = std::move(c);
    }
    if (s.path.ends_with("/*")) {
      r.prefix = s.path.substr(0, s.path.size() - 2);
    } else {
      r.exact_path = true;
    }
    if (!s.app.empty()) {
      auto it = apps.find(s.app);
      if (it != apps.end() && it->second) {
        r.app = it->second;
      } else {
        auto empty = std::make_shared<app_binding>();
        empty->app = s.app;
        r.app = std::move(empty);
      }
    }
    for (const auto& u : s.upstreams) {
      auto ep = net::parse_endpoint(u);
      if (!ep || ep->port() == 0)
        return where + ": invalid upstream address '" + u + "' (expected IP:PORT)";
      r.upstreams.push_back(upstream_target{*ep, u});
    }
    if (s.host == "*")
      t.any_.push_back(std::move(r));
    else if (s.host.starts_with("*."))
      wild[s.host.substr(1)].push_back(std::move(r));
    else
      t.exact_[s.host].push_back(std::move(r));
    ++t.count_;
  }
  for (auto& [host, g] : t.exact_)
    sort_group(g);
  for (auto& [suffix, g] : wild) {
    sort_group(g);
    t.wildcard_.emplace_back(suffix, std::move(g));
  }
  std::stable_sort(t.wildcard_.begin(), t.wildcard_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  sort_group(t.any_);
  for (const auto& [name, binding] : apps)
    if (binding && binding->gate && !binding->backends.empty())
      t.ready_gates_.push_back(binding->gate);
  out = std::move(t);
  return {};
}

std::string route_table::compile(const std::vector<protocol::route_spec>& specs,
                                 const std::vector<protocol::app_backends>& backends,
                                 backend_registry& registry, route_table& out) {
  app_map apps;
  std::string error;
  for (const auto& b : backends)
    apps[b.app] = registry.bind(b, &error);
  if (!error.empty())
    return error;
  return compile(specs, out, apps);
}

const route* route_table::match_in(const group& g, std::string_view path) noexcept {
  for (const auto& r : g)
    if (r.matches_path(path))
      return &r;
  return nullptr;
}

const route* route_table::match(std::string_view host, std::string_view path) const noexcept {
  if (!exact_.empty()) {
    auto it = exact_.find(host);
    if (it != exact_.end())
      if (auto* r = match_in(it->second, path))
        return r;
  }
  for (const auto& [suffix, g] : wildcard_) {
    // "*.example.com" matches "a.example.com" and "a.b.example.com", not
    // "example.com".
    if (host.size() > suffix.size() && host.ends_with(suffix))
      if (auto* r = match_in(g, path))
        return r;
  }
  return match_in(any_, path);
}

} // namespace ika::proxy
