#include "runtime/deploy/ignore_rules.hpp"

#include <cstdint>

namespace ika::deploy {

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    auto slash = path.find('/');
    auto segment = path.substr(0, slash);
    if (!segment.empty())
      out.push_back(segment);
    if (slash == std::string_view::npos)
      break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

// Matches the character class starting at pattern[at] == '['. Returns the
// index just past its ']', or npos when the class is not terminated (then
// the '[' is an ordinary character).
std::size_t match_class(std::string_view pattern, std::size_t at, char c, bool& matched) noexcept {
  std::size_t i = at + 1;
  bool negated = false;
  if (i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^')) {
    negated = true;
    ++i;
  }
  bool found = false;
  bool first = true;
  auto uc = static_cast<unsigned char>(c);
  while (i < pattern.size()) {
    char lo = pattern[i];
    if (lo == ']' && !first) {
      matched = found != negated;
      return i + 1;
    }
    first = false;
    if (lo == '\\' && i + 1 < pattern.size())
      lo = pattern[++i];
    ++i;
    char hi = lo;
    if (i + 1 < pattern.size() && pattern[i] == '-' && pattern[i + 1] != ']') {
      hi = pattern[i + 1];
      i += 2;
      if (hi == '\\' && i < pattern.size())
        hi = pattern[i++];
    }
    if (static_cast<unsigned char>(lo) <= uc && uc <= static_cast<unsigned char>(hi))
      found = true;
  }
  return std::string_view::npos;
}

// Whether pattern[at...] (one element: '?', a class, an escape or a literal)
// matches c; `length` is the element's length in the pattern.
bool match_one(std::string_view pattern, std::size_t at, char c, std::size_t& length) noexcept {
  char p = pattern[at];
  if (p == '?') {
    length = 1;
    return true;
  }
  if (p == '\\' && at + 1 < pattern.size()) {
    length = 2;
    return pattern[at + 1] == c;
  }
  if (p == '[') {
    bool matched = false;
    auto end = match_class(pattern, at, c, matched);
    if (end != std::string_view::npos) {
      length = end - at;
      return matched;
    }
  }
  length = 1;
  return p == c;
}

// Segment lists with whole-segment "**", memoised: a pattern with several
// "**" would otherwise try every split of the path for each.
class path_matcher {
public:
  path_matcher(const std::vector<std::string>& pattern, const std::vector<std::string_view>& path)
      : pattern_(pattern), path_(path), memo_((pattern.size() + 1) * (path.size() + 1), -1) {}

  bool match(std::size_t i, std::size_t j) {
    auto& slot = memo_[i * (path_.size() + 1) + j];
    if (slot < 0)
      slot = compute(i, j) ? 1 : 0;
    return slot == 1;
  }

private:
  bool compute(std::size_t i, std::size_t j) {
    if (i == pattern_.size())
      return j == path_.size();
    if (pattern_[i] == "**") {
      // A trailing "**" matches what is inside, never the directory itself.
      if (i + 1 == pattern_.size())
        return j < path_.size();
      for (std::size_t k = j; k <= path_.size(); ++k)
        if (match(i + 1, k))
          return true;
      return false;
    }
    return j < path_.size() && match_segment(pattern_[i], path_[j]) && match(i + 1, j + 1);
  }

  const std::vector<std::string>& pattern_;
  const std::vector<std::string_view>& path_;
  std::vector<std::int8_t> memo_;
};

} // namespace

bool match_segment(std::string_view pattern, std::string_view name) noexcept {
  // Greedy with backtracking to the last '*': O(pattern * name) at worst.
  std::size_t p = 0;
  std::size_t n = 0;
  std::size_t star_p = std::string_view::npos;
  std::size_t star_n = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      while (p < pattern.size() && pattern[p] == '*')
        ++p;
      star_p = p;
      star_n = n;
      continue;
    }
    std::size_t length = 0;
    if (p < pattern.size() && match_one(pattern, p, name[n], length)) {
      p += length;
      ++n;
      continue;
    }
    if (star_p == std::string_view::npos)
      return false;
    p = star_p;
    n = ++star_n;
  }
  while (p < pattern.size() && pattern[p] == '*')
    ++p;
  return p == pattern.size();
}

ignore_rules ignore_rules::parse(std::string_view text) {
  ignore_rules out;
  while (!text.empty()) {
    auto newline = text.find('\n');
    auto line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);

    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (line.empty() || line.front() == '#')
      continue;
    while (!line.empty() && line.back() == ' ' && !(line.size() >= 2 && line[line.size() - 2] == '\\'))
      line.remove_suffix(1);

    rule r;
    if (!line.empty() && line.front() == '!') {
      r.negated = true;
      line.remove_prefix(1);
    }
    while (!line.empty() && line.back() == '/') {
      r.directories_only = true;
      line.remove_suffix(1);
    }
    bool anchored = line.find('/') != std::string_view::npos;
    for (auto segment : split_path(line)) {
      if (segment == "**" && !r.segments.empty() && r.segments.back() == "**")
        continue;
      r.segments.emplace_back(segment);
    }
    if (r.segments.empty())
      continue;
    if (!anchored && r.segments.front() != "**")
      r.segments.insert(r.segments.begin(), "**");
    out.rules_.push_back(std::move(r));
  }
  return out;
}

bool ignore_rules::ignored(std::string_view path, bool is_dir) const {
  if (rules_.empty())
    return false;
  auto segments = split_path(path);
  bool result = false;
  for (const auto& r : rules_) {
    if (r.negated == !result)
      continue; // cannot change the outcome
    if (r.directories_only && !is_dir)
      continue;
    if (path_matcher{r.segments, segments}.match(0, 0))
      result = !r.negated;
  }
  return result;
}

} // namespace ika::deploy
