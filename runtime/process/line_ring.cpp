#include "runtime/process/line_ring.hpp"

#include <algorithm>

namespace ika::process {

line_ring::line_ring(std::size_t capacity) : lines_(std::max<std::size_t>(capacity, 1)) {}

void line_ring::push(log_line line) {
  lines_[head_] = std::move(line);
  head_ = (head_ + 1) % lines_.size();
  size_ = std::min(size_ + 1, lines_.size());
  ++total_;
}

std::vector<log_line> line_ring::last(std::size_t n) const {
  n = std::min(n, size_);
  std::vector<log_line> out;
  out.reserve(n);
  auto cap = lines_.size();
  for (std::size_t i = 0; i < n; ++i)
    out.push_back(lines_[(head_ + cap - n + i) % cap]);
  return out;
}

void line_ring::clear() noexcept {
  for (auto& l : lines_)
    l = log_line{};
  head_ = 0;
  size_ = 0;
}

} // namespace ika::process
