#include "runtime/proxy/request_id.hpp"

#include "runtime/http/chars.hpp"

#include <random>

namespace ika::proxy {

bool clean_request_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > max_request_id)
    return false;
  for (char c : id)
    if (!http::is_request_id_char(c))
      return false;
  return true;
}

request_id_generator::request_id_generator() {
  std::random_device rd;
  for (auto& x : s_)
    x = (std::uint64_t{rd()} << 32) ^ rd();
}

std::uint64_t request_id_generator::next64() noexcept {
  // xoshiro256** (Blackman & Vigna).
  auto rotl = [](std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

void request_id_generator::next(id& out) noexcept {
  static constexpr char hex[] = "0123456789abcdef";
  for (int half = 0; half < 2; ++half) {
    auto v = next64();
    for (int i = 0; i < 16; ++i) {
      out[static_cast<std::size_t>(half * 16 + i)] = hex[v & 0xf];
      v >>= 4;
    }
  }
}

} // namespace ika::proxy
