#include "protocol/records.hpp"

#include "protocol/store.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include <msgpack.hpp>

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

namespace ika::protocol {

// -- hybrid logical clock -----------------------------------------------------

namespace {

constexpr std::uint32_t max_logical = std::numeric_limits<std::uint32_t>::max();

/// (physical_ms, logical + 1), carrying a full counter into physical_ms.
hlc next_after(std::uint64_t physical_ms, std::uint32_t logical, std::string node) {
  hlc r;
  r.node = std::move(node);
  if (logical == max_logical) {
    r.physical_ms = physical_ms + 1;
    r.logical = 0;
  } else {
    r.physical_ms = physical_ms;
    r.logical = logical + 1;
  }
  return r;
}

} // namespace

hlc hlc::tick(std::uint64_t now_ms) const {
  if (now_ms > physical_ms) {
    hlc r;
    r.physical_ms = now_ms;
    r.node = node;
    return r;
  }
  return next_after(physical_ms, logical, node);
}

hlc hlc::observe(const hlc& remote, std::uint64_t now_ms) const {
  auto pt = std::max({physical_ms, remote.physical_ms, now_ms});
  if (pt == physical_ms && pt == remote.physical_ms)
    return next_after(pt, std::max(logical, remote.logical), node);
  if (pt == physical_ms)
    return next_after(pt, logical, node);
  if (pt == remote.physical_ms)
    return next_after(pt, remote.logical, node);
  hlc r;
  r.physical_ms = pt;
  r.node = node;
  return r;
}

std::string to_string(const hlc& x) {
  return std::to_string(x.physical_ms) + "." + std::to_string(x.logical) + "@" + x.node;
}

// -- errors -------------------------------------------------------------------

std::string to_string(record_errc x) {
  switch (x) {
    case record_errc::newer_format:
      return "newer_format";
    case record_errc::malformed:
      return "malformed";
  }
  return "record_errc(" + std::to_string(static_cast<int>(x)) + ")";
}

std::string to_string(store_errc x) {
  switch (x) {
    case store_errc::not_open:
      return "not_open";
    case store_errc::cannot_open:
      return "cannot_open";
    case store_errc::not_a_store:
      return "not_a_store";
    case store_errc::corrupt:
      return "corrupt";
    case store_errc::newer_schema:
      return "newer_schema";
    case store_errc::invalid_record:
      return "invalid_record";
    case store_errc::not_found:
      return "not_found";
    case store_errc::io_error:
      return "io_error";
  }
  return "store_errc(" + std::to_string(static_cast<int>(x)) + ")";
}

std::string to_string(desired_state x) {
  return x == desired_state::stopped ? "stopped" : "running";
}

namespace {

caf::error make_error_impl(std::uint8_t code, caf::atom_value category, std::string context) {
  if (context.empty())
    return caf::error(code, category);
  return caf::error(code, category, caf::make_message(std::move(context)));
}

/// "ika_store: cannot_open (context)", as add_error_category<T> would
/// render it, but reading the context string out of the message.
template <class Enum>
caf::actor_system_config::error_renderer renderer() {
  return [](std::uint8_t code, caf::atom_value category, const caf::message& ctx) {
    std::string result = caf::to_string(category);
    result += ": ";
    result += to_string(static_cast<Enum>(code));
    if (ctx.match_elements<std::string>() && !ctx.get_as<std::string>(0).empty()) {
      result += " (";
      result += ctx.get_as<std::string>(0);
      result += ")";
    } else if (!ctx.empty()) {
      result += " ";
      result += caf::to_string(ctx);
    }
    return result;
  };
}

} // namespace

caf::error make_error(record_errc x, std::string context) {
  return make_error_impl(static_cast<std::uint8_t>(x), record_error_category, std::move(context));
}

caf::error make_error(store_errc x, std::string context) {
  return make_error_impl(static_cast<std::uint8_t>(x), store_error_category, std::move(context));
}

bool is_error(const caf::error& err, record_errc x) {
  return err.category() == record_error_category && err.code() == static_cast<std::uint8_t>(x);
}

bool is_error(const caf::error& err, store_errc x) {
  return err.category() == store_error_category && err.code() == static_cast<std::uint8_t>(x);
}

std::string error_context(const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.match_elements<std::string>())
    return ctx.get_as<std::string>(0);
  return {};
}

// -- encoding -------------------------------------------------------------------

namespace {

/// The Stream msgpack::packer writes to.
struct byte_sink {
  record_body& out;
  void write(const char* p, std::size_t n) { out.insert(out.end(), p, p + n); }
};

using packer = msgpack::packer<byte_sink>;

void put_str(packer& pk, std::string_view s) {
  pk.pack_str(static_cast<std::uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
}

void put_uint(packer& pk, std::uint64_t x) {
  pk.pack_uint64(x);
}

void put_bin(packer& pk, const std::vector<std::uint8_t>& b) {
  pk.pack_bin(static_cast<std::uint32_t>(b.size()));
  pk.pack_bin_body(reinterpret_cast<const char*>(b.data()), static_cast<std::uint32_t>(b.size()));
}

void put(packer& pk, const hlc& x) {
  pk.pack_map(3);
  put_str(pk, "physical_ms");
  put_uint(pk, x.physical_ms);
  put_str(pk, "logical");
  put_uint(pk, x.logical);
  put_str(pk, "node");
  put_str(pk, x.node);
}

void put(packer& pk, const manifest_record& m) {
  pk.pack_map(13);
  put_str(pk, "name");
  put_str(pk, m.name);
  put_str(pk, "environment");
  put_str(pk, m.environment);
  put_str(pk, "command");
  pk.pack_array(static_cast<std::uint32_t>(m.command.size()));
  for (const auto& a : m.command)
    put_str(pk, a);
  put_str(pk, "instances");
  put_uint(pk, m.instances);
  put_str(pk, "routes");
  pk.pack_array(static_cast<std::uint32_t>(m.routes.size()));
  for (const auto& r : m.routes) {
    pk.pack_map(2);
    put_str(pk, "host");
    put_str(pk, r.host);
    put_str(pk, "path");
    put_str(pk, r.path);
  }
  put_str(pk, "env");
  pk.pack_map(static_cast<std::uint32_t>(m.env.size()));
  for (const auto& [k, v] : m.env) {
    put_str(pk, k);
    put_str(pk, v);
  }
  put_str(pk, "health");
  pk.pack_map(5);
  put_str(pk, "path");
  put_str(pk, m.health.path);
  put_str(pk, "interval_ms");
  put_uint(pk, m.health.interval_ms);
  put_str(pk, "timeout_ms");
  put_uint(pk, m.health.timeout_ms);
  put_str(pk, "healthy_threshold");
  put_uint(pk, m.health.healthy_threshold);
  put_str(pk, "unhealthy_threshold");
  put_uint(pk, m.health.unhealthy_threshold);
  put_str(pk, "stop_timeout_ms");
  put_uint(pk, m.stop_timeout_ms);
  put_str(pk, "start_timeout_ms");
  put_uint(pk, m.start_timeout_ms);
  put_str(pk, "rollout");
  pk.pack_map(3);
  put_str(pk, "max_surge");
  put_uint(pk, m.rollout.max_surge);
  put_str(pk, "hold_ms");
  put_uint(pk, m.rollout.hold_ms);
  put_str(pk, "drain_timeout_ms");
  put_uint(pk, m.rollout.drain_timeout_ms);
  put_str(pk, "demand");
  pk.pack_map(3);
  put_str(pk, "idle_timeout_ms");
  put_uint(pk, m.demand.idle_timeout_ms);
  put_str(pk, "max_waiters");
  put_uint(pk, m.demand.max_waiters);
  put_str(pk, "wait_timeout_ms");
  put_uint(pk, m.demand.wait_timeout_ms);
  put_str(pk, "cache");
  pk.pack_map(3);
  put_str(pk, "enabled");
  put_uint(pk, m.cache.enabled ? 1 : 0);
  put_str(pk, "max_object");
  put_uint(pk, m.cache.max_object);
  put_str(pk, "set_cookie");
  put_uint(pk, m.cache.set_cookie ? 1 : 0);
  put_str(pk, "tls");
  pk.pack_map(2);
  put_str(pk, "mode");
  put_str(pk, m.tls.mode);
  put_str(pk, "redirect");
  put_uint(pk, m.tls.redirect ? 1 : 0);
}

} // namespace

record_body encode(const app_record& x) {
  record_body out;
  byte_sink sink{out};
  packer pk(sink);
  pk.pack_map(7);
  put_str(pk, "format");
  put_uint(pk, app_record::format_version);
  put_str(pk, "id");
  put_str(pk, x.id);
  put_str(pk, "manifest");
  put(pk, x.manifest);
  put_str(pk, "release");
  put_str(pk, x.release);
  put_str(pk, "desired");
  put_str(pk, to_string(x.desired));
  put_str(pk, "created");
  put(pk, x.created);
  put_str(pk, "updated");
  put(pk, x.updated);
  return out;
}

record_body encode(const release_record& x) {
  record_body out;
  byte_sink sink{out};
  packer pk(sink);
  pk.pack_map(8);
  put_str(pk, "format");
  put_uint(pk, release_record::format_version);
  put_str(pk, "app");
  put_str(pk, x.app);
  put_str(pk, "version");
  put_str(pk, x.version);
  put_str(pk, "created");
  put(pk, x.created);
  put_str(pk, "manifest");
  put(pk, x.manifest);
  put_str(pk, "files");
  put_uint(pk, x.files);
  put_str(pk, "bytes");
  put_uint(pk, x.bytes);
  put_str(pk, "deployed");
  put(pk, x.deployed);
  return out;
}

record_body encode(const secret_record& x) {
  record_body out;
  byte_sink sink{out};
  packer pk(sink);
  pk.pack_map(7);
  put_str(pk, "format");
  put_uint(pk, secret_record::format_version);
  put_str(pk, "app");
  put_str(pk, x.app);
  put_str(pk, "name");
  put_str(pk, x.name);
  put_str(pk, "nonce");
  put_bin(pk, x.nonce);
  put_str(pk, "ciphertext");
  put_bin(pk, x.ciphertext);
  put_str(pk, "key_check");
  put_str(pk, x.key_check);
  put_str(pk, "updated");
  put(pk, x.updated);
  return out;
}

// -- decoding -------------------------------------------------------------------

namespace {

/// A bounds-checked msgpack reader for the subset the record formats use
/// (maps, arrays, strings, non-negative integers). Every read checks the
/// remaining bytes first; on failure it records a message and every later
/// read fails too, so callers check `ok()` once per step.
class reader {
public:
  explicit reader(std::span<const std::uint8_t> in) : in_(in) {}

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  bool at_end() const { return pos_ == in_.size(); }
  std::size_t pos() const { return pos_; }

  bool fail(std::string msg) {
    if (error_.empty())
      error_ = std::move(msg);
    return false;
  }

  bool read_map(std::uint32_t& n, const std::string& where) {
    return read_header(n, where, "a map", 0x80, 0xde, 0xdf);
  }

  bool read_array(std::uint32_t& n, const std::string& where) {
    return read_header(n, where, "an array", 0x90, 0xdc, 0xdd);
  }

  bool read_str(std::string& out, const std::string& where) {
    std::uint8_t b = 0;
    if (!peek(b, where))
      return false;
    std::uint64_t len = 0;
    if ((b & 0xe0) == 0xa0) {
      ++pos_;
      len = b & 0x1f;
    } else if (b == 0xd9 || b == 0xda || b == 0xdb) {
      ++pos_;
      if (!read_be(len, std::size_t{1} << (b - 0xd9), where))
        return false;
    } else {
      return fail(where + ": expected a string, got " + type_name(b));
    }
    if (len > in_.size() - pos_)
      return fail(where + ": truncated (a string of " + std::to_string(len) + " bytes with " +
                  std::to_string(in_.size() - pos_) + " left)");
    out.assign(reinterpret_cast<const char*>(in_.data() + pos_), static_cast<std::size_t>(len));
    pos_ += static_cast<std::size_t>(len);
    return true;
  }

  bool read_bin(std::vector<std::uint8_t>& out, const std::string& where) {
    std::uint8_t b = 0;
    if (!peek(b, where))
      return false;
    if (b < 0xc4 || b > 0xc6)
      return fail(where + ": expected binary data, got " + type_name(b));
    ++pos_;
    std::uint64_t len = 0;
    if (!read_be(len, std::size_t{1} << (b - 0xc4), where))
      return false;
    if (len > in_.size() - pos_)
      return fail(where + ": truncated (binary data of " + std::to_string(len) + " bytes with " +
                  std::to_string(in_.size() - pos_) + " left)");
    out.assign(in_.begin() + static_cast<std::ptrdiff_t>(pos_),
               in_.begin() + static_cast<std::ptrdiff_t>(pos_ + len));
    pos_ += static_cast<std::size_t>(len);
    return true;
  }

  bool read_uint(std::uint64_t& out, const std::string& where) {
    std::uint8_t b = 0;
    if (!peek(b, where))
      return false;
    if (b <= 0x7f) {
      ++pos_;
      out = b;
      return true;
    }
    if (b >= 0xcc && b <= 0xcf) {
      ++pos_;
      return read_be(out, std::size_t{1} << (b - 0xcc), where);
    }
    if (b >= 0xd0 && b <= 0xd3) { // a signed encoding of a non-negative value
      ++pos_;
      std::size_t width = std::size_t{1} << (b - 0xd0);
      std::uint64_t raw = 0;
      if (!read_be(raw, width, where))
        return false;
      if (raw >> (width * 8 - 1))
        return fail(where + ": expected an unsigned integer, got a negative one");
      out = raw;
      return true;
    }
    return fail(where + ": expected an unsigned integer, got " + type_name(b));
  }

  bool read_u32(std::uint32_t& out, const std::string& where) {
    std::uint64_t x = 0;
    if (!read_uint(x, where))
      return false;
    if (x > std::numeric_limits<std::uint32_t>::max())
      return fail(where + ": " + std::to_string(x) + " is out of range (at most 4294967295)");
    out = static_cast<std::uint32_t>(x);
    return true;
  }

private:
  bool peek(std::uint8_t& b, const std::string& where) {
    if (!ok())
      return false;
    if (pos_ >= in_.size())
      return fail(where + ": truncated (the body ends at byte " + std::to_string(in_.size()) + ")");
    b = in_[pos_];
    return true;
  }

  bool read_be(std::uint64_t& out, std::size_t width, const std::string& where) {
    if (width > in_.size() - pos_)
      return fail(where + ": truncated (the body ends at byte " + std::to_string(in_.size()) + ")");
    out = 0;
    for (std::size_t i = 0; i < width; ++i)
      out = (out << 8) | in_[pos_ + i];
    pos_ += width;
    return true;
  }

  bool read_header(std::uint32_t& n, const std::string& where, const char* what, std::uint8_t fix,
                   std::uint8_t b16, std::uint8_t b32) {
    std::uint8_t b = 0;
    if (!peek(b, where))
      return false;
    std::uint64_t len = 0;
    if ((b & 0xf0) == fix) {
      ++pos_;
      len = b & 0x0f;
    } else if (b == b16 || b == b32) {
      ++pos_;
      if (!read_be(len, b == b16 ? 2 : 4, where))
        return false;
    } else {
      return fail(where + ": expected " + what + ", got " + type_name(b));
    }
    // Every element takes at least one byte: a count beyond what is left
    // is a lie, refused before anyone reserves memory for it.
    if (len > in_.size() - pos_)
      return fail(where + ": truncated (" + std::to_string(len) + " elements announced, " +
                  std::to_string(in_.size() - pos_) + " bytes left)");
    n = static_cast<std::uint32_t>(len);
    return true;
  }

  static std::string type_name(std::uint8_t b) {
    if (b <= 0x7f || (b >= 0xcc && b <= 0xcf))
      return "an unsigned integer";
    if (b >= 0xe0 || (b >= 0xd0 && b <= 0xd3))
      return "an integer";
    if ((b & 0xf0) == 0x80 || b == 0xde || b == 0xdf)
      return "a map";
    if ((b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd)
      return "an array";
    if ((b & 0xe0) == 0xa0 || (b >= 0xd9 && b <= 0xdb))
      return "a string";
    switch (b) {
      case 0xc0:
        return "nil";
      case 0xc2:
      case 0xc3:
        return "a boolean";
      case 0xc4:
      case 0xc5:
      case 0xc6:
        return "binary data";
      case 0xca:
      case 0xcb:
        return "a float";
      default:
        return "an extension or unused byte 0x" + hex(b);
    }
  }

  static std::string hex(std::uint8_t b) {
    const char* digits = "0123456789abcdef";
    return {digits[b >> 4], digits[b & 15]};
  }

  std::span<const std::uint8_t> in_;
  std::size_t pos_ = 0;
  std::string error_;
};

/// Reads a map whose keys are field names: `field(name)` decodes the value
/// of a known field and returns true, or returns false for an unknown one.
/// Duplicates and unknown fields are malformed; `required` lists the fields
/// that must all be present.
template <class Field>
bool read_fields(reader& r, const std::string& where, std::initializer_list<std::string_view> required,
                 Field&& field) {
  std::uint32_t n = 0;
  if (!r.read_map(n, where))
    return false;
  std::vector<std::string> seen;
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string name;
    if (!r.read_str(name, where + ": key #" + std::to_string(i)))
      return false;
    if (std::find(seen.begin(), seen.end(), name) != seen.end())
      return r.fail(where + "." + name + ": duplicate field");
    if (!field(name))
      return r.fail(where + ": unknown field '" + name + "'");
    if (!r.ok())
      return false;
    seen.push_back(std::move(name));
  }
  for (auto req : required)
    if (std::find(seen.begin(), seen.end(), req) == seen.end())
      return r.fail(where + ": missing field '" + std::string{req} + "'");
  return true;
}

bool read_hlc(reader& r, hlc& x, const std::string& where) {
  return read_fields(r, where, {"physical_ms", "logical", "node"}, [&](const std::string& f) {
    if (f == "physical_ms")
      return r.read_uint(x.physical_ms, where + ".physical_ms"), true;
    if (f == "logical")
      return r.read_u32(x.logical, where + ".logical"), true;
    if (f == "node")
      return r.read_str(x.node, where + ".node"), true;
    return false;
  });
}

bool read_strings(reader& r, std::vector<std::string>& out, const std::string& where) {
  std::uint32_t n = 0;
  if (!r.read_array(n, where))
    return false;
  out.clear();
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string s;
    if (!r.read_str(s, where + "[" + std::to_string(i) + "]"))
      return false;
    out.push_back(std::move(s));
  }
  return true;
}

bool read_route(reader& r, manifest_route& x, const std::string& where) {
  return read_fields(r, where, {"host", "path"}, [&](const std::string& f) {
    if (f == "host")
      return r.read_str(x.host, where + ".host"), true;
    if (f == "path")
      return r.read_str(x.path, where + ".path"), true;
    return false;
  });
}

bool read_routes(reader& r, std::vector<manifest_route>& out, const std::string& where) {
  std::uint32_t n = 0;
  if (!r.read_array(n, where))
    return false;
  out.clear();
  for (std::uint32_t i = 0; i < n; ++i) {
    manifest_route route;
    if (!read_route(r, route, where + "[" + std::to_string(i) + "]"))
      return false;
    out.push_back(std::move(route));
  }
  return true;
}

bool read_env(reader& r, std::map<std::string, std::string>& out, const std::string& where) {
  std::uint32_t n = 0;
  if (!r.read_map(n, where))
    return false;
  out.clear();
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string k;
    std::string v;
    if (!r.read_str(k, where + ": key #" + std::to_string(i)))
      return false;
    if (!r.read_str(v, where + "." + k))
      return false;
    if (out.count(k) != 0)
      return r.fail(where + ": duplicate variable '" + k + "'");
    out.emplace(std::move(k), std::move(v));
  }
  return true;
}

bool read_health(reader& r, manifest_health& x, const std::string& where) {
  return read_fields(r, where,
                     {"path", "interval_ms", "timeout_ms", "healthy_threshold", "unhealthy_threshold"},
                     [&](const std::string& f) {
                       if (f == "path")
                         return r.read_str(x.path, where + ".path"), true;
                       if (f == "interval_ms")
                         return r.read_uint(x.interval_ms, where + ".interval_ms"), true;
                       if (f == "timeout_ms")
                         return r.read_uint(x.timeout_ms, where + ".timeout_ms"), true;
                       if (f == "healthy_threshold")
                         return r.read_u32(x.healthy_threshold, where + ".healthy_threshold"), true;
                       if (f == "unhealthy_threshold")
                         return r.read_u32(x.unhealthy_threshold, where + ".unhealthy_threshold"), true;
                       return false;
                     });
}

bool read_rollout(reader& r, manifest_rollout& x, const std::string& where) {
  return read_fields(r, where, {"max_surge", "hold_ms", "drain_timeout_ms"}, [&](const std::string& f) {
    if (f == "max_surge")
      return r.read_u32(x.max_surge, where + ".max_surge"), true;
    if (f == "hold_ms")
      return r.read_uint(x.hold_ms, where + ".hold_ms"), true;
    if (f == "drain_timeout_ms")
      return r.read_uint(x.drain_timeout_ms, where + ".drain_timeout_ms"), true;
    return false;
  });
}

bool read_demand(reader& r, manifest_demand& x, const std::string& where) {
  return read_fields(r, where, {"idle_timeout_ms", "max_waiters", "wait_timeout_ms"},
                     [&](const std::string& f) {
                       if (f == "idle_timeout_ms")
                         return r.read_uint(x.idle_timeout_ms, where + ".idle_timeout_ms"), true;
                       if (f == "max_waiters")
                         return r.read_u32(x.max_waiters, where + ".max_waiters"), true;
                       if (f == "wait_timeout_ms")
                         return r.read_uint(x.wait_timeout_ms, where + ".wait_timeout_ms"), true;
                       return false;
                     });
}

bool read_cache(reader& r, manifest_cache& x, const std::string& where) {
  std::uint32_t enabled = 0, set_cookie = 0;
  bool ok = read_fields(r, where, {"enabled", "max_object", "set_cookie"}, [&](const std::string& f) {
    if (f == "enabled")
      return r.read_u32(enabled, where + ".enabled"), true;
    if (f == "max_object")
      return r.read_uint(x.max_object, where + ".max_object"), true;
    if (f == "set_cookie")
      return r.read_u32(set_cookie, where + ".set_cookie"), true;
    return false;
  });
  x.enabled = enabled != 0;
  x.set_cookie = set_cookie != 0;
  return ok;
}

bool read_tls(reader& r, manifest_tls& x, const std::string& where) {
  std::uint32_t redirect = 1;
  bool ok = read_fields(r, where, {"mode", "redirect"}, [&](const std::string& f) {
    if (f == "mode")
      return r.read_str(x.mode, where + ".mode"), true;
    if (f == "redirect")
      return r.read_u32(redirect, where + ".redirect"), true;
    return false;
  });
  x.redirect = redirect != 0;
  return ok;
}

/// `rollout` and `demand` are absent from format 1 records, `cache` from
/// app format 2 and release format 3, `tls` from app format 3 and release
/// format 4 (defaults).
bool read_manifest(reader& r, manifest_record& x, const std::string& where) {
  return read_fields(r, where,
                     {"name", "environment", "command", "instances", "routes", "env", "health",
                      "stop_timeout_ms", "start_timeout_ms"},
                     [&](const std::string& f) {
                       if (f == "name")
                         return r.read_str(x.name, where + ".name"), true;
                       if (f == "environment")
                         return r.read_str(x.environment, where + ".environment"), true;
                       if (f == "command")
                         return read_strings(r, x.command, where + ".command"), true;
                       if (f == "instances")
                         return r.read_u32(x.instances, where + ".instances"), true;
                       if (f == "routes")
                         return read_routes(r, x.routes, where + ".routes"), true;
                       if (f == "env")
                         return read_env(r, x.env, where + ".env"), true;
                       if (f == "health")
                         return read_health(r, x.health, where + ".health"), true;
                       if (f == "stop_timeout_ms")
                         return r.read_uint(x.stop_timeout_ms, where + ".stop_timeout_ms"), true;
                       if (f == "start_timeout_ms")
                         return r.read_uint(x.start_timeout_ms, where + ".start_timeout_ms"), true;
                       if (f == "rollout")
                         return read_rollout(r, x.rollout, where + ".rollout"), true;
                       if (f == "demand")
                         return read_demand(r, x.demand, where + ".demand"), true;
                       if (f == "cache")
                         return read_cache(r, x.cache, where + ".cache"), true;
                       if (f == "tls")
                         return read_tls(r, x.tls, where + ".tls"), true;
                       return false;
                     });
}

/// Reads the map header and the leading `format` field; the format version
/// must be between 1 and `newest`. Returns the number of fields left.
caf::expected<std::uint32_t> read_format(reader& r, const std::string& where, std::uint32_t newest,
                                         std::uint32_t& format) {
  std::uint32_t n = 0;
  std::string name;
  std::uint64_t version = 0;
  if (!r.read_map(n, where))
    return make_error(record_errc::malformed, r.error());
  if (n == 0)
    return make_error(record_errc::malformed, where + ": empty map, expected a 'format' field first");
  if (!r.read_str(name, where + ": key #0"))
    return make_error(record_errc::malformed, r.error());
  if (name != "format")
    return make_error(record_errc::malformed, where + ": the first field is '" + name + "', not 'format'");
  if (!r.read_uint(version, where + ".format"))
    return make_error(record_errc::malformed, r.error());
  if (version == 0)
    return make_error(record_errc::malformed, where + ".format: 0 is not a format version");
  if (version > newest)
    return make_error(record_errc::newer_format, where + ": format " + std::to_string(version) +
                                                     " is newer than this ika reads (up to " +
                                                     std::to_string(newest) + ")");
  format = static_cast<std::uint32_t>(version);
  return n - 1;
}

/// Reads `left` fields of a record map whose `format` was already read,
/// then insists on the end of the body.
template <class Field>
caf::error read_record_fields(reader& r, const std::string& where, std::uint32_t left,
                              std::initializer_list<std::string_view> required, Field&& field) {
  std::vector<std::string> seen;
  for (std::uint32_t i = 0; i < left && r.ok(); ++i) {
    std::string name;
    if (!r.read_str(name, where + ": key #" + std::to_string(i + 1)))
      break;
    if (name == "format" || std::find(seen.begin(), seen.end(), name) != seen.end()) {
      r.fail(where + "." + name + ": duplicate field");
      break;
    }
    if (!field(name)) {
      r.fail(where + ": unknown field '" + name + "'");
      break;
    }
    seen.push_back(std::move(name));
  }
  if (r.ok())
    for (auto req : required)
      if (std::find(seen.begin(), seen.end(), req) == seen.end()) {
        r.fail(where + ": missing field '" + std::string{req} + "'");
        break;
      }
  if (r.ok() && !r.at_end())
    r.fail(where + ": trailing bytes after the record (at byte " + std::to_string(r.pos()) + ")");
  if (!r.ok())
    return make_error(record_errc::malformed, r.error());
  return caf::none;
}

} // namespace

caf::expected<app_record> decode_app_record(std::span<const std::uint8_t> body) {
  const std::string where = "app_record";
  reader r(body);
  std::uint32_t format = 0;
  auto left = read_format(r, where, app_record::format_version, format);
  if (!left)
    return std::move(left.error());
  app_record x;
  std::string desired;
  auto err = read_record_fields(
      r, where, *left, {"id", "manifest", "release", "desired", "created", "updated"},
      [&](const std::string& f) {
        if (f == "id")
          return r.read_str(x.id, where + ".id"), true;
        if (f == "manifest")
          return read_manifest(r, x.manifest, where + ".manifest"), true;
        if (f == "release")
          return r.read_str(x.release, where + ".release"), true;
        if (f == "desired") {
          if (r.read_str(desired, where + ".desired")) {
            if (desired == "running")
              x.desired = desired_state::running;
            else if (desired == "stopped")
              x.desired = desired_state::stopped;
            else
              r.fail(where + ".desired: '" + desired + "' is neither 'running' nor 'stopped'");
          }
          return true;
        }
        if (f == "created")
          return read_hlc(r, x.created, where + ".created"), true;
        if (f == "updated")
          return read_hlc(r, x.updated, where + ".updated"), true;
        return false;
      });
  if (err)
    return err;
  return x;
}

caf::expected<release_record> decode_release_record(std::span<const std::uint8_t> body) {
  const std::string where = "release_record";
  reader r(body);
  std::uint32_t format = 0;
  auto left = read_format(r, where, release_record::format_version, format);
  if (!left)
    return std::move(left.error());
  release_record x;
  bool has_deployed = false; // since format 3
  auto err = read_record_fields(r, where, *left, {"app", "version", "created", "manifest", "files", "bytes"},
                                [&](const std::string& f) {
                                  if (f == "app")
                                    return r.read_str(x.app, where + ".app"), true;
                                  if (f == "version")
                                    return r.read_str(x.version, where + ".version"), true;
                                  if (f == "created")
                                    return read_hlc(r, x.created, where + ".created"), true;
                                  if (f == "manifest")
                                    return read_manifest(r, x.manifest, where + ".manifest"), true;
                                  if (f == "files")
                                    return r.read_uint(x.files, where + ".files"), true;
                                  if (f == "bytes")
                                    return r.read_uint(x.bytes, where + ".bytes"), true;
                                  if (f == "deployed" && format >= 3) {
                                    has_deployed = true;
                                    return read_hlc(r, x.deployed, where + ".deployed"), true;
                                  }
                                  return false;
                                });
  if (err)
    return err;
  if (format >= 3 && !has_deployed)
    return make_error(record_errc::malformed, where + ": missing field 'deployed'");
  return x;
}

caf::expected<secret_record> decode_secret_record(std::span<const std::uint8_t> body) {
  const std::string where = "secret_record";
  reader r(body);
  std::uint32_t format = 0;
  auto left = read_format(r, where, secret_record::format_version, format);
  if (!left)
    return std::move(left.error());
  secret_record x;
  auto err =
      read_record_fields(r, where, *left, {"app", "name", "nonce", "ciphertext", "key_check", "updated"},
                         [&](const std::string& f) {
                           if (f == "app")
                             return r.read_str(x.app, where + ".app"), true;
                           if (f == "name")
                             return r.read_str(x.name, where + ".name"), true;
                           if (f == "nonce")
                             return r.read_bin(x.nonce, where + ".nonce"), true;
                           if (f == "ciphertext")
                             return r.read_bin(x.ciphertext, where + ".ciphertext"), true;
                           if (f == "key_check")
                             return r.read_str(x.key_check, where + ".key_check"), true;
                           if (f == "updated")
                             return read_hlc(r, x.updated, where + ".updated"), true;
                           return false;
                         });
  if (err)
    return err;
  return x;
}

versioned_record to_versioned(const app_record& x) {
  versioned_record r;
  r.kind = std::string{app_kind};
  r.key = x.id;
  r.version = x.updated;
  r.body = encode(x);
  return r;
}

versioned_record to_versioned(const release_record& x) {
  versioned_record r;
  r.kind = std::string{release_kind};
  r.key = x.key();
  r.version = x.updated();
  r.body = encode(x);
  return r;
}

versioned_record to_versioned(const secret_record& x) {
  versioned_record r;
  r.kind = std::string{secret_kind};
  r.key = x.key();
  r.version = x.updated;
  r.body = encode(x);
  return r;
}

// -- registration -----------------------------------------------------------------

void register_record_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<hlc>("ika.hlc");
  cfg.add_message_type<versioned_record>("ika.versioned_record");
  cfg.add_message_type<std::vector<versioned_record>>("ika.versioned_records");
  cfg.add_message_type<put_result>("ika.put_result");
  cfg.add_message_type<store_info>("ika.store_info");
  cfg.add_message_type<manifest_route>("ika.manifest_route");
  cfg.add_message_type<manifest_health>("ika.manifest_health");
  cfg.add_message_type<manifest_rollout>("ika.manifest_rollout");
  cfg.add_message_type<manifest_demand>("ika.manifest_demand");
  cfg.add_message_type<manifest_cache>("ika.manifest_cache");
  cfg.add_message_type<manifest_tls>("ika.manifest_tls");
  cfg.add_message_type<manifest_record>("ika.manifest_record");
  cfg.add_message_type<app_record>("ika.app_record");
  cfg.add_message_type<release_record>("ika.release_record");
  cfg.add_message_type<store_actor>("ika.store_actor");
  cfg.add_error_category(record_error_category, renderer<record_errc>());
  cfg.add_error_category(store_error_category, renderer<store_errc>());
}

} // namespace ika::protocol
