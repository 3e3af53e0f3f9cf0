// The archive format: reading and validating, versions, chunks and the
// assembler. Packing is in archive_pack.cpp, unpacking in archive_unpack.cpp.
#include "runtime/deploy/archive.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <unordered_map>
#include <utility>

namespace ika::deploy {

namespace {

constexpr std::string_view magic = "IKAR";
constexpr std::size_t header_size = 12;    // magic, version, count
constexpr std::size_t min_entry_size = 15; // u16 + 1-byte path + u32 + u64
// PATH_MAX (4096) counts the terminating NUL: 4095 bytes is the longest path
// or symlink target the kernel takes, so a longer one could never be unpacked.
constexpr std::size_t max_path_bytes = 4095;
constexpr std::size_t max_component_bytes = 255;
constexpr int max_symlink_hops = 40;

archive_error bad(std::string path, std::string message) {
  return archive_error{archive_errc::bad_archive, std::move(path), std::move(message)};
}

std::uint64_t read_be(const char* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

bool control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

// Why `path` is not a canonical entry path; empty when it is.
std::string path_problem(std::string_view path) {
  if (path.empty())
    return "empty path";
  if (path.size() > max_path_bytes)
    return "path longer than 4095 bytes";
  if (path.front() == '/')
    return "absolute path";
  if (static_cast<std::size_t>(std::count(path.begin(), path.end(), '/')) >= max_path_components)
    return "path more than " + std::to_string(max_path_components) + " components deep";
  std::size_t start = 0;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    auto end = slash == std::string_view::npos ? path.size() : slash;
    auto component = path.substr(start, end - start);
    if (component.empty())
      return "empty path component ('//' or a trailing '/')";
    if (component == "." || component == "..")
      return "path component '" + std::string{component} + "'";
    if (component.size() > max_component_bytes)
      return "path component longer than 255 bytes";
    if (std::any_of(component.begin(), component.end(),
                    [](char c) { return control(static_cast<unsigned char>(c)); }))
      return "control character in path";
    if (slash == std::string_view::npos)
      break;
    start = slash + 1;
  }
  return {};
}

// Checks that every symlink of an archive, resolved inside it (following
// the archive's symlinks met on the way, not the last component: each
// symlink is checked on its own), stays under the root, hopping at most 40
// times as the kernel would.
//
// The walk keeps the resolved path as one string with a hash per depth, so a
// step costs the length of its component, not of the path: a 4095-byte
// target of 2047 components is one pass, not 2047 rebuilt prefixes. A budget
// on the bytes walked (what the archive's own symlinks cost to read, twice,
// plus 64 MiB for hops) bounds what an archive built to make the check slow
// can cost; no real tree comes near it.
class symlink_checker {
public:
  explicit symlink_checker(std::vector<std::pair<std::string_view, std::string_view>> symlinks)
      : symlinks_(std::move(symlinks)) {
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < symlinks_.size(); ++i) {
      by_hash_.emplace(hash(basis, symlinks_[i].first), i);
      bytes += symlinks_[i].first.size() + symlinks_[i].second.size();
    }
    budget_ = initial_budget_ = 2 * bytes + (64u << 20);
  }

  // The first symlink that leaves the root or cannot be checked, with why;
  // nullopt when all stay inside.
  std::optional<std::pair<std::string_view, std::string>> first_problem() {
    for (const auto& [link, target] : symlinks_)
      if (auto problem = check(link, target); !problem.empty())
        return std::pair{link, std::move(problem)};
    return std::nullopt;
  }

private:
  static constexpr std::uint64_t basis = 14695981039346656037ull;

  static std::uint64_t hash(std::uint64_t h, std::string_view bytes) noexcept {
    for (char c : bytes)
      h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull; // FNV-1a
    return h;
  }

  bool spend(std::size_t bytes) noexcept {
    if (bytes > budget_)
      exhausted_ = true;
    else
      budget_ -= bytes;
    return !exhausted_;
  }

  // Adds a component to the resolved path.
  void push(std::string_view component) {
    std::uint64_t h = depth_.empty() ? basis : hash(depth_.back().hash, "/");
    if (!depth_.empty())
      path_ += '/';
    path_ += component;
    depth_.push_back({path_.size(), hash(h, component)});
  }

  void pop() noexcept {
    depth_.pop_back();
    path_.resize(depth_.empty() ? 0 : depth_.back().length);
  }

  // The target of the archive symlink at the resolved path, if it is one.
  std::optional<std::string_view> symlink_here() {
    auto [first, last] = by_hash_.equal_range(depth_.back().hash);
    for (auto it = first; it != last; ++it) {
      const auto& [link, target] = symlinks_[it->second];
      if (!spend(link.size()))
        return std::nullopt;
      if (link == path_)
        return target;
    }
    return std::nullopt;
  }

  // Queues a target's components, first one at the back.
  void push_target(std::string_view target) {
    std::size_t end = target.size();
    for (;;) {
      auto slash = target.rfind('/', end == 0 ? 0 : end - 1);
      if (end == 0 || slash == std::string_view::npos) {
        pending_.push_back(target.substr(0, end));
        return;
      }
      pending_.push_back(target.substr(slash + 1, end - slash - 1));
      end = slash;
    }
  }

  std::string check(std::string_view link, std::string_view target) {
    if (target.empty())
      return "empty symlink target";
    if (target.size() > max_path_bytes)
      return "symlink target longer than 4095 bytes";
    if (target.front() == '/')
      return "absolute symlink target '" + std::string{target} + "'";
    if (target.find('\0') != std::string_view::npos)
      return "NUL in symlink target";

    path_.clear();
    depth_.clear();
    pending_.clear();
    if (!spend(link.size() + target.size()))
      return too_costly();
    for (std::size_t start = 0;;) {
      auto slash = link.find('/', start);
      if (slash == std::string_view::npos)
        break;
      push(link.substr(start, slash - start));
      start = slash + 1;
    }
    push_target(target);

    int hops = 0;
    while (!pending_.empty()) {
      auto part = pending_.back();
      pending_.pop_back();
      if (part.empty() || part == ".")
        continue;
      if (part == "..") {
        if (depth_.empty())
          return "symlink target '" + std::string{target} + "' points outside the release";
        pop();
        continue;
      }
      if (!spend(part.size() + 1))
        return too_costly();
      push(part);
      if (pending_.empty())
        continue;
      auto next = symlink_here();
      if (exhausted_)
        return too_costly();
      if (!next)
        continue;
      if (++hops > max_symlink_hops)
        return "too many levels of symlinks resolving '" + std::string{target} + "'";
      pop();
      if (!next->empty() && next->front() == '/')
        return "symlink target '" + std::string{target} + "' goes through an absolute symlink";
      if (!spend(next->size()))
        return too_costly();
      push_target(*next);
    }
    return {};
  }

  struct level {
    std::size_t length;
    std::uint64_t hash;
  };

  std::string too_costly() const {
    return "the archive's symlinks take too much work to check (more than " +
           std::to_string(initial_budget_) + " bytes walked); use fewer or shorter chains";
  }

  std::vector<std::pair<std::string_view, std::string_view>> symlinks_;
  std::unordered_multimap<std::uint64_t, std::size_t> by_hash_;
  std::size_t budget_ = 0, initial_budget_ = 0;
  bool exhausted_ = false;
  std::string path_;                      ///< the resolved path so far
  std::vector<level> depth_;              ///< path_'s length and hash per component
  std::vector<std::string_view> pending_; ///< components still to walk, next at the back
};

const char hex_digits[] = "0123456789abcdef";

std::string to_hex(const unsigned char* data, std::size_t n) {
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = hex_digits[data[i] >> 4];
    out[2 * i + 1] = hex_digits[data[i] & 0xf];
  }
  return out;
}

} // namespace

std::string archive_error::to_string() const {
  if (path.empty())
    return message;
  std::string out;
  for (char ch : path) {
    auto c = static_cast<unsigned char>(ch);
    if (control(c) || c >= 0x80) {
      out += "\\x";
      out += hex_digits[c >> 4];
      out += hex_digits[c & 0xf];
    } else {
      out += ch;
    }
  }
  return out + ": " + message;
}

std::string version_of(std::string_view archive) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(archive.data(), archive.size(), digest, &length, EVP_sha256(), nullptr) != 1)
    return {};
  return to_hex(digest, length);
}

std::size_t first_new_directory(std::string_view previous, std::string_view path) noexcept {
  return static_cast<std::size_t>(
      std::mismatch(previous.begin(), previous.end(), path.begin(), path.end()).second - path.begin());
}

bool valid_version(std::string_view version) noexcept {
  return version.size() == 64 && std::all_of(version.begin(), version.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

archive_result<std::vector<archive_entry>> read_archive(std::string_view archive,
                                                        const archive_limits& limits) {
  if (archive.size() > limits.max_bytes)
    return archive_error{archive_errc::too_large,
                         {},
                         "archive of " + std::to_string(archive.size()) + " bytes exceeds the limit of " +
                             std::to_string(limits.max_bytes)};
  if (archive.size() < header_size)
    return bad({}, "truncated archive header");
  if (archive.substr(0, 4) != magic)
    return bad({}, "not an ika release archive (bad magic)");
  auto format = read_be(archive.data() + 4, 4);
  if (format != archive_format_version)
    return bad({}, "unsupported archive format version " + std::to_string(format));
  auto count = read_be(archive.data() + 8, 4);
  if (count > limits.max_entries)
    return archive_error{archive_errc::too_large,
                         {},
                         std::to_string(count) + " entries exceed the limit of " +
                             std::to_string(limits.max_entries)};
  if (count > (archive.size() - header_size) / min_entry_size)
    return bad({}, "truncated archive: " + std::to_string(count) + " entries announced");

  std::vector<archive_entry> entries;
  entries.reserve(count);
  // The entries read so far that are string prefixes of the last one, each
  // a prefix of the next (sorted order keeps this a stack): the only ones a
  // later entry can lie under.
  std::vector<std::string_view> prefixes;
  std::size_t directories = 0;
  std::vector<std::pair<std::string_view, std::string_view>> symlinks;
  std::size_t at = header_size;
  auto remaining = [&] { return archive.size() - at; };

  for (std::uint64_t i = 0; i < count; ++i) {
    auto where = "entry " + std::to_string(i + 1);
    if (remaining() < 2)
      return bad({}, "truncated archive at " + where);
    auto length = read_be(archive.data() + at, 2);
    at += 2;
    if (remaining() < length + 12)
      return bad({}, "truncated archive at " + where);
    archive_entry entry;
    entry.path = archive.substr(at, length);
    at += length;
    std::string path{entry.path};
    if (auto problem = path_problem(entry.path); !problem.empty())
      return bad(path, problem);
    auto mode = read_be(archive.data() + at, 4);
    at += 4;
    if (mode != static_cast<std::uint32_t>(entry_mode::file) &&
        mode != static_cast<std::uint32_t>(entry_mode::executable) &&
        mode != static_cast<std::uint32_t>(entry_mode::symlink))
      return bad(
          path, "unsupported entry mode 0" + [mode] {
            char buffer[16];
            std::snprintf(buffer, sizeof buffer, "%llo", static_cast<unsigned long long>(mode));
            return std::string{buffer};
          }());
    entry.mode = static_cast<entry_mode>(mode);
    auto size = read_be(archive.data() + at, 8);
    at += 8;
    if (size > remaining())
      return bad(path, "truncated archive: entry data runs past the end");
    entry.data = archive.substr(at, size);
    at += size;

    if (!entries.empty() && !(entries.back().path < entry.path))
      return bad(path, entries.back().path == entry.path ? "duplicate entry"
                                                         : "entries out of order (must be sorted by path)");
    auto first_new =
        first_new_directory(entries.empty() ? std::string_view{} : entries.back().path, entry.path);
    directories +=
        static_cast<std::size_t>(std::count(entry.path.begin() + first_new, entry.path.end(), '/'));
    if (directories > limits.max_directories)
      return archive_error{archive_errc::too_large,
                           {},
                           "more than " + std::to_string(limits.max_directories) + " directories"};
    while (!prefixes.empty() && !entry.path.starts_with(prefixes.back()))
      prefixes.pop_back();
    for (auto prefix : prefixes)
      if (entry.path[prefix.size()] == '/')
        return bad(path, "lies under the non-directory entry '" + std::string{prefix} + "'");
    prefixes.push_back(entry.path);
    if (entry.mode == entry_mode::symlink)
      symlinks.emplace_back(entry.path, entry.data);
    entries.push_back(entry);
  }
  if (at != archive.size())
    return bad({}, "trailing bytes after the last entry");

  if (auto problem = symlink_checker{std::move(symlinks)}.first_problem())
    return bad(std::string{problem->first}, std::move(problem->second));
  return entries;
}

archive_result<std::string> extract_file(std::string_view archive, std::string_view path,
                                         const archive_limits& limits) {
  auto read = read_archive(archive, limits);
  if (auto* error = std::get_if<archive_error>(&read))
    return std::move(*error);
  for (const auto& entry : std::get<0>(read)) {
    if (entry.path != path)
      continue;
    if (entry.mode == entry_mode::symlink)
      return bad(std::string{path}, "is a symlink, not a regular file");
    return std::string{entry.data};
  }
  return archive_error{archive_errc::not_found, std::string{path}, "no such file in the release"};
}

std::vector<std::string_view> split_chunks(std::string_view archive, std::size_t chunk_size) {
  if (chunk_size == 0)
    chunk_size = default_chunk_size;
  std::vector<std::string_view> out;
  out.reserve(archive.size() / chunk_size + 1);
  for (std::size_t at = 0; at < archive.size(); at += chunk_size)
    out.push_back(archive.substr(at, chunk_size));
  return out;
}

void archive_assembler::digest_deleter::operator()(evp_md_ctx_st* ctx) const noexcept {
  EVP_MD_CTX_free(ctx);
}

archive_result<archive_assembler> archive_assembler::start(std::string_view version, std::uint64_t size,
                                                           const archive_limits& limits) {
  if (!valid_version(version))
    return bad({}, "malformed release version (expected 64 lower-case hex digits)");
  if (size > limits.max_bytes)
    return archive_error{archive_errc::too_large,
                         {},
                         "archive of " + std::to_string(size) + " bytes exceeds the limit of " +
                             std::to_string(limits.max_bytes)};
  if (size < header_size)
    return bad({}, "announced size " + std::to_string(size) + " is too small for an archive");
  archive_assembler out;
  out.digest_.reset(EVP_MD_CTX_new());
  if (!out.digest_ || EVP_DigestInit_ex(out.digest_.get(), EVP_sha256(), nullptr) != 1)
    return archive_error{archive_errc::io, {}, "cannot initialise SHA-256"};
  out.version_ = std::string{version};
  out.size_ = size;
  out.bytes_.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(size, 64u << 20)));
  return out;
}

std::optional<archive_error> archive_assembler::add(std::uint64_t offset, std::string_view chunk) {
  if (!digest_)
    return bad({}, "chunk after the upload was finished");
  if (offset != bytes_.size())
    return bad({}, "chunk at offset " + std::to_string(offset) + ", expected offset " +
                       std::to_string(bytes_.size()));
  if (chunk.size() > size_ - bytes_.size())
    return archive_error{archive_errc::too_large,
                         {},
                         "chunk runs past the announced size of " + std::to_string(size_) + " bytes"};
  if (EVP_DigestUpdate(digest_.get(), chunk.data(), chunk.size()) != 1)
    return archive_error{archive_errc::io, {}, "SHA-256 update failed"};
  bytes_.append(chunk);
  return std::nullopt;
}

archive_result<std::string> archive_assembler::finish() {
  auto digest = std::move(digest_);
  if (!digest)
    return bad({}, "upload already finished");
  if (bytes_.size() != size_)
    return bad({}, "incomplete upload: " + std::to_string(bytes_.size()) + " of " + std::to_string(size_) +
                       " bytes");
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(digest.get(), out, &length) != 1)
    return archive_error{archive_errc::io, {}, "SHA-256 final failed"};
  auto got = to_hex(out, length);
  if (got != version_)
    return archive_error{archive_errc::hash_mismatch,
                         {},
                         "content hashes to " + got + ", not the announced version " + version_};
  return std::move(bytes_);
}

} // namespace ika::deploy
