#include "runtime/cache/store.hpp"

#include "runtime/cache/rules.hpp"

#include <asio/post.hpp>
#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <new>

namespace ika::cache {

namespace {

/// What an index entry costs besides its object (a multimap node and its
/// share of the buckets).
constexpr std::uint64_t index_overhead = 48;

} // namespace

// ------------------------------------------------------------------ object

object_ref object::make(std::string_view key, std::uint64_t body_capacity) {
  void* memory = ::operator new(sizeof(object) + key.size() + body_capacity);
  auto* o = new (memory) object(static_cast<std::uint32_t>(key.size()), body_capacity);
  std::memcpy(o->data(), key.data(), key.size());
  return object_ref{o};
}

void object::release() noexcept {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    this->~object();
    ::operator delete(static_cast<void*>(this));
  }
}

std::uint64_t object::own_charge() const noexcept {
  std::uint64_t n = sizeof(object) + key_size_ + capacity_ + index_overhead;
  if (vary)
    n += sizeof(vary_info) + vary->names.capacity() + vary->variant.capacity();
  return n;
}

// -------------------------------------------------------------------- fill

void fill::start(object_ref obj, bool length_known) {
  std::lock_guard<std::mutex> lock{mutex_};
  obj_ = std::move(obj);
  length_known_ = length_known;
  state_ = state::streaming;
  wake_locked();
}

bool fill::append(const char* data, std::size_t size, std::uint64_t max_object) {
  std::lock_guard<std::mutex> lock{mutex_};
  if (state_ != state::streaming)
    return false;
  if (length_known_) {
    if (available_ + size > obj_->capacity()) {
      state_ = state::abandoned;
      wake_locked();
      return false;
    }
    std::memcpy(obj_->body() + available_, data, size);
    available_ += size;
    obj_->body_size = available_;
    wake_locked();
    return true;
  }
  if (pending_.size() + size > max_object) {
    state_ = state::abandoned;
    std::string{}.swap(pending_);
    wake_locked();
    return false;
  }
  pending_.append(data, size);
  available_ += size;
  return true;
}

void fill::finish() {
  std::lock_guard<std::mutex> lock{mutex_};
  if (state_ != state::streaming)
    return;
  if (length_known_) {
    if (available_ != obj_->capacity()) {
      state_ = state::abandoned;
      wake_locked();
      return;
    }
  } else {
    // The body's size is known now: the final object gets it in one piece.
    auto whole = object::make(obj_->key(), pending_.size());
    whole->head = obj_->head;
    whole->app = obj_->app;
    // Copied, not moved: shard::acquire may be reading the streaming
    // object's vary (peek) right now.
    if (obj_->vary)
      whole->vary = std::make_unique<vary_info>(*obj_->vary);
    whole->date = obj_->date;
    whole->born = obj_->born;
    whole->lifetime = obj_->lifetime;
    whole->revalidate_each_use = obj_->revalidate_each_use;
    whole->authorized_store = obj_->authorized_store;
    whole->head_shared = obj_->head_shared;
    std::memcpy(whole->body(), pending_.data(), pending_.size());
    whole->body_size = pending_.size();
    std::string{}.swap(pending_);
    obj_ = std::move(whole);
  }
  state_ = state::complete;
  wake_locked();
}

void fill::abandon() {
  std::lock_guard<std::mutex> lock{mutex_};
  if (state_ == state::complete || state_ == state::abandoned)
    return;
  state_ = state::abandoned;
  std::string{}.swap(pending_);
  wake_locked();
}

fill::progress fill::read(const std::shared_ptr<waiter>& w, std::uint64_t seen) {
  std::lock_guard<std::mutex> lock{mutex_};
  progress p;
  p.st = state_;
  if (state_ == state::complete || (state_ == state::streaming && length_known_)) {
    p.obj = obj_;
    p.available = state_ == state::complete ? obj_->body_size : available_;
  }
  bool more = p.st == state::complete || p.st == state::abandoned || (p.obj && p.available > seen);
  if (!more && std::find(waiters_.begin(), waiters_.end(), w) == waiters_.end())
    waiters_.push_back(w);
  return p;
}

void fill::leave(const waiter& w) {
  std::lock_guard<std::mutex> lock{mutex_};
  std::erase_if(waiters_, [&](const auto& x) { return x.get() == &w; });
}

fill::state fill::current() const {
  std::lock_guard<std::mutex> lock{mutex_};
  return state_;
}

std::pair<fill::state, object_ref> fill::peek() const {
  std::lock_guard<std::mutex> lock{mutex_};
  return {state_, state_ == state::fetching ? object_ref{} : obj_};
}

object_ref fill::result() const {
  std::lock_guard<std::mutex> lock{mutex_};
  return state_ == state::complete ? obj_ : object_ref{};
}

void fill::wake_locked() {
  // Each waiter is woken once per registration: it registers again when it
  // finds nothing new.
  for (auto& w : waiters_)
    asio::post(w->executor, [w] {
      if (w->timer != nullptr)
        w->timer->cancel();
    });
  waiters_.clear();
}

// ------------------------------------------------------------------- shard

shard::shard(std::uint64_t budget, std::size_t expected_objects,
             std::function<void(std::uint64_t)> on_fill_done)
    : on_fill_done_(std::move(on_fill_done)), policy_(budget - budget / 20, expected_objects),
      heads_budget_(budget / 20) {}

shard::~shard() = default;

void shard::set_fill_listener(std::function<void(std::uint64_t)> on_fill_done) {
  std::lock_guard<std::mutex> lock{fills_mutex_};
  on_fill_done_ = std::move(on_fill_done);
}

object_ref shard::lookup(std::uint64_t hash, std::string_view key, const http::message_head& req) {
  policy_.record_access(hash);
  std::shared_lock<std::shared_mutex> lock{index_mutex_};
  auto [it, end] = index_.equal_range(hash);
  for (; it != end; ++it) {
    const object& o = *it->second;
    if (o.key() != key)
      continue;
    if (o.vary && variant_of(req, o.vary->names) != o.vary->variant)
      continue;
    return it->second;
  }
  return {};
}

std::shared_ptr<fill> shard::acquire(std::uint64_t hash, std::string_view key, const http::message_head& req,
                                     std::int64_t now, bool& owner, object_ref& stale) {
  std::lock_guard<std::mutex> lock{fills_mutex_};
  owner = false;
  if (auto p = pass_.find(hash); p != pass_.end()) {
    if (p->second > now)
      return nullptr;
    pass_.erase(p);
  }
  auto [it, end] = fills_by_key_.equal_range(hash);
  for (; it != end; ++it) {
    const auto& f = it->second;
    if (f->key() != key)
      continue;
    auto [st, obj] = f->peek();
    if (st == fill::state::abandoned)
      continue;
    if (st == fill::state::fetching)
      return f; // the variant is not known yet: wait and see
    if (obj->vary && variant_of(req, obj->vary->names) != obj->vary->variant)
      continue;
    if (st == fill::state::complete && !obj->fresh(now)) {
      stale = std::move(obj); // stale already (no-cache, max-age=0): revalidate it
      continue;
    }
    return f;
  }
  auto f = std::make_shared<fill>(next_fill_++, hash, std::string{key},
                                  generation_.load(std::memory_order_acquire));
  fills_by_key_.emplace(hash, f);
  fills_by_id_.emplace(f->id(), f);
  owner = true;
  return f;
}

void shard::drop_fill_locked(const std::shared_ptr<fill>& f) {
  fills_by_id_.erase(f->id());
  auto [it, end] = fills_by_key_.equal_range(f->hash());
  for (; it != end; ++it)
    if (it->second == f) {
      fills_by_key_.erase(it);
      return;
    }
}

void shard::release(const std::shared_ptr<fill>& f) {
  std::function<void(std::uint64_t)> notify;
  {
    std::lock_guard<std::mutex> lock{fills_mutex_};
    if (f->current() != fill::state::complete) {
      // Abandoned: gone at once, so the next request fetches afresh.
      drop_fill_locked(f);
      return;
    }
    notify = on_fill_done_;
  }
  if (notify)
    notify(f->id());
  else
    admit(f->id());
}

void shard::mark_pass(std::uint64_t hash, std::int64_t until) {
  std::lock_guard<std::mutex> lock{fills_mutex_};
  pass_[hash] = until;
}

void shard::erase_locked(object& o) {
  auto [it, end] = index_.equal_range(o.node.hash);
  for (; it != end; ++it)
    if (it->second.get() == &o) {
      index_.erase(it);
      return;
    }
}

void shard::set_head(object& o, std::shared_ptr<const stored_lines> head) {
  std::lock_guard<std::mutex> lock{heads_mutex_};
  if (auto it = heads_.find(head->text);
      it != heads_.end() && it->second->not_modified == head->not_modified &&
      it->second->etag == head->etag && it->second->last_modified == head->last_modified) {
    o.head = it->second;
    o.head_shared = true;
    return;
  }
  // Otherwise these lines become the shared copy if they fit; if not, the
  // object pays for its own head.
  o.head_shared = heads_bytes_ + head->charge() <= heads_budget_ && heads_.count(head->text) == 0;
  if (o.head_shared) {
    heads_bytes_ += head->charge();
    heads_.emplace(std::string_view{head->text}, head);
  }
  o.head = std::move(head);
}

void shard::admit(std::uint64_t id) {
  std::lock_guard<std::mutex> owner{owner_mutex_};
  std::shared_ptr<fill> f;
  {
    std::lock_guard<std::mutex> lock{fills_mutex_};
    auto it = fills_by_id_.find(id);
    if (it == fills_by_id_.end())
      return;
    f = it->second;
  }
  auto drop_fill = [&] {
    std::lock_guard<std::mutex> lock{fills_mutex_};
    drop_fill_locked(f);
  };
  object_ref obj = f->result();
  if (!obj || f->generation() != generation_.load(std::memory_order_acquire)) {
    drop_fill();
    return;
  }
  // The head was interned when the object was made (set_head): io
  // threads may be reading it now.
  obj->node.hash = f->hash();
  obj->node.charge = obj->own_charge() + (obj->head_shared ? 0 : obj->head->charge());

  std::vector<object*> out;
  {
    // A response for the same key and variant replaces the stored one.
    std::shared_lock<std::shared_mutex> lock{index_mutex_};
    auto [it, end] = index_.equal_range(f->hash());
    for (; it != end; ++it) {
      object& o = *it->second;
      if (o.key() == obj->key() &&
          ((!o.vary && !obj->vary) || (o.vary && obj->vary && o.vary->names == obj->vary->names &&
                                       o.vary->variant == obj->vary->variant)))
        out.push_back(&o);
    }
  }
  for (object* o : out)
    policy_.remove(o->node);
  std::size_t replaced = out.size();
  bool admitted = policy_.admit(obj->node, [&](policy_node& n) { out.push_back(&object::of(n)); });
  {
    std::unique_lock<std::shared_mutex> lock{index_mutex_};
    for (object* o : out)
      erase_locked(*o);
    if (admitted)
      index_.emplace(f->hash(), obj);
  }
  evicted_ += out.size() - replaced;
  if (admitted)
    ++stored_;
  else
    ++refused_;
  drop_fill();
}

std::size_t shard::purge(std::string_view app, std::string_view path_prefix) {
  std::lock_guard<std::mutex> owner{owner_mutex_};
  generation_.fetch_add(1, std::memory_order_acq_rel);
  if (path_prefix == "/")
    path_prefix = {};
  std::vector<object*> out;
  {
    std::shared_lock<std::shared_mutex> lock{index_mutex_};
    for (auto& [hash, ref] : index_) {
      object& o = *ref;
      if (!app.empty() && (!o.app || *o.app != app))
        continue;
      if (!path_prefix.empty() && !path_of_key(o.key()).starts_with(path_prefix))
        continue;
      out.push_back(&o);
    }
  }
  for (object* o : out)
    policy_.remove(o->node);
  {
    std::unique_lock<std::shared_mutex> lock{index_mutex_};
    for (object* o : out)
      erase_locked(*o);
  }
  purged_ += out.size();
  return out.size();
}

void shard::sweep(std::int64_t now) {
  std::lock_guard<std::mutex> owner{owner_mutex_};
  {
    std::lock_guard<std::mutex> lock{fills_mutex_};
    std::erase_if(pass_, [&](const auto& p) { return p.second <= now; });
  }
  std::vector<object*> out;
  {
    std::shared_lock<std::shared_mutex> lock{index_mutex_};
    for (auto& [hash, ref] : index_)
      if (!ref->fresh(now) && !ref->has_validators())
        out.push_back(ref.get());
  }
  for (object* o : out)
    policy_.remove(o->node);
  {
    std::unique_lock<std::shared_mutex> lock{index_mutex_};
    for (object* o : out)
      erase_locked(*o);
  }
  // A head only the table holds any more.
  std::lock_guard<std::mutex> lock{heads_mutex_};
  for (auto it = heads_.begin(); it != heads_.end();) {
    if (it->second.use_count() == 1) {
      heads_bytes_ -= it->second->charge();
      it = heads_.erase(it);
    } else {
      ++it;
    }
  }
}

shard_stats shard::stats() const {
  shard_stats s;
  {
    std::lock_guard<std::mutex> owner{owner_mutex_};
    s.objects = policy_.size();
    std::lock_guard<std::mutex> heads{heads_mutex_};
    s.bytes = policy_.used_bytes() + heads_bytes_ + policy_.overhead_bytes();
    s.budget = policy_.budget() + heads_budget_;
    s.stored = stored_;
    s.refused = refused_;
    s.evicted = evicted_;
    s.purged = purged_;
  }
  {
    std::lock_guard<std::mutex> lock{fills_mutex_};
    s.fills = fills_by_id_.size();
  }
  for (const auto& c : counters_) {
    s.hits += c.hits.load(std::memory_order_relaxed);
    s.misses += c.misses.load(std::memory_order_relaxed);
    s.stale += c.stale.load(std::memory_order_relaxed);
    s.bypass += c.bypass.load(std::memory_order_relaxed);
    s.collapsed += c.collapsed.load(std::memory_order_relaxed);
  }
  return s;
}

// ------------------------------------------------------------------- store

store::store(const settings& s) : settings_(s) {
  if (settings_.shards == 0)
    settings_.shards = 1;
  randombytes_buf(hash_key_, sizeof hash_key_);
  std::uint64_t per_shard = settings_.memory / settings_.shards;
  // The policy's sketch is sized for the objects a shard may hold; 1 KiB
  // is a small typical response.
  std::size_t expected = static_cast<std::size_t>(std::max<std::uint64_t>(per_shard / 1024, 64));
  for (std::size_t i = 0; i < settings_.shards; ++i)
    shards_.push_back(std::make_unique<shard>(per_shard, expected));
}

std::uint64_t store::hash(std::string_view key) const noexcept {
  static_assert(crypto_shorthash_BYTES == 8 && crypto_shorthash_KEYBYTES == sizeof(hash_key_));
  unsigned char out[crypto_shorthash_BYTES];
  crypto_shorthash(out, reinterpret_cast<const unsigned char*>(key.data()), key.size(), hash_key_);
  std::uint64_t h;
  std::memcpy(&h, out, sizeof h);
  return h;
}

std::size_t store::purge(std::string_view app, std::string_view path_prefix) {
  std::size_t n = 0;
  for (auto& s : shards_)
    n += s->purge(app, path_prefix);
  return n;
}

std::string_view path_of_key(std::string_view key) noexcept {
  auto scheme = key.find("://");
  if (scheme == std::string_view::npos)
    return key;
  auto slash = key.find('/', scheme + 3);
  return slash == std::string_view::npos ? std::string_view{} : key.substr(slash);
}

} // namespace ika::cache
