#include "runtime/deploy/archive.hpp"

#include "tests/support/temp_dir.hpp"

#include <cstdio>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace ika::deploy {
namespace {

namespace fs = std::filesystem;
using ika::test::temp_dir;

// A symlink at `rel` in `dir` to `target`, making the directories on the way.
void add_symlink(const temp_dir& dir, const std::string& rel, const std::string& target) {
  auto file = dir.path() / rel;
  fs::create_directories(file.parent_path());
  fs::create_symlink(target, file);
}

// Sets the modification time of everything in `dir` to `seconds`.
void touch_all(const temp_dir& dir, long seconds) {
  for (auto& e : fs::recursive_directory_iterator(dir.path())) {
    timespec times[2] = {{seconds, 0}, {seconds, 0}};
    ::utimensat(AT_FDCWD, e.path().c_str(), times, AT_SYMLINK_NOFOLLOW);
  }
}

packed_archive pack_ok(const std::string& dir, const archive_limits& limits = {}) {
  auto result = pack_directory(dir, limits);
  if (auto* error = std::get_if<archive_error>(&result)) {
    ADD_FAILURE() << "pack failed: " << error->to_string();
    return {};
  }
  return std::get<packed_archive>(result);
}

std::vector<std::string> paths_of(const std::string& bytes) {
  auto read = read_archive(bytes);
  if (auto* error = std::get_if<archive_error>(&read)) {
    ADD_FAILURE() << "read failed: " << error->to_string();
    return {};
  }
  std::vector<std::string> out;
  for (const auto& e : std::get<0>(read))
    out.emplace_back(e.path);
  return out;
}

// path -> (kind and mode, content or link target), for comparing trees.
std::map<std::string, std::pair<std::string, std::string>> snapshot(const std::string& root) {
  std::map<std::string, std::pair<std::string, std::string>> out;
  for (auto& e : fs::recursive_directory_iterator(root)) {
    auto rel = e.path().lexically_relative(root).string();
    struct stat st {};
    ::lstat(e.path().c_str(), &st);
    char mode[16];
    std::snprintf(mode, sizeof mode, "%o", static_cast<unsigned>(st.st_mode));
    std::string content;
    if (S_ISLNK(st.st_mode))
      content = fs::read_symlink(e.path()).string();
    else if (S_ISREG(st.st_mode)) {
      std::ifstream in{e.path(), std::ios::binary};
      content.assign(std::istreambuf_iterator<char>{in}, {});
    }
    out[rel] = {mode, content};
  }
  return out;
}

// Hand-built archives, for what pack_directory never writes.
struct raw_entry {
  std::string path;
  std::uint32_t mode = 0100644;
  std::string data;
};

void put_be(std::string& out, std::uint64_t v, std::size_t n) {
  for (std::size_t i = n; i-- > 0;)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::string build(const std::vector<raw_entry>& entries, std::uint32_t format = 1,
                  std::uint64_t count = ~0ull) {
  std::string out = "IKAR";
  put_be(out, format, 4);
  put_be(out, count == ~0ull ? entries.size() : count, 4);
  for (const auto& e : entries) {
    put_be(out, e.path.size(), 2);
    out += e.path;
    put_be(out, e.mode, 4);
    put_be(out, e.data.size(), 8);
    out += e.data;
  }
  return out;
}

constexpr std::uint32_t sym = 0120000;

TEST(ArchiveTest, VersionIsLowerHexSha256) {
  EXPECT_EQ(version_of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(version_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(valid_version(version_of("x")));
  EXPECT_FALSE(valid_version("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
  EXPECT_FALSE(valid_version("../x"));
  EXPECT_FALSE(valid_version(""));
}

TEST(ArchiveTest, RoundTripKeepsTreeAndModes) {
  temp_dir src{"ika-archive"};
  src.write("ika.toml", "name = \"hello\"\n");
  src.write("app.py", "print('hi')\n", 0600);
  src.write("bin/run", "#!/bin/sh\necho hi\n", 0700);
  src.write("static/css/site.css", "body{}\n", 0664);
  src.write("empty", "");
  add_symlink(src, "current", "static/css/site.css");
  add_symlink(src, "static/up", "../app.py");
  add_symlink(src, "static/self", ".");
  fs::create_directories(src / "empty_dir");

  auto packed = pack_ok(src.path());
  EXPECT_EQ(packed.entries, 8u);
  EXPECT_EQ(packed.version, version_of(packed.bytes));
  EXPECT_EQ(packed.content_bytes,
            std::string{"name = \"hello\"\nprint('hi')\n#!/bin/sh\necho hi\nbody{}\n"}.size() +
                std::string{"static/css/site.css../app.py."}.size());

  temp_dir dst{"ika-archive"};
  auto target = dst / "release";
  auto result = unpack_archive(packed.bytes, target);
  ASSERT_TRUE(std::holds_alternative<unpack_summary>(result)) << std::get<archive_error>(result).to_string();
  EXPECT_EQ(std::get<unpack_summary>(result).entries, 8u);
  EXPECT_EQ(std::get<unpack_summary>(result).content_bytes, packed.content_bytes);

  auto tree = snapshot(target);
  std::map<std::string, std::pair<std::string, std::string>> expected{
      {"app.py", {"100644", "print('hi')\n"}},
      {"bin", {"40755", ""}},
      {"bin/run", {"100755", "#!/bin/sh\necho hi\n"}},
      {"current", {"120777", "static/css/site.css"}},
      {"empty", {"100644", ""}},
      {"ika.toml", {"100644", "name = \"hello\"\n"}},
      {"static", {"40755", ""}},
      {"static/css", {"40755", ""}},
      {"static/css/site.css", {"100644", "body{}\n"}},
      {"static/self", {"120777", "."}},
      {"static/up", {"120777", "../app.py"}},
  };
  EXPECT_EQ(tree, expected);
  struct stat st {};
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  // Nothing else beside the target: the staging directory was renamed.
  EXPECT_EQ(std::distance(fs::directory_iterator(dst.path()), fs::directory_iterator{}), 1);

  // Packing the unpacked release gives the same version.
  EXPECT_EQ(pack_ok(target).version, packed.version);
}

TEST(ArchiveTest, SameContentSameBytesWhateverTimesOrderOrPermissions) {
  temp_dir a{"ika-archive"};
  a.write("z.txt", "last\n", 0600);
  a.write("a/b.txt", "b\n", 0644);
  a.write("a/c.sh", "c\n", 0755);
  add_symlink(a, "l", "a/b.txt");
  touch_all(a, 1000);

  temp_dir b{"ika-archive"}; // created in another order, other times and other non-x bits
  add_symlink(b, "l", "a/b.txt");
  b.write("a/c.sh", "c\n", 0700);
  b.write("a/b.txt", "b\n", 0600);
  b.write("z.txt", "last\n", 0664);
  touch_all(b, 2'000'000);

  auto pa = pack_ok(a.path());
  auto pb = pack_ok(b.path());
  EXPECT_EQ(pa.bytes, pb.bytes);
  EXPECT_EQ(pa.version, pb.version);
  EXPECT_EQ(paths_of(pa.bytes), (std::vector<std::string>{"a/b.txt", "a/c.sh", "l", "z.txt"}));

  b.write("z.txt", "changed\n");
  EXPECT_NE(pack_ok(b.path()).version, pa.version);
  b.write("z.txt", "last\n", 0755); // the x bit is content
  EXPECT_NE(pack_ok(b.path()).version, pa.version);
}

TEST(ArchiveTest, PackSortsBytewise) {
  temp_dir src{"ika-archive"};
  src.write("\xc3\xa9t\xc3\xa9.txt", "summer");
  src.write("z.txt", "z");
  src.write("Z.txt", "Z");
  src.write("a-b/x", "1");
  src.write("a/x", "2");
  src.write("a.b", "3");
  EXPECT_EQ(paths_of(pack_ok(src.path()).bytes),
            (std::vector<std::string>{"Z.txt", "a-b/x", "a.b", "a/x", "z.txt", "\xc3\xa9t\xc3\xa9.txt"}));
}

TEST(ArchiveTest, LeavesOutGitAtAnyDepth) {
  temp_dir src{"ika-archive"};
  src.write("app.py", "x");
  src.write(".git/HEAD", "ref: refs/heads/main\n");
  src.write("vendor/lib/.git", "gitdir: ../../.git/modules/lib\n");
  src.write("vendor/lib/lib.py", "y");
  src.write(".gitignore", "*.pyc\n");
  EXPECT_EQ(paths_of(pack_ok(src.path()).bytes),
            (std::vector<std::string>{".gitignore", "app.py", "vendor/lib/lib.py"}));
}

TEST(ArchiveTest, HonoursIkaignore) {
  temp_dir src{"ika-archive"};
  src.write(".ikaignore", "# build output\n"
                          "\n"
                          "*.pyc\n"
                          "!keep.pyc\n"
                          "build/\n"
                          "/secret.txt\n"
                          "logs/**\n"
                          "tmp?\n");
  src.write("app.py", "x");
  src.write("app.pyc", "x");
  src.write("sub/mod.pyc", "x");
  src.write("keep.pyc", "x");
  src.write("build/out.o", "x");
  src.write("sub/build/out.o", "x");
  src.write("build.txt", "x"); // "build/" matches directories only
  src.write("secret.txt", "x");
  src.write("sub/secret.txt", "x"); // anchored: only the top one
  src.write("logs/a/b.log", "x");
  src.write("tmp1", "x");
  src.write("tmp12", "x");
  EXPECT_EQ(
      paths_of(pack_ok(src.path()).bytes),
      (std::vector<std::string>{".ikaignore", "app.py", "build.txt", "keep.pyc", "sub/secret.txt", "tmp12"}));
}

TEST(ArchiveTest, IkaignoreMayIgnoreItself) {
  temp_dir src{"ika-archive"};
  src.write(".ikaignore", ".ikaignore\n");
  src.write("app.py", "x");
  EXPECT_EQ(paths_of(pack_ok(src.path()).bytes), (std::vector<std::string>{"app.py"}));
}

TEST(ArchiveTest, PackRefusesSymlinksLeavingTheDirectory) {
  for (auto target : {"../outside", "/etc/passwd", "sub/../../x"}) {
    temp_dir src{"ika-archive"};
    src.write("app.py", "x");
    fs::create_directories(src / "sub");
    add_symlink(src, "bad", target);
    auto result = pack_directory(src.path());
    ASSERT_TRUE(std::holds_alternative<archive_error>(result)) << target;
    EXPECT_EQ(std::get<archive_error>(result).code, archive_errc::bad_source) << target;
    EXPECT_EQ(std::get<archive_error>(result).path, "bad");
  }
}

TEST(ArchiveTest, PackRefusesSpecialFilesAndMissingDirectories) {
  temp_dir src{"ika-archive"};
  ASSERT_EQ(::mkfifo((src / "pipe").c_str(), 0644), 0);
  auto result = pack_directory(src.path());
  ASSERT_TRUE(std::holds_alternative<archive_error>(result));
  EXPECT_EQ(std::get<archive_error>(result).code, archive_errc::bad_source);
  EXPECT_EQ(std::get<archive_error>(result).path, "pipe");

  auto missing = pack_directory(src / "nope");
  ASSERT_TRUE(std::holds_alternative<archive_error>(missing));
  EXPECT_EQ(std::get<archive_error>(missing).code, archive_errc::io);
}

TEST(ArchiveTest, PackRespectsLimits) {
  temp_dir src{"ika-archive"};
  src.write("a", "1");
  src.write("b", "2");
  src.write("c", std::string(1000, 'x'));
  archive_limits few;
  few.max_entries = 2;
  auto result = pack_directory(src.path(), few);
  ASSERT_TRUE(std::holds_alternative<archive_error>(result));
  EXPECT_EQ(std::get<archive_error>(result).code, archive_errc::too_large);

  archive_limits small;
  small.max_bytes = 500;
  result = pack_directory(src.path(), small);
  ASSERT_TRUE(std::holds_alternative<archive_error>(result));
  EXPECT_EQ(std::get<archive_error>(result).code, archive_errc::too_large);
}

TEST(ArchiveTest, ReaderAcceptsCanonicalArchives) {
  auto bytes = build({{"a", 0100644, "1"},
                      {"a-b", 0100755, ""},
                      {"a.d/x", 0100644, "2"},
                      {"d/up", sym, ".."},
                      {"d/via", sym, "up/a"},
                      {"z", sym, "d/up/d/via"}});
  auto read = read_archive(bytes);
  ASSERT_TRUE(std::holds_alternative<std::vector<archive_entry>>(read))
      << std::get<archive_error>(read).to_string();
  const auto& entries = std::get<0>(read);
  ASSERT_EQ(entries.size(), 6u);
  EXPECT_EQ(entries[1].mode, entry_mode::executable);
  EXPECT_EQ(entries[3].mode, entry_mode::symlink);
  EXPECT_EQ(entries[3].data, "..");
  EXPECT_EQ(entries[2].data, "2");

  // Byte-wise order: bytes over 0x7f sort after ASCII (unsigned comparison).
  auto utf8 = build({{"z", 0100644, ""}, {"\xc3\xa9", 0100644, ""}});
  EXPECT_TRUE(std::holds_alternative<std::vector<archive_entry>>(read_archive(utf8)));
  auto reversed = build({{"\xc3\xa9", 0100644, ""}, {"z", 0100644, ""}});
  EXPECT_TRUE(std::holds_alternative<archive_error>(read_archive(reversed)));

  auto empty = build({});
  EXPECT_TRUE(std::holds_alternative<std::vector<archive_entry>>(read_archive(empty)));
}

TEST(ArchiveTest, ReaderRefusesEveryMalformedArchive) {
  auto good = build({{"a", 0100644, "1"}});
  std::string long_component(256, 'x');
  std::vector<std::pair<std::string, std::string>> cases{
      {"empty input", ""},
      {"short header", "IKAR\0\0\0"},
      {"bad magic", "IKAX" + good.substr(4)},
      {"format version 2", build({{"a", 0100644, "1"}}, 2)},
      {"count larger than entries", build({{"a", 0100644, "1"}}, 1, 2)},
      {"count smaller than entries", build({{"a", 0100644, "1"}, {"b", 0100644, "2"}}, 1, 1)},
      {"huge count", build({{"a", 0100644, "1"}}, 1, 60000)},
      {"truncated data", good.substr(0, good.size() - 1)},
      {"truncated size field", good.substr(0, 12 + 2 + 1 + 4 + 3)},
      {"trailing bytes", good + "x"},
      {"unsorted", build({{"b", 0100644, ""}, {"a", 0100644, ""}})},
      {"duplicate", build({{"a", 0100644, "1"}, {"a", 0100644, "1"}})},
      {"dot-dot", build({{"../x", 0100644, ""}})},
      {"dot-dot inside", build({{"a/../b", 0100644, ""}})},
      {"dot", build({{"./a", 0100644, ""}})},
      {"absolute", build({{"/etc/passwd", 0100644, ""}})},
      {"empty path", build({{"", 0100644, ""}})},
      {"double slash", build({{"a//b", 0100644, ""}})},
      {"trailing slash", build({{"a/", 0100644, ""}})},
      {"control char", build({{"a\x01z", 0100644, ""}})},
      {"newline", build({{"a\nb", 0100644, ""}})},
      {"DEL", build({{"a\x7f", 0100644, ""}})},
      {"NUL", build({{std::string{"a\0b", 3}, 0100644, ""}})},
      {"component over 255", build({{long_component, 0100644, ""}})},
      {"mode 0600", build({{"a", 0100600, ""}})},
      {"directory mode", build({{"a", 040755, ""}})},
      {"setuid", build({{"a", 0104755, ""}})},
      {"entry under a file", build({{"a", 0100644, ""}, {"a/b", 0100644, ""}})},
      {"entry under a symlink", build({{"a", sym, "d"}, {"a/b", 0100644, ""}, {"d/x", 0100644, ""}})},
      {"absolute symlink", build({{"l", sym, "/etc"}})},
      {"empty symlink", build({{"l", sym, ""}})},
      {"escaping symlink", build({{"l", sym, "../x"}})},
      {"escaping nested symlink", build({{"d/e/l", sym, "../../../x"}})},
      {"escaping through a symlink", build({{"d/a", sym, ".."}, {"d/b", sym, "a/../x"}})},
      {"symlink loop", build({{"a", sym, "b/x"}, {"b", sym, "a/x"}})},
      {"NUL in symlink", build({{"l", sym, std::string{"a\0b", 3}}})},
  };
  for (const auto& [name, bytes] : cases) {
    auto read = read_archive(bytes);
    ASSERT_TRUE(std::holds_alternative<archive_error>(read)) << name;
    EXPECT_EQ(std::get<archive_error>(read).code, archive_errc::bad_archive)
        << name << ": " << std::get<archive_error>(read).to_string();
    EXPECT_FALSE(std::get<archive_error>(read).message.empty()) << name;
  }
}

// `bytes` is read and unpacked (without fsync) into `dst`/release.
void expect_read_and_unpacked(const std::string& bytes, const temp_dir& dst) {
  auto read = read_archive(bytes);
  ASSERT_TRUE(std::holds_alternative<std::vector<archive_entry>>(read))
      << std::get<archive_error>(read).to_string();
  unpack_options options;
  options.sync = false;
  auto result = unpack_archive(bytes, dst / "release", options);
  ASSERT_TRUE(std::holds_alternative<unpack_summary>(result)) << std::get<archive_error>(result).to_string();
}

// PATH_MAX counts the NUL: a 4096-byte path or symlink target was accepted
// by the reader but could never be unpacked (ENAMETOOLONG); found by
// tests/fuzz/archive_fuzz (tests/fuzz/crashes/archive-path-4096).
TEST(ArchiveTest, PathsAndSymlinkTargetsFitPathMax) {
  std::string longest; // 4095 bytes: 16 components of 240 bytes, then one of 239
  for (int i = 0; i < 16; ++i)
    longest += std::string(240, static_cast<char>('a' + i)) + "/";
  longest += std::string(239, 'z');
  ASSERT_EQ(longest.size(), 4095u);
  std::string target; // 4095 bytes: "a/" * 2047, then "a"
  for (int i = 0; i < 2047; ++i)
    target += "a/";
  target += "a";
  auto fits = build({{longest, 0100644, "x"}, {"l", sym, target}});
  temp_dir dst{"ika-archive"};
  expect_read_and_unpacked(fits, dst);

  for (const auto& bytes : {build({{longest + "z", 0100644, "x"}}), build({{"l", sym, target + "/"}})}) {
    auto refused = read_archive(bytes);
    ASSERT_TRUE(std::holds_alternative<archive_error>(refused));
    EXPECT_EQ(std::get<archive_error>(refused).code, archive_errc::bad_archive);
  }
}

// Every directory level costs each later system call on the path a step:
// 2,000 levels of "a/" (found by tests/fuzz/archive_fuzz as a timeout,
// tests/fuzz/crashes/archive-2000-levels) took seconds of kernel time to
// unpack. 256 components are the most.
TEST(ArchiveTest, PathsAreAtMost256ComponentsDeep) {
  std::string deepest; // 255 directories, then the file
  for (std::size_t i = 1; i < max_path_components; ++i)
    deepest += "a/";
  deepest += "f";
  auto fits = build({{deepest, 0100644, "x"}});
  temp_dir dst{"ika-archive"};
  expect_read_and_unpacked(fits, dst);
  EXPECT_TRUE(fs::is_regular_file(fs::path{dst / "release"} / deepest));

  auto refused = read_archive(build({{"a/" + deepest, 0100644, "x"}}));
  ASSERT_TRUE(std::holds_alternative<archive_error>(refused));
  EXPECT_EQ(std::get<archive_error>(refused).code, archive_errc::bad_archive);
  EXPECT_NE(std::get<archive_error>(refused).message.find("256 components deep"), std::string::npos)
      << std::get<archive_error>(refused).to_string();

  // The packer says so too, naming the path, and packs the deepest one.
  temp_dir src{"ika-archive"};
  src.write(deepest, "x");
  EXPECT_EQ(paths_of(pack_ok(src.path()).bytes), std::vector<std::string>{deepest});
  src.write("a/" + deepest, "x");
  auto packed = pack_directory(src.path());
  ASSERT_TRUE(std::holds_alternative<archive_error>(packed));
  EXPECT_EQ(std::get<archive_error>(packed).code, archive_errc::bad_source);
  EXPECT_EQ(std::get<archive_error>(packed).path, "a/" + deepest);
}

TEST(ArchiveTest, ReaderRefusesArchivesOverLimits) {
  auto bytes = build({{"a", 0100644, "1"}, {"b", 0100644, "2"}, {"c", 0100644, "3"}});
  archive_limits few;
  few.max_entries = 2;
  auto read = read_archive(bytes, few);
  ASSERT_TRUE(std::holds_alternative<archive_error>(read));
  EXPECT_EQ(std::get<archive_error>(read).code, archive_errc::too_large);

  archive_limits small;
  small.max_bytes = bytes.size() - 1;
  read = read_archive(bytes, small);
  ASSERT_TRUE(std::holds_alternative<archive_error>(read));
  EXPECT_EQ(std::get<archive_error>(read).code, archive_errc::too_large);
  small.max_bytes = bytes.size();
  EXPECT_TRUE(std::holds_alternative<std::vector<archive_entry>>(read_archive(bytes, small)));
}

// Directories are implied by paths, not stored: a few bytes of path can ask
// for thousands (an inode bomb), so they have a limit of their own. Each is
// counted once however many entries lie under it.
TEST(ArchiveTest, ReaderCountsImpliedDirectoriesAgainstTheirLimit) {
  // a, a/b, a/b/c, a/b-x, d: five directories.
  auto bytes = build({{"a/b-x/f", 0100644, ""},
                      {"a/b/c/f", 0100644, ""},
                      {"a/b/c/g", 0100644, ""},
                      {"a/b/h", 0100644, ""},
                      {"a/i", 0100644, ""},
                      {"d/j", 0100644, ""}});
  archive_limits limits;
  limits.max_directories = 5;
  EXPECT_TRUE(std::holds_alternative<std::vector<archive_entry>>(read_archive(bytes, limits)));
  limits.max_directories = 4;
  auto read = read_archive(bytes, limits);
  ASSERT_TRUE(std::holds_alternative<archive_error>(read));
  EXPECT_EQ(std::get<archive_error>(read).code, archive_errc::too_large);
  EXPECT_EQ(std::get<archive_error>(read).to_string(), "more than 4 directories");

  // The default allows what 65536 entries usually need, not one chain of
  // 2047 directories for each of them.
  std::string deep;
  for (int i = 0; i < 40; ++i)
    deep += "d/";
  std::vector<raw_entry> chains;
  for (int i = 0; i < 2000; ++i) {
    char name[8];
    std::snprintf(name, sizeof name, "%04d/", i);
    chains.push_back({name + deep + "f", 0100644, ""});
  }
  read = read_archive(build(chains));
  ASSERT_TRUE(std::holds_alternative<archive_error>(read));
  EXPECT_EQ(std::get<archive_error>(read).to_string(), "more than 65536 directories");
}

TEST(ArchiveTest, UnpackMakesEachImpliedDirectoryOnce) {
  auto bytes = build({{"a/b-x/f", 0100644, "1"},
                      {"a/b/c/f", 0100644, "2"},
                      {"a/b/c/g", 0100644, "3"},
                      {"a/b/h", sym, "c/f"},
                      {"a/i", 0100644, "4"},
                      {"d/j", 0100644, "5"}});
  temp_dir dst{"ika-archive"};
  unpack_options options;
  auto result = unpack_archive(bytes, dst / "release", options);
  ASSERT_TRUE(std::holds_alternative<unpack_summary>(result)) << std::get<archive_error>(result).to_string();
  std::vector<std::string> dirs;
  for (const auto& e : fs::recursive_directory_iterator(dst / "release"))
    if (e.is_directory() && !e.is_symlink())
      dirs.push_back(fs::relative(e.path(), dst / "release").string());
  std::sort(dirs.begin(), dirs.end());
  EXPECT_EQ(dirs, (std::vector<std::string>{"a", "a/b", "a/b-x", "a/b/c", "d"}));
  EXPECT_EQ(fs::read_symlink(dst / "release/a/b/h"), "c/f");
}

TEST(ArchiveTest, ErrorTextEscapesPaths) {
  archive_error e{archive_errc::bad_archive, "a\x01\xff", "bad"};
  EXPECT_EQ(e.to_string(), "a\\x01\\xff: bad");
  EXPECT_EQ((archive_error{archive_errc::io, "", "only"}).to_string(), "only");
}

TEST(ArchiveTest, ExtractFileReadsOneFileWithoutWriting) {
  auto bytes = build(
      {{"ika.toml", 0100644, "name = \"x\"\n"}, {"link.toml", sym, "ika.toml"}, {"sub/a", 0100755, "A"}});
  auto text = extract_file(bytes, "ika.toml");
  ASSERT_TRUE(std::holds_alternative<std::string>(text));
  EXPECT_EQ(std::get<std::string>(text), "name = \"x\"\n");
  EXPECT_EQ(std::get<std::string>(extract_file(bytes, "sub/a")), "A");

  auto missing = extract_file(bytes, "other.toml");
  ASSERT_TRUE(std::holds_alternative<archive_error>(missing));
  EXPECT_EQ(std::get<archive_error>(missing).code, archive_errc::not_found);

  auto link = extract_file(bytes, "link.toml");
  ASSERT_TRUE(std::holds_alternative<archive_error>(link));
  EXPECT_EQ(std::get<archive_error>(link).code, archive_errc::bad_archive);

  auto broken = extract_file(bytes + "junk", "ika.toml");
  ASSERT_TRUE(std::holds_alternative<archive_error>(broken));
  EXPECT_EQ(std::get<archive_error>(broken).code, archive_errc::bad_archive);
}

TEST(ArchiveTest, UnpackOntoExistingTargetIsRefusedAndLeavesNothing) {
  temp_dir dst{"ika-archive"};
  fs::create_directories(dst / "release");
  dst.write("release/old", "keep");
  auto before = snapshot(dst.path());
  ASSERT_EQ(before.size(), 2u);
  auto result = unpack_archive(build({{"a", 0100644, "1"}}), dst / "release");
  ASSERT_TRUE(std::holds_alternative<archive_error>(result));
  EXPECT_EQ(std::get<archive_error>(result).code, archive_errc::target_exists);
  EXPECT_EQ(snapshot(dst.path()), before);

  // A symlink (even a dangling one) at the target's name is there too.
  fs::create_symlink(dst / "nowhere", dst / "dangling");
  result = unpack_archive(build({{"a", 0100644, "1"}}), dst / "dangling");
  ASSERT_TRUE(std::holds_alternative<archive_error>(result));
  EXPECT_EQ(std::get<archive_error>(result).code, archive_errc::target_exists);
  EXPECT_FALSE(fs::exists(dst / "nowhere"));
}

TEST(ArchiveTest, UnpackOfMalformedArchiveWritesNothing) {
  temp_dir dst{"ika-archive"};
  unpack_options options;
  options.sync = false;
  for (const auto& bytes : {build({{"a", 0100644, "1"}, {"l", sym, "../../etc"}}), std::string{"IKAR"},
                            build({{"b", 0100644, ""}, {"a", 0100644, ""}})}) {
    auto result = unpack_archive(bytes, dst / "release", options);
    ASSERT_TRUE(std::holds_alternative<archive_error>(result));
    EXPECT_EQ(std::get<archive_error>(result).code, archive_errc::bad_archive);
    EXPECT_TRUE(fs::is_empty(dst.path()));
  }
}

TEST(ArchiveTest, UnpackFailureRemovesStaging) {
  // The parent of the target is a file: mkdtemp fails before anything exists.
  temp_dir dst{"ika-archive"};
  dst.write("file", "x");
  auto result = unpack_archive(build({{"a", 0100644, "1"}}), dst / "file/release");
  ASSERT_TRUE(std::holds_alternative<archive_error>(result));
  EXPECT_EQ(std::get<archive_error>(result).code, archive_errc::io);
  EXPECT_EQ(std::distance(fs::directory_iterator(dst.path()), fs::directory_iterator{}), 1);
}

TEST(ArchiveTest, SplitChunks) {
  std::string bytes(2500, 'x');
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<char>(i);
  auto chunks = split_chunks(bytes, 1000);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].size(), 1000u);
  EXPECT_EQ(chunks[2].size(), 500u);
  std::string joined;
  for (auto c : chunks)
    joined += c;
  EXPECT_EQ(joined, bytes);
  EXPECT_EQ(split_chunks(bytes, 0).size(), 1u);
  EXPECT_EQ(split_chunks(std::string(default_chunk_size + 1, 'x')).size(), 2u);
  EXPECT_TRUE(split_chunks("").empty());
}

archive_assembler start_ok(const std::string& bytes, const archive_limits& limits = {}) {
  auto started = archive_assembler::start(version_of(bytes), bytes.size(), limits);
  if (!std::holds_alternative<archive_assembler>(started))
    throw std::runtime_error{std::get<archive_error>(started).to_string()};
  return std::move(std::get<archive_assembler>(started));
}

TEST(ArchiveAssemblerTest, ReassemblesChunksInOrder) {
  auto bytes = build({{"a", 0100644, std::string(5000, 'a')}, {"b", 0100755, "b"}});
  auto assembler = start_ok(bytes);
  std::uint64_t offset = 0;
  for (auto chunk : split_chunks(bytes, 1024)) {
    EXPECT_FALSE(assembler.add(offset, chunk).has_value());
    offset += chunk.size();
  }
  EXPECT_TRUE(assembler.complete());
  auto result = assembler.finish();
  ASSERT_TRUE(std::holds_alternative<std::string>(result));
  EXPECT_EQ(std::get<std::string>(result), bytes);
  auto again = assembler.finish();
  ASSERT_TRUE(std::holds_alternative<archive_error>(again));
  EXPECT_TRUE(assembler.add(offset, "x").has_value());
}

TEST(ArchiveAssemblerTest, WrongHashIsRefused) {
  auto bytes = build({{"a", 0100644, "hello"}});
  auto other = build({{"a", 0100644, "hellO"}});
  auto started = archive_assembler::start(version_of(other), bytes.size());
  ASSERT_TRUE(std::holds_alternative<archive_assembler>(started));
  auto& assembler = std::get<archive_assembler>(started);
  EXPECT_FALSE(assembler.add(0, bytes).has_value());
  auto result = assembler.finish();
  ASSERT_TRUE(std::holds_alternative<archive_error>(result));
  EXPECT_EQ(std::get<archive_error>(result).code, archive_errc::hash_mismatch);
}

TEST(ArchiveAssemblerTest, OutOfOrderChunkIsRefusedAndChangesNothing) {
  auto bytes = build({{"a", 0100644, std::string(300, 'z')}});
  auto chunks = split_chunks(bytes, 100);
  auto assembler = start_ok(bytes);
  EXPECT_FALSE(assembler.add(0, chunks[0]).has_value());
  auto skipped = assembler.add(200, chunks[2]);
  ASSERT_TRUE(skipped.has_value());
  EXPECT_EQ(skipped->code, archive_errc::bad_archive);
  auto replayed = assembler.add(0, chunks[0]);
  ASSERT_TRUE(replayed.has_value());
  EXPECT_EQ(replayed->code, archive_errc::bad_archive);
  EXPECT_EQ(assembler.received(), 100u);
  for (std::size_t i = 1; i < chunks.size(); ++i)
    EXPECT_FALSE(assembler.add(100 * i, chunks[i]).has_value());
  EXPECT_TRUE(std::holds_alternative<std::string>(assembler.finish()));
}

TEST(ArchiveAssemblerTest, TooLargeIsRefused) {
  auto bytes = build({{"a", 0100644, std::string(300, 'z')}});
  archive_limits small;
  small.max_bytes = 100;
  auto started = archive_assembler::start(version_of(bytes), bytes.size(), small);
  ASSERT_TRUE(std::holds_alternative<archive_error>(started));
  EXPECT_EQ(std::get<archive_error>(started).code, archive_errc::too_large);

  // More bytes than announced.
  auto assembler = start_ok(bytes);
  auto overrun = assembler.add(0, bytes + "x");
  ASSERT_TRUE(overrun.has_value());
  EXPECT_EQ(overrun->code, archive_errc::too_large);
  EXPECT_EQ(assembler.received(), 0u);
}

TEST(ArchiveAssemblerTest, IncompleteOrMalformedAnnouncements) {
  auto bytes = build({{"a", 0100644, "1"}});
  auto assembler = start_ok(bytes);
  EXPECT_FALSE(assembler.add(0, std::string_view{bytes}.substr(0, 5)).has_value());
  auto result = assembler.finish();
  ASSERT_TRUE(std::holds_alternative<archive_error>(result));
  EXPECT_EQ(std::get<archive_error>(result).code, archive_errc::bad_archive);

  EXPECT_TRUE(std::holds_alternative<archive_error>(archive_assembler::start("../../etc", bytes.size())));
  EXPECT_TRUE(std::holds_alternative<archive_error>(archive_assembler::start(version_of(bytes), 3)));
}

// Each symlink hops through a chain of 40 whose targets are 4 KB of "x/.."
// each: a few bytes of archive that cost 160 KB of walking to check. The
// checker's budget refuses a mass of them (the old one took minutes for what
// this archive holds) and still takes a few.
TEST(ArchiveTest, SymlinksTooCostlyToCheckAreRefused) {
  auto hop = [](int k) {
    char name[8];
    std::snprintf(name, sizeof name, "h%02d", k);
    return std::string{name};
  };
  auto archive_with = [&hop](int users) {
    std::vector<raw_entry> entries{{"d/f", 0100644, "x"}};
    for (int k = 0; k < 40; ++k) {
      std::string target;
      while (target.size() < 4000)
        target += "x/../";
      entries.push_back({hop(k), sym, target + (k == 39 ? std::string{"d"} : hop(k + 1))});
    }
    for (int i = 0; i < users; ++i) {
      char name[16];
      std::snprintf(name, sizeof name, "u%05d", i);
      entries.push_back({name, sym, "h00/f"});
    }
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
    return build(entries);
  };

  auto few = read_archive(archive_with(10));
  ASSERT_TRUE(std::holds_alternative<std::vector<archive_entry>>(few))
      << std::get<archive_error>(few).to_string();

  auto many = read_archive(archive_with(60000));
  ASSERT_TRUE(std::holds_alternative<archive_error>(many));
  EXPECT_EQ(std::get<archive_error>(many).code, archive_errc::bad_archive);
  EXPECT_NE(std::get<archive_error>(many).message.find("symlinks take too much work to check"),
            std::string::npos)
      << std::get<archive_error>(many).to_string();
}

// Deep trees are read in one pass per entry: every prefix of a long path is
// still checked against the files and symlinks before it.
TEST(ArchiveTest, EntriesUnderNonDirectoriesAreFoundAtAnyDepth) {
  std::string deep; // as deep as a path goes: 255 directories
  for (std::size_t i = 1; i < max_path_components; ++i)
    deep += "a/";
  auto ok =
      build({{"a-", 0100644, ""}, {deep + "f", 0100644, ""}, {deep + "g", 0100644, ""}, {"b", sym, "a"}});
  EXPECT_TRUE(std::holds_alternative<std::vector<archive_entry>>(read_archive(ok)));
  // "a/a" is a file, and "a/a-x" and "a/a.y" sort between it and what lies under it.
  auto under = build(
      {{"a/a", 0100644, ""}, {"a/a-x", 0100644, ""}, {"a/a.y/z", 0100644, ""}, {deep + "f", 0100644, ""}});
  auto refused = read_archive(under);
  ASSERT_TRUE(std::holds_alternative<archive_error>(refused));
  EXPECT_EQ(std::get<archive_error>(refused).to_string(),
            deep + "f: lies under the non-directory entry 'a/a'");
}
} // namespace
} // namespace ika::deploy
