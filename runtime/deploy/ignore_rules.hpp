#pragma once
// The patterns of an app's `.ikaignore`: which paths `ika deploy` leaves out
// of a release. The syntax is the subset of gitignore(5) below; one file, at
// the root of the app directory (nested .ikaignore files are ordinary files).
//
// - One pattern per line; blank lines and lines starting with '#' are
//   skipped; trailing spaces are dropped unless escaped ("\ "); CRLF is fine.
// - '!' at the start negates: a path matched by a later negated pattern is
//   kept again. As in git, nothing inside an ignored directory can be kept
//   again (the walk never enters it).
// - A trailing '/' makes the pattern match directories only.
// - A '/' at the start or in the middle anchors the pattern at the app
//   directory ("/build", "doc/*.txt"); otherwise it matches a name at any
//   depth ("*.pyc", "node_modules/").
// - '*' matches anything but '/'; '?' one character but '/'; "[abc]",
//   "[a-z]", "[!a-z]" (or "[^a-z]") one character of a set (no POSIX
//   "[:classes:]"); '\' makes the next character literal ("\#", "\!", "\*").
// - "**" as a whole segment: "**/x" matches x at any depth, "a/**/b" matches
//   zero or more directories between a and b, "a/**" matches everything
//   inside a (but not a itself). "**" inside a segment acts as '*'.
//
// The caller always leaves out ".git" (at any depth); that is not a rule here.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ika::deploy {

/// The file name the packer reads its rules from.
inline constexpr std::string_view ignore_file_name = ".ikaignore";

class ignore_rules {
public:
  ignore_rules() = default;

  /// Parses the text of an .ikaignore file. Never fails: a line that is not
  /// a pattern (blank, comment, a lone "/" or "!") is skipped.
  static ignore_rules parse(std::string_view text);

  /// Whether `path` is ignored: relative to the app directory, '/'-separated,
  /// no leading, trailing or doubled '/'. `is_dir`: whether it names a
  /// directory (a symlink to one is not). The last matching pattern decides.
  bool ignored(std::string_view path, bool is_dir) const;

  /// The number of patterns.
  std::size_t size() const noexcept { return rules_.size(); }

private:
  struct rule {
    std::vector<std::string> segments; ///< "**" is a whole-segment wildcard
    bool negated = false;
    bool directories_only = false;
  };

  std::vector<rule> rules_;
};

/// Matches one path segment against one pattern segment ('*', '?', "[...]",
/// '\' escapes; '/' never appears in either).
bool match_segment(std::string_view pattern, std::string_view name) noexcept;

} // namespace ika::deploy
