#pragma once
// An app's kept releases as history: which one was live before the live
// one (what `ika rollback` goes back to), which ones to prune (ika keeps
// the last kept_releases), which one a version prefix names, and the
// release directory chores (counting its files, removing it safely).
// Pure functions over release records, except the two directory helpers.

#include "protocol/records.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ika::deploy {

/// Releases kept per app (the live one always among them).
inline constexpr std::size_t kept_releases = 10;

/// The shortest version prefix `ika rollback` accepts.
inline constexpr std::size_t min_version_prefix = 7;

/// The release that was live before `live`: of the others, the one a deploy
/// or rollback made live most recently (`deployed` set). None when no other
/// release was ever live.
std::optional<std::string> previous_release(const std::vector<protocol::release_record>& releases,
                                            const std::string& live);

/// The versions to delete so that at most `keep` releases remain: the
/// most recently live or created ones are kept (by release_record::updated()),
/// and `live` always is. Sorted by version.
std::vector<std::string> releases_to_prune(const std::vector<protocol::release_record>& releases,
                                           const std::string& live, std::size_t keep = kept_releases);

/// `releases` newest first (by created, then version).
void sort_newest_first(std::vector<protocol::release_record>& releases);

/// What a version or version prefix names among `versions`.
struct version_match {
  std::string version;                 ///< the one it names; empty on error
  std::string error;                   ///< why none: not hex, too short, unknown, ambiguous
  std::vector<std::string> candidates; ///< when ambiguous: the versions it could mean
};

/// Resolves `wanted` (a full version or a unique prefix of at least
/// min_version_prefix lower-case hex digits) among `versions`. Errors name
/// the kept versions (shortened) so the user can pick one.
version_match match_version(const std::vector<std::string>& versions, const std::string& wanted);

/// Files and bytes in a release directory (regular files and symlinks; a
/// symlink counts its target string's size).
struct dir_usage {
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
};

/// Counts `dir` recursively without following symlinks; zeros when it
/// cannot be read.
dir_usage measure_dir(const std::string& dir);

/// Removes a release directory: only when `dir`'s last component is
/// `version` (a valid version, valid_version), its parent is named
/// "releases" and it is not a symlink. "" on success (or when already
/// gone), else why not.
std::string remove_release_dir(const std::string& dir, const std::string& version);

} // namespace ika::deploy
