#include "runtime/process/log_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <utility>

namespace ika::process {

namespace {

std::string errno_text(const std::string& what, const std::string& path) {
  return "log file: cannot " + what + " " + path + ": " + std::strerror(errno);
}

void make_parent_dirs(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0)
    return;
  auto dir = path.substr(0, slash);
  for (std::size_t pos = 1; pos <= dir.size(); ++pos)
    if (pos == dir.size() || dir[pos] == '/')
      ::mkdir(dir.substr(0, pos).c_str(), 0750);
}

} // namespace

std::string format_timestamp(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
  auto secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  auto millis = static_cast<int>(ms - static_cast<long long>(secs) * 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char out[96];
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return out;
}

log_file::~log_file() {
  close();
}

log_file::log_file(log_file&& other) noexcept
    : path_(std::move(other.path_)), opts_(other.opts_), fd_(std::exchange(other.fd_, -1)),
      size_(other.size_) {}

log_file& log_file::operator=(log_file&& other) noexcept {
  if (this != &other) {
    close();
    path_ = std::move(other.path_);
    opts_ = other.opts_;
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
  }
  return *this;
}

void log_file::close() {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
}

std::string log_file::open(std::string path, options opts) {
  close();
  path_ = std::move(path);
  opts_ = opts;
  make_parent_dirs(path_);
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd_ < 0)
    return errno_text("open", path_);
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    auto err = errno_text("stat", path_);
    close();
    return err;
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
  return {};
}

std::string log_file::rotate() {
  close();
  if (opts_.keep == 0) {
    if (::truncate(path_.c_str(), 0) != 0 && errno != ENOENT)
      return errno_text("truncate", path_);
  } else {
    auto name = [this](unsigned i) { return path_ + "." + std::to_string(i); };
    ::unlink(name(opts_.keep).c_str());
    for (unsigned i = opts_.keep; i > 1; --i)
      if (::rename(name(i - 1).c_str(), name(i).c_str()) != 0 && errno != ENOENT)
        return errno_text("rename", name(i - 1));
    if (::rename(path_.c_str(), name(1).c_str()) != 0 && errno != ENOENT)
      return errno_text("rename", path_);
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd_ < 0)
    return errno_text("open", path_);
  size_ = 0;
  return {};
}

std::string log_file::append(std::chrono::system_clock::time_point time, std::string_view instance,
                             output_stream stream, std::string_view text, bool truncated) {
  if (fd_ < 0)
    return "log file: " + (path_.empty() ? std::string("(none)") : path_) + " is not open";
  std::string line = format_timestamp(time);
  line += ' ';
  line += instance;
  line += ' ';
  line += to_string(stream);
  line += ' ';
  auto body = line.size();
  line += text;
  std::replace(line.begin() + static_cast<std::ptrdiff_t>(body), line.end(), '\n', ' ');
  if (truncated)
    line += " [truncated]";
  line += '\n';
  if (size_ > 0 && size_ + line.size() > opts_.max_bytes) {
    if (auto err = rotate(); !err.empty())
      return err;
  }
  std::size_t done = 0;
  while (done < line.size()) {
    auto n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return errno_text("write", path_);
    done += static_cast<std::size_t>(n);
  }
  size_ += line.size();
  return {};
}

std::variant<std::vector<std::string>, std::string> tail_file(const std::string& path, std::size_t n) {
  std::vector<std::string> lines;
  if (n == 0)
    return lines;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return lines;
    return errno_text("open", path);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    auto err = errno_text("stat", path);
    ::close(fd);
    return err;
  }
  // Read backwards in blocks until n + 1 newlines are seen (or the start).
  constexpr off_t block = off_t{64} * 1024;
  off_t end = st.st_size;
  off_t pos = end;
  std::string data;
  std::size_t newlines = 0;
  while (pos > 0 && newlines <= n) {
    off_t len = std::min(block, pos);
    pos -= len;
    std::string chunk(static_cast<std::size_t>(len), '\0');
    auto got = ::pread(fd, chunk.data(), chunk.size(), pos);
    if (got < 0) {
      auto err = errno_text("read", path);
      ::close(fd);
      return err;
    }
    chunk.resize(static_cast<std::size_t>(got));
    newlines += static_cast<std::size_t>(std::count(chunk.begin(), chunk.end(), '\n'));
    data.insert(0, chunk);
  }
  ::close(fd);
  std::string_view rest(data);
  if (!rest.empty() && rest.back() == '\n')
    rest.remove_suffix(1);
  else if (rest.empty())
    return lines;
  while (lines.size() < n) {
    auto nl = rest.rfind('\n');
    if (nl == std::string_view::npos) {
      if (pos == 0)
        lines.emplace_back(rest); // the file's first line
      break;
    }
    lines.emplace_back(rest.substr(nl + 1));
    rest = rest.substr(0, nl);
  }
  std::reverse(lines.begin(), lines.end());
  return lines;
}

std::variant<std::vector<std::string>, std::string> tail_log(const std::string& path, std::size_t n,
                                                             unsigned keep) {
  std::vector<std::string> lines;
  for (unsigned i = 0; i <= keep && lines.size() < n; ++i) {
    auto file = i == 0 ? path : path + "." + std::to_string(i);
    auto got = tail_file(file, n - lines.size());
    if (auto* err = std::get_if<std::string>(&got))
      return *err;
    auto& older = std::get<std::vector<std::string>>(got);
    lines.insert(lines.begin(), older.begin(), older.end());
  }
  return lines;
}

} // namespace ika::process
