#include "runtime/deploy/release_history.hpp"

#include "runtime/deploy/archive.hpp"

#include <algorithm>
#include <filesystem>
#include <set>
#include <system_error>

namespace ika::deploy {

namespace fs = std::filesystem;
using protocol::hlc;
using protocol::release_record;

namespace {

bool lower_hex(const std::string& s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string shortened(const std::vector<std::string>& versions) {
  std::string out;
  for (const auto& v : versions)
    out += (out.empty() ? "" : ", ") + v.substr(0, 12);
  return out.empty() ? "none" : out;
}

} // namespace

std::optional<std::string> previous_release(const std::vector<release_record>& releases,
                                            const std::string& live) {
  const release_record* best = nullptr;
  for (const auto& r : releases) {
    if (r.version == live || r.deployed.physical_ms == 0)
      continue;
    if (best == nullptr || r.deployed > best->deployed)
      best = &r;
  }
  if (best == nullptr)
    return std::nullopt;
  return best->version;
}

std::vector<std::string> releases_to_prune(const std::vector<release_record>& releases,
                                           const std::string& live, std::size_t keep) {
  std::vector<const release_record*> order;
  for (const auto& r : releases)
    order.push_back(&r);
  std::sort(order.begin(), order.end(), [](const release_record* a, const release_record* b) {
    if (a->updated() != b->updated())
      return a->updated() > b->updated();
    return a->version > b->version;
  });
  std::set<std::string> kept;
  if (std::any_of(order.begin(), order.end(), [&](const release_record* r) { return r->version == live; }))
    kept.insert(live);
  for (const auto* r : order)
    if (kept.size() < keep)
      kept.insert(r->version);
  std::set<std::string> pruned;
  for (const auto* r : order)
    if (!kept.count(r->version))
      pruned.insert(r->version);
  return {pruned.begin(), pruned.end()};
}

void sort_newest_first(std::vector<release_record>& releases) {
  std::sort(releases.begin(), releases.end(), [](const release_record& a, const release_record& b) {
    if (a.created != b.created)
      return a.created > b.created;
    return a.version > b.version;
  });
}

version_match match_version(const std::vector<std::string>& versions, const std::string& wanted) {
  version_match m;
  if (wanted.size() < min_version_prefix || !lower_hex(wanted)) {
    m.error = "'" + wanted + "' is not a release version: give at least " +
              std::to_string(min_version_prefix) +
              " lower-case hex digits of one (kept: " + shortened(versions) + ")";
    return m;
  }
  for (const auto& v : versions)
    if (v.compare(0, wanted.size(), wanted) == 0)
      m.candidates.push_back(v);
  if (m.candidates.size() == 1) {
    m.version = m.candidates.front();
    m.candidates.clear();
    return m;
  }
  if (m.candidates.empty())
    m.error = "no kept release matches '" + wanted + "' (kept: " + shortened(versions) + ")";
  else
    m.error = "'" + wanted + "' matches " + std::to_string(m.candidates.size()) +
              " releases: " + shortened(m.candidates) + "; give more digits";
  return m;
}

dir_usage measure_dir(const std::string& dir) {
  dir_usage u;
  std::error_code ec;
  fs::recursive_directory_iterator it{dir, fs::directory_options::none, ec}, end;
  for (; !ec && it != end; it.increment(ec)) {
    auto st = it->symlink_status(ec);
    if (ec)
      break;
    if (fs::is_symlink(st)) {
      ++u.files;
      u.bytes += fs::read_symlink(it->path(), ec).native().size();
    } else if (fs::is_regular_file(st)) {
      ++u.files;
      u.bytes += it->file_size(ec);
    }
    ec.clear();
  }
  return u;
}

std::string remove_release_dir(const std::string& dir, const std::string& version) {
  fs::path p{dir};
  if (!valid_version(version) || p.filename() != version || p.parent_path().filename() != "releases")
    return "refusing to remove " + dir + ": not the directory of release " + version;
  std::error_code ec;
  auto st = fs::symlink_status(p, ec);
  if (st.type() == fs::file_type::not_found)
    return {};
  if (ec)
    return "cannot remove " + dir + ": " + ec.message();
  if (!fs::is_directory(st))
    return "refusing to remove " + dir + ": not a directory";
  fs::remove_all(p, ec);
  if (ec)
    return "cannot remove " + dir + ": " + ec.message();
  return {};
}

} // namespace ika::deploy
