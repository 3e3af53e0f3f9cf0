#pragma once
// A fresh directory for one test, removed with everything in it at the end
// of the scope.

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace ika::test {

class temp_dir {
public:
  /// Makes `<temp>/<prefix>-XXXXXX`; the prefix says which tests left one
  /// behind.
  explicit temp_dir(const std::string& prefix) {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw std::runtime_error{"mkdtemp failed for " + pattern};
    path_ = pattern;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  const std::filesystem::path& path() const { return path_; }

  /// The path of `rel` in it, as a string (what the code under test takes).
  std::string operator/(const std::filesystem::path& rel) const { return (path_ / rel).string(); }

  /// Writes `text` to `rel` with `mode`, making the directories on the way;
  /// the file's path.
  std::string write(const std::filesystem::path& rel, const std::string& text, mode_t mode = 0644) const {
    auto file = path_ / rel;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream{file, std::ios::binary | std::ios::trunc} << text;
    ::chmod(file.c_str(), mode);
    return file.string();
  }

private:
  std::filesystem::path path_;
};

} // namespace ika::test
