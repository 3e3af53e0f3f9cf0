#pragma once
// What the node config and the app manifest parsers share: errors that name
// the file, line and key (thrown as `failure` inside a parser only, returned
// as config_error), key paths, and the checks for TOML values of each kind.
// Internal to runtime/config.

#include "runtime/config/node_config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace ika::config::detail {

/// Thrown inside a parser only; parse_toml turns it into its result.
struct failure {
  config_error error;
};

/// Makes the errors of one file.
class checker {
public:
  explicit checker(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(int line, std::string key, std::string message) const {
    throw failure{config_error{file_, line, std::move(key), std::move(message)}};
  }

  [[noreturn]] void fail(const toml::source_region& at, std::string key, std::string message) const {
    fail(line_of(at), std::move(key), std::move(message));
  }

  [[noreturn]] void fail(const toml::node& at, std::string key, std::string message) const {
    fail(at.source(), std::move(key), std::move(message));
  }

  static int line_of(const toml::source_region& at) { return static_cast<int>(at.begin.line); }

private:
  std::string file_;
};

/// "path.key" (or "key" at the top).
std::string join(std::string_view path, std::string_view key);
/// "path[i+1]": key paths count from 1, as people do.
std::string indexed(std::string_view path, std::size_t i);
/// "a table", "a string", ... for error messages.
std::string_view type_name(const toml::node& n);
/// ASCII lower case.
std::string lower(std::string_view text);
/// "16KiB", "1MiB", "100B".
std::string format_size(std::uint64_t bytes);

/// Fails on the first key of `table` (in file order) not in `known`.
template <std::size_t N>
void reject_unknown(const checker& check, const toml::table& table, std::string_view path,
                    const std::array<std::string_view, N>& known) {
  const toml::key* first = nullptr;
  for (auto&& [key, value] : table) {
    if (std::find(known.begin(), known.end(), key.str()) != known.end())
      continue;
    // Tables iterate in key order; report the unknown key that comes first in the file.
    if (first == nullptr || key.source().begin.line < first->source().begin.line)
      first = &key;
  }
  if (first == nullptr)
    return;
  std::string expected;
  for (auto name : known) {
    expected += expected.empty() ? "" : ", ";
    expected += name;
  }
  check.fail(first->source(), join(path, first->str()), "unknown key (expected one of: " + expected + ")");
}

const toml::table& expect_table(const checker& check, const toml::node& node, const std::string& key);
const std::string& expect_string(const checker& check, const toml::node& node, const std::string& key);
std::int64_t expect_integer(const checker& check, const toml::node& node, const std::string& key,
                            std::int64_t min, std::int64_t max);
bool expect_bool(const checker& check, const toml::node& node, const std::string& key);
/// A size: an integer number of bytes or "<n>B|KiB|MiB|GiB", > 0 and at
/// most `max`.
std::uint64_t expect_size(const checker& check, const toml::node& node, const std::string& key,
                          std::uint64_t max = std::numeric_limits<std::uint64_t>::max());
/// A string with a unit ("250ms", "10s", "2m", "1h"), > 0 (or >= 0 with
/// `allow_zero`).
std::chrono::milliseconds expect_duration(const checker& check, const toml::node& node,
                                          const std::string& key, bool allow_zero = false);

/// Parses `text` as TOML and hands the root to `build`; a syntax error or a
/// failure thrown by `build` becomes the config_error of the result.
template <class Result, class Build>
Result parse_toml(std::string_view text, std::string_view source, Build build) {
  checker check{std::string{source}};
  try {
    auto root = toml::parse(text, source);
    return build(check, root);
  } catch (const toml::parse_error& e) {
    return config_error{std::string{source}, checker::line_of(e.source()), {}, std::string{e.description()}};
  } catch (const failure& f) {
    return f.error;
  }
}

/// The text of the file at `path` (at most `max_bytes`), or why not.
std::variant<std::string, config_error> read_config_file(const std::string& path, std::size_t max_bytes);

} // namespace ika::config::detail
