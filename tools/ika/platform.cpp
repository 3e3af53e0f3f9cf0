#include "tools/ika/platform.hpp"

#include "actors/secrets.hpp"
#include "actors/store.hpp"
#include "runtime/config/app_manifest.hpp"
#include "runtime/crypto/secret_box.hpp"
#include "runtime/deploy/archive.hpp"
#include "runtime/health/prober.hpp"
#include "runtime/net/io_pool.hpp"
#include "runtime/process/log_file.hpp"
#include "runtime/process/orphan_registry.hpp"
#include "runtime/process/process_supervisor.hpp"

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <openssl/rand.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace ika::tools {

using namespace protocol;
using namespace std::chrono;
namespace fs = std::filesystem;

namespace {

constexpr auto startup_timeout = seconds{30};

std::int64_t unix_ms_of(system_clock::time_point t) {
  return duration_cast<milliseconds>(t.time_since_epoch()).count();
}

/// A loopback port nobody listens on right now (the kernel's choice).
std::uint16_t pick_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return 0;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0)
    port = ntohs(sa.sin_port);
  ::close(fd);
  return port;
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> b(bytes);
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1)
    return {};
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (auto c : b) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

/// The node's id, created once and kept in <data>/node-id; "" with
/// `error` set when it cannot be kept.
std::string node_id(const fs::path& data, std::string& error) {
  auto path = data / "node-id";
  std::ifstream in{path};
  std::string id;
  if (in && std::getline(in, id) && id.size() >= 8 && id.size() <= 64)
    return id;
  id = "node-" + random_hex(8);
  std::ofstream out{path, std::ios::trunc};
  out << id << "\n";
  if (!out.flush()) {
    error = "cannot write " + path.string();
    return {};
  }
  return id;
}

std::string release_dir(const fs::path& data, const std::string& app, const std::string& version) {
  // The app id is "name/env": both validated names, so this stays inside.
  return (data / "apps" / app / "releases" / version).string();
}

manifest_record to_record(const config::app_manifest& m) {
  manifest_record r;
  r.name = m.name;
  r.environment = m.environment;
  r.command = m.command;
  r.instances = m.instances;
  for (const auto& route : m.routes)
    r.routes.push_back(manifest_route{route.host, route.path});
  r.env = m.env;
  if (m.health) {
    r.health.path = m.health->path;
    r.health.interval_ms = static_cast<std::uint64_t>(m.health->interval.count());
    r.health.timeout_ms = static_cast<std::uint64_t>(m.health->timeout.count());
    r.health.healthy_threshold = m.health->healthy_threshold;
    r.health.unhealthy_threshold = m.health->unhealthy_threshold;
  }
  r.stop_timeout_ms = static_cast<std::uint64_t>(m.stop_timeout.count());
  r.start_timeout_ms = static_cast<std::uint64_t>(m.start_timeout.count());
  r.rollout.max_surge = m.rollout.max_surge;
  r.rollout.hold_ms = static_cast<std::uint64_t>(m.rollout.hold.count());
  r.rollout.drain_timeout_ms = static_cast<std::uint64_t>(m.rollout.drain_timeout.count());
  r.demand.idle_timeout_ms = static_cast<std::uint64_t>(m.demand.idle_timeout.count());
  r.cache.enabled = m.cache.enabled;
  r.cache.max_object = m.cache.max_object;
  r.cache.set_cookie = m.cache.set_cookie;
  r.tls.mode = m.tls.mode;
  r.tls.redirect = m.tls.redirect;
  r.demand.max_waiters = m.demand.max_waiters;
  r.demand.wait_timeout_ms = static_cast<std::uint64_t>(m.demand.wait_timeout.count());
  return r;
}

/// Validates an uploaded archive, its manifest, and stores the release.
std::variant<release_spec, std::string> accept_release(const fs::path& data, const std::string& bytes,
                                                       const std::string& version) {
  auto text = deploy::extract_file(bytes, "ika.toml");
  if (auto* err = std::get_if<deploy::archive_error>(&text))
    return "the release has no valid ika.toml: " + err->to_string();
  auto parsed = config::parse_app_manifest(std::get<std::string>(text), "ika.toml");
  if (auto* err = std::get_if<config::config_error>(&parsed))
    return err->to_string();
  const auto& m = std::get<config::app_manifest>(parsed);
  release_spec spec;
  spec.app = m.id();
  spec.version = version;
  spec.manifest = to_record(m);
  spec.dir = release_dir(data, spec.app, version);
  std::error_code ec;
  if (fs::is_directory(spec.dir, ec))
    return spec; // content-addressed: the same bytes were unpacked before
  fs::create_directories(fs::path{spec.dir}.parent_path(), ec);
  if (ec)
    return "cannot create " + fs::path{spec.dir}.parent_path().string() + ": " + ec.message();
  auto unpacked = deploy::unpack_archive(bytes, spec.dir);
  if (auto* err = std::get_if<deploy::archive_error>(&unpacked))
    return "cannot store the release: " + err->to_string();
  return spec;
}

/// "2026-11-26T09:10:00.123Z instance stream text" back into a log_line.
std::optional<log_line> parse_log_line(const std::string& text) {
  std::istringstream in{text};
  std::string ts, instance, stream;
  if (!(in >> ts >> instance >> stream))
    return std::nullopt;
  log_line l;
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(ts.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) == 7) {
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    l.at_ms = static_cast<std::int64_t>(timegm(&tm)) * 1000 + ms;
  }
  l.instance = instance;
  l.stream = stream;
  std::string rest;
  std::getline(in, rest);
  l.text = rest.empty() ? rest : rest.substr(1);
  return l;
}

/// The node's secret key and the sealed secrets the store keeps, checked
/// against each other; or why the node must not start. Writes nothing
/// unless the store holds no secret and the key file does not exist yet
/// (then it creates the key file).
std::string open_secrets(caf::actor_system& sys, const fs::path& data, store_actor store,
                         std::shared_ptr<const crypto::secret_key>& key,
                         std::vector<secret_record>& records) {
  auto path = (data / "secrets.key").string();
  auto loaded = crypto::load_key_file(path);
  caf::scoped_actor self{sys};
  std::string error;
  self->request(store, startup_timeout, list_atom::value, std::string{secret_kind})
      .receive(
          [&](std::vector<versioned_record>& recs) {
            for (const auto& rec : recs) {
              auto r = decode_secret_record(rec.body);
              if (!r) {
                error = "secret " + rec.key + ": " + sys.render(r.error());
                return;
              }
              records.push_back(std::move(*r));
            }
          },
          [&](caf::error& err) { error = sys.render(err); });
  if (!error.empty())
    return "state: " + error;
  if (auto* err = std::get_if<crypto::key_file_error>(&loaded)) {
    if (!err->missing)
      return "secrets: " + err->to_string();
    if (!records.empty())
      return "secrets: " + path + " is missing, and the store holds " + std::to_string(records.size()) +
             " secret(s) sealed with key " + records.front().key_check +
             ": restore that key file (a new key could not open them; nothing was changed)";
    auto created = crypto::create_key_file(path);
    if (auto* cerr = std::get_if<crypto::key_file_error>(&created))
      return "secrets: " + cerr->to_string();
    key = std::get<std::shared_ptr<const crypto::secret_key>>(std::move(created));
    return {};
  }
  key = std::get<std::shared_ptr<const crypto::secret_key>>(std::move(loaded));
  for (const auto& rec : records)
    if (rec.key_check != key->check())
      return "secrets: " + path + " is not the key the stored secrets were sealed with (its check value is " +
             key->check() + ", secret " + rec.key() + " was sealed with " + rec.key_check +
             "): restore the right key file; nothing was changed";
  return {};
}

} // namespace

struct platform::impl {
  caf::actor_system* sys = nullptr;
  fs::path data;
  std::shared_ptr<process::process_supervisor> supervisor;
  std::unique_ptr<net::io_pool> control;
  std::shared_ptr<health::prober> prober;
  store_actor store;
  hlc clock;
  std::vector<release_spec> releases;
  std::vector<actors::admin_config::restored_app> apps;
  std::shared_ptr<const crypto::secret_key> secret_key;
  std::vector<secret_record> secret_records;
  secrets_actor secrets;
  admin_actor admin;
};

std::variant<std::unique_ptr<platform>, std::string> platform::open(caf::actor_system& sys,
                                                                    const std::string& data_dir) {
  std::unique_ptr<platform> p{new platform};
  p->impl_ = std::make_unique<impl>();
  auto& d = *p->impl_;
  d.sys = &sys;
  d.data = fs::absolute(data_dir);
  std::error_code ec;
  fs::create_directories(d.data, ec);
  if (ec)
    return "data dir " + d.data.string() + ": " + ec.message();
  ::chmod(d.data.c_str(), 0700);

  // Instances of a node that was killed (kill -9) and their children.
  auto registry = (d.data / "run" / "instances").string();
  auto reaped = process::reap_orphans(registry);
  if (!reaped.killed_groups.empty())
    p->notes_.push_back("killed " + std::to_string(reaped.killed_groups.size()) +
                        " process group(s) left by a previous run of this node");
  d.supervisor = std::make_shared<process::process_supervisor>(registry);
  d.control = std::make_unique<net::io_pool>(1);
  d.control->start();
  d.prober = std::make_shared<health::prober>(d.control->context(0));

  std::string id_error;
  auto id = node_id(d.data, id_error);
  if (id.empty())
    return id_error;

  d.store = sys.spawn<caf::detached>(actors::store, actors::store_config{});
  caf::scoped_actor self{sys};
  std::string error;
  store_info info;
  self->request(d.store, startup_timeout, open_atom::value, (d.data / "state.db").string())
      .receive([&](store_info& i) { info = std::move(i); },
               [&](caf::error& err) { error = sys.render(err); });
  if (!error.empty())
    return "state: " + error;
  // A wrong or missing key stops the node here, before anything is written.
  if (auto err = open_secrets(sys, d.data, d.store, d.secret_key, d.secret_records); !err.empty()) {
    self->send_exit(d.store, caf::exit_reason::user_shutdown);
    return err;
  }
  d.clock = hlc{0, 0, id}.observe(info.latest, static_cast<std::uint64_t>(unix_ms_of(system_clock::now())));

  // What the node kept: its releases, then its apps.
  self->request(d.store, startup_timeout, list_atom::value, std::string{release_kind})
      .receive(
          [&](std::vector<versioned_record>& recs) {
            for (const auto& rec : recs) {
              auto r = decode_release_record(rec.body);
              if (!r) {
                p->notes_.push_back("release " + rec.key + " skipped: " + sys.render(r.error()));
                continue;
              }
              release_spec spec{r->app, r->version, release_dir(d.data, r->app, r->version), r->manifest};
              if (!fs::is_directory(spec.dir, ec)) {
                p->notes_.push_back("release " + rec.key + " skipped: " + spec.dir + " is missing");
                continue;
              }
              d.releases.push_back(std::move(spec));
            }
          },
          [&](caf::error& err) { error = sys.render(err); });
  self->request(d.store, startup_timeout, list_atom::value, std::string{app_kind})
      .receive(
          [&](std::vector<versioned_record>& recs) {
            for (const auto& rec : recs) {
              auto a = decode_app_record(rec.body);
              if (!a) {
                p->notes_.push_back("app " + rec.key + " skipped: " + sys.render(a.error()));
                continue;
              }
              release_spec spec{a->id, a->release, release_dir(d.data, a->id, a->release), a->manifest};
              if (!fs::is_directory(spec.dir, ec)) {
                p->notes_.push_back("app " + rec.key + " skipped: its release " + spec.dir + " is missing");
                continue;
              }
              d.apps.push_back({std::move(spec), a->desired == desired_state::running});
            }
          },
          [&](caf::error& err) { error = sys.render(err); });
  if (!error.empty())
    return "state: " + error;
  return p;
}

admin_actor platform::start_admin(node_actor node, std::shared_ptr<proxy::backend_registry> registry) {
  auto& d = *impl_;
  auto runtime = std::make_shared<actors::instance_runtime>();
  auto supervisor = d.supervisor;
  runtime->spawn = [supervisor](const actors::launch_spec& spec, instance_actor self, app_actor app,
                                const std::string& instance) {
    process::spawn_spec ps;
    ps.argv = spec.argv;
    ps.env = spec.env;
    ps.cwd = spec.cwd;
    ps.ready_fd = spec.ready_fd;
    auto sink = [self, app, instance](process::process_event ev) {
      std::visit(
          [&](auto& e) {
            using E = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<E, process::ready_event>) {
              caf::anon_send(self, ready_atom::value, static_cast<std::int32_t>(e.pid), e.port);
            } else if constexpr (std::is_same_v<E, process::ready_invalid_event>) {
              caf::anon_send(app, output_atom::value,
                             log_line{unix_ms_of(system_clock::now()), instance, "ika",
                                      "ignored an invalid ready line: " + e.text});
            } else if constexpr (std::is_same_v<E, process::output_event>) {
              caf::anon_send(
                  app, output_atom::value,
                  log_line{unix_ms_of(e.time), instance, process::to_string(e.stream), std::move(e.line)});
            } else {
              std::int32_t code = e.signal != 0 ? -e.signal : e.exit_code;
              caf::anon_send(self, exited_atom::value, static_cast<std::int32_t>(e.pid), code);
            }
          },
          ev);
    };
    supervisor->spawn_async(std::move(ps), std::move(sink), [self](process::spawn_result r) {
      if (auto* err = std::get_if<process::spawn_error>(&r))
        caf::anon_send(self, spawned_atom::value, std::int32_t{0}, err->message);
      else
        caf::anon_send(self, spawned_atom::value, static_cast<std::int32_t>(std::get<pid_t>(r)),
                       std::string{});
    });
  };
  runtime->signal_group = [supervisor](std::int32_t pid, int sig) { supervisor->signal_group(pid, sig); };
  runtime->prober = d.prober;
  runtime->pick_port = pick_port;
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0')
    runtime->home = home;
  auto vault = std::make_shared<actors::secret_vault>(d.secret_key);
  runtime->secret_env = [vault](const std::string& app) { return vault->environment(app); };
  d.secrets = d.sys->spawn(actors::secrets,
                           actors::secrets_config{d.store, d.clock, vault, std::move(d.secret_records)});

  actors::admin_config ac;
  ac.node = std::move(node);
  ac.registry = std::move(registry);
  ac.runtime = runtime;
  auto data = d.data;
  ac.accept_release = [data](const std::string& bytes, const std::string& version) {
    return accept_release(data, bytes, version);
  };
  ac.store = d.store;
  ac.clock = d.clock;
  ac.secrets = d.secrets;
  ac.logs_for = [data](const std::string& app) {
    auto name = app;
    std::replace(name.begin(), name.end(), '/', '.');
    auto path = (data / "logs" / (name + ".log")).string();
    auto file = std::make_shared<process::log_file>();
    auto opened = std::make_shared<bool>(false);
    actors::log_writer writer = [file, opened, path](const log_line& l) {
      if (!*opened) {
        *opened = true;
        if (!file->open(path).empty())
          return;
      }
      if (!file->is_open())
        return;
      auto stream = l.stream == "stderr" ? process::output_stream::err : process::output_stream::out;
      file->append(system_clock::time_point{milliseconds{l.at_ms}}, l.instance, stream, l.text);
    };
    actors::log_reader reader = [path](const log_query& q) {
      std::vector<log_line> out;
      // Read more than asked when filtering by instance.
      auto lines = process::tail_log(path, q.instance.empty() ? q.lines : q.lines * 8);
      if (auto* got = std::get_if<std::vector<std::string>>(&lines))
        for (const auto& text : *got)
          if (auto l = parse_log_line(text); l && (q.instance.empty() || l->instance == q.instance))
            out.push_back(std::move(*l));
      if (out.size() > q.lines)
        out.erase(out.begin(), out.end() - q.lines);
      return out;
    };
    return std::make_pair(writer, reader);
  };
  ac.releases = d.releases;
  ac.apps = d.apps;
  d.admin = d.sys->spawn<caf::detached>(actors::admin, std::move(ac));
  return d.admin;
}

void platform::shut_down(caf::actor_system& sys) {
  auto& d = *impl_;
  caf::scoped_actor self{sys};
  if (d.admin) {
    // Every app's instances get SIGTERM and their stop timeout.
    self->request(d.admin, seconds{300}, drain_atom::value).receive([](ok_atom) {}, [](caf::error&) {});
    self->send_exit(d.admin, caf::exit_reason::user_shutdown);
  }
  if (d.secrets)
    self->send_exit(d.secrets, caf::exit_reason::user_shutdown);
  if (d.store)
    self->send_exit(d.store, caf::exit_reason::user_shutdown);
}

platform::~platform() {
  if (impl_ && impl_->control)
    impl_->control->stop();
}

} // namespace ika::tools
