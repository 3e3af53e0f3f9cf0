#include "runtime/config/toml_check.hpp"

#include "runtime/config/node_config.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace ika::config::detail {

using std::chrono::milliseconds;

std::string join(std::string_view path, std::string_view key) {
  if (path.empty())
    return std::string{key};
  std::string out{path};
  out += '.';
  out += key;
  return out;
}

std::string indexed(std::string_view path, std::size_t i) {
  return std::string{path} + "[" + std::to_string(i + 1) + "]";
}

std::string_view type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string lower(std::string_view text) {
  std::string out{text};
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); });
  return out;
}

std::string format_size(std::uint64_t bytes) {
  constexpr std::array<std::pair<std::uint64_t, std::string_view>, 3> units{
      {{1ull << 30, "GiB"}, {1ull << 20, "MiB"}, {1ull << 10, "KiB"}}};
  for (auto [factor, unit] : units)
    if (bytes >= factor && bytes % factor == 0)
      return std::to_string(bytes / factor) + std::string{unit};
  return std::to_string(bytes) + "B";
}

const toml::table& expect_table(const checker& check, const toml::node& node, const std::string& key) {
  if (const auto* table = node.as_table())
    return *table;
  check.fail(node, key, "expected a table, got " + std::string{type_name(node)});
}

const std::string& expect_string(const checker& check, const toml::node& node, const std::string& key) {
  if (const auto* value = node.as_string())
    return value->get();
  check.fail(node, key, "expected a string, got " + std::string{type_name(node)});
}

std::uint64_t expect_size(const checker& check, const toml::node& node, const std::string& key,
                          std::uint64_t max) {
  std::uint64_t bytes = 0;
  if (const auto* integer = node.as_integer()) {
    if (integer->get() < 0)
      check.fail(node, key, "must not be negative, got " + std::to_string(integer->get()));
    bytes = static_cast<std::uint64_t>(integer->get());
  } else if (const auto* text = node.as_string()) {
    if (!parse_size(text->get(), bytes))
      check.fail(node, key,
                 "invalid size '" + text->get() +
                     "' (expected bytes as an integer, or \"<n>B\", \"<n>KiB\", \"<n>MiB\", \"<n>GiB\")");
  } else {
    check.fail(node, key,
               "expected a size (an integer number of bytes or a string such as \"16KiB\"), got " +
                   std::string{type_name(node)});
  }
  if (bytes == 0)
    check.fail(node, key, "must be greater than 0");
  if (bytes > max)
    check.fail(node, key, "must be at most " + format_size(max) + ", got " + format_size(bytes));
  return bytes;
}

bool expect_bool(const checker& check, const toml::node& node, const std::string& key) {
  if (const auto* value = node.as_boolean())
    return value->get();
  check.fail(node, key, "expected true or false, got " + std::string{type_name(node)});
}

std::int64_t expect_integer(const checker& check, const toml::node& node, const std::string& key,
                            std::int64_t min, std::int64_t max) {
  const auto* value = node.as_integer();
  if (value == nullptr)
    check.fail(node, key, "expected an integer, got " + std::string{type_name(node)});
  auto v = value->get();
  if (v < min || v > max)
    check.fail(node, key,
               "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                   std::to_string(v));
  return v;
}

milliseconds expect_duration(const checker& check, const toml::node& node, const std::string& key,
                             bool allow_zero) {
  if (const auto* integer = node.as_integer())
    check.fail(node, key,
               "a duration needs a unit: write \"" + std::to_string(integer->get()) + "s\" (or ms, m, h)");
  const auto* text = node.as_string();
  if (text == nullptr)
    check.fail(node, key, "expected a duration such as \"10s\", got " + std::string{type_name(node)});
  milliseconds value{};
  if (!parse_duration(text->get(), value))
    check.fail(node, key,
               "invalid duration '" + text->get() +
                   "' (expected \"<n>ms\", \"<n>s\", \"<n>m\" or \"<n>h\", at most 8760h)");
  if (value.count() == 0 && !allow_zero)
    check.fail(node, key, "must be greater than 0");
  return value;
}

std::variant<std::string, config_error> read_config_file(const std::string& path, std::size_t max_bytes) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file{std::fopen(path.c_str(), "rb"), &std::fclose};
  if (!file)
    return config_error{path, 0, {}, std::string{"cannot open: "} + std::strerror(errno)};
  std::string text;
  char buffer[8192];
  while (auto n = std::fread(buffer, 1, sizeof buffer, file.get())) {
    text.append(buffer, n);
    if (text.size() > max_bytes)
      return config_error{path, 0, {}, "file larger than " + format_size(max_bytes)};
  }
  if (std::ferror(file.get()))
    return config_error{path, 0, {}, std::string{"cannot read: "} + std::strerror(errno)};
  return text;
}

} // namespace ika::config::detail
