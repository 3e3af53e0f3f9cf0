// unpack_archive: writes a validated archive into a fresh temporary directory
// beside the target and renames it into place.
#include "runtime/deploy/archive.hpp"

#include <fcntl.h>
#include <stdio.h> // renameat2
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace ika::deploy {

namespace {

archive_error io_error(std::string path, std::string_view what, int err) {
  return archive_error{archive_errc::io, std::move(path), std::string{what} + ": " + std::strerror(err)};
}

class fd_guard {
public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const { return fd_; }
  // Closes now, reporting the error close(2) gives (it may carry a write error).
  int close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

private:
  int fd_;
};

// Writes the entries below an open staging directory.
class writer {
public:
  writer(int root, std::string staging, bool sync) : root_(root), staging_(std::move(staging)), sync_(sync) {}

  // Creates the directories `path` implies that the entry before it did not
  // (read_archive checked the order).
  std::optional<archive_error> make_parents(std::string_view path) {
    for (auto slash = path.find('/', first_new_directory(previous_, path)); slash != std::string_view::npos;
         slash = path.find('/', slash + 1)) {
      std::string dir{path.substr(0, slash)};
      if (::mkdirat(root_, dir.c_str(), 0755) != 0)
        return io_error(staging_ + "/" + dir, "cannot create directory", errno);
      // The umask may have taken bits away.
      if (::fchmodat(root_, dir.c_str(), 0755, 0) != 0)
        return io_error(staging_ + "/" + dir, "cannot set mode", errno);
      dirs_.push_back(std::move(dir));
    }
    previous_ = path;
    return std::nullopt;
  }

  std::optional<archive_error> write_file(const archive_entry& entry) {
    std::string path{entry.path};
    auto full = staging_ + "/" + path;
    mode_t mode = entry.mode == entry_mode::executable ? 0755 : 0644;
    fd_guard fd{::openat(root_, path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)};
    if (fd.get() < 0)
      return io_error(full, "cannot create", errno);
    if (::fchmod(fd.get(), mode) != 0)
      return io_error(full, "cannot set mode", errno);
    std::size_t done = 0;
    while (done < entry.data.size()) {
      auto n = ::write(fd.get(), entry.data.data() + done, entry.data.size() - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return io_error(full, "cannot write", errno);
      done += static_cast<std::size_t>(n);
    }
    if (sync_ && ::fsync(fd.get()) != 0)
      return io_error(full, "cannot fsync", errno);
    if (fd.close() != 0)
      return io_error(full, "cannot close", errno);
    return std::nullopt;
  }

  std::optional<archive_error> write_symlink(const archive_entry& entry) {
    std::string path{entry.path};
    std::string target{entry.data};
    if (::symlinkat(target.c_str(), root_, path.c_str()) != 0)
      return io_error(staging_ + "/" + path, "cannot create symlink", errno);
    return std::nullopt;
  }

  // fsyncs every directory created, children before their parents, then the
  // staging root.
  std::optional<archive_error> sync_dirs() {
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
      fd_guard fd{::openat(root_, it->c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
      if (fd.get() < 0 || ::fsync(fd.get()) != 0)
        return io_error(staging_ + "/" + *it, "cannot fsync directory", errno);
    }
    if (::fsync(root_) != 0)
      return io_error(staging_, "cannot fsync directory", errno);
    return std::nullopt;
  }

private:
  int root_;
  std::string staging_;
  bool sync_;
  std::vector<std::string> dirs_; ///< in the order made: parents first
  std::string_view previous_;     ///< the last entry's path
};

std::optional<archive_error> sync_dir(const std::string& path) {
  fd_guard fd{::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (fd.get() < 0 || ::fsync(fd.get()) != 0)
    return io_error(path, "cannot fsync directory", errno);
  return std::nullopt;
}

std::optional<archive_error> fill(int root, const std::string& staging,
                                  const std::vector<archive_entry>& entries, bool sync) {
  writer w{root, staging, sync};
  for (const auto& entry : entries) {
    if (auto error = w.make_parents(entry.path))
      return error;
    if (entry.mode == entry_mode::symlink)
      continue;
    if (auto error = w.write_file(entry))
      return error;
  }
  // Symlinks last: no file is ever written through one.
  for (const auto& entry : entries)
    if (entry.mode == entry_mode::symlink)
      if (auto error = w.write_symlink(entry))
        return error;
  if (sync)
    return w.sync_dirs();
  return std::nullopt;
}

} // namespace

archive_result<unpack_summary> unpack_archive(std::string_view archive, const std::string& target,
                                              const unpack_options& options) {
  auto read = read_archive(archive, options.limits);
  if (auto* error = std::get_if<archive_error>(&read))
    return std::move(*error);
  const auto& entries = std::get<0>(read);

  std::string trimmed = target;
  while (trimmed.size() > 1 && trimmed.back() == '/')
    trimmed.pop_back();
  auto slash = trimmed.rfind('/');
  std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : trimmed.substr(0, slash);
  std::string name = slash == std::string::npos ? trimmed : trimmed.substr(slash + 1);
  if (name.empty() || name == "." || name == ".." || name == "/")
    return archive_error{archive_errc::io, target, "not a usable target directory name"};

  struct stat st {};
  if (::lstat(trimmed.c_str(), &st) == 0)
    return archive_error{archive_errc::target_exists, target, "already exists"};
  if (errno != ENOENT)
    return io_error(target, "cannot stat", errno);

  std::string staging = parent + "/." + name + ".unpack-XXXXXX";
  if (::mkdtemp(staging.data()) == nullptr)
    return io_error(parent, "cannot create a temporary directory", errno);

  auto cleanup = [&staging] {
    std::error_code ec;
    std::filesystem::remove_all(staging, ec);
  };
  std::optional<archive_error> failure;
  {
    fd_guard root{::open(staging.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
    if (root.get() < 0)
      failure = io_error(staging, "cannot open", errno);
    else if (::fchmod(root.get(), 0755) != 0)
      failure = io_error(staging, "cannot set mode", errno);
    else
      failure = fill(root.get(), staging, entries, options.sync);
  }
  if (!failure && ::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, trimmed.c_str(), RENAME_NOREPLACE) != 0) {
    int err = errno;
    if (err == EEXIST || err == ENOTEMPTY)
      failure = archive_error{archive_errc::target_exists, target, "already exists"};
    else
      failure = io_error(target, "cannot rename the unpacked release into place", err);
  }
  if (failure) {
    cleanup();
    return std::move(*failure);
  }
  if (options.sync)
    if (auto error = sync_dir(parent))
      return std::move(*error); // the release is in place; only its durability is in doubt

  unpack_summary summary;
  summary.entries = entries.size();
  for (const auto& e : entries)
    summary.content_bytes += e.data.size();
  return summary;
}

} // namespace ika::deploy
