#include "actors/listener.hpp"

#include "runtime/net/endpoint.hpp"

#include <caf/sec.hpp>

#include <spdlog/spdlog.h>

namespace ika::actors {

using namespace protocol;

std::string listener_state::apply_routes(const std::vector<route_spec>& routes,
                                         const std::vector<app_backends>& backends) {
  auto table = std::make_shared<proxy::route_table>();
  auto err = proxy::route_table::compile(routes, backends, *registry, *table);
  if (!err.empty())
    return err;
  server->publish(std::move(table));
  return {};
}

listener_status listener_state::status() const {
  listener_status s;
  s.name = server->name();
  s.address = net::to_string(server->local_endpoint());
  s.connections = server->connections();
  s.requests = server->requests();
  s.routes = static_cast<std::uint32_t>(server->routes());
  return s;
}

namespace {
constexpr std::chrono::hours ticket_key_rotation{1};
} // namespace

listener_actor::behavior_type listener(listener_pointer self, std::shared_ptr<proxy::server> server,
                                       std::shared_ptr<proxy::backend_registry> registry) {
  self->state.server = std::move(server);
  self->state.registry = std::move(registry);
  // HTTPS: a new session ticket key every hour (a ticket stays good for one
  // to two hours: the previous key still opens it).
  if (self->state.server->secure())
    self->delayed_send(self, ticket_key_rotation, timer_atom::value);
  return {
      [self](timer_atom) {
        self->state.server->rotate_ticket_keys();
        self->delayed_send(self, ticket_key_rotation, timer_atom::value);
      },
      [self](routes_atom, const std::vector<route_spec>& routes,
             const std::vector<app_backends>& backends) -> caf::result<ok_atom> {
        auto err = self->state.apply_routes(routes, backends);
        if (!err.empty())
          return caf::make_error(caf::sec::invalid_argument, err);
        return ok_atom::value;
      },
      [self](status_atom) { return self->state.status(); },
      [self](drain_atom, caf::timespan timeout) -> caf::result<drain_result> {
        auto& st = self->state;
        auto promise = self->make_response_promise<drain_result>();
        st.drains.push_back(promise);
        auto deadline = caf::make_timestamp() + timeout;
        if (!st.draining || deadline < st.drain_deadline)
          st.drain_deadline = deadline;
        if (!st.draining) {
          st.draining = true;
          st.server->drain();
          self->send(self, check_atom::value);
        }
        return promise;
      },
      [self](check_atom) {
        auto& st = self->state;
        if (!st.draining)
          return;
        auto open = st.server->connections();
        bool late = caf::make_timestamp() >= st.drain_deadline;
        if ((open == 0 && !st.server->accepting()) || late) {
          drain_result r;
          r.complete = open == 0;
          r.abandoned = open;
          if (late && open > 0) {
            spdlog::warn("listener {}: drain deadline passed, closing {} connection(s)", st.server->name(),
                         open);
            st.server->close_all();
          }
          for (auto& p : st.drains)
            p.deliver(r);
          st.drains.clear();
          st.draining = false;
          return;
        }
        self->delayed_send(self, std::chrono::milliseconds{20}, check_atom::value);
      },
      [self](stop_atom) {
        self->state.server->close_all();
        return ok_atom::value;
      },
  };
}

} // namespace ika::actors
