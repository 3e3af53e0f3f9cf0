#pragma once
// Splits a byte stream into lines: on "\n", without a "\r" before it; a line
// longer than `max` is cut at `max` bytes (emitted as truncated) and the rest
// of it dropped; `flush` emits a last line that has no "\n" yet.

#include <cstddef>
#include <string>
#include <string_view>

namespace ika::process {

class line_splitter {
public:
  explicit line_splitter(std::size_t max) : max_(max) {}

  /// Calls emit(std::string line, bool truncated) for every line completed by `data`.
  template <class Emit>
  void feed(std::string_view data, Emit&& emit) {
    while (!data.empty()) {
      auto nl = data.find('\n');
      auto segment = data.substr(0, nl);
      data = nl == std::string_view::npos ? std::string_view{} : data.substr(nl + 1);
      if (skipping_) {
        skipping_ = nl == std::string_view::npos;
        continue;
      }
      // Keep at most max + 1 bytes: one more than the limit tells "too long".
      auto room = max_ + 1 - buf_.size();
      buf_.append(segment.substr(0, room));
      if (buf_.size() > max_) {
        buf_.resize(max_);
        emit_line(emit, true);
        skipping_ = nl == std::string_view::npos;
        continue;
      }
      if (nl != std::string_view::npos) {
        if (!buf_.empty() && buf_.back() == '\r')
          buf_.pop_back();
        emit_line(emit, false);
      }
    }
  }

  /// Emits the pending partial line, if any, and resets.
  template <class Emit>
  void flush(Emit&& emit) {
    if (!buf_.empty() && !skipping_)
      emit_line(emit, false);
    buf_.clear();
    skipping_ = false;
  }

private:
  template <class Emit>
  void emit_line(Emit& emit, bool truncated) {
    std::string line;
    line.swap(buf_);
    emit(std::move(line), truncated);
  }

  std::size_t max_;
  std::string buf_;
  bool skipping_ = false; ///< dropping the rest of a truncated line
};

} // namespace ika::process
