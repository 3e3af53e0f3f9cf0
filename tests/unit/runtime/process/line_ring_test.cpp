// Unit tests of runtime/process/line_ring.

#include "runtime/process/line_ring.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using namespace ika::process;

std::vector<std::string> texts(const std::vector<log_line>& lines) {
  std::vector<std::string> out;
  for (auto& l : lines)
    out.push_back(l.text);
  return out;
}

log_line line(std::string text) {
  return log_line{std::chrono::system_clock::now(), output_stream::out, text, false};
}

TEST(LineRing, KeepsTheLastLinesOldestFirst) {
  line_ring ring(3);
  EXPECT_TRUE(ring.last(5).empty());
  ring.push(line("a"));
  ring.push(line("b"));
  EXPECT_EQ(texts(ring.last(5)), (std::vector<std::string>{"a", "b"}));
  ring.push(line("c"));
  ring.push(line("d"));
  ring.push(line("e"));
  EXPECT_EQ(ring.size(), 3u);
  EXPECT_EQ(ring.total(), 5u);
  EXPECT_EQ(texts(ring.last(10)), (std::vector<std::string>{"c", "d", "e"}));
  EXPECT_EQ(texts(ring.last(2)), (std::vector<std::string>{"d", "e"}));
  EXPECT_TRUE(ring.last(0).empty());
}

TEST(LineRing, KeepsStreamTimeAndTruncation) {
  line_ring ring(2);
  auto t = std::chrono::system_clock::time_point{std::chrono::seconds{100}};
  ring.push(log_line{t, output_stream::err, "oops", true});
  auto last = ring.last(1);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].time, t);
  EXPECT_EQ(last[0].stream, output_stream::err);
  EXPECT_TRUE(last[0].truncated);
}

TEST(LineRing, ClearAndZeroCapacity) {
  line_ring ring(0); // at least one line
  EXPECT_EQ(ring.capacity(), 1u);
  ring.push(line("x"));
  ring.push(line("y"));
  EXPECT_EQ(texts(ring.last(5)), std::vector<std::string>{"y"});
  ring.clear();
  EXPECT_EQ(ring.size(), 0u);
  EXPECT_TRUE(ring.last(5).empty());
  ring.push(line("z"));
  EXPECT_EQ(texts(ring.last(5)), std::vector<std::string>{"z"});
}

} // namespace
