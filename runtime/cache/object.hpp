#pragma once
// A cached response: what the io threads serve hits from. Immutable once it
// is complete; shared by reference count between the shard's index and the
// requests being served from it, so an eviction never pulls a body from
// under a write.
//
// One allocation per object: the fields below, then the key, then the body
// (Varnish and nginx keep a response in one piece too). The status line and
// the header lines live in a `stored_lines` shared by every object whose
// lines are byte-identical (all of them but Date, which is kept as a
// number): a site's responses differ in their bodies, rarely in their
// headers, and at 1 KiB per object the headers would otherwise cost a
// fifth of the budget.

#include "runtime/cache/policy.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace ika::cache {

/// The status line and the stored header lines of responses (shared).
struct stored_lines {
  int status = 200;
  std::string text;          ///< "HTTP/1.1 200 OK\r\n" and the stored fields, each "Name: value\r\n"
  std::size_t fields_at = 0; ///< where the fields start in `text`
  std::string not_modified;  ///< the fields a 304 from the cache carries
  std::string etag;          ///< validators (empty: none)
  std::string last_modified;
  /// The status line's reason phrase ("OK").
  std::string_view reason() const noexcept {
    return fields_at >= 15 ? std::string_view{text}.substr(13, fields_at - 15) : std::string_view{};
  }
  /// Bytes this costs in memory (for the budget).
  std::size_t charge() const noexcept {
    return sizeof(*this) + text.capacity() + not_modified.capacity() + etag.capacity() +
           last_modified.capacity();
  }
};

/// The request headers a response varies on, and this object's values.
struct vary_info {
  std::string names;   ///< canonical, as rules::parse_vary gives them
  std::string variant; ///< rules::variant_of(request, names)
};

class object;

/// A counted reference to an object (intrusive: no control block, one
/// atomic per copy).
class object_ref {
public:
  object_ref() noexcept = default;
  explicit object_ref(object* p) noexcept : p_(p) {} // adopts one reference
  object_ref(const object_ref& o) noexcept;
  object_ref(object_ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  object_ref& operator=(object_ref o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~object_ref();

  object* get() const noexcept { return p_; }
  object* operator->() const noexcept { return p_; }
  object& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  void reset() noexcept { object_ref{}.swap(*this); }
  void swap(object_ref& o) noexcept { std::swap(p_, o.p_); }

private:
  object* p_ = nullptr;
};

class object {
public:
  /// A new object for `key` with room for `body_capacity` body bytes.
  static object_ref make(std::string_view key, std::uint64_t body_capacity);

  object(const object&) = delete;
  object& operator=(const object&) = delete;

  policy_node node; ///< first: the policy hands it back on eviction
  std::shared_ptr<const stored_lines> head;
  std::shared_ptr<const std::string> app; ///< whose route stored it (purge by app)
  std::unique_ptr<const vary_info> vary;  ///< null: the response had no Vary
  std::int64_t date = -1;                 ///< the origin's Date (unix s); -1: none
  std::int64_t born = 0;                  ///< when its age was 0 (unix s)
  std::int64_t lifetime = 0;              ///< freshness lifetime (s)
  std::uint64_t body_size = 0;            ///< bytes of the body held (== capacity once complete)
  bool revalidate_each_use = false;       ///< no-cache: revalidate before every use
  bool authorized_store = false;          ///< stored from a request with Authorization
  bool head_shared = false;               ///< `head` is its shard's interned copy (shard::set_head)

  std::string_view key() const noexcept { return {data(), key_size_}; }
  char* body() noexcept { return data() + key_size_; }
  const char* body() const noexcept { return data() + key_size_; }
  std::string_view body_view() const noexcept { return {body(), body_size}; }
  std::uint64_t capacity() const noexcept { return capacity_; }

  std::int64_t age(std::int64_t now) const noexcept { return now > born ? now - born : 0; }
  bool fresh(std::int64_t now) const noexcept { return !revalidate_each_use && age(now) < lifetime; }
  bool has_validators() const noexcept {
    return head && (!head->etag.empty() || !head->last_modified.empty());
  }
  /// Bytes this object holds in memory, its shared head not included.
  std::uint64_t own_charge() const noexcept;

  /// The object whose policy node `n` is.
  static object& of(policy_node& n) noexcept { return *reinterpret_cast<object*>(&n); }

  // Every data member has the same access: the class is standard-layout,
  // so `node`, its first member, converts to the object (of()).
  std::atomic<std::uint32_t> refs_{1};
  std::uint64_t capacity_;
  std::uint32_t key_size_;

private:
  friend class object_ref;
  object(std::uint32_t key_size, std::uint64_t capacity) noexcept
      : capacity_(capacity), key_size_(key_size) {}
  ~object() = default;
  char* data() noexcept { return reinterpret_cast<char*>(this + 1); }
  const char* data() const noexcept { return reinterpret_cast<const char*>(this + 1); }
  void release() noexcept;
};

inline object_ref::object_ref(const object_ref& o) noexcept : p_(o.p_) {
  if (p_ != nullptr)
    p_->refs_.fetch_add(1, std::memory_order_relaxed);
}

inline object_ref::~object_ref() {
  if (p_ != nullptr)
    p_->release();
}

} // namespace ika::cache
