#include "runtime/process/process_supervisor.hpp"

#include "runtime/process/line_splitter.hpp"
#include "runtime/process/orphan_registry.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace ika::process {

const char* to_string(output_stream s) noexcept {
  return s == output_stream::out ? "stdout" : "stderr";
}

namespace {

using steady = std::chrono::steady_clock;

constexpr std::size_t max_ready_line = 256;

/// Closes an fd once.
struct unique_fd {
  int fd = -1;
  unique_fd() = default;
  explicit unique_fd(int f) : fd(f) {}
  unique_fd(unique_fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  unique_fd& operator=(unique_fd&& o) noexcept {
    reset();
    fd = std::exchange(o.fd, -1);
    return *this;
  }
  ~unique_fd() { reset(); }
  void reset() {
    if (fd >= 0)
      ::close(fd);
    fd = -1;
  }
  int release() { return std::exchange(fd, -1); }
};

bool has_nul(const std::string& s) {
  return s.find('\0') != std::string::npos;
}

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

/// The program to exec, resolved as execvp would, but with the child's PATH.
std::variant<std::string, spawn_error> resolve_program(const spawn_spec& spec) {
  const auto& name = spec.argv.front();
  if (name.find('/') != std::string::npos)
    return name; // relative paths resolve against cwd after chdir, in the child
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (const auto& e : spec.env)
    if (e.rfind("PATH=", 0) == 0)
      path = e.substr(5);
  std::size_t pos = 0;
  while (pos <= path.size()) {
    auto end = path.find(':', pos);
    if (end == std::string::npos)
      end = path.size();
    std::string dir = path.substr(pos, end - pos);
    if (dir.empty())
      dir = ".";
    if (dir.front() != '/' && !spec.cwd.empty())
      dir = spec.cwd + "/" + dir;
    auto candidate = dir + "/" + name;
    if (is_executable_file(candidate))
      return candidate;
    pos = end + 1;
  }
  return spawn_error{"exec " + name + ": " + std::strerror(ENOENT) + " (not found in PATH " + path + ")"};
}

std::optional<std::uint16_t> parse_ready(std::string_view line) {
  if (line.size() < 5 || line.compare(0, 5, "READY") != 0)
    return std::nullopt;
  line.remove_prefix(5);
  if (line.empty() || (line.front() != ' ' && line.front() != '\t'))
    return std::nullopt;
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t'))
    line.remove_prefix(1);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
    line.remove_suffix(1);
  if (line.empty() || line.size() > 5)
    return std::nullopt;
  unsigned port = 0;
  for (char c : line) {
    if (c < '0' || c > '9')
      return std::nullopt;
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (port < 1 || port > 65535)
    return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

/// What the child reports through its CLOEXEC error pipe when it cannot exec.
struct child_failure {
  int stage; // 0: fd setup, 1: chdir, 2: exec, 3: process group
  int error;
};

[[noreturn]] void child_fail(int pipe_fd, int stage) {
  child_failure f{stage, errno};
  [[maybe_unused]] auto n = ::write(pipe_fd, &f, sizeof f);
  ::_exit(127);
}

/// Everything the child needs, prepared before fork (the child may only make
/// async-signal-safe calls).
struct child_plan {
  const char* program;
  char* const* argv;
  char* const* envp;
  const char* cwd; // nullptr: stay
  int devnull, out_w, err_w, ready_w, ready_fd, fail_w;
  pid_t parent;
  sigset_t empty_mask;
};

[[noreturn]] void run_child(const child_plan& p) {
  // Die with the forking thread; if it is gone already, the signal never comes.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != p.parent)
    ::_exit(127);
  int base = std::max(p.ready_fd, 2) + 1;
  int fail = ::fcntl(p.fail_w, F_DUPFD_CLOEXEC, base);
  if (fail < 0)
    child_fail(p.fail_w, 0);
  if (::setpgid(0, 0) != 0)
    child_fail(fail, 3);
  // Copy every source above every target first, so that no dup2 clobbers a
  // source that sits on a target number.
  int in = ::fcntl(p.devnull, F_DUPFD_CLOEXEC, base);
  int out = ::fcntl(p.out_w, F_DUPFD_CLOEXEC, base);
  int err = ::fcntl(p.err_w, F_DUPFD_CLOEXEC, base);
  int ready = p.ready_fd >= 0 ? ::fcntl(p.ready_w, F_DUPFD_CLOEXEC, base) : 0;
  if (in < 0 || out < 0 || err < 0 || ready < 0)
    child_fail(fail, 0);
  if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0)
    child_fail(fail, 0);
  if (p.ready_fd >= 0 && ::dup2(ready, p.ready_fd) < 0)
    child_fail(fail, 0);
  // Close everything but 0, 1, 2, the ready fd and the error pipe (above both).
  unsigned low = 3;
  if (p.ready_fd >= 0) {
    if (p.ready_fd > 3)
      ::close_range(3, static_cast<unsigned>(p.ready_fd) - 1, 0);
    low = static_cast<unsigned>(p.ready_fd) + 1;
  }
  if (static_cast<unsigned>(fail) > low)
    ::close_range(low, static_cast<unsigned>(fail) - 1, 0);
  ::close_range(static_cast<unsigned>(fail) + 1, ~0U, 0);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP)
      ::sigaction(sig, &dfl, nullptr);
  ::sigprocmask(SIG_SETMASK, &p.empty_mask, nullptr);
  if (p.cwd != nullptr && ::chdir(p.cwd) != 0)
    child_fail(fail, 1);
  ::execve(p.program, p.argv, p.envp);
  child_fail(fail, 2);
}

// glibc 2.36's <sys/pidfd.h> lacks extern "C", so the system call is made directly.

enum class fd_kind : std::uint8_t { pidfd, out, err, ready };

} // namespace

struct process_supervisor::impl {
  struct request {
    spawn_spec spec;
    event_sink sink;
    std::function<void(spawn_result)> done;
  };

  struct child {
    pid_t pid = 0;
    event_sink sink;
    unique_fd pidfd, out, err, ready;
    line_splitter out_lines{max_line_bytes};
    line_splitter err_lines{max_line_bytes};
    std::string ready_buf;
    bool ready_done = false;
    bool exited = false;
    exit_event exit;
    steady::time_point drain_deadline;
    std::optional<steady::time_point> kill_deadline; ///< set by stop()
  };

  struct watch {
    pid_t pid;
    fd_kind kind;
  };

  std::string registry_dir;
  unique_fd epfd;
  unique_fd wakefd;
  std::thread thread;

  mutable std::mutex mu;
  std::deque<request> queue;                                       // under mu
  std::unordered_set<pid_t> live;                                  // unreaped children, under mu
  bool stopping = false;                                           // under mu
  std::vector<std::pair<pid_t, steady::time_point>> stop_requests; // under mu

  // Supervisor thread only.
  std::unordered_map<pid_t, std::unique_ptr<child>> children;
  std::unordered_map<int, watch> watches;
  std::array<char, std::size_t{64} * 1024> buf{};

  explicit impl(std::string dir) : registry_dir(std::move(dir)) {
    epfd = unique_fd(::epoll_create1(EPOLL_CLOEXEC));
    wakefd = unique_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (epfd.fd >= 0 && wakefd.fd >= 0) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = wakefd.fd;
      ::epoll_ctl(epfd.fd, EPOLL_CTL_ADD, wakefd.fd, &ev);
    }
    if (!registry_dir.empty())
      make_dirs(registry_dir);
  }

  static void make_dirs(const std::string& path) {
    for (std::size_t pos = 1; pos <= path.size(); ++pos)
      if (pos == path.size() || path[pos] == '/')
        ::mkdir(path.substr(0, pos).c_str(), 0700);
  }

  bool usable() const { return epfd.fd >= 0 && wakefd.fd >= 0; }

  void wake() {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wakefd.fd, &one, sizeof one);
  }

  static void deliver(child& c, process_event ev) {
    if (!c.sink)
      return;
    try {
      c.sink(std::move(ev));
    } catch (...) {
      // A sink must not throw; the supervisor thread must survive one that does.
    }
  }

  // --- spawning (supervisor thread) ---------------------------------------

  spawn_result do_spawn(spawn_spec& spec, event_sink& sink) {
    if (spec.argv.empty() || spec.argv.front().empty())
      return spawn_error{"spawn: empty command"};
    if (spec.ready_fd != -1 && (spec.ready_fd < 3 || spec.ready_fd > 1000))
      return spawn_error{"spawn: ready fd " + std::to_string(spec.ready_fd) + " is not in 3..1000"};
    for (const auto& s : spec.argv)
      if (has_nul(s))
        return spawn_error{"spawn: an argument contains a NUL byte"};
    for (const auto& s : spec.env)
      if (has_nul(s) || s.find('=') == std::string::npos)
        return spawn_error{"spawn: an environment entry is not NAME=value"};
    if (has_nul(spec.cwd))
      return spawn_error{"spawn: cwd contains a NUL byte"};
    auto resolved = resolve_program(spec);
    if (auto* e = std::get_if<spawn_error>(&resolved))
      return *e;
    auto program = std::get<std::string>(std::move(resolved));

    std::vector<char*> argv;
    for (auto& s : spec.argv)
      argv.push_back(s.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& s : spec.env)
      envp.push_back(s.data());
    envp.push_back(nullptr);

    auto sys_error = [](const char* what) {
      return spawn_error{std::string("spawn: ") + what + ": " + std::strerror(errno)};
    };
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0)
      return sys_error("pipe");
    unique_fd out_r(p[0]), out_w(p[1]);
    if (::pipe2(p, O_CLOEXEC) != 0)
      return sys_error("pipe");
    unique_fd err_r(p[0]), err_w(p[1]);
    unique_fd ready_r, ready_w;
    if (spec.ready_fd >= 0) {
      if (::pipe2(p, O_CLOEXEC) != 0)
        return sys_error("pipe");
      ready_r = unique_fd(p[0]);
      ready_w = unique_fd(p[1]);
    }
    if (::pipe2(p, O_CLOEXEC) != 0)
      return sys_error("pipe");
    unique_fd fail_r(p[0]), fail_w(p[1]);
    unique_fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (devnull.fd < 0)
      return sys_error("open /dev/null");

    child_plan plan{};
    plan.program = program.c_str();
    plan.argv = argv.data();
    plan.envp = envp.data();
    plan.cwd = spec.cwd.empty() ? nullptr : spec.cwd.c_str();
    plan.devnull = devnull.fd;
    plan.out_w = out_w.fd;
    plan.err_w = err_w.fd;
    plan.ready_w = ready_w.fd;
    plan.ready_fd = spec.ready_fd;
    plan.fail_w = fail_w.fd;
    plan.parent = ::getpid();
    sigemptyset(&plan.empty_mask);

    // vfork: the child borrows this process's memory until it execs, so
    // nothing is copied. Forking the whole node instead (page tables of a
    // multi-threaded process, then their teardown at exec) was most of an
    // on-demand app's cold start: ~9 ms from fork to the app's main() here,
    // against ~4 ms for a bare fork+exec. The child only makes system calls
    // on its own frame, resets every handler and the mask itself, and ends
    // in execve or _exit; signals stay blocked across vfork so that no
    // handler runs on the borrowed stack.
    sigset_t all, saved;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &saved);
    pid_t pid = ::vfork();
    if (pid == 0)
      run_child(plan);
    int fork_errno = errno;
    ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
    if (pid < 0) {
      errno = fork_errno;
      return sys_error("vfork");
    }

    out_w.reset();
    err_w.reset();
    ready_w.reset();
    fail_w.reset();
    devnull.reset();
    // Recorded before the child can start anything that would outlive it.
    std::string registry_error;
    if (!registry_dir.empty()) {
      auto start = process_start_time(pid);
      registry_error = start ? record_child(registry_dir, pid, *start)
                             : "orphan registry: cannot read /proc/" + std::to_string(pid) + "/stat";
    }

    child_failure failure{};
    ssize_t n;
    do
      n = ::read(fail_r.fd, &failure, sizeof failure);
    while (n < 0 && errno == EINTR);
    auto fail_child = [&](spawn_error e) -> spawn_result {
      ::kill(pid, SIGKILL);
      int status;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      if (!registry_dir.empty())
        forget_child(registry_dir, pid);
      return e;
    };
    if (n > 0) {
      static constexpr const char* stages[] = {"set up fds for", "chdir to", "exec", "setpgid for"};
      const char* stage = failure.stage >= 0 && failure.stage <= 3 ? stages[failure.stage] : "start";
      std::string target = failure.stage == 1 ? spec.cwd : program;
      return fail_child(spawn_error{std::string(stage) + " " + target + ": " + std::strerror(failure.error)});
    }
    if (!registry_error.empty())
      return fail_child(spawn_error{registry_error});
    unique_fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (pidfd.fd < 0)
      return fail_child(sys_error("pidfd_open"));

    auto c = std::make_unique<child>();
    c->pid = pid;
    c->sink = std::move(sink);
    c->pidfd = std::move(pidfd);
    c->out = std::move(out_r);
    c->err = std::move(err_r);
    c->ready = std::move(ready_r);
    c->ready_done = c->ready.fd < 0;
    add_watch(c->pidfd.fd, pid, fd_kind::pidfd);
    add_watch(c->out.fd, pid, fd_kind::out);
    add_watch(c->err.fd, pid, fd_kind::err);
    if (c->ready.fd >= 0)
      add_watch(c->ready.fd, pid, fd_kind::ready);
    {
      std::lock_guard<std::mutex> lock(mu);
      live.insert(pid);
    }
    children.emplace(pid, std::move(c));
    return pid;
  }

  void add_watch(int fd, pid_t pid, fd_kind kind) {
    if (kind != fd_kind::pidfd)
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(epfd.fd, EPOLL_CTL_ADD, fd, &ev);
    watches[fd] = watch{pid, kind};
  }

  void drop_watch(unique_fd& fd) {
    if (fd.fd < 0)
      return;
    ::epoll_ctl(epfd.fd, EPOLL_CTL_DEL, fd.fd, nullptr);
    watches.erase(fd.fd);
    fd.reset();
  }

  // --- events (supervisor thread) -----------------------------------------

  void on_output(child& c, output_stream stream, std::string_view data) {
    auto& lines = stream == output_stream::out ? c.out_lines : c.err_lines;
    auto now = std::chrono::system_clock::now();
    lines.feed(data, [&](std::string line, bool truncated) {
      deliver(c, output_event{c.pid, stream, std::move(line), truncated, now});
    });
  }

  void flush_output(child& c, output_stream stream) {
    auto& lines = stream == output_stream::out ? c.out_lines : c.err_lines;
    auto now = std::chrono::system_clock::now();
    lines.flush([&](std::string line, bool truncated) {
      deliver(c, output_event{c.pid, stream, std::move(line), truncated, now});
    });
  }

  void judge_ready(child& c) {
    c.ready_done = true;
    std::string line;
    line.swap(c.ready_buf);
    if (auto port = parse_ready(line))
      deliver(c, ready_event{c.pid, *port});
    else
      deliver(c, ready_invalid_event{c.pid, std::move(line)});
  }

  void on_ready_data(child& c, std::string_view data) {
    if (c.ready_done)
      return;
    auto nl = data.find('\n');
    c.ready_buf.append(data.substr(0, std::min(nl, max_ready_line - c.ready_buf.size())));
    if (nl != std::string_view::npos || c.ready_buf.size() >= max_ready_line)
      judge_ready(c);
  }

  void on_readable(child& c, fd_kind kind) {
    if (kind == fd_kind::pidfd) {
      on_exit(c);
      return;
    }
    auto& fd = kind == fd_kind::out ? c.out : kind == fd_kind::err ? c.err : c.ready;
    auto n = ::read(fd.fd, buf.data(), buf.size());
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    if (n > 0) {
      std::string_view data(buf.data(), static_cast<std::size_t>(n));
      if (kind == fd_kind::ready)
        on_ready_data(c, data);
      else
        on_output(c, kind == fd_kind::out ? output_stream::out : output_stream::err, data);
      return;
    }
    // EOF (or an error, treated alike).
    if (kind == fd_kind::ready) {
      if (!c.ready_done && !c.ready_buf.empty())
        judge_ready(c);
      c.ready_done = true;
    } else {
      flush_output(c, kind == fd_kind::out ? output_stream::out : output_stream::err);
    }
    drop_watch(fd);
  }

  void on_exit(child& c) {
    int status = 0;
    pid_t r;
    {
      std::lock_guard<std::mutex> lock(mu);
      // The zombie still holds the group id: the rest of the group goes first.
      ::kill(-c.pid, SIGKILL);
      do
        r = ::waitpid(c.pid, &status, WNOHANG);
      while (r < 0 && errno == EINTR);
      if (r == 0)
        return; // not yet a zombie (cannot happen once the pidfd is readable)
      live.erase(c.pid);
    }
    c.exit.pid = c.pid;
    if (r == c.pid && WIFEXITED(status)) {
      c.exit.exit_code = WEXITSTATUS(status);
    } else if (r == c.pid && WIFSIGNALED(status)) {
      c.exit.signal = WTERMSIG(status);
    }
    c.exited = true;
    c.drain_deadline = steady::now() + drain_timeout;
    drop_watch(c.pidfd);
    if (!registry_dir.empty())
      forget_child(registry_dir, c.pid);
  }

  /// Delivers `exit_event` once the pipes are closed or the drain time is up.
  void maybe_finish(pid_t pid, steady::time_point now) {
    auto it = children.find(pid);
    if (it == children.end())
      return;
    auto& c = *it->second;
    if (!c.exited)
      return;
    bool drained = c.out.fd < 0 && c.err.fd < 0 && c.ready.fd < 0;
    if (!drained && now < c.drain_deadline)
      return;
    if (c.out.fd >= 0)
      flush_output(c, output_stream::out);
    if (c.err.fd >= 0)
      flush_output(c, output_stream::err);
    if (!c.ready_done && !c.ready_buf.empty())
      judge_ready(c);
    drop_watch(c.out);
    drop_watch(c.err);
    drop_watch(c.ready);
    deliver(c, c.exit);
    children.erase(it);
  }

  int next_timeout_ms(steady::time_point now) const {
    std::optional<steady::time_point> next;
    auto consider = [&](steady::time_point t) {
      if (!next || t < *next)
        next = t;
    };
    for (const auto& [pid, c] : children) {
      if (c->exited)
        consider(c->drain_deadline);
      else if (c->kill_deadline)
        consider(*c->kill_deadline);
    }
    if (!next)
      return -1;
    if (*next <= now)
      return 0;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(*next - now).count();
    return static_cast<int>(ms);
  }

  void run() {
    sigset_t all;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
    std::array<epoll_event, 64> events{};
    for (;;) {
      int n = ::epoll_wait(epfd.fd, events.data(), static_cast<int>(events.size()),
                           next_timeout_ms(steady::now()));
      for (int i = 0; i < n; ++i) {
        int fd = events[static_cast<std::size_t>(i)].data.fd;
        if (fd == wakefd.fd) {
          std::uint64_t v;
          [[maybe_unused]] auto r = ::read(wakefd.fd, &v, sizeof v);
          continue;
        }
        auto w = watches.find(fd);
        if (w == watches.end())
          continue; // closed by an earlier event of this batch
        auto pid = w->second.pid;
        auto c = children.find(pid);
        if (c == children.end())
          continue;
        on_readable(*c->second, w->second.kind);
      }
      auto now = steady::now();
      std::vector<pid_t> exited;
      for (const auto& [pid, c] : children)
        if (c->exited)
          exited.push_back(pid);
      for (auto pid : exited)
        maybe_finish(pid, now);

      std::deque<request> work;
      std::vector<std::pair<pid_t, steady::time_point>> stops;
      bool stop;
      {
        std::lock_guard<std::mutex> lock(mu);
        work.swap(queue);
        stops.swap(stop_requests);
        stop = stopping;
      }
      for (auto& [pid, deadline] : stops) {
        auto it = children.find(pid);
        if (it == children.end() || it->second->exited)
          continue;
        auto& kd = it->second->kill_deadline;
        kd = kd ? std::min(*kd, deadline) : deadline;
      }
      for (auto& [pid, c] : children) {
        if (c->exited || !c->kill_deadline || *c->kill_deadline > now)
          continue;
        c->kill_deadline.reset();
        std::lock_guard<std::mutex> lock(mu);
        if (live.count(pid) > 0)
          ::kill(-pid, SIGKILL);
      }
      for (auto& r : work) {
        auto result = stop ? spawn_result{spawn_error{"spawn: the process supervisor is stopping"}}
                           : do_spawn(r.spec, r.sink);
        if (r.done)
          r.done(std::move(result));
      }
      if (stop)
        break;
    }
    shutdown();
  }

  void shutdown() {
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto pid : live)
        ::kill(-pid, SIGKILL);
    }
    for (auto& [pid, c] : children) {
      bool reap;
      {
        std::lock_guard<std::mutex> lock(mu);
        reap = live.erase(pid) > 0;
      }
      if (reap) {
        int status;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (!registry_dir.empty())
          forget_child(registry_dir, pid);
      }
      drop_watch(c->pidfd);
      drop_watch(c->out);
      drop_watch(c->err);
      drop_watch(c->ready);
    }
    children.clear();
  }
};

process_supervisor::process_supervisor(std::string registry_dir)
    : impl_(std::make_unique<impl>(std::move(registry_dir))) {
  if (impl_->usable())
    impl_->thread = std::thread([this] { impl_->run(); });
}

process_supervisor::~process_supervisor() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  if (impl_->thread.joinable()) {
    impl_->wake();
    impl_->thread.join();
  }
}

void process_supervisor::spawn_async(spawn_spec spec, event_sink sink,
                                     std::function<void(spawn_result)> done) {
  if (!impl_->thread.joinable()) {
    if (done)
      done(spawn_error{"spawn: the process supervisor could not start (epoll/eventfd failed)"});
    return;
  }
  if (std::this_thread::get_id() == impl_->thread.get_id()) {
    auto result = impl_->do_spawn(spec, sink);
    if (done)
      done(std::move(result));
    return;
  }
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopping) {
      if (done)
        done(spawn_error{"spawn: the process supervisor is stopping"});
      return;
    }
    impl_->queue.push_back(impl::request{std::move(spec), std::move(sink), std::move(done)});
  }
  impl_->wake();
}

spawn_result process_supervisor::spawn(spawn_spec spec, event_sink sink) {
  auto promise = std::make_shared<std::promise<spawn_result>>();
  auto future = promise->get_future();
  spawn_async(std::move(spec), std::move(sink),
              [promise](spawn_result r) { promise->set_value(std::move(r)); });
  return future.get();
}

bool process_supervisor::signal_group(pid_t pid, int sig) {
  if (pid <= 1)
    return false;
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->live.count(pid) == 0)
    return false;
  return ::kill(-pid, sig) == 0;
}

bool process_supervisor::stop(pid_t pid, std::chrono::milliseconds grace) {
  if (pid <= 1)
    return false;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->live.count(pid) == 0)
      return false;
    ::kill(-pid, SIGTERM);
    impl_->stop_requests.emplace_back(pid, steady::now() + grace);
  }
  impl_->wake();
  return true;
}

std::size_t process_supervisor::live_children() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->live.size();
}

} // namespace ika::process
