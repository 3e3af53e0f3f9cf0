#pragma once
// The `cache_shard` actor: one per shard of the node's response cache. It
// is the shard's owner: admission and eviction (when an io thread tells it
// a fill completed), purges, statistics, and a periodic sweep. Hits and
// fill locks stay on the io threads (runtime/cache/store.hpp says why).
//
//   auto s = sys.spawn(ika::actors::cache_shard, store, 0);

#include "protocol/interfaces.hpp"
#include "runtime/cache/store.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <memory>

namespace ika::actors {

struct cache_shard_state {
  static inline const char* name = "ika.cache_shard";

  std::shared_ptr<cache::store> store;
  std::size_t index = 0;
};

using cache_shard_pointer = protocol::cache_shard_actor::stateful_pointer<cache_shard_state>;

/// Owns shard `index` of `store`; installs itself as the shard's fill
/// listener (and removes itself when it ends).
protocol::cache_shard_actor::behavior_type
cache_shard(cache_shard_pointer self, std::shared_ptr<cache::store> store, std::size_t index);

} // namespace ika::actors
