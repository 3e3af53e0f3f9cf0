#pragma once
// A hybrid logical clock timestamp in one call: braces do not pass through
// the EXPECT macros' arguments.

#include "protocol/records.hpp"

#include <cstdint>
#include <string>
#include <utility>

namespace ika::test {

inline protocol::hlc make_hlc(std::uint64_t ms, std::uint32_t logical, std::string node) {
  return protocol::hlc{ms, logical, std::move(node)};
}

} // namespace ika::test
