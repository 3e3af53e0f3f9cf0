#pragma once
// What one io thread owns for the proxy: its deadline ticker, its upstream
// pool and its request-id generator. Nothing in here is shared between
// threads, so nothing in here is locked.

#include "runtime/cache/store.hpp"
#include "runtime/net/deadline_list.hpp"
#include "runtime/net/io_pool.hpp"
#include "runtime/proxy/limits.hpp"
#include "runtime/proxy/request_id.hpp"
#include "runtime/proxy/upstream_pool.hpp"

#include <memory>
#include <vector>

namespace ika::proxy {

struct worker {
  worker(asio::io_context& ctx, const limits& l, std::size_t i = 0)
      : context(ctx), deadlines(ctx), pool(ctx, deadlines, l.upstream_keepalive, l.upstream_idle_timeout),
        index(i) {}

  asio::io_context& context;
  net::deadline_list deadlines;
  upstream_pool pool;
  request_id_generator ids;
  std::uint32_t round_robin = 0;
  std::size_t index = 0; ///< which io thread
  /// The node's response cache (null: none). Set before the io threads run.
  cache::store* cache = nullptr;
};

/// One worker per io thread of a pool. Create before the pool starts (or
/// from its threads); destroy after it stopped.
class workers {
public:
  workers(net::io_pool& pool, const limits& l) {
    for (std::size_t i = 0; i < pool.size(); ++i)
      all_.push_back(std::make_unique<worker>(pool.context(i), l, i));
  }
  worker& at(std::size_t i) noexcept { return *all_[i]; }
  std::size_t size() const noexcept { return all_.size(); }

private:
  std::vector<std::unique_ptr<worker>> all_;
};

} // namespace ika::proxy
