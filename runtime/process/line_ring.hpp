#pragma once
// The recent output lines of one instance, for `ika logs -n N`: a ring that
// keeps the last `capacity` lines. Not thread-safe (the instance actor owns it).

#include "runtime/process/process_supervisor.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace ika::process {

/// One captured line.
struct log_line {
  std::chrono::system_clock::time_point time;
  output_stream stream = output_stream::out;
  std::string text;
  bool truncated = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_line& x) {
  return f(caf::meta::type_name("log_line"), x.time, x.stream, x.text, x.truncated);
}

class line_ring {
public:
  /// Keeps at most `capacity` lines (at least 1).
  explicit line_ring(std::size_t capacity);

  /// Adds a line, dropping the oldest when full.
  void push(log_line line);

  /// The last min(n, size()) lines, oldest first.
  std::vector<log_line> last(std::size_t n) const;

  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return lines_.size(); }
  /// How many lines were ever pushed (a sequence number for followers).
  std::uint64_t total() const noexcept { return total_; }

  void clear() noexcept;

private:
  std::vector<log_line> lines_;
  std::size_t head_ = 0; ///< where the next line goes
  std::size_t size_ = 0;
  std::uint64_t total_ = 0;
};

} // namespace ika::process
