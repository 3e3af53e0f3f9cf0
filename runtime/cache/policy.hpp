#pragma once
// The response cache's eviction and admission policy (one per cache_shard).
//
// Hits are served by io threads without messaging the shard actor, so a hit
// may only do relaxed atomic work: touch() on the object's policy_node and
// record_access() on the shard's frequency sketch. Every structural change
// (admit, evict, remove) runs on the shard actor's thread.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

namespace ika::cache {

/// Count-min sketch of access frequencies: 4 rows of 4-bit saturating
/// counters (max 15), laid out like Caffeine's: the 4 counters of one key sit
/// in one 64-byte block, so a record or estimate touches one cache line.
/// Sized at next_pow2(expected_items) 64-bit words (16 counters each).
///
/// Aging: after sample_size() = 20 x next_pow2(expected_items) counted
/// increments every counter is halved (20 rather than Caffeine's 10: on the
/// static Zipf target 99% of the ideal instead of 98.5%, at some cost when
/// the hot set moves fast; tools/bench/cache-policy/README.md), so the sketch follows a changing
/// workload. The halving runs on whichever thread's record() crosses the
/// threshold (an io thread in production: one pass over memory_bytes(),
/// ~2 us for 16 KiB); one thread wins a CAS, the others go on recording.
///
/// record() and estimate() are safe from any thread: relaxed atomics, each
/// counter updated with a CAS so a nibble never carries into its neighbour;
/// increments racing with the halving may be lost, which is fine for a sketch.
class frequency_sketch {
public:
  /// `expected_items`: about how many objects the cache holds (not the key
  /// universe); at least 16 is used.
  explicit frequency_sketch(std::size_t expected_items);
  frequency_sketch(const frequency_sketch&) = delete;
  frequency_sketch& operator=(const frequency_sketch&) = delete;

  /// Counts one access of `hash` (conservative update: only the smallest of
  /// the key's 4 counters are raised). Any thread, lock-free.
  void record(std::uint64_t hash) noexcept;
  /// The key's estimated frequency since the last agings: min of its 4
  /// counters, 0..15. Never below the true count unless halved. Any thread.
  std::uint32_t estimate(std::uint64_t hash) const noexcept;
  /// Heap bytes of the counter table.
  std::size_t memory_bytes() const noexcept { return words_ * sizeof(std::uint64_t); }
  /// Counted increments between two agings.
  std::uint64_t sample_size() const noexcept { return sample_size_; }
  /// Halves every counter now (record() calls it at the threshold).
  void age() noexcept;

private:
  std::size_t words_;      // power of two, multiple of 8
  std::size_t block_mask_; // (words_ / 8) - 1
  std::uint64_t sample_size_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> table_;
  std::atomic<std::uint64_t> additions_{0};
  std::atomic<bool> aging_{false};
};

/// touch() saturates policy_node::hits here: a saturated node costs a hit one
/// relaxed load and no write (no cache-line ping-pong on hot objects).
inline constexpr std::uint8_t max_hits = 3;

/// What the policy knows about one cached object; embedded (intrusive) in it.
/// 40 bytes. The caller sets `hash` and `charge` before admit() and must not
/// change them while the node is resident.
struct policy_node {
  std::uint64_t hash = 0;            ///< the object's key hash (set by the caller)
  std::uint64_t charge = 0;          ///< bytes it counts against the budget (set by the caller)
  std::atomic<std::uint8_t> hits{0}; ///< hits since admission or last second chance, 0..max_hits (touch())
  // Policy-private (owner thread only): which queue holds the node, links.
  std::uint8_t queue_ = 0; // 0 = not resident
  policy_node* prev_ = nullptr;
  policy_node* next_ = nullptr;

  policy_node() = default;
  policy_node(const policy_node&) = delete;
  policy_node& operator=(const policy_node&) = delete;
  /// Whether the policy holds it (owner thread only).
  bool resident() const noexcept { return queue_ != 0; }
};

/// Readers call this on every hit, from any thread, lock-free: bumps `hits`
/// (relaxed, saturating at max_hits; lossy under races, which is fine).
inline void touch(policy_node& n) noexcept {
  const auto h = n.hits.load(std::memory_order_relaxed);
  if (h < max_hits)
    n.hits.store(static_cast<std::uint8_t>(h + 1), std::memory_order_relaxed);
}

/// Intrusive doubly linked list of policy_nodes, head = newest.
class node_list {
public:
  void push_front(policy_node& n) noexcept;
  void push_back(policy_node& n) noexcept;
  void unlink(policy_node& n) noexcept;
  void move_to_front(policy_node& n) noexcept;
  policy_node* back() const noexcept { return tail_; }
  std::uint64_t bytes() const noexcept { return bytes_; }
  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }

private:
  policy_node* head_ = nullptr;
  policy_node* tail_ = nullptr;
  std::uint64_t bytes_ = 0;
  std::size_t count_ = 0;
};

/// FIFO of recently evicted key hashes (S3-FIFO's ghost queue): a fixed ring
/// plus an open-addressing set, so it allocates once and stores hashes only.
class ghost_queue {
public:
  explicit ghost_queue(std::size_t capacity);
  void insert(std::uint64_t hash);
  bool contains(std::uint64_t hash) const noexcept;
  std::size_t memory_bytes() const noexcept { return (ring_.size() + table_.size()) * sizeof(std::uint64_t); }

private:
  std::size_t slot_of(std::uint64_t h) const noexcept;
  void erase(std::uint64_t hash) noexcept;
  std::vector<std::uint64_t> ring_;
  std::vector<std::uint64_t> table_; // open addressing; 0 = empty (a hash of 0 is stored as 1)
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

/// The policy of one cache shard. Owned by one thread (the shard actor); not
/// thread-safe except record_access() and touch(), which any thread may call
/// at any time.
///
/// Budget: `budget_bytes` is the shard's whole byte budget. The policy's own
/// memory (sketch, ghost queue: overhead_bytes(), fixed at construction) is
/// taken off it first, so objects may use budget() - overhead_bytes() and
/// used_bytes() + overhead_bytes() <= budget() holds after every call.
class eviction_policy {
public:
  enum class kind : std::uint8_t {
    lru,      ///< exact LRU; needs on_hit_owner() on every hit (simulator baseline only)
    clock,    ///< one FIFO ring, second chance while hits > 0 (hits decremented)
    s3fifo,   ///< S3-FIFO: small FIFO (10%), main CLOCK, ghost queue of hashes
    tinylfu,  ///< CLOCK main + TinyLFU admission: the candidate must be estimated more
              ///< frequent than the victims it would push out (the default: see
              ///< tools/bench/cache-policy/README.md)
    wtinylfu, ///< tinylfu behind a 1% FIFO window (W-TinyLFU without the SLRU)
  };
  /// The kind the simulator picked.
  static constexpr kind default_kind = kind::tinylfu;

  /// `expected_items`: about how many objects fit (sizes the sketch and ghost).
  eviction_policy(std::uint64_t budget_bytes, std::size_t expected_items, kind k = default_kind);
  eviction_policy(const eviction_policy&) = delete;
  eviction_policy& operator=(const eviction_policy&) = delete;

  /// Every access, hit or miss, from any thread: feeds the sketch (a no-op
  /// for kinds without one).
  void record_access(std::uint64_t hash) noexcept;
  /// Offers `n` (not resident; hash and charge set). false: not admitted,
  /// nothing resident changed. true: resident now; every node pushed out to
  /// make room was unlinked and passed to `evicted` (the caller then drops
  /// its object; it must not call remove() on it). `evicted` must not call
  /// back into the policy. Objects larger than budget() - overhead_bytes()
  /// are never admitted. Owner thread.
  bool admit(policy_node& n, const std::function<void(policy_node&)>& evicted);
  /// Takes a resident node out (purge, expiry, replacement by a newer
  /// response); a non-resident node is ignored. Owner thread.
  void remove(policy_node& n) noexcept;
  /// Only for the simulator's exact-LRU baseline: a hit seen by the owner
  /// thread. For kind::lru it moves `n` to the front; for the other kinds it
  /// is touch(n). Production never calls it.
  void on_hit_owner(policy_node& n) noexcept;

  std::uint64_t used_bytes() const noexcept { return used_; }
  std::size_t size() const noexcept { return window_.size() + main_.size(); }
  std::uint64_t budget() const noexcept { return budget_; }
  /// The sketch, ghost queue etc.; taken off budget() at construction.
  std::size_t overhead_bytes() const noexcept { return overhead_; }
  kind policy_kind() const noexcept { return kind_; }
  /// The estimated frequency of `hash` (0 for kinds without a sketch).
  std::uint32_t estimate(std::uint64_t hash) const noexcept;

private:
  enum queue_id : std::uint8_t { none = 0, q_window = 1, q_main = 2 };
  std::uint64_t capacity() const noexcept { return budget_ - overhead_; }
  bool admit_lru_clock(policy_node& n, const std::function<void(policy_node&)>& evicted);
  bool admit_s3fifo(policy_node& n, const std::function<void(policy_node&)>& evicted);
  bool admit_wtinylfu(policy_node& n, const std::function<void(policy_node&)>& evicted);
  // TinyLFU step: pushes `c` (not in any list, not counted in used_) into main
  // if it fits or beats the CLOCK victims that would make room.
  bool admit_main_filtered(policy_node& c, const std::function<void(policy_node&)>& evicted);
  // Unlinks the CLOCK victim of main (second chances while hits > 0).
  policy_node* clock_victim(node_list& q) noexcept;
  void drop(policy_node& n, const std::function<void(policy_node&)>& evicted);

  kind kind_;
  std::uint64_t budget_;
  std::size_t overhead_ = 0;
  std::uint64_t used_ = 0;
  node_list window_; // lru/clock/tinylfu: unused; s3fifo: small FIFO; wtinylfu: window
  node_list main_;
  std::unique_ptr<frequency_sketch> sketch_;
  std::unique_ptr<ghost_queue> ghost_;
  std::vector<policy_node*> victims_;
  std::uint64_t rng_ = 0x2545f4914f6cdd1dULL; // xorshift64 for the random admission
};

/// "lru", "clock", ... for reports.
std::string_view to_string(eviction_policy::kind k) noexcept;

} // namespace ika::cache
