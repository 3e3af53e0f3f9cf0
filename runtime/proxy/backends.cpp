#include "runtime/proxy/backends.hpp"

#include "runtime/net/endpoint.hpp"

namespace ika::proxy {

std::shared_ptr<backend_stats> backend_registry::stats(const std::string& instance) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto& s = stats_[instance];
  if (!s)
    s = std::make_shared<backend_stats>();
  return s;
}

void backend_registry::forget(const std::string& instance) {
  std::lock_guard<std::mutex> guard{mutex_};
  stats_.erase(instance);
}

std::uint64_t backend_registry::set_failure_handler(const std::string& app, connect_failure_handler handler) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto token = next_token_++;
  handlers_[app] = {token, std::move(handler)};
  return token;
}

void backend_registry::clear_failure_handler(const std::string& app, std::uint64_t token) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (auto it = handlers_.find(app); it != handlers_.end() && it->second.first == token)
    handlers_.erase(it);
}

std::shared_ptr<demand_gate> backend_registry::gate_locked(const std::string& app) {
  auto& g = gates_[app];
  if (!g)
    g = std::make_shared<demand_gate>(app);
  return g;
}

std::shared_ptr<demand_gate> backend_registry::gate(const std::string& app) {
  std::lock_guard<std::mutex> guard{mutex_};
  return gate_locked(app);
}

std::uint64_t backend_registry::set_wake_handler(const std::string& app, wake_handler handler) {
  std::shared_ptr<demand_gate> g;
  std::uint64_t token = 0;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    g = gate_locked(app);
    token = next_token_++;
  }
  // Outside the registry's lock: this may call the handler at once.
  return g->set_wake_handler(std::move(handler), token);
}

void backend_registry::clear_wake_handler(const std::string& app, std::uint64_t token) {
  std::shared_ptr<demand_gate> g;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (auto it = gates_.find(app); it != gates_.end())
      g = it->second;
  }
  if (g)
    g->clear_wake_handler(token);
}

void backend_registry::fail_waiters(const std::string& app, const std::string& reason) {
  std::shared_ptr<demand_gate> g;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (auto it = gates_.find(app); it != gates_.end())
      g = it->second;
  }
  if (g)
    g->fail(reason);
}

std::shared_ptr<const app_binding> backend_registry::bind(const protocol::app_backends& app,
                                                          std::string* error) {
  auto b = std::make_shared<app_binding>();
  b->app = app.app;
  std::lock_guard<std::mutex> guard{mutex_};
  for (const auto& spec : app.backends) {
    auto ep = net::parse_endpoint(spec.address);
    if (!ep || ep->port() == 0) {
      if (error != nullptr)
        *error =
            "app " + app.app + ": instance " + spec.instance + ": invalid address '" + spec.address + "'";
      continue;
    }
    auto& s = stats_[spec.instance];
    if (!s)
      s = std::make_shared<backend_stats>();
    b->backends.push_back(backend{*ep, spec.instance, s});
  }
  if (auto it = handlers_.find(app.app); it != handlers_.end())
    b->on_connect_failure = it->second.second;
  if (app.on_demand) {
    b->gate = gate_locked(app.app);
    b->gate->configure(app.max_waiters, std::chrono::milliseconds{app.wait_timeout_ms});
  }
  return b;
}

} // namespace ika::proxy
