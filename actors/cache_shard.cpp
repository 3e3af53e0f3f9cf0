#include "actors/cache_shard.hpp"

#include <caf/actor_cast.hpp>
#include <caf/send.hpp>

#include <chrono>
#include <ctime>

namespace ika::actors {

namespace {

constexpr auto sweep_interval = std::chrono::seconds{10};

} // namespace

protocol::cache_shard_actor::behavior_type
cache_shard(cache_shard_pointer self, std::shared_ptr<cache::store> store, std::size_t index) {
  self->state.store = std::move(store);
  self->state.index = index;
  auto& shard = self->state.store->at(index);
  // From an io thread: one asynchronous message per completed fill.
  protocol::cache_shard_actor handle = self;
  shard.set_fill_listener([weak = caf::actor_cast<caf::weak_actor_ptr>(handle)](std::uint64_t id) {
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<protocol::cache_shard_actor>(strong), protocol::fill_atom::value, id);
  });
  self->attach_functor([store = self->state.store, index] { store->at(index).set_fill_listener({}); });
  // Linked to its node: it ends with the node, however the node ends.
  self->set_exit_handler([self](caf::exit_msg& msg) { self->quit(msg.reason); });
  self->delayed_send(self, sweep_interval, protocol::timer_atom::value);
  return {
      [self](protocol::fill_atom, std::uint64_t id) { self->state.store->at(self->state.index).admit(id); },
      [self](protocol::purge_atom, const std::string& app, const std::string& prefix) -> std::uint64_t {
        return self->state.store->at(self->state.index).purge(app, prefix);
      },
      [self](protocol::cache_atom) {
        auto s = self->state.store->at(self->state.index).stats();
        protocol::cache_shard_status out;
        out.shard = static_cast<std::uint32_t>(self->state.index);
        out.objects = s.objects;
        out.bytes = s.bytes;
        out.budget = s.budget;
        out.hits = s.hits;
        out.misses = s.misses;
        out.stale = s.stale;
        out.bypass = s.bypass;
        out.collapsed = s.collapsed;
        out.stored = s.stored;
        out.refused = s.refused;
        out.evicted = s.evicted;
        out.purged = s.purged;
        out.fills = s.fills;
        return out;
      },
      [self](protocol::timer_atom) {
        self->state.store->at(self->state.index).sweep(static_cast<std::int64_t>(std::time(nullptr)));
        self->delayed_send(self, sweep_interval, protocol::timer_atom::value);
      },
  };
}

} // namespace ika::actors
