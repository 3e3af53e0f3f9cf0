#pragma once
// The response cache's storage: N shards, each owning part of the key space
// (by a keyed hash of the key), each driven by one `cache_shard` actor.
//
// Why the io threads read a shard directly instead of asking its actor: an
// asio -> actor -> asio round trip costs 15-75 us on these machines, several
// times what a whole cache hit costs. So a shard splits its state by who
// may change it:
//
//   index     key -> complete objects. Written only by the shard's owner
//             (the actor: admission, eviction, purge); read by every io
//             thread under a shared lock, which hands out a counted
//             reference to an immutable object. A hit is one shared lock,
//             one reference count and relaxed counter bumps for the policy.
//   fills     key -> the one upstream fetch in progress for it (the fill
//             lock that collapses concurrent misses), and short-lived
//             "pass" markers for keys whose responses are not cacheable.
//             Taken by io threads under a plain mutex held for a map probe:
//             taking a fill lock through the actor would add a round trip
//             to every miss.
//   policy    admission and eviction over the byte budget (policy.hpp):
//             only the owner touches it, when a fill completes (a message
//             from the filling io thread: an event, not a per-request
//             round trip) and on purge.
//
// A completed fill stays in `fills` until its object is in the index (or
// refused), so there is no moment where a request finds neither.

#include "runtime/cache/object.hpp"
#include "runtime/cache/policy.hpp"
#include "runtime/http/head.hpp"

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ika::cache {

struct settings {
  std::uint64_t memory = 0; ///< total byte budget; 0: no cache
  std::size_t shards = 1;
  std::uint64_t max_object = 8u << 20;          ///< default for routes that set none
  std::chrono::milliseconds lock_timeout{5000}; ///< a miss waits this long for another's fill
  std::chrono::milliseconds pass_ttl{10000};    ///< an uncacheable key skips the fill lock this long
};

/// One upstream fetch that other requests for the same key wait on, and
/// are served from while its body streams in.
class fill {
public:
  enum class state : std::uint8_t { fetching, streaming, complete, abandoned };

  /// A waiting request: woken (on its own io thread) when the fill moves.
  struct waiter {
    asio::any_io_executor executor;
    asio::steady_timer* timer = nullptr; ///< touched on the waiter's thread only
  };

  /// What a waiter may send: the object and how much of its body is in.
  struct progress {
    state st = state::fetching;
    object_ref obj;
    std::uint64_t available = 0;
  };

  fill(std::uint64_t id, std::uint64_t hash, std::string key, std::uint64_t generation)
      : id_(id), hash_(hash), key_(std::move(key)), generation_(generation) {}

  // The filler (one io thread).
  /// The response is cacheable and `obj` holds its head; its body arrives
  /// next (`length_known`: obj's capacity is the body size, and waiters
  /// stream it as it comes; otherwise they wait for the end).
  void start(object_ref obj, bool length_known);
  /// Body bytes, in order. False: more than the object may hold (the fill
  /// is abandoned).
  bool append(const char* data, std::size_t size, std::uint64_t max_object);
  /// The body is complete: the object is final.
  void finish();
  /// Not cacheable after all, or the fetch failed: waiters go upstream
  /// themselves (or, mid-body, close).
  void abandon();

  // Waiters (any io thread).
  /// The fill's progress; registers `w` to be woken when there is more than
  /// `seen` body bytes or the state changes.
  progress read(const std::shared_ptr<waiter>& w, std::uint64_t seen);
  /// Stops waking `w`.
  void leave(const waiter& w);

  std::uint64_t id() const noexcept { return id_; }
  std::uint64_t hash() const noexcept { return hash_; }
  const std::string& key() const noexcept { return key_; }
  std::uint64_t generation() const noexcept { return generation_; }
  state current() const;
  /// The final object (complete fills only).
  object_ref result() const;
  /// The state and the object with the response's head (null while
  /// fetching): whether a request may join this fill.
  std::pair<state, object_ref> peek() const;

private:
  void wake_locked();

  const std::uint64_t id_;
  const std::uint64_t hash_;
  const std::string key_;
  const std::uint64_t generation_;
  mutable std::mutex mutex_;
  state state_ = state::fetching;
  object_ref obj_;
  bool length_known_ = false;
  std::uint64_t available_ = 0;
  std::string pending_; ///< body of unknown length, until finish()
  std::vector<std::shared_ptr<waiter>> waiters_;
};

struct shard_stats {
  std::uint64_t objects = 0;
  std::uint64_t bytes = 0; ///< charged against the budget
  std::uint64_t budget = 0;
  std::uint64_t hits = 0, misses = 0, stale = 0, bypass = 0, collapsed = 0;
  std::uint64_t stored = 0, refused = 0, evicted = 0, purged = 0;
  std::uint64_t fills = 0; ///< in progress now
};

class shard {
public:
  /// `on_fill_done(id)` tells the owner a fill completed (from the filling
  /// io thread; must not block). Null: the filler admits at once itself
  /// (tests).
  shard(std::uint64_t budget, std::size_t expected_objects,
        std::function<void(std::uint64_t)> on_fill_done = {});
  shard(const shard&) = delete;
  shard& operator=(const shard&) = delete;
  ~shard();

  void set_fill_listener(std::function<void(std::uint64_t)> on_fill_done);

  // ---------------------------------------------------------- io threads
  /// The stored object for `key` that `req` may use (its Vary variant).
  object_ref lookup(std::uint64_t hash, std::string_view key, const http::message_head& req);
  /// The fill lock for `key`: a fill `req` may be served from (`owner`
  /// false: wait on it; one still fetching, or one whose response is the
  /// variant `req` selects and, once complete, still fresh at `now`), else
  /// a new fill (`owner` true: this request fetches; `stale` is a
  /// completed fill's object it may revalidate). Null when the key is
  /// marked pass (go upstream, no collapsing).
  std::shared_ptr<fill> acquire(std::uint64_t hash, std::string_view key, const http::message_head& req,
                                std::int64_t now, bool& owner, object_ref& stale);
  /// Gives `o`, not yet in any fill, its head: the shard's interned copy
  /// when another object has the same lines (or when these fit the heads'
  /// budget), else `head` itself. Done before the object is shared
  /// because readers hold on to `*o.head` without a lock: no one changes
  /// an object's head once others can see the object.
  void set_head(object& o, std::shared_ptr<const stored_lines> head);
  /// The filler is done with `f` (complete or abandoned).
  void release(const std::shared_ptr<fill>& f);
  /// Requests for `key` go upstream uncollapsed until `until` (unix s).
  void mark_pass(std::uint64_t hash, std::int64_t until);

  /// Request counters, one set per io thread (a shared line bounced
  /// between cores would cost more than the rest of a hit).
  struct alignas(64) counters {
    std::atomic<std::uint64_t> hits{0}, misses{0}, stale{0}, bypass{0}, collapsed{0};
  };
  static constexpr std::size_t counter_sets = 64;
  counters& count(std::size_t thread) noexcept { return counters_[thread % counter_sets]; }

  // --------------------------------------------------------------- owner
  /// Admits the completed fill `id` (policy permitting), evicting what it
  /// must; drops the fill either way.
  void admit(std::uint64_t id);
  /// Removes the objects stored for `app` whose path starts with
  /// `path_prefix` ("" or "/": all of the app's; app "": every app's), and
  /// keeps fills begun before now from being admitted. Returns how many.
  std::size_t purge(std::string_view app, std::string_view path_prefix);
  /// Drops what is useless (stale objects without validators, expired pass
  /// markers, heads no object uses).
  void sweep(std::int64_t now);
  shard_stats stats() const;

private:
  using index_map = std::unordered_multimap<std::uint64_t, object_ref>;

  /// Forgets `f` (under fills_mutex_).
  void drop_fill_locked(const std::shared_ptr<fill>& f);
  void erase_locked(object& o);

  std::function<void(std::uint64_t)> on_fill_done_;
  mutable std::shared_mutex index_mutex_;
  index_map index_;

  mutable std::mutex fills_mutex_;
  /// By key hash: several per key when a response varies, or when a
  /// completed one (awaiting admission) is stale already.
  std::unordered_multimap<std::uint64_t, std::shared_ptr<fill>> fills_by_key_;
  std::unordered_map<std::uint64_t, std::shared_ptr<fill>> fills_by_id_;
  std::unordered_map<std::uint64_t, std::int64_t> pass_; ///< key hash -> until
  std::uint64_t next_fill_ = 1;
  std::atomic<std::uint64_t> generation_{0};

  mutable std::mutex owner_mutex_; ///< the owner is one actor; tests may call from anywhere
  eviction_policy policy_;
  mutable std::mutex heads_mutex_; ///< io threads intern heads; the owner sweeps them
  std::map<std::string_view, std::shared_ptr<const stored_lines>> heads_; ///< interned, by text
  std::uint64_t heads_bytes_ = 0;
  std::uint64_t heads_budget_ = 0;
  std::uint64_t stored_ = 0, refused_ = 0, evicted_ = 0, purged_ = 0;
  counters counters_[counter_sets];
};

/// Every shard of a node's cache.
class store {
public:
  explicit store(const settings& s);
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  const settings& config() const noexcept { return settings_; }
  /// The keyed hash of a cache key (SipHash with a per-process key: an
  /// attacker cannot aim many keys at one bucket or shard).
  std::uint64_t hash(std::string_view key) const noexcept;
  shard& shard_for(std::uint64_t hash) noexcept { return *shards_[(hash >> 32) % shards_.size()]; }
  shard& at(std::size_t i) noexcept { return *shards_[i]; }
  std::size_t size() const noexcept { return shards_.size(); }
  /// Purges every shard (owner-side call; the actors do it per shard).
  std::size_t purge(std::string_view app, std::string_view path_prefix);

private:
  settings settings_;
  unsigned char hash_key_[16];
  std::vector<std::unique_ptr<shard>> shards_;
};

/// "http://host/path?query" -> "/path?query".
std::string_view path_of_key(std::string_view key) noexcept;

} // namespace ika::cache
