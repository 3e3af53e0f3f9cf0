#pragma once
// A release archive: an app directory packed into one deterministic byte
// string, its version (the hex SHA-256 of those bytes), the chunks it travels
// in, and a safe unpacker. Nothing here throws; errors are values.
//
// Format, version 1 (integers big-endian):
//
//   header   "IKAR"  u32 format_version (= 1)  u32 entry_count
//   entry    u16 path_length  path  u32 mode  u64 size  size bytes
//
// - Entries are sorted by path, byte-wise, with no duplicates; nothing
//   follows the last entry. Directories are implied by the paths of what
//   they contain (an empty directory is not kept, as in git).
// - Paths are relative, '/'-separated, at most 4095 bytes (PATH_MAX less
//   its NUL: the longest the kernel takes), made of at most 256 components
//   (each directory level costs every later file system call on the path a
//   step: 2,000 levels of "a/" made unpacking one 4 KiB archive take seconds
//   of kernel time) of 1 to 255 bytes that are neither "." nor ".." and
//   contain no NUL or control byte (0x01-0x1f, 0x7f). No entry lies under another non-directory entry (a
//   file or a symlink). Directories are not stored: the paths imply them
//   (at most archive_limits::max_directories).
// - Modes: 0100644 (file), 0100755 (executable file: the owner's x bit when
//   packed), 0120000 (symlink; its bytes are the target). A symlink target is
//   relative, at most 4095 bytes and, resolved inside the archive
//   (following the archive's other symlinks, at most 40 of them), never
//   leaves the archive's root.
// - Nothing else is stored: no owners, times or other permission bits. So the
//   bytes, and the version, depend only on the paths, modes and contents; the
//   reader refuses every non-canonical encoding, so one content has exactly
//   one archive and one version.
//
// Packing a directory leaves out ".git" (at any depth) and whatever the
// directory's `.ikaignore` matches (ignore_rules.hpp); the .ikaignore itself
// is packed unless it lists itself. Symlinks are never followed: one is packed
// as a symlink if its target stays inside the directory (resolved through the
// directory's own symlinks), otherwise packing fails; so do absolute targets,
// fifos, sockets and devices.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

struct evp_md_ctx_st; // OpenSSL's EVP_MD_CTX

namespace ika::deploy {

/// The most components (directory levels, then the name) an entry's path has.
inline constexpr std::size_t max_path_components = 256;

/// What kind of failure an archive_error is, for callers that act on it.
enum class archive_errc {
  io,            ///< a system call failed (reading the app directory, writing the release)
  bad_source,    ///< the directory cannot be packed (special file, symlink leaving it, bad name)
  bad_archive,   ///< the bytes are not a valid archive, or a chunk is out of place
  too_large,     ///< over archive_limits
  target_exists, ///< unpack: the target directory already exists
  hash_mismatch, ///< reassembled bytes do not hash to the announced version
  not_found,     ///< extract_file: no such entry
};

/// A failure: what and, where it concerns one entry or file, which.
struct archive_error {
  archive_errc code = archive_errc::bad_archive;
  std::string path; ///< entry path, or a file system path for io errors; may be empty
  std::string message;

  /// "PATH: MESSAGE" (non-printable bytes of PATH as \xNN), or MESSAGE.
  std::string to_string() const;
};

template <class T>
using archive_result = std::variant<T, archive_error>;

/// Bounds for packing, unpacking and reassembling.
struct archive_limits {
  std::uint64_t max_bytes = 256ull << 20; ///< the whole archive: header, paths and contents
  std::size_t max_entries = 65536;        ///< files and symlinks
  std::size_t max_directories = 65536;    ///< directories the entries' paths imply
};

/// An entry's mode, as stored.
enum class entry_mode : std::uint32_t {
  file = 0100644,
  executable = 0100755,
  symlink = 0120000,
};

/// One entry of a read archive. The views point into the archive's bytes.
struct archive_entry {
  std::string_view path;
  entry_mode mode = entry_mode::file;
  std::string_view data; ///< the file's bytes or the symlink's target
};

/// A packed directory.
struct packed_archive {
  std::string bytes;
  std::string version; ///< version_of(bytes)
  std::size_t entries = 0;
  std::uint64_t content_bytes = 0; ///< sum of file sizes and symlink targets
};

/// The current format version (the u32 after the magic).
inline constexpr std::uint32_t archive_format_version = 1;

/// Packs `dir` (see above). Fails with bad_source, too_large or io.
archive_result<packed_archive> pack_directory(const std::string& dir, const archive_limits& limits = {});

/// The version of an archive: the lower-case hex SHA-256 of its bytes (64 characters).
std::string version_of(std::string_view archive);

/// Whether `version` looks like one: 64 lower-case hex digits (so it is safe
/// as a directory name).
bool valid_version(std::string_view version) noexcept;

/// Parses and validates every rule above. The entries view `archive`.
archive_result<std::vector<archive_entry>> read_archive(std::string_view archive,
                                                        const archive_limits& limits = {});

/// Where the directories `path` implies beyond those of `previous`, the
/// entry before it, begin: each '/' of `path` at or after the returned offset
/// ends a directory no earlier entry implied. (Sorted by path, the entries
/// under a directory are consecutive, so sharing it means sharing it with
/// the previous entry.)
std::size_t first_new_directory(std::string_view previous, std::string_view path) noexcept;

/// The contents of the regular file `path` in `archive` (after validating
/// the whole archive with read_archive), e.g. its "ika.toml", so a node can
/// check the manifest before writing anything. Fails with not_found when no
/// entry has that path, bad_archive when it is a symlink, and as read_archive.
archive_result<std::string> extract_file(std::string_view archive, std::string_view path,
                                         const archive_limits& limits = {});

/// How unpack_archive writes.
struct unpack_options {
  archive_limits limits;
  /// fsync files and directories before the release gets its name, and the
  /// parent after: a release that exists under its name survives a crash.
  bool sync = true;
};

/// What unpack_archive wrote.
struct unpack_summary {
  std::size_t entries = 0;
  std::uint64_t content_bytes = 0;
};

/// Validates `archive` completely (read_archive), then writes it to a fresh
/// directory `.<name>.unpack-XXXXXX` beside `target` and renames that to
/// `target` (which must not exist: target_exists) once everything is written.
/// Files get mode 0644 or 0755, directories 0755. On failure the temporary
/// directory is removed and `target` does not exist; nothing is ever written
/// outside the temporary directory. (A crash may leave the temporary
/// directory behind; it never has the target's name.)
archive_result<unpack_summary> unpack_archive(std::string_view archive, const std::string& target,
                                              const unpack_options& options = {});

/// The default upload chunk size.
inline constexpr std::size_t default_chunk_size = 1u << 20;

/// Cuts `archive` into consecutive views of `chunk_size` bytes (the last may
/// be shorter); `chunk_size` 0 means default_chunk_size.
std::vector<std::string_view> split_chunks(std::string_view archive,
                                           std::size_t chunk_size = default_chunk_size);

/// Reassembles an archive from chunks that arrive in order, hashing as they
/// come, and checks the result against the version announced up front.
class archive_assembler {
public:
  /// Expects `size` bytes whose version is `version`. Fails with
  /// bad_archive (malformed version, size too small for a header) or
  /// too_large (size over limits.max_bytes).
  static archive_result<archive_assembler> start(std::string_view version, std::uint64_t size,
                                                 const archive_limits& limits = {});

  /// Appends the chunk that starts at `offset`, which must be the number of
  /// bytes received so far (else bad_archive) and leave the total within the
  /// announced size (else too_large). Returns nothing on success; on error
  /// nothing changes.
  std::optional<archive_error> add(std::uint64_t offset, std::string_view chunk);

  std::uint64_t received() const noexcept { return bytes_.size(); }
  std::uint64_t size() const noexcept { return size_; }
  bool complete() const noexcept { return bytes_.size() == size_; }

  /// The archive, once complete and hashing to the version; otherwise
  /// bad_archive (incomplete) or hash_mismatch. Either way the assembler is
  /// spent afterwards.
  archive_result<std::string> finish();

private:
  struct digest_deleter {
    void operator()(evp_md_ctx_st* ctx) const noexcept;
  };

  archive_assembler() = default;

  std::string version_;
  std::uint64_t size_ = 0;
  std::string bytes_;
  std::unique_ptr<evp_md_ctx_st, digest_deleter> digest_; ///< SHA-256 of bytes_; null once finished
};

} // namespace ika::deploy
