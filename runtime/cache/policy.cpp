#include "runtime/cache/policy.hpp"

#include <algorithm>
#include <bit>

namespace ika::cache {

namespace {

constexpr std::uint64_t mix(std::uint64_t x) noexcept {
  // splitmix64's finalizer: callers' hashes may be weak in some bits.
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

struct counter_ref {
  std::size_t word;
  unsigned shift;
};

// The key's 4 counters: one 64-byte block (8 words) chosen by the hash; row i
// uses word 2i or 2i+1 of the block and one of its 16 nibbles.
void locate(std::uint64_t hash, std::size_t block_mask, counter_ref (&out)[4]) noexcept {
  const std::uint64_t block_hash = mix(hash);
  const std::uint64_t counter_hash = mix(block_hash ^ 0x9e3779b97f4a7c15ULL);
  const std::size_t block = static_cast<std::size_t>(block_hash & block_mask) << 3;
  for (unsigned i = 0; i < 4; ++i) {
    const auto h = static_cast<unsigned>(counter_hash >> (i * 8));
    out[i].word = block + (i << 1) + (h & 1u);
    out[i].shift = ((h >> 1) & 15u) << 2;
  }
}

} // namespace

// --- frequency_sketch --------------------------------------------------------

frequency_sketch::frequency_sketch(std::size_t expected_items)
    : words_(std::bit_ceil(std::max<std::size_t>(expected_items, 16))), block_mask_(words_ / 8 - 1),
      sample_size_(20 * static_cast<std::uint64_t>(words_)),
      table_(new std::atomic<std::uint64_t>[words_]()) {}

void frequency_sketch::record(std::uint64_t hash) noexcept {
  counter_ref refs[4];
  locate(hash, block_mask_, refs);
  unsigned values[4];
  unsigned min = 15;
  for (int i = 0; i < 4; ++i) {
    values[i] =
        static_cast<unsigned>(table_[refs[i].word].load(std::memory_order_relaxed) >> refs[i].shift) & 15u;
    min = std::min(min, values[i]);
  }
  if (min == 15)
    return;
  bool added = false;
  for (int i = 0; i < 4; ++i) {
    if (values[i] != min)
      continue; // conservative update: only the smallest counters rise
    auto& word = table_[refs[i].word];
    std::uint64_t old = word.load(std::memory_order_relaxed);
    while (((old >> refs[i].shift) & 15u) < 15u) {
      if (word.compare_exchange_weak(old, old + (std::uint64_t{1} << refs[i].shift),
                                     std::memory_order_relaxed)) {
        added = true;
        break;
      }
    }
  }
  if (!added)
    return;
  if (additions_.fetch_add(1, std::memory_order_relaxed) + 1 < sample_size_)
    return;
  bool expected = false;
  if (!aging_.compare_exchange_strong(expected, true, std::memory_order_acquire))
    return; // another thread is aging
  if (additions_.load(std::memory_order_relaxed) >= sample_size_) {
    age();
    additions_.store(sample_size_ / 2, std::memory_order_relaxed);
  }
  aging_.store(false, std::memory_order_release);
}

std::uint32_t frequency_sketch::estimate(std::uint64_t hash) const noexcept {
  counter_ref refs[4];
  locate(hash, block_mask_, refs);
  std::uint32_t min = 15;
  for (const auto& r : refs)
    min = std::min(
        min, static_cast<std::uint32_t>(table_[r.word].load(std::memory_order_relaxed) >> r.shift) & 15u);
  return min;
}

void frequency_sketch::age() noexcept {
  for (std::size_t i = 0; i < words_; ++i) {
    std::uint64_t old = table_[i].load(std::memory_order_relaxed);
    while (old != 0 && !table_[i].compare_exchange_weak(old, (old >> 1) & 0x7777777777777777ULL,
                                                        std::memory_order_relaxed)) {
    }
  }
}

// --- node_list ----------------------------------------------------------------

void node_list::push_front(policy_node& n) noexcept {
  n.prev_ = nullptr;
  n.next_ = head_;
  if (head_)
    head_->prev_ = &n;
  else
    tail_ = &n;
  head_ = &n;
  bytes_ += n.charge;
  ++count_;
}

void node_list::push_back(policy_node& n) noexcept {
  n.next_ = nullptr;
  n.prev_ = tail_;
  if (tail_)
    tail_->next_ = &n;
  else
    head_ = &n;
  tail_ = &n;
  bytes_ += n.charge;
  ++count_;
}

void node_list::unlink(policy_node& n) noexcept {
  if (n.prev_)
    n.prev_->next_ = n.next_;
  else
    head_ = n.next_;
  if (n.next_)
    n.next_->prev_ = n.prev_;
  else
    tail_ = n.prev_;
  n.prev_ = n.next_ = nullptr;
  bytes_ -= n.charge;
  --count_;
}

void node_list::move_to_front(policy_node& n) noexcept {
  if (head_ == &n)
    return;
  unlink(n);
  push_front(n);
}

// --- ghost_queue --------------------------------------------------------------

ghost_queue::ghost_queue(std::size_t capacity)
    : ring_(std::max<std::size_t>(capacity, 1), 0),
      table_(std::bit_ceil(2 * std::max<std::size_t>(capacity, 1)), 0) {}

std::size_t ghost_queue::slot_of(std::uint64_t h) const noexcept {
  return static_cast<std::size_t>(mix(h)) & (table_.size() - 1);
}

bool ghost_queue::contains(std::uint64_t hash) const noexcept {
  const std::uint64_t key = hash ? hash : 1; // 0 marks an empty slot
  const std::size_t mask = table_.size() - 1;
  for (std::size_t i = slot_of(key);; i = (i + 1) & mask) {
    if (table_[i] == key)
      return true;
    if (table_[i] == 0)
      return false;
  }
}

void ghost_queue::insert(std::uint64_t hash) {
  const std::uint64_t key = hash ? hash : 1;
  if (contains(key))
    return;
  if (count_ == ring_.size())
    erase(ring_[head_]); // the oldest
  else
    ++count_;
  ring_[head_] = key;
  head_ = (head_ + 1) % ring_.size();
  const std::size_t mask = table_.size() - 1;
  std::size_t i = slot_of(key);
  while (table_[i] != 0)
    i = (i + 1) & mask;
  table_[i] = key;
}

void ghost_queue::erase(std::uint64_t key) noexcept {
  const std::size_t mask = table_.size() - 1;
  std::size_t i = slot_of(key);
  while (table_[i] != key) {
    if (table_[i] == 0)
      return;
    i = (i + 1) & mask;
  }
  // Backward-shift deletion keeps linear probing free of tombstones.
  for (std::size_t j = i;;) {
    j = (j + 1) & mask;
    if (table_[j] == 0)
      break;
    const std::size_t k = slot_of(table_[j]);
    const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (!stays) {
      table_[i] = table_[j];
      i = j;
    }
  }
  table_[i] = 0;
}

// --- eviction_policy ------------------------------------------------------------

eviction_policy::eviction_policy(std::uint64_t budget_bytes, std::size_t expected_items, kind k)
    : kind_(k), budget_(budget_bytes) {
  if (k == kind::tinylfu || k == kind::wtinylfu) {
    sketch_ = std::make_unique<frequency_sketch>(expected_items);
    overhead_ += sketch_->memory_bytes();
  }
  if (k == kind::s3fifo) {
    ghost_ = std::make_unique<ghost_queue>(expected_items);
    overhead_ += ghost_->memory_bytes();
  }
  if (overhead_ > budget_)
    overhead_ = static_cast<std::size_t>(budget_); // nothing fits; capacity() is 0
  victims_.reserve(16);
}

void eviction_policy::record_access(std::uint64_t hash) noexcept {
  if (sketch_)
    sketch_->record(hash);
}

std::uint32_t eviction_policy::estimate(std::uint64_t hash) const noexcept {
  return sketch_ ? sketch_->estimate(hash) : 0;
}

bool eviction_policy::admit(policy_node& n, const std::function<void(policy_node&)>& evicted) {
  if (n.resident())
    return true;
  if (n.charge > capacity())
    return false;
  n.hits.store(0, std::memory_order_relaxed);
  switch (kind_) {
    case kind::lru:
    case kind::clock:
      return admit_lru_clock(n, evicted);
    case kind::s3fifo:
      return admit_s3fifo(n, evicted);
    case kind::tinylfu:
      return admit_main_filtered(n, evicted);
    case kind::wtinylfu:
      return admit_wtinylfu(n, evicted);
  }
  return false;
}

void eviction_policy::remove(policy_node& n) noexcept {
  if (n.queue_ == q_window)
    window_.unlink(n);
  else if (n.queue_ == q_main)
    main_.unlink(n);
  else
    return;
  used_ -= n.charge;
  n.queue_ = none;
}

void eviction_policy::on_hit_owner(policy_node& n) noexcept {
  if (kind_ == kind::lru && n.queue_ == q_main)
    main_.move_to_front(n);
  else
    touch(n);
}

policy_node* eviction_policy::clock_victim(node_list& q) noexcept {
  // Each pass takes one hit off a node; io threads may add hits meanwhile, so
  // the second chances are bounded.
  std::size_t chances = (max_hits + 1u) * q.size() + 1;
  for (;;) {
    policy_node* t = q.back();
    const auto h = t->hits.load(std::memory_order_relaxed);
    if (h > 0 && chances-- > 0) {
      t->hits.store(static_cast<std::uint8_t>(h - 1), std::memory_order_relaxed);
      q.move_to_front(*t);
      continue;
    }
    q.unlink(*t);
    return t;
  }
}

void eviction_policy::drop(policy_node& n, const std::function<void(policy_node&)>& evicted) {
  n.queue_ = none;
  used_ -= n.charge;
  evicted(n);
}

bool eviction_policy::admit_lru_clock(policy_node& n, const std::function<void(policy_node&)>& evicted) {
  while (used_ + n.charge > capacity()) {
    policy_node* v = kind_ == kind::lru ? main_.back() : clock_victim(main_);
    if (kind_ == kind::lru)
      main_.unlink(*v);
    drop(*v, evicted);
  }
  n.queue_ = q_main;
  main_.push_front(n);
  used_ += n.charge;
  return true;
}

bool eviction_policy::admit_s3fifo(policy_node& n, const std::function<void(policy_node&)>& evicted) {
  const std::uint64_t small_target = capacity() / 10;
  const bool to_main = ghost_->contains(n.hash);
  while (used_ + n.charge > capacity()) {
    if (!window_.empty() && (window_.bytes() >= small_target || main_.empty())) {
      policy_node* t = window_.back();
      window_.unlink(*t);
      if (t->hits.load(std::memory_order_relaxed) > 0) {
        // Hit while in the small queue: promoted, no bytes freed yet.
        t->hits.store(0, std::memory_order_relaxed);
        t->queue_ = q_main;
        main_.push_front(*t);
        continue;
      }
      ghost_->insert(t->hash);
      drop(*t, evicted);
      continue;
    }
    drop(*clock_victim(main_), evicted);
  }
  n.queue_ = to_main ? q_main : q_window;
  (to_main ? main_ : window_).push_front(n);
  used_ += n.charge;
  return true;
}

bool eviction_policy::admit_main_filtered(policy_node& c, const std::function<void(policy_node&)>& evicted) {
  const std::uint64_t need = used_ + c.charge > capacity() ? used_ + c.charge - capacity() : 0;
  victims_.clear();
  std::uint64_t freed = 0;
  while (freed < need) {
    // wtinylfu: main may be too small while the window holds the rest.
    node_list& q = !main_.empty() ? main_ : window_;
    if (q.empty())
      break;
    policy_node* v = clock_victim(q);
    victims_.push_back(v);
    freed += v->charge;
  }
  bool ok = freed >= need;
  if (ok && !victims_.empty()) {
    // Object hit ratio: keeping the victims is worth the sum of their
    // frequencies; the candidate must be estimated strictly more frequent.
    std::uint64_t victims_freq = 0;
    for (const policy_node* v : victims_)
      victims_freq += sketch_->estimate(v->hash);
    const std::uint32_t candidate_freq = sketch_->estimate(c.hash);
    ok = candidate_freq > victims_freq;
    if (!ok && candidate_freq >= 6) {
      // Caffeine's guard: a warm candidate gets in 1 time in 128 anyway, so
      // victims whose counters collide with hot keys (or an attacker's
      // crafted keys) cannot block admission forever; it also lets a new hot
      // set in while the old one's counters are still ageing out.
      rng_ ^= rng_ << 13;
      rng_ ^= rng_ >> 7;
      rng_ ^= rng_ << 17;
      ok = (rng_ & 127) == 0;
    }
  }
  if (!ok) {
    // Back to the tail in their order: the next candidate meets them again.
    for (auto it = victims_.rbegin(); it != victims_.rend(); ++it)
      ((*it)->queue_ == q_main ? main_ : window_).push_back(**it);
    return false;
  }
  for (policy_node* v : victims_)
    drop(*v, evicted);
  c.queue_ = q_main;
  main_.push_front(c);
  used_ += c.charge;
  return true;
}

bool eviction_policy::admit_wtinylfu(policy_node& n, const std::function<void(policy_node&)>& evicted) {
  const std::uint64_t window_target = std::max<std::uint64_t>(capacity() / 100, 1);
  if (n.charge > window_target)
    return admit_main_filtered(n, evicted); // would pass straight through the window
  n.queue_ = q_window;
  window_.push_front(n);
  used_ += n.charge;
  while (window_.bytes() > window_target) {
    policy_node* c = window_.back();
    window_.unlink(*c);
    c->queue_ = none;
    used_ -= c->charge;
    if (!admit_main_filtered(*c, evicted))
      evicted(*c);
  }
  while (used_ > capacity()) {
    if (!main_.empty()) {
      drop(*clock_victim(main_), evicted);
    } else {
      policy_node* c = window_.back(); // n is the head, and alone fits
      window_.unlink(*c);
      drop(*c, evicted);
    }
  }
  return true;
}

std::string_view to_string(eviction_policy::kind k) noexcept {
  switch (k) {
    case eviction_policy::kind::lru:
      return "lru";
    case eviction_policy::kind::clock:
      return "clock";
    case eviction_policy::kind::s3fifo:
      return "s3fifo";
    case eviction_policy::kind::tinylfu:
      return "tinylfu";
    case eviction_policy::kind::wtinylfu:
      return "wtinylfu";
  }
  return "?";
}

} // namespace ika::cache
