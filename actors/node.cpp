#include "actors/node.hpp"

#include "actors/cache_shard.hpp"
#include "actors/certificate.hpp"
#include "actors/listener.hpp"

#include "runtime/crypto/certs.hpp"
#include "runtime/crypto/ocsp.hpp"
#include "runtime/net/endpoint.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/sec.hpp>

#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <algorithm>
#include <functional>
#include <string>
#include <system_error>
#include <utility>

namespace ika::actors {

using namespace protocol;

namespace {

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names)
    out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "no names" : out;
}

} // namespace

std::string node_state::open_listeners() {
  auto count = config.workers != 0 ? std::to_string(config.workers) : std::string{"one per core"};
  // Each io thread holds three descriptors (epoll, its interrupter, a
  // timer); refuse up front, with the way out, rather than half-way through.
  unsigned threads = net::io_pool::thread_count(config.workers);
  rlimit fds{};
  constexpr rlim_t spare_fds = 64; // listeners, the store, logs, the first connections
  if (::getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur != RLIM_INFINITY &&
      rlim_t{threads} * 3 + spare_fds > fds.rlim_cur)
    return "cannot start the io threads (" + count + "): they need " +
           std::to_string(threads * 3 + spare_fds) + " file descriptors and the limit is " +
           std::to_string(fds.rlim_cur) + " (ulimit -n)";
  try {
    pool = std::make_unique<net::io_pool>(config.workers);
    workers = std::make_unique<proxy::workers>(*pool, config.limits);
  } catch (const std::system_error& e) { // out of threads, memory, descriptors others took
    return "cannot start the io threads (" + count + "): " + e.what();
  }
  for (const auto& l : config.listeners) {
    auto ep = net::parse_endpoint(l.address);
    if (!ep)
      return "listener " + l.name + ": invalid address '" + l.address + "'";
    auto s = std::make_shared<proxy::server>(*pool, *workers, l.name, *ep, config.limits);
    std::string error;
    if (l.tls && !s->enable_tls(error))
      return "listener " + l.name + ": " + error;
    if (auto ec = s->open())
      return "listener " + l.name + ": cannot listen on " + l.address + ": " + ec.message();
    servers.push_back(std::move(s));
  }
  // Plain HTTP redirects to the first HTTPS listener, and answers ACME's
  // challenges.
  for (const auto& s : servers)
    if (s->secure() && https_port == 0)
      https_port = s->local_endpoint().port();
  for (auto& s : servers)
    if (!s->secure()) {
      s->set_https_port(https_port);
      s->set_challenges(challenges);
    }
  if (https_port != 0)
    return load_configured_certificates();
  return {};
}

std::string node_state::load_configured_certificates() {
  // Certificates from files: each under the names it covers; the first
  // [[certificate]] is the default too. A route's own must cover its host.
  for (std::size_t i = 0; i < config.certificates.size(); ++i) {
    const auto& c = config.certificates[i];
    std::string error;
    bool fallback = i == 0 && c.route_host.empty();
    auto names = load_certificate({}, c.chain_file, c.key_file, /*all_names=*/true, fallback, error);
    if (!names)
      return "certificate " + c.chain_file + ": " + error;
    if (!c.route_host.empty() && std::ranges::none_of(*names, [&](const std::string& n) {
          return crypto::certificate_name_serves(n, c.route_host);
        }))
      return "certificate " + c.chain_file + " does not cover its route's host " + c.route_host +
             " (it covers " + join_names(*names) + ")";
    file_names.insert(names->begin(), names->end());
    // Its actor watches the files; it goes by the first name.
    file_certificates.push_back({names->empty() ? std::string{} : names->front(), c});
  }
  if (!certificates.contains("")) {
    // No file gives a default: the local CA makes one, so a name without a
    // certificate gets a clean 404 instead of a failed handshake.
    if (config.data_dir.empty())
      return "an HTTPS listener needs a certificate ([[certificate]], or --cert and --key)";
    auto ca = crypto::ensure_local_ca(config.data_dir);
    if (auto* e = std::get_if<crypto::credential_error>(&ca))
      return "local CA: " + e->to_string();
    auto issued = crypto::issue_local_certificate(std::get<crypto::local_ca>(ca).authority, {"ika.invalid"},
                                                  crypto::local_certificate_validity);
    if (auto* e = std::get_if<crypto::credential_error>(&issued))
      return "default certificate: " + e->to_string();
    auto& pair = std::get<crypto::issued_certificate>(issued);
    std::string error;
    auto cert = net::make_tls_certificate("", pair.chain_pem, pair.key_pem, error);
    if (!cert)
      return "default certificate: " + error;
    certificates.emplace("", std::move(cert));
  }
  publish_certificates();
  return {};
}

std::optional<std::vector<std::string>>
node_state::load_certificate(const std::string& name, const std::string& chain_file,
                             const std::string& key_file, bool all_names, bool fallback, std::string& error,
                             const std::string& ocsp_staple) {
  auto files = crypto::read_certificate_files(chain_file, key_file);
  if (auto* e = std::get_if<crypto::credential_error>(&files)) {
    error = e->to_string();
    return std::nullopt;
  }
  auto& f = std::get<crypto::certificate_files>(files);
  std::vector<std::string> names = all_names ? f.info.names : std::vector<std::string>{name};
  // The staple was checked by the certificate's actor against the chain it
  // read; the files may have changed since.
  net::tls_staple staple;
  if (!ocsp_staple.empty()) {
    auto checked = crypto::check_ocsp_response(ocsp_staple, f.chain_pem, std::chrono::system_clock::now());
    if (auto* e = std::get_if<crypto::credential_error>(&checked)) {
      spdlog::warn("certificate {}: OCSP staple not used: {}", name.empty() ? chain_file : name,
                   e->to_string());
    } else {
      auto& good = std::get<crypto::ocsp_staple>(checked);
      staple = {std::move(good.der), good.next_update};
    }
  }
  auto cert = net::make_tls_certificate(names.empty() ? std::string{} : names.front(), f.chain_pem, f.key_pem,
                                        error, std::move(staple));
  if (!cert)
    return std::nullopt;
  for (const auto& n : names)
    certificates[n] = cert;
  if (fallback)
    certificates[""] = cert;
  return names;
}

void node_state::publish_certificates() {
  auto table = std::make_shared<net::certificate_table>();
  for (const auto& [name, cert] : certificates)
    if (!name.empty())
      table->add(name, cert);
  if (auto it = certificates.find(""); it != certificates.end())
    table->set_fallback(it->second);
  for (auto& s : servers)
    if (s->secure())
      s->publish_certificates(table);
}

std::string certificate_source(const route_spec& route) {
  if (route.tls == "off" || route.host == "*" || route.host.starts_with("*.") ||
      !crypto::valid_certificate_name(route.host))
    return {};
  if (!route.tls.empty())
    return route.tls;
  return crypto::is_local_name(route.host) ? "self-signed" : "acme";
}

void spawn_added_certificate(node_pointer self, const std::string& name) {
  auto& st = self->state;
  auto dir = crypto::host_certificate_dir_of(st.added_certificates_dir(), name);
  if (auto* e = std::get_if<crypto::credential_error>(&dir)) {
    spdlog::error("certificate {}: {}", name, e->to_string());
    return;
  }
  certificate_settings cs;
  cs.name = name;
  cs.source = "files";
  cs.data_dir = st.config.data_dir;
  cs.chain_file = cs.key_file = std::get<std::filesystem::path>(dir) / "certificate.pem";
  st.certificate_sources[name] = "files";
  st.certificate_actors.emplace(name, self->spawn<caf::linked + caf::detached>(
                                          certificate, std::move(cs), caf::actor_cast<caf::actor>(self)));
}

void ensure_certificates(node_pointer self) {
  auto& st = self->state;
  if (st.https_port == 0)
    return;
  // Configured files: watched for changes by their actors.
  for (const auto& fc : st.file_certificates) {
    if (fc.name.empty() || st.certificate_actors.contains(fc.name))
      continue;
    certificate_settings cs;
    cs.name = fc.name;
    cs.source = "files";
    cs.data_dir = st.config.data_dir;
    cs.chain_file = std::filesystem::absolute(fc.files.chain_file);
    cs.key_file = std::filesystem::absolute(fc.files.key_file);
    st.certificate_sources[fc.name] = "files";
    st.certificate_actors.emplace(
        fc.name, self->spawn<caf::linked + caf::detached>(certificate, std::move(cs),
                                                          caf::actor_cast<caf::actor>(self)));
  }
  if (st.config.data_dir.empty())
    return;
  // Certificates added with `ika certs add` come before anything made.
  for (const auto& name : crypto::saved_certificate_names(st.added_certificates_dir()))
    if (!st.certificate_actors.contains(name))
      spawn_added_certificate(self, name);
  for (const auto& route : st.all_routes()) {
    auto source = certificate_source(route);
    if (source.empty() || st.file_names.contains(route.host) || st.certificate_actors.contains(route.host))
      continue;
    certificate_settings cs;
    cs.name = route.host;
    cs.source = source;
    cs.data_dir = st.config.data_dir;
    cs.acme.directory_url = st.config.acme.directory;
    cs.acme.ca_bundle = st.config.acme.ca_bundle;
    cs.acme.contact_email = st.config.acme.email;
    cs.acme.account_key_file = (crypto::certs_dir_of(st.config.data_dir) / "acme-account.key").string();
    cs.tokens = st.challenges;
    spdlog::info("certificate {}: {} certificate requested", route.host, source);
    st.certificate_sources[route.host] = source;
    st.certificate_actors.emplace(
        route.host, self->spawn<caf::linked + caf::detached>(certificate, std::move(cs),
                                                             caf::actor_cast<caf::actor>(self)));
  }
}

void node_state::shut_down_io() {
  if (pool)
    pool->stop();
  // Order matters: io objects (acceptors, pooled connections, timers) die
  // before their io contexts; listener actors may still hold a server.
  for (auto& s : servers)
    s->release_io();
  servers.clear();
  workers.reset();
  pool.reset();
}

std::string node_state::check_claim(const std::string& app, const std::vector<route_spec>& routes) const {
  for (const auto& r : routes) {
    if (r.app != app)
      return "route " + r.host + " " + r.path + " names app '" + r.app + "', not '" + app + "'";
    for (const auto& s : config.routes)
      if (r.same_place(s))
        return "route " + r.host + " " + r.path + " is taken by the node's configuration";
    for (const auto& [owner, owned] : app_routes)
      if (owner != app)
        for (const auto& o : owned)
          if (r.same_place(o))
            return "route " + r.host + " " + r.path + " is taken by app " + owner;
  }
  return {};
}

std::vector<route_spec> node_state::all_routes() const {
  auto all = config.routes;
  for (const auto& [app, routes] : app_routes)
    all.insert(all.end(), routes.begin(), routes.end());
  return all;
}

std::vector<app_backends> node_state::all_backends() const {
  std::vector<app_backends> all;
  for (const auto& [app, b] : backends)
    all.push_back(b);
  return all;
}

node_state::~node_state() {
  shut_down_io();
}

namespace {

node_status make_status(node_pointer self) {
  node_status s;
  s.version = IKA_VERSION;
  for (const auto& srv : self->state.servers) {
    listener_status l;
    l.name = srv->name();
    l.address = net::to_string(srv->local_endpoint());
    l.connections = srv->connections();
    l.requests = srv->requests();
    l.routes = static_cast<std::uint32_t>(srv->routes());
    l.tls = srv->secure();
    s.listeners.push_back(std::move(l));
  }
  return s;
}

/// Sends `msg` to every listener and delivers `done` once all replied.
template <class Result, class Done, class... Ts>
void fan_out(node_pointer self, Done done, Ts... xs) {
  auto& ls = self->state.listeners;
  if (ls.empty()) {
    done(std::vector<Result>{});
    return;
  }
  auto results = std::make_shared<std::vector<Result>>();
  auto pending = std::make_shared<std::size_t>(ls.size());
  for (auto& l : ls)
    self->request(l, caf::infinite, xs...)
        .then(
            [=](Result r) mutable {
              results->push_back(std::move(r));
              if (--*pending == 0)
                done(std::move(*results));
            },
            [=](caf::error& err) mutable {
              spdlog::error("listener did not answer: {}", self->system().render(err));
              if (--*pending == 0)
                done(std::move(*results));
            });
}

/// Sends the whole routing state to every listener; `done` runs once all of
/// them published it.
void publish_then(node_pointer self, std::function<void()> done) {
  auto& st = self->state;
  fan_out<ok_atom>(
      self, [done](std::vector<ok_atom>) { done(); }, routes_atom::value, st.all_routes(), st.all_backends());
}

/// publish_then for a request: the reply comes once every listener has it.
/// (Only from a handler of a request: a promise made for a plain send
/// would answer the sender with a message it does not expect.)
caf::typed_response_promise<ok_atom> publish(node_pointer self) {
  auto promise = self->make_response_promise<ok_atom>();
  publish_then(self, [promise]() mutable { promise.deliver(ok_atom::value); });
  return promise;
}

} // namespace

node_actor::behavior_type node(node_pointer self, config::node_config config,
                               std::shared_ptr<proxy::backend_registry> registry) {
  if (registry)
    self->state.registry = std::move(registry);
  self->state.config = std::move(config);
  self->attach_functor([self](const caf::error& reason) {
    if (reason && reason != caf::exit_reason::user_shutdown)
      spdlog::error("node actor stopped: {}", self->system().render(reason));
  });
  return {
      [self](start_atom) -> caf::result<node_status> {
        auto& st = self->state;
        if (st.started)
          return make_status(self);
        auto table = std::make_shared<proxy::route_table>();
        if (auto err = proxy::route_table::compile(st.all_routes(), st.all_backends(), *st.registry, *table);
            !err.empty())
          return caf::make_error(caf::sec::invalid_argument, err);
        if (auto err = st.open_listeners(); !err.empty()) {
          st.shut_down_io();
          return caf::make_error(caf::sec::cannot_open_port, err);
        }
        if (st.config.cache.memory > 0) {
          cache::settings cs;
          cs.memory = st.config.cache.memory;
          cs.shards = st.config.cache.shards != 0 ? st.config.cache.shards : st.pool->size();
          cs.max_object = st.config.cache.max_object;
          cs.lock_timeout = st.config.cache.lock_timeout;
          st.cache = std::make_shared<cache::store>(cs);
          for (std::size_t i = 0; i < st.cache->size(); ++i)
            st.cache_shards.push_back(self->spawn<caf::linked>(cache_shard, st.cache, i));
          for (std::size_t i = 0; i < st.workers->size(); ++i)
            st.workers->at(i).cache = st.cache.get();
        }
        // Routes first, then accepting, then the io threads: the first
        // request already sees the table. Later changes go through the
        // listener actors.
        for (auto& s : st.servers) {
          s->publish(table);
          s->start();
          st.listeners.push_back(self->spawn(listener, s, st.registry));
        }
        st.pool->start();
        st.started = true;
        ensure_certificates(self);
        return make_status(self);
      },
      [self](routes_atom, const std::vector<route_spec>& routes) -> caf::result<ok_atom> {
        auto& st = self->state;
        for (const auto& r : routes)
          if (!r.app.empty())
            return caf::make_error(caf::sec::invalid_argument, "static routes cannot name an app");
        for (const auto& [owner, owned] : st.app_routes)
          for (const auto& r : routes)
            for (const auto& o : owned)
              if (r.same_place(o))
                return caf::make_error(caf::sec::invalid_argument,
                                       "route " + r.host + " " + r.path + " is taken by app " + owner);
        auto previous = std::exchange(st.config.routes, routes);
        proxy::route_table table;
        if (auto err = proxy::route_table::compile(st.all_routes(), table, {}); !err.empty()) {
          st.config.routes = std::move(previous);
          return caf::make_error(caf::sec::invalid_argument, err);
        }
        ensure_certificates(self);
        return publish(self);
      },
      [self](claim_atom, const std::string& app,
             const std::vector<route_spec>& routes) -> caf::result<ok_atom> {
        auto& st = self->state;
        if (auto err = st.check_claim(app, routes); !err.empty())
          return caf::make_error(caf::sec::invalid_argument, err);
        auto previous = st.app_routes[app];
        if (routes.empty())
          st.app_routes.erase(app);
        else
          st.app_routes[app] = routes;
        proxy::route_table table;
        if (auto err = proxy::route_table::compile(st.all_routes(), table, {}); !err.empty()) {
          if (previous.empty())
            st.app_routes.erase(app);
          else
            st.app_routes[app] = std::move(previous);
          return caf::make_error(caf::sec::invalid_argument, err);
        }
        ensure_certificates(self);
        return publish(self);
      },
      [self](backends_atom, const app_backends& b) -> caf::result<ok_atom> {
        auto& st = self->state;
        if (b.backends.empty() && !st.app_routes.count(b.app))
          st.backends.erase(b.app);
        else
          st.backends[b.app] = b;
        // The app vouches for every instance it lists: no longer suspect.
        for (const auto& spec : b.backends)
          st.registry->stats(spec.instance)->suspect.store(false, std::memory_order_relaxed);
        return publish(self);
      },
      [self](status_atom) { return make_status(self); },
      [self](purge_atom, const std::string& app, const std::string& prefix) -> caf::result<std::uint64_t> {
        auto& shards = self->state.cache_shards;
        if (shards.empty())
          return std::uint64_t{0};
        auto promise = self->make_response_promise<std::uint64_t>();
        auto total = std::make_shared<std::uint64_t>(0);
        auto pending = std::make_shared<std::size_t>(shards.size());
        for (auto& s : shards)
          self->request(s, caf::infinite, purge_atom::value, app, prefix)
              .then(
                  [=](std::uint64_t n) mutable {
                    *total += n;
                    if (--*pending == 0)
                      promise.deliver(*total);
                  },
                  [=](caf::error&) mutable {
                    if (--*pending == 0)
                      promise.deliver(*total);
                  });
        return promise;
      },
      [self](cache_atom) -> caf::result<cache_status> {
        auto& st = self->state;
        cache_status out;
        if (!st.cache)
          return out;
        out.budget = st.cache->config().memory;
        out.max_object = st.cache->config().max_object;
        auto promise = self->make_response_promise<cache_status>();
        auto result = std::make_shared<cache_status>(std::move(out));
        auto pending = std::make_shared<std::size_t>(st.cache_shards.size());
        for (auto& s : st.cache_shards)
          self->request(s, caf::infinite, cache_atom::value)
              .then(
                  [=](cache_shard_status& r) mutable {
                    result->shards.push_back(std::move(r));
                    if (--*pending == 0)
                      promise.deliver(std::move(*result));
                  },
                  [=](caf::error&) mutable {
                    if (--*pending == 0)
                      promise.deliver(std::move(*result));
                  });
        return promise;
      },
      [self](certificate_atom, const certificate_status& cs) {
        auto& st = self->state;
        // Only the name's current actor speaks for it (a replaced one, of
        // another source, may still have a message on the way).
        auto current = st.certificate_sources.find(cs.name);
        if (current == st.certificate_sources.end() || current->second != cs.source)
          return;
        auto& known = st.certificate_news[cs.name];
        bool fresh = cs.generation != known.generation || cs.chain_file != known.chain_file ||
                     cs.ocsp_staple != known.ocsp_staple;
        if (!cs.ocsp_error.empty() && cs.ocsp_error != known.ocsp_error)
          spdlog::warn("certificate {}: OCSP: {}{}", cs.name, cs.ocsp_error,
                       cs.ocsp_staple.empty() ? "" : " (the current staple is kept until it expires)");
        known = cs;
        if (!fresh || cs.chain_file.empty())
          return;
        std::string error;
        // Files cover the names in them (the first configured file is the
        // default too); a name's own certificate covers that name.
        bool files = cs.source == "files";
        bool fallback =
            files && !st.file_certificates.empty() && st.file_certificates.front().name == cs.name;
        if (!st.load_certificate(cs.name, cs.chain_file, cs.key_file, files, fallback, error,
                                 cs.ocsp_staple)) {
          spdlog::error("certificate {}: {}", cs.name, error);
          return;
        }
        spdlog::info(
            "certificate {}: {} certificate loaded (valid until {}){}", cs.name, cs.source, cs.not_after,
            cs.ocsp_staple.empty() ? std::string{}
                                   : ", OCSP response stapled until " + std::to_string(cs.ocsp_until));
        st.publish_certificates();
      },
      [self](certificate_atom) {
        std::vector<certificate_status> out;
        for (const auto& [name, cs] : self->state.certificate_news)
          out.push_back(cs);
        return out;
      },
      [self](certificate_atom, const std::string& raw_host, const std::string& chain_pem,
             const std::string& key_pem) -> caf::result<certificate_status> {
        auto& st = self->state;
        auto host = crypto::canonical_certificate_name(raw_host);
        if (!crypto::valid_certificate_name(host))
          return caf::make_error(caf::sec::invalid_argument, "invalid host name '" + raw_host + "'");
        if (st.config.data_dir.empty() || st.https_port == 0)
          return caf::make_error(caf::sec::invalid_argument, "the node has no HTTPS listener");
        auto info = crypto::inspect_certificate(chain_pem, key_pem);
        if (auto* e = std::get_if<crypto::credential_error>(&info))
          return caf::make_error(caf::sec::invalid_argument, e->message);
        auto& ci = std::get<crypto::certificate_info>(info);
        if (!ci.covers(host))
          return caf::make_error(caf::sec::invalid_argument, "the certificate does not cover " + host);
        if (auto err = crypto::save_host_certificate(st.added_certificates_dir(), host, chain_pem, key_pem))
          return caf::make_error(caf::sec::invalid_argument, err->to_string());
        // Its own files actor from now on (replacing an ACME or local one).
        if (auto it = st.certificate_actors.find(host); it != st.certificate_actors.end()) {
          self->unlink_from(it->second);
          self->send_exit(it->second, caf::exit_reason::user_shutdown);
          st.certificate_actors.erase(it);
        }
        spawn_added_certificate(self, host);
        certificate_status out;
        out.name = host;
        out.source = "files";
        out.state = "valid";
        out.issuer = ci.issuer;
        out.not_before = std::chrono::system_clock::to_time_t(ci.not_before);
        out.not_after = std::chrono::system_clock::to_time_t(ci.not_after);
        return out;
      },
      [self](renew_atom, const std::string& name) -> caf::result<certificate_status> {
        auto it = self->state.certificate_actors.find(name);
        if (it == self->state.certificate_actors.end())
          return caf::make_error(caf::sec::invalid_argument, "no certificate for '" + name + "'");
        return self->delegate(it->second, renew_atom::value);
      },
      [self](drain_atom, caf::timespan timeout) -> caf::result<drain_result> {
        auto promise = self->make_response_promise<drain_result>();
        fan_out<drain_result>(
            self,
            [promise](std::vector<drain_result> rs) mutable {
              drain_result total;
              for (auto& r : rs) {
                total.complete &= r.complete;
                total.abandoned += r.abandoned;
              }
              promise.deliver(total);
            },
            drain_atom::value, timeout);
        return promise;
      },
      [self](stop_atom) -> caf::result<ok_atom> {
        auto promise = self->make_response_promise<ok_atom>();
        fan_out<ok_atom>(
            self,
            [self, promise](std::vector<ok_atom>) mutable {
              for (auto& l : self->state.listeners)
                self->send_exit(l, caf::exit_reason::user_shutdown);
              self->state.listeners.clear();
              for (auto& s : self->state.cache_shards)
                self->send_exit(s, caf::exit_reason::user_shutdown);
              for (auto& [name, c] : self->state.certificate_actors)
                self->send_exit(c, caf::exit_reason::user_shutdown);
              self->state.certificate_actors.clear();
              self->state.cache_shards.clear();
              // Joining io threads that were just told to close everything
              // takes a moment; it is the last thing this node does.
              self->state.shut_down_io();
              promise.deliver(ok_atom::value);
            },
            stop_atom::value);
        return promise;
      },
  };
}

} // namespace ika::actors
