#include "actors/secrets.hpp"

#include "runtime/config/app_manifest.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <chrono>

namespace ika::actors {

using namespace protocol;
using namespace std::chrono;

namespace {

constexpr std::size_t max_name_length = 256;

caf::error refuse(std::string message) {
  return caf::make_error(caf::sec::invalid_argument, std::move(message));
}

hlc next_version(secrets_pointer self) {
  auto& clock = self->state.config.clock;
  auto now = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  clock = clock.tick(static_cast<std::uint64_t>(now));
  return clock;
}

/// `what` failed in the store: the error, with what it was about.
caf::error not_saved(secrets_pointer self, const std::string& what, const caf::error& err) {
  return caf::make_error(caf::sec::runtime_error, what + " not saved: " + self->system().render(err));
}

caf::result<ok_atom> on_set(secrets_pointer self, const std::string& app, const std::string& name,
                            secret_value& value) {
  auto& st = self->state;
  // The plaintext goes no further than this handler: wiped however it ends.
  struct wipe {
    std::string& s;
    ~wipe() { sodium_memzero(s.data(), s.size()); }
  } wipe_value{value.bytes};
  if (auto why = check_secret_app(app); !why.empty())
    return refuse(why);
  if (auto why = check_secret_name(name); !why.empty())
    return refuse(why);
  if (auto why = check_secret_value(value.bytes); !why.empty())
    return refuse("secret " + name + ": " + why);
  auto sealed = crypto::seal_secret(st.config.vault->key(), app, name, value.bytes);
  secret_record rec;
  rec.app = app;
  rec.name = name;
  rec.nonce = std::move(sealed.nonce);
  rec.ciphertext = std::move(sealed.ciphertext);
  rec.key_check = st.config.vault->key().check();
  rec.updated = next_version(self);
  auto keep = [self, rec] {
    self->state.records[rec.key()] = rec;
    self->state.publish();
  };
  if (!st.config.store) {
    keep();
    return ok_atom::value;
  }
  auto promise = self->make_response_promise<ok_atom>();
  self->request(st.config.store, seconds{30}, put_atom::value, to_versioned(rec))
      .then(
          [promise, keep](const put_result&) mutable {
            keep();
            promise.deliver(ok_atom::value);
          },
          [self, promise, name](const caf::error& err) mutable {
            promise.deliver(not_saved(self, "secret " + name, err));
          });
  return promise;
}

caf::result<ok_atom> on_del(secrets_pointer self, const std::string& app, const std::string& name) {
  auto& st = self->state;
  if (auto why = check_secret_app(app); !why.empty())
    return refuse(why);
  auto key = app + "/" + name;
  if (st.records.count(key) == 0)
    return refuse("no secret '" + name + "' for " + app + " (`ika secrets list " + app + "` lists them)");
  auto forget = [self, key] {
    self->state.records.erase(key);
    self->state.publish();
  };
  if (!st.config.store) {
    forget();
    return ok_atom::value;
  }
  auto promise = self->make_response_promise<ok_atom>();
  self->request(st.config.store, seconds{30}, delete_atom::value, std::string{secret_kind}, key,
                next_version(self))
      .then(
          [promise, forget](const put_result&) mutable {
            forget();
            promise.deliver(ok_atom::value);
          },
          [self, promise, name](const caf::error& err) mutable {
            promise.deliver(not_saved(self, "removal of secret " + name, err));
          });
  return promise;
}

} // namespace

// -- checks -------------------------------------------------------------------------

std::string check_secret_app(const std::string& app) {
  auto slash = app.find('/');
  if (slash == std::string::npos || !config::valid_app_name(std::string_view{app}.substr(0, slash)) ||
      !config::valid_app_name(std::string_view{app}.substr(slash + 1)))
    return "'" + app + "' is not an app id (name/environment, each [a-z][a-z0-9-]{0,62})";
  return {};
}

std::string check_secret_name(const std::string& name) {
  if (name.empty() || name.size() > max_name_length || !config::valid_env_name(name))
    return "invalid secret name '" + name.substr(0, max_name_length) +
           "' (an environment variable name: [A-Za-z_][A-Za-z0-9_]*, at most 256 characters)";
  if (auto reason = config::reserved_env_reason(name); !reason.empty())
    return "secret name " + name + ": " + std::string{reason};
  return {};
}

std::string check_secret_value(const std::string& value) {
  if (value.size() > max_secret_value)
    return "the value is " + std::to_string(value.size()) + " bytes; at most " +
           std::to_string(max_secret_value) + " are accepted";
  if (auto nul = value.find('\0'); nul != std::string::npos)
    return "the value holds a NUL byte (at offset " + std::to_string(nul) +
           "); an environment variable cannot";
  return {};
}

// -- the vault ----------------------------------------------------------------------

secret_vault::secret_vault(std::shared_ptr<const crypto::secret_key> key)
    : key_(std::move(key)), sealed_(std::make_shared<const by_app>()) {}

void secret_vault::publish(std::vector<secret_record> all) {
  auto next = std::make_shared<by_app>();
  for (auto& rec : all)
    (*next)[rec.app].push_back(std::move(rec));
  std::lock_guard lock{mutex_};
  sealed_ = std::move(next);
}

std::vector<std::string> secret_vault::environment(const std::string& app) const {
  std::shared_ptr<const by_app> sealed;
  {
    std::lock_guard lock{mutex_};
    sealed = sealed_;
  }
  std::vector<std::string> out;
  auto it = sealed->find(app);
  if (it == sealed->end())
    return out;
  for (const auto& rec : it->second) {
    auto value = crypto::open_secret(*key_, rec.app, rec.name, rec.nonce, rec.ciphertext);
    if (!value) {
      spdlog::warn("secret {} of {} does not decrypt with this node's key; left out", rec.name, rec.app);
      continue;
    }
    out.push_back(rec.name + "=" + *value);
    sodium_memzero(value->data(), value->size());
  }
  return out;
}

// -- the actor ----------------------------------------------------------------------

void secrets_state::publish() const {
  std::vector<secret_record> all;
  all.reserve(records.size());
  for (const auto& [key, rec] : records)
    all.push_back(rec);
  config.vault->publish(std::move(all));
}

secrets_actor::behavior_type secrets(secrets_pointer self, secrets_config config) {
  auto& st = self->state;
  st.config = std::move(config);
  for (auto& rec : st.config.records)
    st.records[rec.key()] = std::move(rec);
  st.config.records.clear();
  st.publish();
  return {
      [self](secret_set_atom, const std::string& app, const std::string& name, secret_value& value) {
        return on_set(self, app, name, value);
      },
      [self](secret_del_atom, const std::string& app, const std::string& name) {
        return on_del(self, app, name);
      },
      [self](secrets_atom, const std::string& app) -> caf::result<std::vector<secret_info>> {
        if (auto why = check_secret_app(app); !why.empty())
          return refuse(why);
        std::vector<secret_info> out;
        const auto prefix = app + "/";
        auto& records = self->state.records;
        for (auto it = records.lower_bound(prefix); it != records.end() && it->first.starts_with(prefix);
             ++it)
          out.push_back(
              secret_info{it->second.name, static_cast<std::int64_t>(it->second.updated.physical_ms)});
        return out;
      },
  };
}

} // namespace ika::actors
