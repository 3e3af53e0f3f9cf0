// libFuzzer target for the release archive (runtime/deploy/archive.hpp): the
// bytes `ika deploy` sends to a node over the admin channel, a security
// boundary. Each input goes, in chunks, through archive_assembler, then to
// read_archive, extract_file and unpack_archive (into a fresh directory of a
// per-process scratch directory, removed after each input), and the unpacked
// tree is packed again. Checked, beyond "no crash, leak or UB":
//
// - the assembler returns exactly the bytes it was given in order, refuses a
//   chunk at the wrong offset or past the announced size without changing
//   anything, and refuses bytes that do not hash to the announced version;
// - read_archive refuses with too_large exactly when the input is over the
//   limits, else with bad_archive; what it accepts keeps the format's rules
//   (paths, modes, sorted, unique, nothing under a non-directory) and
//   re-encodes to the very same bytes (one content, one archive);
// - extract_file gives a file's bytes, refuses a symlink, and not_found;
// - an accepted archive unpacks: the tree holds exactly the entries (and the
//   directories their paths imply), with their contents, link targets and
//   modes (files 0644 / 0755, directories 0755, whatever the umask); nothing
//   appears beside the target (a sentinel sibling directory stays empty, no
//   staging directory is left); every symlink, followed on disk (and with
//   realpath(3) when it resolves), stays inside the target; unpacking again
//   onto it is target_exists and changes nothing;
// - packing the unpacked tree gives the input bytes and version again (less
//   what the packer leaves out: ".git" and the `.ikaignore` rules);
// - a refused archive is refused by unpack_archive the same way and leaves
//   no directory behind.
//
// Input layout: byte 0 = options, bytes 1.. = the archive. Low two bits of
// byte 0: the limits (0: 4 KiB and 16 entries, 1: 64 KiB and 256 entries,
// 2: 512 bytes and 4 entries, 3: the defaults); bit 2: unpack with fsync;
// bits 4-7: the chunk size for the assembler ((byte0 >> 4) * 37 + 1 bytes).
// Printable selectors for seeds: '@' (4 KiB), 'A' (64 KiB), 'B' (512 bytes),
// 'C' (defaults), 'D' (4 KiB, fsync).
//
// Build and run: FUZZ_TARGET=archive tests/fuzz/run (see tests/fuzz/README.md).

#include "tests/fuzz/fuzz_support.hpp"

#include "runtime/deploy/archive.hpp"
#include "runtime/deploy/ignore_rules.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

const char ika::fuzz::target_name[] = "archive_fuzz";

namespace {

using namespace ika;
using namespace ika::fuzz;
using deploy::archive_entry;
using deploy::archive_errc;
using deploy::archive_error;
using deploy::entry_mode;

constexpr std::size_t header_size = 12;

std::string scratch; // per-process directory; each input gets a case.XXXXXX in it

void remove_scratch() {
  std::error_code ec;
  if (!scratch.empty())
    std::filesystem::remove_all(scratch, ec);
}

template <class T>
const archive_error* error_of(const deploy::archive_result<T>& r) {
  return std::get_if<archive_error>(&r);
}

[[noreturn]] void violated_with(const char* what, const archive_error& e) {
  std::fprintf(stderr, "%s: %s (error %d: %s)\n", target_name, what, int(e.code), e.to_string().c_str());
  violated(what);
}

std::uint64_t read_be(std::string_view s, std::size_t at, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i)
    v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

void put_be(std::string& out, std::uint64_t v, std::size_t n) {
  for (std::size_t i = n; i-- > 0;)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// The format of archive.hpp, written independently of the packer.
std::string encode(const std::vector<archive_entry>& entries) {
  std::string out = "IKAR";
  put_be(out, deploy::archive_format_version, 4);
  put_be(out, entries.size(), 4);
  for (const auto& e : entries) {
    put_be(out, e.path.size(), 2);
    out += e.path;
    put_be(out, static_cast<std::uint32_t>(e.mode), 4);
    put_be(out, e.data.size(), 8);
    out += e.data;
  }
  return out;
}

std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    auto slash = path.find('/', start);
    out.push_back(
        path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos)
      return out;
    start = slash + 1;
  }
}

// The rules of archive.hpp that an accepted archive keeps, checked on their
// own (the symlink rule is checked on disk after unpacking).
void check_entries(std::string_view archive, const std::vector<archive_entry>& entries,
                   const deploy::archive_limits& limits) {
  if (entries.size() > limits.max_entries || archive.size() > limits.max_bytes)
    violated("accepted an archive over the limits");
  std::set<std::string_view> non_dirs;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    touch(e.path);
    touch(e.data);
    auto inside = [&](std::string_view v) {
      return v.data() >= archive.data() && v.data() + v.size() <= archive.data() + archive.size();
    };
    if (!inside(e.path) || !inside(e.data))
      violated("an entry does not view the archive's bytes");
    if (e.mode != entry_mode::file && e.mode != entry_mode::executable && e.mode != entry_mode::symlink)
      violated("accepted an unsupported mode");
    if (e.path.empty() || e.path.size() > 4096 || e.path.front() == '/')
      violated("accepted an empty, absolute or too long path");
    if (components(e.path).size() > deploy::max_path_components)
      violated("accepted a path more than max_path_components deep");
    for (auto c : components(e.path)) {
      if (c.empty() || c == "." || c == ".." || c.size() > 255)
        violated("accepted an empty, '.', '..' or too long path component");
      for (char ch : c)
        if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f)
          violated("accepted a control byte in a path");
    }
    if (i > 0 && !(entries[i - 1].path < e.path))
      violated("accepted entries out of order or duplicated");
    for (auto slash = e.path.find('/'); slash != std::string_view::npos; slash = e.path.find('/', slash + 1))
      if (non_dirs.count(e.path.substr(0, slash)) != 0)
        violated("accepted an entry under a file or symlink");
    non_dirs.insert(e.path);
    if (e.mode == entry_mode::symlink &&
        (e.data.empty() || e.data.front() == '/' || e.data.find('\0') != std::string_view::npos))
      violated("accepted an empty, absolute or NUL-holding symlink target");
  }
  if (encode(entries) != archive)
    violated("accepted a non-canonical encoding (re-encoding the entries gives other bytes)");
}

// The assembler, fed the archive in chunks of `chunk` bytes.
void check_assembler(std::string_view archive, std::size_t chunk, const deploy::archive_limits& limits) {
  auto version = deploy::version_of(archive);
  if (!deploy::valid_version(version))
    violated("version_of is not 64 lower-case hex digits");
  auto started = deploy::archive_assembler::start(version, archive.size(), limits);
  if (const auto* e = error_of(started)) {
    bool expected = archive.size() > limits.max_bytes
                        ? e->code == archive_errc::too_large
                        : archive.size() < header_size && e->code == archive_errc::bad_archive;
    if (!expected)
      violated_with("the assembler refused a well-announced upload", *e);
    return;
  }
  if (archive.size() > limits.max_bytes || archive.size() < header_size)
    violated("the assembler accepted an announced size outside the limits");
  auto& a = std::get<deploy::archive_assembler>(started);
  std::size_t at = 0;
  for (auto piece : deploy::split_chunks(archive, chunk)) {
    if (piece.size() > chunk || piece.data() != archive.data() + at)
      violated("split_chunks cut the archive wrongly");
    if (auto e = a.add(at + 1, piece); !e || e->code != archive_errc::bad_archive || a.received() != at)
      violated("a chunk at the wrong offset was not refused, or changed the upload");
    if (auto e = a.add(at, piece))
      violated_with("a chunk in order was refused", *e);
    at += piece.size();
    if (a.received() != at)
      violated("received() does not count the chunks added");
  }
  if (at != archive.size() || !a.complete())
    violated("the chunks do not add up to the archive");
  if (auto e = a.add(at, "x"); !e || e->code != archive_errc::too_large || a.received() != at)
    violated("a chunk past the announced size was not refused, or changed the upload");
  auto done = a.finish();
  if (const auto* e = error_of(done))
    violated_with("the assembler refused the archive it was given", *e);
  if (std::get<std::string>(done) != archive)
    violated("the assembler returned other bytes than it was given");
  if (!error_of(a.finish()) || !a.add(at, ""))
    violated("the assembler was not spent after finish()");

  // The same bytes announced with another version are refused.
  std::string other = version;
  other[0] = other[0] == '0' ? '1' : '0';
  auto wrong = deploy::archive_assembler::start(other, archive.size(), limits);
  auto& w = std::get<deploy::archive_assembler>(wrong);
  if (w.add(0, archive))
    violated("an in-order chunk was refused");
  auto refused = w.finish();
  if (!error_of(refused) || error_of(refused)->code != archive_errc::hash_mismatch)
    violated("bytes that do not hash to the announced version were accepted");
}

// One file system object of the unpacked tree.
struct node {
  char kind = '?'; // 'd', 'f', 'l'
  unsigned mode = 0;
  std::string data; // file contents or link target
};

// Lists the tree below `root` (relative paths), never following a symlink,
// with one descriptor open at a time and no recursion (trees may be 2000
// levels deep).
bool walk(int root, std::map<std::string, node>& out) {
  std::vector<std::string> todo{std::string{}};
  std::string buf(4097, '\0');
  while (!todo.empty()) {
    auto rel = std::move(todo.back());
    todo.pop_back();
    int fd = ::openat(root, rel.empty() ? "." : rel.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      return false;
    DIR* dir = ::fdopendir(fd);
    if (dir == nullptr) {
      ::close(fd);
      return false;
    }
    std::vector<std::string> names;
    while (auto* d = ::readdir(dir)) {
      std::string_view name{d->d_name};
      if (name != "." && name != "..")
        names.emplace_back(name);
    }
    ::closedir(dir);
    for (const auto& name : names) {
      auto path = rel.empty() ? name : rel + "/" + name;
      struct stat st {};
      if (::fstatat(root, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return false;
      node n;
      n.mode = st.st_mode & 07777;
      if (S_ISDIR(st.st_mode)) {
        n.kind = 'd';
        todo.push_back(path);
      } else if (S_ISLNK(st.st_mode)) {
        n.kind = 'l';
        auto len = ::readlinkat(root, path.c_str(), buf.data(), buf.size());
        if (len < 0)
          return false;
        n.data.assign(buf.data(), static_cast<std::size_t>(len));
      } else if (S_ISREG(st.st_mode)) {
        n.kind = 'f';
        int f = ::openat(root, path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (f < 0)
          return false;
        for (ssize_t got; (got = ::read(f, buf.data(), buf.size())) > 0;)
          n.data.append(buf.data(), static_cast<std::size_t>(got));
        ::close(f);
      }
      out.emplace(std::move(path), std::move(n));
    }
  }
  return true;
}

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    out.push_back(it->path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Follows the symlink at `link` on disk, as the kernel would, from the
// unpacked root: an error message when it leaves the root; nullptr when it
// stays inside or cannot be followed (ELOOP, ENOTDIR). A component that does
// not exist is taken as a directory (the app may create it later). Written
// apart from archive.cpp's symlink_problem on purpose: an oracle that shared
// its code would share its bugs.
const char* escapes(int root, std::string_view link, std::string_view target) {
  std::vector<std::string> current;
  auto parts = components(link);
  for (std::size_t i = 0; i + 1 < parts.size(); ++i)
    current.emplace_back(parts[i]);
  std::vector<std::string> pending; // the next component at the back
  auto push = [&pending](std::string_view t) {
    auto p = components(t);
    for (auto it = p.rbegin(); it != p.rend(); ++it)
      pending.emplace_back(*it);
  };
  if (!target.empty() && target.front() == '/')
    return "a symlink with an absolute target";
  push(target);
  int hops = 1;
  std::string joined;
  while (!pending.empty()) {
    auto part = std::move(pending.back());
    pending.pop_back();
    if (part.empty() || part == ".")
      continue;
    if (part == "..") {
      if (current.empty())
        return "a symlink that resolves outside the unpacked root";
      current.pop_back();
      continue;
    }
    current.push_back(std::move(part));
    joined.clear();
    for (const auto& c : current)
      joined += (joined.empty() ? "" : "/") + c;
    struct stat st {};
    if (::fstatat(root, joined.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      continue; // missing: as a directory
    if (S_ISLNK(st.st_mode)) {
      if (++hops > 40)
        return nullptr; // ELOOP
      std::string next(4097, '\0');
      auto len = ::readlinkat(root, joined.c_str(), next.data(), next.size());
      if (len < 0)
        violated("cannot read a symlink of the unpacked tree");
      next.resize(static_cast<std::size_t>(len));
      if (!next.empty() && next.front() == '/')
        return "a symlink that resolves through an absolute symlink";
      current.pop_back();
      push(next);
    } else if (!S_ISDIR(st.st_mode) && !pending.empty()) {
      return nullptr; // ENOTDIR
    }
  }
  return nullptr;
}

bool has_prefix_dir(const std::string& path, const std::string& dir) {
  return path == dir ||
         (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

// Packs the unpacked tree and compares with what the packer should give: the
// entries less ".git" and what `.ikaignore` leaves out, if that is valid.
void check_repack(std::string_view archive, const std::vector<archive_entry>& entries,
                  const std::string& target, const deploy::archive_limits& limits) {
  deploy::ignore_rules rules;
  for (const auto& e : entries)
    if (e.path == deploy::ignore_file_name && e.mode != entry_mode::symlink)
      rules = deploy::ignore_rules::parse(e.data);
  std::vector<archive_entry> kept;
  for (const auto& e : entries) {
    bool keep = true;
    for (auto slash = e.path.find('/'); keep && slash != std::string_view::npos;
         slash = e.path.find('/', slash + 1))
      keep = !rules.ignored(e.path.substr(0, slash), true);
    for (auto c : components(e.path))
      keep = keep && c != ".git";
    if (keep && !rules.ignored(e.path, false))
      kept.push_back(e);
  }
  auto expected = kept.size() == entries.size() ? std::string{archive} : encode(kept);
  bool valid = !error_of(deploy::read_archive(expected, limits));
  auto packed = deploy::pack_directory(target, limits);
  if (const auto* e = error_of(packed)) {
    if (valid)
      violated_with("packing the unpacked tree failed", *e);
    if (e->code != archive_errc::bad_source && e->code != archive_errc::too_large)
      violated_with("packing failed with an unexpected error", *e);
    return;
  }
  if (!valid)
    violated("packed a tree whose archive the reader refuses");
  const auto& p = std::get<deploy::packed_archive>(packed);
  if (p.bytes != expected)
    violated("packing the unpacked tree gives other bytes than the archive");
  if (p.version != deploy::version_of(expected) || p.entries != kept.size())
    violated("packing the unpacked tree gives another version or entry count");
}

void check_unpacked(std::string_view archive, const std::vector<archive_entry>& entries,
                    const std::string& target) {
  int root = ::open(target.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (root < 0)
    violated("the unpacked target is not a directory");
  std::map<std::string, node> tree;
  if (!walk(root, tree))
    violated("cannot walk the unpacked tree");
  struct stat st {};
  if (::fstat(root, &st) != 0 || (st.st_mode & 07777) != 0755)
    violated("the unpacked root's mode is not 0755");

  std::map<std::string, node> want;
  for (const auto& e : entries) {
    for (auto slash = e.path.find('/'); slash != std::string_view::npos; slash = e.path.find('/', slash + 1))
      want[std::string{e.path.substr(0, slash)}] = node{'d', 0755, {}};
    bool link = e.mode == entry_mode::symlink;
    want[std::string{e.path}] =
        node{link ? 'l' : 'f', link ? 0777u : static_cast<unsigned>(e.mode) & 0777u, std::string{e.data}};
  }
  if (tree.size() != want.size())
    violated("the unpacked tree does not hold exactly the entries and their directories");
  for (const auto& [path, n] : tree) {
    auto it = want.find(path);
    if (it == want.end())
      violated("the unpacked tree holds a path that is not an entry or a directory of one");
    const auto& w = it->second;
    if (n.kind != w.kind)
      violated("an unpacked path is not of its entry's kind");
    if (n.kind != 'l' && n.mode != w.mode)
      violated("an unpacked file or directory has a mode other than 0644 / 0755 as its entry says");
    if (n.data != w.data)
      violated("an unpacked file's contents or a symlink's target differ from the entry");
  }

  // Symlinks stay inside: followed on disk, and by the kernel where it can.
  char real_root[PATH_MAX];
  if (::realpath(target.c_str(), real_root) == nullptr)
    violated("realpath of the unpacked root failed");
  std::string inside = std::string{real_root} + "/";
  for (const auto& e : entries) {
    if (e.mode != entry_mode::symlink)
      continue;
    if (const char* why = escapes(root, e.path, e.data)) {
      std::fprintf(stderr, "%s: symlink '%.*s' -> '%.*s'\n", target_name, int(e.path.size()), e.path.data(),
                   int(e.data.size()), e.data.data());
      violated(why);
    }
    auto full = target + "/" + std::string{e.path};
    char real[PATH_MAX];
    if (full.size() < PATH_MAX && ::realpath(full.c_str(), real) != nullptr &&
        std::string_view{real} != real_root && std::string_view{real}.substr(0, inside.size()) != inside)
      violated("a symlink resolves (realpath) outside the unpacked root");
  }
  ::close(root);
}

void check_unpack(std::string_view archive, const archive_error* refused,
                  const std::vector<archive_entry>* entries, const deploy::archive_limits& limits,
                  bool sync) {
  std::string dir = scratch + "/case.XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr)
    violated("cannot create a case directory");
  auto sentinel = dir + "/sentinel";
  if (::mkdir(sentinel.c_str(), 0700) != 0)
    violated("cannot create the sentinel directory");
  auto target = dir + "/release";
  deploy::unpack_options options;
  options.limits = limits;
  options.sync = sync;
  auto unpacked = deploy::unpack_archive(archive, target, options);
  const std::vector<std::string> only_sentinel{"sentinel"}, both{"release", "sentinel"};
  if (refused != nullptr) {
    const auto* e = error_of(unpacked);
    if (e == nullptr)
      violated("unpack_archive accepted an archive read_archive refuses");
    if (e->code != refused->code || e->message != refused->message)
      violated_with("unpack_archive refused differently from read_archive", *e);
    if (names_in(dir) != only_sentinel)
      violated("a refused archive left something behind (the target or a staging directory)");
  } else {
    if (const auto* e = error_of(unpacked))
      violated_with("unpack_archive refused an archive read_archive accepts", *e);
    const auto& summary = std::get<deploy::unpack_summary>(unpacked);
    std::uint64_t content = 0;
    for (const auto& e : *entries)
      content += e.data.size();
    if (summary.entries != entries->size() || summary.content_bytes != content)
      violated("the unpack summary does not count the entries");
    if (names_in(dir) != both)
      violated("unpacking left something beside the target");
    check_unpacked(archive, *entries, target);
    // Again onto the same target: refused, nothing written.
    auto again = deploy::unpack_archive(archive, target, options);
    if (!error_of(again) || error_of(again)->code != archive_errc::target_exists)
      violated("unpacking onto an existing target was not target_exists");
    if (names_in(dir) != both)
      violated("unpacking onto an existing target left something behind");
    // The packer reads full paths: only when they fit PATH_MAX.
    std::size_t longest = 0;
    for (const auto& e : *entries)
      longest = std::max(longest, e.path.size());
    if (target.size() + 1 + longest < PATH_MAX)
      check_repack(archive, *entries, target, limits);
  }
  if (!names_in(sentinel).empty())
    violated("something was written into the sentinel directory beside the target");
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec)
    violated("cannot remove the case directory");
  if (!names_in(scratch).empty())
    violated("something was written beside the case directory");
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Modes must come out as documented whatever the umask.
  ::umask(077);
  std::string base = "/dev/shm";
  if (const char* env = std::getenv("IKA_FUZZ_SCRATCH"))
    base = env;
  else if (::access(base.c_str(), W_OK) != 0)
    base = std::getenv("TMPDIR") != nullptr ? std::getenv("TMPDIR") : "/tmp";
  scratch = base + "/ika-archive-fuzz.XXXXXX";
  if (::mkdtemp(scratch.data()) == nullptr) {
    std::perror("archive_fuzz: mkdtemp");
    std::abort();
  }
  std::atexit(remove_scratch);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1)
    return 0;
  const std::uint8_t options = data[0];
  deploy::archive_limits limits;
  switch (options & 3) {
    case 0:
      limits.max_bytes = 4096, limits.max_entries = 16;
      break;
    case 1:
      limits.max_bytes = 65536, limits.max_entries = 256;
      break;
    case 2:
      limits.max_bytes = 512, limits.max_entries = 4;
      break;
    default:
      break;
  }
  const bool sync = (options & 4) != 0;
  const std::size_t chunk = static_cast<std::size_t>(options >> 4) * 37 + 1;
  // An exact-size copy, so that ASan sees a read past the end.
  const std::size_t n = size - 1;
  std::unique_ptr<char[]> owned{new char[n == 0 ? 1 : n]};
  std::memcpy(owned.get(), data + 1, n);
  std::string_view archive{owned.get(), n};

  check_assembler(archive, chunk, limits);

  auto read = deploy::read_archive(archive, limits);
  const archive_error* refused = error_of(read);
  const std::vector<archive_entry>* entries = nullptr;
  if (refused != nullptr) {
    touch(refused->to_string());
    bool over = archive.size() > limits.max_bytes ||
                (archive.size() >= header_size && archive.substr(0, 4) == "IKAR" &&
                 read_be(archive, 4, 4) == deploy::archive_format_version &&
                 read_be(archive, 8, 4) > limits.max_entries);
    if (refused->code != (over ? archive_errc::too_large : archive_errc::bad_archive))
      violated_with("refused with the wrong code (too_large exactly when over the limits)", *refused);
    if (refused->message.empty())
      violated("refused without a message");
    if (trace)
      std::fprintf(stderr, "  refused: %s\n", refused->to_string().c_str());
  } else {
    entries = &std::get<std::vector<archive_entry>>(read);
    if (trace)
      std::fprintf(stderr, "  accepted: %zu entries\n", entries->size());
    check_entries(archive, *entries, limits);
    // extract_file: a file's bytes, a symlink refused, a missing path not_found.
    bool file_done = false, link_done = false;
    for (const auto& e : *entries) {
      bool link = e.mode == entry_mode::symlink;
      if (link ? link_done : file_done)
        continue;
      auto got = deploy::extract_file(archive, e.path, limits);
      const auto* err = error_of(got);
      if (link ? (err == nullptr || err->code != archive_errc::bad_archive)
               : (err != nullptr || std::get<std::string>(got) != e.data))
        violated("extract_file does not give a file's bytes, or does not refuse a symlink");
      (link ? link_done : file_done) = true;
    }
    auto missing = deploy::extract_file(archive, "no/such\x01", limits);
    if (!error_of(missing) || error_of(missing)->code != archive_errc::not_found)
      violated("extract_file of a missing path is not not_found");
  }
  check_unpack(archive, refused, entries, limits, sync);
  return 0;
}
