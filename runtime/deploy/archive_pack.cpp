// pack_directory: walks an app directory (never following symlinks), applies
// .ikaignore, and writes the canonical archive (archive.hpp).
#include "runtime/deploy/archive.hpp"
#include "runtime/deploy/ignore_rules.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace ika::deploy {

namespace {

constexpr std::size_t header_size = 12;
constexpr std::size_t entry_overhead = 14;   // u16 + u32 + u64
constexpr std::size_t max_path_bytes = 4095; // PATH_MAX less its NUL, as the reader
constexpr std::size_t max_component_bytes = 255;

struct source_entry {
  std::string path; // relative, '/'-separated
  entry_mode mode = entry_mode::file;
  std::string data;
};

archive_error io_error(std::string path, std::string_view what, int err) {
  return archive_error{archive_errc::io, std::move(path), std::string{what} + ": " + std::strerror(err)};
}

void put_be(std::string& out, std::uint64_t v, std::size_t n) {
  for (std::size_t i = n; i-- > 0;)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Reads the whole regular file `path` into `out` without following a symlink.
std::optional<archive_error> read_file(const std::string& path, std::uint64_t limit, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return io_error(path, "cannot open", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return io_error(path, "cannot stat", err);
  }
  if (static_cast<std::uint64_t>(st.st_size) > limit) {
    ::close(fd);
    return archive_error{archive_errc::too_large, path, "the release would exceed the archive size limit"};
  }
  out.resize(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < out.size()) {
    auto n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return io_error(path, "cannot read", err);
    }
    if (n == 0)
      break; // shrank while packing: take what is there
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  ::close(fd);
  return std::nullopt;
}

class walker {
public:
  walker(std::string root, const ignore_rules& rules, const archive_limits& limits)
      : root_(std::move(root)), rules_(rules), limits_(limits) {}

  std::optional<archive_error> walk(const std::string& relative) {
    auto dir_path = relative.empty() ? root_ : root_ + "/" + relative;
    DIR* dir = ::opendir(dir_path.c_str());
    if (dir == nullptr)
      return io_error(dir_path, "cannot open directory", errno);
    std::vector<std::string> names;
    errno = 0;
    while (auto* e = ::readdir(dir)) {
      std::string_view name{e->d_name};
      if (name != "." && name != "..")
        names.emplace_back(name);
      errno = 0;
    }
    int err = errno;
    ::closedir(dir);
    if (err != 0)
      return io_error(dir_path, "cannot read directory", err);

    for (const auto& name : names) {
      if (name == ".git")
        continue;
      auto path = relative.empty() ? name : relative + "/" + name;
      auto full = root_ + "/" + path;
      if (name.size() > max_component_bytes)
        return archive_error{archive_errc::bad_source, path, "file name longer than 255 bytes"};
      if (std::any_of(name.begin(), name.end(), [](char c) {
            auto u = static_cast<unsigned char>(c);
            return u < 0x20 || u == 0x7f;
          }))
        return archive_error{archive_errc::bad_source, path, "control character in file name"};
      if (path.size() > max_path_bytes)
        return archive_error{archive_errc::bad_source, path, "path longer than 4095 bytes"};
      if (static_cast<std::size_t>(std::count(path.begin(), path.end(), '/')) >= max_path_components)
        return archive_error{archive_errc::bad_source, path,
                             "path more than " + std::to_string(max_path_components) + " components deep"};
      struct stat st {};
      if (::lstat(full.c_str(), &st) != 0)
        return io_error(full, "cannot stat", errno);
      bool is_dir = S_ISDIR(st.st_mode);
      if (rules_.ignored(path, is_dir))
        continue;
      if (is_dir) {
        if (auto error = walk(path))
          return error;
        continue;
      }
      source_entry entry;
      entry.path = path;
      if (S_ISREG(st.st_mode)) {
        entry.mode = (st.st_mode & S_IXUSR) != 0 ? entry_mode::executable : entry_mode::file;
        if (auto error = read_file(full, budget(path), entry.data))
          return error;
      } else if (S_ISLNK(st.st_mode)) {
        entry.mode = entry_mode::symlink;
        entry.data.resize(max_path_bytes + 1);
        auto n = ::readlink(full.c_str(), entry.data.data(), entry.data.size());
        if (n < 0)
          return io_error(full, "cannot read symlink", errno);
        if (static_cast<std::size_t>(n) > max_path_bytes)
          return archive_error{archive_errc::bad_source, path, "symlink target longer than 4095 bytes"};
        entry.data.resize(static_cast<std::size_t>(n));
      } else {
        return archive_error{archive_errc::bad_source, path,
                             "not a regular file, directory or symlink (fifo, socket or device)"};
      }
      total_ += entry_overhead + entry.path.size() + entry.data.size();
      if (total_ > limits_.max_bytes)
        return archive_error{archive_errc::too_large, path,
                             "the release would exceed the archive size limit"};
      entries_.push_back(std::move(entry));
      if (entries_.size() > limits_.max_entries)
        return archive_error{archive_errc::too_large, path,
                             "more than " + std::to_string(limits_.max_entries) + " files"};
    }
    return std::nullopt;
  }

  std::vector<source_entry>& entries() { return entries_; }

private:
  // How many content bytes the file at `path` may have within the limit.
  std::uint64_t budget(const std::string& path) const {
    auto used = total_ + entry_overhead + path.size();
    return used >= limits_.max_bytes ? 0 : limits_.max_bytes - used;
  }

  std::string root_;
  const ignore_rules& rules_;
  const archive_limits& limits_;
  std::vector<source_entry> entries_;
  std::uint64_t total_ = header_size;
};

} // namespace

archive_result<packed_archive> pack_directory(const std::string& dir, const archive_limits& limits) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    return io_error(dir, "cannot stat", errno);
  if (!S_ISDIR(st.st_mode))
    return archive_error{archive_errc::bad_source, dir, "not a directory"};

  ignore_rules rules;
  auto ignore_path = dir + "/" + std::string{ignore_file_name};
  if (::lstat(ignore_path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    std::string text;
    if (auto error = read_file(ignore_path, 1u << 20, text))
      return std::move(*error);
    rules = ignore_rules::parse(text);
  }

  walker w{dir, rules, limits};
  if (auto error = w.walk({}))
    return std::move(*error);
  auto& entries = w.entries();
  std::sort(entries.begin(), entries.end(),
            [](const source_entry& a, const source_entry& b) { return a.path < b.path; });

  packed_archive out;
  std::size_t size = header_size;
  for (const auto& e : entries)
    size += entry_overhead + e.path.size() + e.data.size();
  out.bytes.reserve(size);
  out.bytes.append("IKAR");
  put_be(out.bytes, archive_format_version, 4);
  put_be(out.bytes, entries.size(), 4);
  for (const auto& e : entries) {
    put_be(out.bytes, e.path.size(), 2);
    out.bytes += e.path;
    put_be(out.bytes, static_cast<std::uint32_t>(e.mode), 4);
    put_be(out.bytes, e.data.size(), 8);
    out.bytes += e.data;
    out.content_bytes += e.data.size();
  }
  out.entries = entries.size();

  // One validator for both sides: what the reader refuses (a symlink leaving
  // the directory, say) cannot be packed.
  auto check = read_archive(out.bytes, limits);
  if (auto* error = std::get_if<archive_error>(&check)) {
    if (error->code == archive_errc::bad_archive)
      error->code = archive_errc::bad_source;
    return std::move(*error);
  }
  out.version = version_of(out.bytes);
  return out;
}

} // namespace ika::deploy
