#include "runtime/process/orphan_registry.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace ika::process {

namespace {

/// The fields of /proc/<pid>/stat after the command (which may hold spaces
/// and parentheses): fields[0] is field 3 (state).
std::optional<std::vector<std::string>> stat_fields(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in)
    return std::nullopt;
  std::string text;
  std::getline(in, text);
  auto close = text.rfind(')');
  if (close == std::string::npos)
    return std::nullopt;
  std::istringstream rest(text.substr(close + 1));
  std::vector<std::string> fields;
  std::string field;
  while (rest >> field)
    fields.push_back(field);
  if (fields.size() < 20)
    return std::nullopt;
  return fields;
}

template <class T>
std::optional<T> parse_number(const std::string& s) {
  if (s.empty() || s.size() > 20)
    return std::nullopt;
  T value = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return std::nullopt;
    value = value * 10 + static_cast<T>(c - '0');
  }
  return value;
}

/// Live (not zombie) processes whose process group is `pgid`, with their
/// start times.
std::vector<std::pair<pid_t, std::uint64_t>> group_members(pid_t pgid) {
  std::vector<std::pair<pid_t, std::uint64_t>> out;
  DIR* d = opendir("/proc");
  if (d == nullptr)
    return out;
  while (auto* e = readdir(d)) {
    auto pid = parse_number<pid_t>(e->d_name);
    if (!pid)
      continue;
    auto f = stat_fields(*pid);
    if (!f || (*f)[0] == "Z" || (*f)[0] == "X")
      continue;
    auto group = parse_number<pid_t>((*f)[2]);
    auto start = parse_number<std::uint64_t>((*f)[19]);
    if (group && start && *group == pgid)
      out.emplace_back(*pid, *start);
  }
  closedir(d);
  return out;
}

bool group_gone(pid_t pgid) {
  return group_members(pgid).empty();
}

} // namespace

std::optional<std::uint64_t> process_start_time(pid_t pid) {
  auto f = stat_fields(pid);
  if (!f)
    return std::nullopt;
  return parse_number<std::uint64_t>((*f)[19]);
}

std::optional<pid_t> process_group_of(pid_t pid) {
  auto f = stat_fields(pid);
  if (!f)
    return std::nullopt;
  return parse_number<pid_t>((*f)[2]);
}

std::string record_child(const std::string& dir, pid_t pid, std::uint64_t start_time) {
  auto path = dir + "/" + std::to_string(pid);
  auto tmp = path + ".tmp";
  auto text = std::to_string(pid) + " " + std::to_string(start_time) + "\n";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return "orphan registry: cannot create " + tmp + ": " + std::strerror(errno);
  auto n = ::write(fd, text.data(), text.size());
  int write_errno = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    ::unlink(tmp.c_str());
    return "orphan registry: cannot write " + tmp + ": " + std::strerror(n < 0 ? write_errno : EIO);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto err = "orphan registry: cannot rename " + tmp + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return err;
  }
  return {};
}

void forget_child(const std::string& dir, pid_t pid) {
  auto path = dir + "/" + std::to_string(pid);
  ::unlink(path.c_str());
}

reap_report reap_orphans(const std::string& dir, int wait_ms) {
  reap_report report;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    if (errno != ENOENT)
      report.errors.push_back("orphan registry: cannot read " + dir + ": " + std::strerror(errno));
    return report;
  }
  std::vector<std::string> names;
  while (auto* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..")
      names.push_back(std::move(name));
  }
  closedir(d);
  for (const auto& name : names) {
    auto path = dir + "/" + name;
    std::ifstream in(path);
    std::string pgid_text;
    std::string start_text;
    in >> pgid_text >> start_text;
    auto pgid = parse_number<pid_t>(pgid_text);
    auto start = parse_number<std::uint64_t>(start_text);
    if (!in || !pgid || !start || *pgid <= 1) {
      report.errors.push_back("orphan registry: " + path + ": not \"<pgid> <start time>\", removed");
    } else if (auto leader_start = process_start_time(*pgid)) {
      if (*leader_start == *start) {
        ::kill(-*pgid, SIGKILL);
        report.killed_groups.push_back(*pgid);
      }
      // Otherwise the pid was recycled: the group cannot exist any more.
    } else {
      auto members = group_members(*pgid);
      bool ours = !members.empty();
      for (auto& [pid, member_start] : members)
        ours = ours && member_start >= *start;
      if (ours) {
        ::kill(-*pgid, SIGKILL);
        report.killed_groups.push_back(*pgid);
      }
    }
    if (::unlink(path.c_str()) == 0)
      ++report.cleared;
    else
      report.errors.push_back("orphan registry: cannot remove " + path + ": " + std::strerror(errno));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (auto pgid : report.killed_groups) {
    while (!group_gone(pgid) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return report;
}

} // namespace ika::process
