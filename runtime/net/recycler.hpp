#pragma once
// Objects lent to connections while they have work for them and taken back
// when they go idle, so an idle keep-alive connection costs a few hundred
// bytes, not a 16 KiB buffer and a parser (nginx and HAProxy do the same
// with their buffers). Up to `keep` returned objects wait for the next
// taker; more are freed, so a burst of connections does not pin its peak.
// `keep` must cover how many come and go at once under steady load (wrk's
// 64 connections on two io threads: 32 each), or every request pays a
// malloc and free of the object instead (measured: 64 KiB responses
// 0.97x nginx with 8 upstream buffers kept, against 1.2x).
// One recycler per io thread: not locked.

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ika::net {

/// `T` is the object type (or `char[]` for buffers); `Make` builds a new
/// std::unique_ptr<T> when none is waiting.
template <class T, class Make>
class recycler {
public:
  explicit recycler(Make make, std::size_t keep = 64) : make_(std::move(make)), keep_(keep) {}
  recycler(const recycler&) = delete;
  recycler& operator=(const recycler&) = delete;

  /// Objects waiting to be taken.
  std::size_t idle() const noexcept { return free_.size(); }

  /// One returned earlier, or a new one.
  std::unique_ptr<T> take() {
    if (free_.empty())
      return make_();
    auto p = std::move(free_.back());
    free_.pop_back();
    return p;
  }

  /// Takes back an object from take() (in whatever state it is left).
  void give_back(std::unique_ptr<T> p) noexcept {
    if (p == nullptr || free_.size() >= keep_)
      return; // freed here
    try {
      free_.push_back(std::move(p));
    } catch (...) { // no room to keep it: freed
    }
  }

private:
  Make make_;
  std::size_t keep_;
  std::vector<std::unique_ptr<T>> free_;
};

/// Makes buffers of `size` bytes.
struct make_buffer {
  std::size_t size;
  std::unique_ptr<char[]> operator()() const { return std::unique_ptr<char[]>(new char[size]); }
};

/// Buffers of one size.
using buffer_recycler = recycler<char[], make_buffer>;

/// Strings with room for `capacity` bytes, moved in and out (a moved
/// std::string takes its heap block along): a connection writes its heads
/// into one while it has a request and holds none while idle.
class string_recycler {
public:
  explicit string_recycler(std::size_t capacity, std::size_t keep = 64) : capacity_(capacity), keep_(keep) {}
  string_recycler(const string_recycler&) = delete;
  string_recycler& operator=(const string_recycler&) = delete;

  std::size_t idle() const noexcept { return free_.size(); }

  /// Gives `s` room for `capacity` bytes, from a returned string if one
  /// waits. Keeps what `s` holds if it has the room already.
  void take(std::string& s) {
    if (s.capacity() >= capacity_)
      return;
    if (free_.empty()) {
      s.reserve(capacity_);
      return;
    }
    s = std::move(free_.back());
    free_.pop_back();
    s.clear();
  }

  /// Takes `s`'s block back (kept if it is not more than four times the
  /// usual size: one huge head does not stay pinned); `s` is left empty,
  /// holding no memory.
  void give_back(std::string& s) noexcept {
    if (s.capacity() >= capacity_ && s.capacity() <= 4 * capacity_ && free_.size() < keep_) {
      try {
        free_.push_back(std::move(s));
      } catch (...) { // no room to keep it: freed below
      }
    }
    std::string{}.swap(s);
  }

private:
  std::size_t capacity_;
  std::size_t keep_;
  std::vector<std::string> free_;
};

} // namespace ika::net
