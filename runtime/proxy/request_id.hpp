#pragma once
// X-Request-ID: a clean incoming id is kept, otherwise one is generated.

#include <array>
#include <cstdint>
#include <string_view>

namespace ika::proxy {

/// Longest incoming id we keep.
inline constexpr std::size_t max_request_id = 128;

/// True for 1..128 bytes of [A-Za-z0-9-_.:+/=].
bool clean_request_id(std::string_view id) noexcept;

/// Per io thread: 128-bit random ids as 32 hex digits (xoshiro128++ seeded
/// from the OS; unpredictable enough to not collide, cheap enough for every
/// request).
class request_id_generator {
public:
  request_id_generator();
  using id = std::array<char, 32>;
  void next(id& out) noexcept;

private:
  std::uint64_t next64() noexcept;
  std::uint64_t s_[4];
};

} // namespace ika::proxy
