// Unit tests of runtime/process/log_file: format, rotation and tails, on
// real files in a temp dir.

#include "runtime/process/log_file.hpp"

#include "tests/support/temp_dir.hpp"
#include "tests/unit/runtime/process/process_test_support.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

using namespace ika::process;
using namespace ika::process::test;
using ika::test::temp_dir;
using namespace std::chrono_literals;

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::chrono::system_clock::time_point at_2026_11_26_09_10_00_123() {
  // 2026-11-26T09:10:00Z = 1795684200 s since the epoch.
  return std::chrono::system_clock::time_point{std::chrono::seconds{1795684200} + 123ms};
}

std::vector<std::string> lines_of(const std::variant<std::vector<std::string>, std::string>& r) {
  if (auto* e = std::get_if<std::string>(&r)) {
    ADD_FAILURE() << *e;
    return {};
  }
  return std::get<std::vector<std::string>>(r);
}

TEST(LogFile, FormatsTimestamps) {
  EXPECT_EQ(format_timestamp(at_2026_11_26_09_10_00_123()), "2026-11-26T09:10:00.123Z");
  EXPECT_EQ(format_timestamp(std::chrono::system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
}

TEST(LogFile, AppendsFormattedLines) {
  temp_dir dir{"ika-process"};
  auto path = dir / "apps/web/app.log"; // directories are created
  log_file log;
  ASSERT_EQ(log.open(path), "");
  auto t = at_2026_11_26_09_10_00_123();
  EXPECT_EQ(log.append(t, "web-1", output_stream::out, "hello world"), "");
  EXPECT_EQ(log.append(t, "web-2", output_stream::err, "bad\nthing", true), "");
  EXPECT_EQ(read_all(path), "2026-11-26T09:10:00.123Z web-1 stdout hello world\n"
                            "2026-11-26T09:10:00.123Z web-2 stderr bad thing [truncated]\n");
  EXPECT_EQ(log.size(), read_all(path).size());

  // Reopening appends.
  log_file again;
  ASSERT_EQ(again.open(path), "");
  EXPECT_EQ(again.size(), log.size());
  EXPECT_EQ(again.append(t, "web-1", output_stream::out, "more"), "");
  EXPECT_EQ(lines_of(tail_file(path, 1)),
            std::vector<std::string>{"2026-11-26T09:10:00.123Z web-1 stdout more"});
}

TEST(LogFile, RotatesBySizeAndKeepsN) {
  temp_dir dir{"ika-process"};
  auto path = dir / "app.log";
  log_file log;
  ASSERT_EQ(log.open(path, log_file::options{200, 2}), "");
  auto t = at_2026_11_26_09_10_00_123();
  // Each line is 24 + 1 + 2 + 1 + 6 + 1 + 4 + 1 = 40 bytes: 5 per file.
  for (int i = 0; i < 23; ++i) {
    char text[16];
    std::snprintf(text, sizeof text, "%04d", i);
    ASSERT_EQ(log.append(t, "w1", output_stream::out, text), "");
  }
  namespace fs = std::filesystem;
  EXPECT_TRUE(fs::exists(path + ".1"));
  EXPECT_TRUE(fs::exists(path + ".2"));
  EXPECT_FALSE(fs::exists(path + ".3"));
  for (auto p : {path, path + ".1", path + ".2"})
    EXPECT_LE(fs::file_size(p), 200u) << p;
  EXPECT_EQ(fs::file_size(path), 3u * 40u); // lines 20..22
  auto all = lines_of(tail_log(path, 100, 2));
  ASSERT_EQ(all.size(), 13u); // 10..22; 0..9 rotated away
  EXPECT_NE(all.front().find(" 0010"), std::string::npos) << all.front();
  EXPECT_NE(all.back().find(" 0022"), std::string::npos) << all.back();
  auto last4 = lines_of(tail_log(path, 4, 2));
  ASSERT_EQ(last4.size(), 4u);
  EXPECT_NE(last4[0].find(" 0019"), std::string::npos) << last4[0];
  EXPECT_NE(last4[3].find(" 0022"), std::string::npos) << last4[3];
}

TEST(LogFile, TailOfOneFile) {
  temp_dir dir{"ika-process"};
  auto path = dir / "big.log";
  {
    std::ofstream out(path);
    for (int i = 0; i < 20000; ++i) // ~150 KiB: several read blocks
      out << "line " << i << "\n";
    out << "no newline";
  }
  auto last = lines_of(tail_file(path, 3));
  EXPECT_EQ(last, (std::vector<std::string>{"line 19998", "line 19999", "no newline"}));
  auto all = lines_of(tail_file(path, 1000000));
  ASSERT_EQ(all.size(), 20001u);
  EXPECT_EQ(all.front(), "line 0");
  EXPECT_TRUE(lines_of(tail_file(dir / "missing.log", 5)).empty());
  EXPECT_TRUE(lines_of(tail_file(path, 0)).empty());
  { std::ofstream(dir / "empty.log"); }
  EXPECT_TRUE(lines_of(tail_file(dir / "empty.log", 5)).empty());
}

TEST(LogFile, ErrorsNameThePath) {
  temp_dir dir{"ika-process"};
  { std::ofstream(dir / "file") << "x"; }
  log_file log;
  auto err = log.open(dir / "file/app.log");
  EXPECT_NE(err.find(dir / "file/app.log"), std::string::npos) << err;
  EXPECT_FALSE(log.is_open());
  EXPECT_NE(log.append({}, "i", output_stream::out, "x"), "");
  auto tail = tail_file(dir / "file/app.log", 1);
  ASSERT_TRUE(std::holds_alternative<std::string>(tail));
}

} // namespace
