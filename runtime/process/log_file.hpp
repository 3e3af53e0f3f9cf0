#pragma once
// An app's log file: append-only, one line per output line of any of its
// instances, rotated by size.
//
//   2026-11-26T09:10:00.123Z <instance> <stdout|stderr> <text>
//
// A truncated line (see output_event) ends with " [truncated]". When a line
// would take the file past `max_bytes`, the file is rotated first: app.log.N
// is removed (N = `keep`), app.log.i becomes app.log.(i+1), app.log becomes
// app.log.1, and a new app.log is started. `keep` = 0 only truncates.
// Not thread-safe: one owner (the app's actor) writes it.

#include "runtime/process/process_supervisor.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ika::process {

/// "2026-11-26T09:10:00.123Z" (UTC, milliseconds).
std::string format_timestamp(std::chrono::system_clock::time_point t);

class log_file {
public:
  struct options {
    std::uint64_t max_bytes = std::uint64_t{10} * 1024 * 1024; ///< rotate before exceeding this
    unsigned keep = 3; ///< rotated files kept: app.log.1 .. app.log.<keep>
  };

  /// Opens (creating it, 0640, and its directory) `path` for appending.
  /// Returns an error message naming the path, or an empty string.
  std::string open(std::string path, options opts);
  std::string open(std::string path) { return open(std::move(path), options{}); }

  log_file() = default;
  ~log_file();
  log_file(log_file&& other) noexcept;
  log_file& operator=(log_file&& other) noexcept;
  log_file(const log_file&) = delete;
  log_file& operator=(const log_file&) = delete;

  bool is_open() const noexcept { return fd_ >= 0; }
  const std::string& path() const noexcept { return path_; }
  /// The current size of the file (rotations reset it).
  std::uint64_t size() const noexcept { return size_; }

  /// Appends one line (one write). Newlines in `text` become spaces. Returns
  /// an error message naming the path (the line is lost), or an empty string.
  std::string append(std::chrono::system_clock::time_point time, std::string_view instance,
                     output_stream stream, std::string_view text, bool truncated = false);

  void close();

private:
  std::string rotate();

  std::string path_;
  options opts_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

/// The last `n` lines of the log at `path`, oldest first, reading the
/// rotated files (path.1, path.2, ...) too when `path` holds fewer than `n`.
/// A missing file counts as empty. Returns the lines or an error message.
std::variant<std::vector<std::string>, std::string> tail_log(const std::string& path, std::size_t n,
                                                             unsigned keep = 3);

/// The last `n` lines of one file, oldest first (a last line without "\n"
/// counts). Missing file: empty. Returns the lines or an error message.
std::variant<std::vector<std::string>, std::string> tail_file(const std::string& path, std::size_t n);

} // namespace ika::process
