// Release history: the previous release is the one live last (not the one
// created last), pruning keeps the live one and the most recent others, a
// version prefix must be unique, and release directories are removed only
// where a release directory can be.

#include "runtime/deploy/release_history.hpp"

#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace ika::deploy {
namespace {

namespace fs = std::filesystem;
using ika::test::temp_dir;
using protocol::hlc;
using protocol::release_record;

/// A 64-digit version made of `c`.
std::string ver(char c) {
  return std::string(64, c);
}

release_record rel(char c, std::uint64_t created_ms, std::uint64_t deployed_ms = 0) {
  release_record r;
  r.app = "shop/production";
  r.version = ver(c);
  r.created = hlc{created_ms, 0, "n"};
  if (deployed_ms != 0)
    r.deployed = hlc{deployed_ms, 0, "n"};
  return r;
}

TEST(release_history, PreviousIsTheOneLiveLastNotTheNewest) {
  // a deployed at 10, b at 20, a rolled back to at 30 (live), c uploaded at
  // 40 but its deploy failed (never live).
  std::vector<release_record> rs{rel('a', 1, 30), rel('b', 2, 20), rel('c', 40)};
  EXPECT_EQ(previous_release(rs, ver('a')), ver('b'));
  EXPECT_EQ(previous_release(rs, ver('b')), ver('a'));
  // Only the live one was ever live: nothing to go back to.
  EXPECT_EQ(previous_release({rel('a', 1, 5), rel('c', 9)}, ver('a')), std::nullopt);
  EXPECT_EQ(previous_release({rel('a', 1, 5)}, ver('a')), std::nullopt);
}

TEST(release_history, PruneKeepsTheMostRecentAndAlwaysTheLive) {
  std::vector<release_record> rs;
  for (int i = 0; i < 12; ++i)
    rs.push_back(rel(static_cast<char>('0' + (i < 10 ? i : 0)), 100 + i, 100 + i));
  rs[10].version = ver('a');
  rs[11].version = ver('b');
  // 12 releases, 0..9 then a, b by time: the two oldest go.
  EXPECT_EQ(releases_to_prune(rs, ver('b')), (std::vector<std::string>{ver('0'), ver('1')}));
  // The live one is old (rolled back to long ago... then kept live): it
  // stays, and one more of the old ones goes instead.
  EXPECT_EQ(releases_to_prune(rs, ver('0')), (std::vector<std::string>{ver('1'), ver('2')}));
  // A rollback makes an old release recent again.
  rs[1].deployed = hlc{500, 0, "n"};
  EXPECT_EQ(releases_to_prune(rs, ver('1')), (std::vector<std::string>{ver('0'), ver('2')}));
  // Ten or fewer: nothing goes.
  rs.resize(10);
  EXPECT_TRUE(releases_to_prune(rs, ver('9')).empty());
  EXPECT_EQ(releases_to_prune(rs, ver('9'), 3).size(), 7u);
}

TEST(release_history, SortNewestFirstByCreated) {
  std::vector<release_record> rs{rel('a', 1, 99), rel('c', 3), rel('b', 2)};
  sort_newest_first(rs);
  EXPECT_EQ(rs[0].version, ver('c'));
  EXPECT_EQ(rs[1].version, ver('b'));
  EXPECT_EQ(rs[2].version, ver('a'));
}

TEST(release_history, VersionPrefixMustBeUniqueHexOfSevenDigits) {
  std::vector<std::string> vs{"abcdef0" + std::string(57, '1'), "abcdef0" + std::string(57, '2'),
                              "1234567" + std::string(57, '3')};
  auto m = match_version(vs, "1234567");
  EXPECT_EQ(m.version, vs[2]);
  EXPECT_TRUE(m.error.empty());
  EXPECT_EQ(match_version(vs, vs[0]).version, vs[0]); // the full version
  m = match_version(vs, "abcdef0");
  EXPECT_TRUE(m.version.empty());
  EXPECT_EQ(m.candidates, (std::vector<std::string>{vs[0], vs[1]}));
  EXPECT_NE(m.error.find("matches 2 releases"), std::string::npos) << m.error;
  EXPECT_NE(m.error.find(vs[1].substr(0, 12)), std::string::npos) << m.error;
  EXPECT_EQ(match_version(vs, "abcdef01").version, vs[0]);
  m = match_version(vs, "fffffff");
  EXPECT_TRUE(m.version.empty());
  EXPECT_NE(m.error.find("no kept release matches 'fffffff'"), std::string::npos) << m.error;
  EXPECT_NE(m.error.find("123456733333"), std::string::npos) << m.error; // names what is kept
  EXPECT_NE(match_version(vs, "123456").error.find("at least 7"), std::string::npos);
  EXPECT_FALSE(match_version(vs, "ABCDEF0").error.empty());
  EXPECT_FALSE(match_version(vs, "../../x").error.empty());
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream{p} << text;
}

TEST(release_history, MeasuresAndRemovesOnlyReleaseDirectories) {
  temp_dir tmp{"ika-history"};
  auto releases = tmp.path() / "apps" / "shop" / "production" / "releases";
  auto dir = releases / ver('a');
  write(dir / "app.py", "12345");
  write(dir / "sub" / "ika.toml", "abc");
  fs::create_symlink("app.py", dir / "link");
  auto u = measure_dir(dir.string());
  EXPECT_EQ(u.files, 3u);
  EXPECT_EQ(u.bytes, 5u + 3u + 6u);
  EXPECT_EQ(measure_dir((tmp.path() / "missing").string()).files, 0u);

  // Not a release directory: refused, nothing removed.
  auto other = tmp.path() / "apps" / "shop" / "production" / "logs" / ver('b');
  write(other / "keep", "x");
  EXPECT_FALSE(remove_release_dir(other.string(), ver('b')).empty());
  EXPECT_FALSE(remove_release_dir(dir.string(), ver('b')).empty()); // wrong name
  EXPECT_FALSE(remove_release_dir((releases / "..").string(), "..").empty());
  EXPECT_TRUE(fs::exists(other / "keep"));
  EXPECT_TRUE(fs::exists(dir / "app.py"));
  // A symlink in place of a release directory is not followed.
  fs::create_symlink(other, releases / ver('c'));
  EXPECT_FALSE(remove_release_dir((releases / ver('c')).string(), ver('c')).empty());
  EXPECT_TRUE(fs::exists(other / "keep"));

  EXPECT_EQ(remove_release_dir(dir.string(), ver('a')), "");
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_TRUE(fs::exists(releases));
  EXPECT_EQ(remove_release_dir(dir.string(), ver('a')), ""); // gone already
}

} // namespace
} // namespace ika::deploy
