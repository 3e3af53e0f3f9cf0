// Record bodies (msgpack) round trip and refuse every malformed input with
// an error, never an exception or a crash; the hybrid logical clock orders
// events even when the wall clock goes back.

#include "protocol/records.hpp"

#include "tests/support/hlc.hpp"

#include <msgpack.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <tuple>

namespace {

using namespace ika::protocol;
using ika::test::make_hlc;

manifest_record sample_manifest() {
  manifest_record m;
  m.name = "shop";
  m.environment = "staging";
  m.command = {"python3", "-m", "http.server", "$PORT", "with spaces and ünïcödé"};
  m.instances = 3;
  m.routes = {{"shop.example.com", "/*"}, {"api.example.com", "/v1/*"}};
  m.env = {{"MODE", "fast"}, {"EMPTY", ""}, {"LONG", std::string(300, 'x')}};
  m.health.path = "/healthz";
  m.health.interval_ms = 5000;
  m.health.timeout_ms = 700;
  m.health.healthy_threshold = 1;
  m.health.unhealthy_threshold = 4;
  m.stop_timeout_ms = 12'345;
  m.start_timeout_ms = std::numeric_limits<std::uint64_t>::max();
  m.rollout.max_surge = 3;
  m.rollout.hold_ms = 0;
  m.rollout.drain_timeout_ms = 4'500;
  m.demand.idle_timeout_ms = 60'000;
  m.demand.max_waiters = 17;
  m.demand.wait_timeout_ms = 900;
  m.cache.enabled = true;
  m.cache.max_object = 65536;
  m.tls.mode = "self-signed";
  m.tls.redirect = false;
  return m;
}

app_record sample_app() {
  app_record a;
  a.id = "shop/staging";
  a.manifest = sample_manifest();
  a.release = "0123456789abcdef";
  a.desired = desired_state::stopped;
  a.created = make_hlc(1'700'000'000'000, 0, "node-a");
  a.updated = make_hlc(1'700'000'000'123, 7, "node-b");
  return a;
}

release_record sample_release() {
  release_record r;
  r.app = "shop/staging";
  r.version = "0123456789abcdef";
  r.created = make_hlc(1'700'000'000'000, 2, "node-a");
  r.manifest = sample_manifest();
  r.files = 12;
  r.bytes = 1ull << 40;
  r.deployed = make_hlc(1'700'000'000'050, 0, "node-b");
  return r;
}

// -- editing bodies through msgpack-cxx's object model ------------------------

/// Unpacks `body`, lets `edit` change the root object (allocating in the
/// zone), packs it again.
record_body edit(const record_body& body, const std::function<void(msgpack::object&, msgpack::zone&)>& fn) {
  auto handle = msgpack::unpack(reinterpret_cast<const char*>(body.data()), body.size());
  msgpack::object root = handle.get();
  fn(root, *handle.zone());
  msgpack::sbuffer buf;
  msgpack::pack(buf, root);
  return record_body(buf.data(), buf.data() + buf.size());
}

msgpack::object& field(msgpack::object& map, std::string_view name) {
  for (std::uint32_t i = 0; i < map.via.map.size; ++i) {
    auto& kv = map.via.map.ptr[i];
    if (kv.key.type == msgpack::type::STR &&
        std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == name)
      return kv.val;
  }
  throw std::runtime_error("test bug: no field " + std::string{name});
}

/// Appends a field to `map` (copying its pairs into the zone).
void add_field(msgpack::object& map, msgpack::zone& z, const char* name, msgpack::object value) {
  auto n = map.via.map.size;
  auto* kv = static_cast<msgpack::object_kv*>(z.allocate_align(sizeof(msgpack::object_kv) * (n + 1)));
  std::memcpy(static_cast<void*>(kv), map.via.map.ptr, sizeof(msgpack::object_kv) * n);
  kv[n].key = msgpack::object(name, z);
  kv[n].val = value;
  map.via.map.ptr = kv;
  map.via.map.size = n + 1;
}

/// Removes the field at `index` from `map`.
void drop_field(msgpack::object& map, std::uint32_t index) {
  auto* kv = map.via.map.ptr;
  for (auto i = index; i + 1 < map.via.map.size; ++i)
    kv[i] = kv[i + 1];
  --map.via.map.size;
}

template <class T>
caf::error decode_error(const caf::expected<T>& x) {
  if (x) {
    ADD_FAILURE() << "decoded without an error";
    return caf::error{};
  }
  return x.error();
}

caf::error app_error(const record_body& body) {
  return decode_error(decode_app_record(body));
}

caf::error release_error(const record_body& body) {
  return decode_error(decode_release_record(body));
}

// -- round trips ---------------------------------------------------------------

TEST(record_body_format, AppRecordRoundTrips) {
  auto a = sample_app();
  auto body = encode(a);
  // The first key is "format" (the compatibility contract of records.hpp).
  ASSERT_GT(body.size(), 8u);
  EXPECT_EQ(body[0], 0x87); // a map of 7 fields
  EXPECT_EQ(std::string(body.begin() + 2, body.begin() + 8), "format");
  auto back = decode_app_record(body);
  ASSERT_TRUE(back) << caf::to_string(back.error());
  EXPECT_EQ(*back, a);
}

TEST(record_body_format, ReleaseRecordRoundTrips) {
  auto r = sample_release();
  auto back = decode_release_record(encode(r));
  ASSERT_TRUE(back) << caf::to_string(back.error());
  EXPECT_EQ(*back, r);
  EXPECT_EQ(r.key(), "shop/staging/0123456789abcdef");
}

TEST(record_body_format, DefaultRecordsRoundTrip) {
  auto a = decode_app_record(encode(app_record{}));
  ASSERT_TRUE(a) << caf::to_string(a.error());
  EXPECT_EQ(*a, app_record{});
  auto r = decode_release_record(encode(release_record{}));
  ASSERT_TRUE(r) << caf::to_string(r.error());
  EXPECT_EQ(*r, release_record{});
}

TEST(record_body_format, ToVersionedUsesKindKeyAndVersion) {
  auto a = sample_app();
  auto va = to_versioned(a);
  EXPECT_EQ(va.kind, "app");
  EXPECT_EQ(va.key, "shop/staging");
  EXPECT_EQ(va.version, a.updated);
  EXPECT_FALSE(va.deleted);
  EXPECT_EQ(va.body, encode(a));
  auto r = sample_release();
  auto vr = to_versioned(r);
  EXPECT_EQ(vr.kind, "release");
  EXPECT_EQ(vr.key, r.key());
  EXPECT_EQ(vr.version, r.deployed); // made live after it was stored
  EXPECT_EQ(vr.body, encode(r));
  r.deployed = hlc{};
  EXPECT_EQ(to_versioned(r).version, r.created); // never live
}

// -- malformed bodies ------------------------------------------------------------

TEST(record_body_format, TruncatedAtEveryByteIsMalformed) {
  auto app = encode(sample_app());
  for (std::size_t n = 0; n < app.size(); ++n) {
    auto err = decode_error(decode_app_record(std::span(app.data(), n)));
    EXPECT_TRUE(is_error(err, record_errc::malformed)) << "cut at " << n << ": " << caf::to_string(err);
  }
  auto rel = encode(sample_release());
  for (std::size_t n = 0; n < rel.size(); ++n) {
    auto err = decode_error(decode_release_record(std::span(rel.data(), n)));
    EXPECT_TRUE(is_error(err, record_errc::malformed)) << "cut at " << n << ": " << caf::to_string(err);
  }
}

TEST(record_body_format, TrailingBytesAreMalformed) {
  auto body = encode(sample_app());
  body.push_back(0xc0);
  auto err = app_error(body);
  EXPECT_TRUE(is_error(err, record_errc::malformed));
  EXPECT_NE(error_context(err).find("trailing"), std::string::npos) << error_context(err);
  auto rel = encode(sample_release());
  rel.push_back(0x00);
  EXPECT_TRUE(is_error(release_error(rel), record_errc::malformed));
}

TEST(record_body_format, WrongTypesAreMalformedAndNamed) {
  auto body = encode(sample_app());
  struct wrong_case {
    std::function<void(msgpack::object&, msgpack::zone&)> edit;
    std::string where;
  };
  std::vector<wrong_case> cases = {
      {[](auto& root, auto&) { field(root, "id") = msgpack::object(42); },
       "app_record.id: expected a string, got an unsigned integer"},
      {[](auto& root, auto&) {
         field(field(field(root, "manifest"), "routes").via.array.ptr[1], "host") = msgpack::object(true);
       },
       "app_record.manifest.routes[1].host: expected a string, got a boolean"},
      {[](auto& root, auto&) { field(field(root, "manifest"), "instances") = msgpack::object(1ull << 40); },
       "app_record.manifest.instances: 1099511627776 is out of range"},
      {[](auto& root, auto&) { field(field(root, "manifest"), "instances") = msgpack::object(-1); },
       "app_record.manifest.instances: expected an unsigned integer, got an integer"},
      {[](auto& root, auto& z) { field(field(root, "manifest"), "command") = msgpack::object("python3", z); },
       "app_record.manifest.command: expected an array, got a string"},
      {[](auto& root, auto& z) {
         field(field(root, "manifest"), "env").via.map.ptr[0].val = msgpack::object(1.5);
         (void)z;
       },
       "app_record.manifest.env.EMPTY: expected a string, got a float"},
      {[](auto& root, auto& z) { field(root, "desired") = msgpack::object("paused", z); },
       "app_record.desired: 'paused' is neither 'running' nor 'stopped'"},
      {[](auto& root, auto&) { field(field(root, "updated"), "logical") = msgpack::object(); },
       "app_record.updated.logical: expected an unsigned integer, got nil"},
      {[](auto& root, auto&) { field(root, "created") = msgpack::object(7); },
       "app_record.created: expected a map, got an unsigned integer"},
  };
  for (auto& c : cases) {
    auto bad = edit(body, c.edit);
    auto err = app_error(bad);
    EXPECT_TRUE(is_error(err, record_errc::malformed)) << c.where;
    EXPECT_NE(error_context(err).find(c.where), std::string::npos)
        << "want: " << c.where << "\ngot:  " << error_context(err);
  }
}

TEST(record_body_format, UnknownMissingAndDuplicateFieldsAreMalformed) {
  auto body = encode(sample_app());
  auto err =
      app_error(edit(body, [](auto& root, auto& z) { add_field(root, z, "color", msgpack::object(1)); }));
  EXPECT_TRUE(is_error(err, record_errc::malformed));
  EXPECT_NE(error_context(err).find("app_record: unknown field 'color'"), std::string::npos)
      << error_context(err);

  err = app_error(edit(body, [](auto& root, auto& z) {
    add_field(field(field(root, "manifest"), "health"), z, "grace_ms", msgpack::object(1));
  }));
  EXPECT_NE(error_context(err).find("app_record.manifest.health: unknown field 'grace_ms'"),
            std::string::npos)
      << error_context(err);

  err = app_error(edit(body, [](auto& root, auto&) { drop_field(root, 3); })); // "release"
  EXPECT_TRUE(is_error(err, record_errc::malformed));
  EXPECT_NE(error_context(err).find("missing field 'release'"), std::string::npos) << error_context(err);

  err = app_error(edit(body, [](auto& root, auto&) {
    drop_field(field(field(root, "manifest"), "routes").via.array.ptr[0], 1);
  }));
  EXPECT_NE(error_context(err).find("app_record.manifest.routes[0]: missing field 'path'"), std::string::npos)
      << error_context(err);

  err = app_error(
      edit(body, [](auto& root, auto& z) { add_field(root, z, "id", msgpack::object("again", z)); }));
  EXPECT_NE(error_context(err).find("app_record.id: duplicate field"), std::string::npos)
      << error_context(err);

  err = app_error(edit(body, [](auto& root, auto& z) { add_field(root, z, "format", msgpack::object(1)); }));
  EXPECT_NE(error_context(err).find("duplicate field"), std::string::npos) << error_context(err);

  auto rel = encode(sample_release());
  err = release_error(
      edit(rel, [](auto& root, auto& z) { add_field(root, z, "signature", msgpack::object(1)); }));
  EXPECT_NE(error_context(err).find("release_record: unknown field 'signature'"), std::string::npos)
      << error_context(err);
}

/// Drops the field `name` from `map`.
void drop_named(msgpack::object& map, std::string_view name) {
  for (std::uint32_t i = 0; i < map.via.map.size; ++i) {
    auto& key = map.via.map.ptr[i].key;
    if (key.type == msgpack::type::STR && std::string_view(key.via.str.ptr, key.via.str.size) == name) {
      drop_field(map, i);
      return;
    }
  }
  throw std::runtime_error("test bug: no field " + std::string{name});
}

TEST(record_body_format, Format1ManifestsReadWithRolloutAndDemandDefaults) {
  // Format 1 records (written before rolling updates and scale to zero)
  // have no rollout and demand maps.
  auto old = edit(encode(sample_app()), [](auto& root, auto&) {
    field(root, "format") = msgpack::object(1);
    drop_named(field(root, "manifest"), "rollout");
    drop_named(field(root, "manifest"), "demand");
  });
  auto app = decode_app_record(old);
  ASSERT_TRUE(app) << caf::to_string(app.error());
  EXPECT_EQ(app->manifest.rollout, manifest_rollout{});
  EXPECT_EQ(app->manifest.demand, manifest_demand{});
  EXPECT_EQ(app->manifest.command, sample_manifest().command);
}

TEST(record_body_format, ManifestsWithoutTlsReadWithItsDefaults) {
  // App format 3 and release format 4 (before HTTPS) have no tls map.
  auto old = edit(encode(sample_app()), [](auto& root, auto&) {
    field(root, "format") = msgpack::object(3);
    drop_named(field(root, "manifest"), "tls");
  });
  auto app = decode_app_record(old);
  ASSERT_TRUE(app) << caf::to_string(app.error());
  EXPECT_EQ(app->manifest.tls, manifest_tls{});
  EXPECT_EQ(app->manifest.cache, sample_manifest().cache);
  auto now = decode_app_record(encode(sample_app()));
  ASSERT_TRUE(now) << caf::to_string(now.error());
  EXPECT_EQ(now->manifest.tls.mode, "self-signed");
  EXPECT_FALSE(now->manifest.tls.redirect);
  auto rel = edit(encode(sample_release()), [](auto& root, auto&) {
    field(root, "format") = msgpack::object(4);
    drop_named(field(root, "manifest"), "tls");
  });
  auto r = decode_release_record(rel);
  ASSERT_TRUE(r) << caf::to_string(r.error());
  EXPECT_EQ(r->manifest.tls, manifest_tls{});
}

TEST(record_body_format, Format2ReleasesReadAsNeverDeployed) {
  // Format 2 release records (before rollbacks) have no `deployed`.
  auto old = edit(encode(sample_release()), [](auto& root, auto&) {
    field(root, "format") = msgpack::object(2);
    drop_named(root, "deployed");
  });
  auto r = decode_release_record(old);
  ASSERT_TRUE(r) << caf::to_string(r.error());
  EXPECT_EQ(r->deployed, hlc{});
  EXPECT_EQ(r->created, sample_release().created);
  EXPECT_EQ(r->bytes, sample_release().bytes);
  // In format 2 `deployed` is a field it does not know; format 3 needs it.
  auto err = release_error(
      edit(encode(sample_release()), [](auto& root, auto&) { field(root, "format") = msgpack::object(2); }));
  EXPECT_TRUE(is_error(err, record_errc::malformed)) << caf::to_string(err);
  EXPECT_NE(error_context(err).find("unknown field 'deployed'"), std::string::npos) << error_context(err);
  err =
      release_error(edit(encode(sample_release()), [](auto& root, auto&) { drop_named(root, "deployed"); }));
  EXPECT_TRUE(is_error(err, record_errc::malformed)) << caf::to_string(err);
  EXPECT_NE(error_context(err).find("missing field 'deployed'"), std::string::npos) << error_context(err);
}

TEST(record_body_format, FormatFieldIsCheckedFirst) {
  auto body = encode(sample_app());
  // A newer format: refused as newer_format even though it also carries a
  // field this reader does not know (that is what newer formats do).
  auto newer = edit(body, [](auto& root, auto& z) {
    field(root, "format") = msgpack::object(app_record::format_version + 1);
    add_field(root, z, "replicas_by_region", msgpack::object(3));
  });
  auto err = app_error(newer);
  EXPECT_TRUE(is_error(err, record_errc::newer_format)) << caf::to_string(err);
  EXPECT_NE(error_context(err).find("format " + std::to_string(app_record::format_version + 1) + " is newer"),
            std::string::npos)
      << error_context(err);
  EXPECT_TRUE(
      is_error(release_error(edit(encode(sample_release()),
                                  [](auto& root, auto&) { field(root, "format") = msgpack::object(99); })),
               record_errc::newer_format));

  EXPECT_TRUE(
      is_error(app_error(edit(body, [](auto& root, auto&) { field(root, "format") = msgpack::object(0); })),
               record_errc::malformed));
  EXPECT_TRUE(is_error(
      app_error(edit(body, [](auto& root, auto& z) { field(root, "format") = msgpack::object("1", z); })),
      record_errc::malformed));
  // "format" not first: swap it with "id".
  err = app_error(edit(body, [](auto& root, auto&) { std::swap(root.via.map.ptr[0], root.via.map.ptr[1]); }));
  EXPECT_NE(error_context(err).find("the first field is 'id', not 'format'"), std::string::npos)
      << error_context(err);
  // Not a map at all, an empty map, nothing.
  EXPECT_TRUE(is_error(app_error(record_body{0x93, 1, 2, 3}), record_errc::malformed));
  EXPECT_TRUE(is_error(app_error(record_body{0x80}), record_errc::malformed));
  EXPECT_TRUE(is_error(app_error(record_body{}), record_errc::malformed));
}

TEST(record_body_format, LengthsBeyondTheBodyAreRefusedWithoutAllocating) {
  // A map32 claiming 4 billion entries, an array32 claiming as many, a
  // str32 claiming 4 GiB: each refused from the body's own size.
  EXPECT_TRUE(is_error(app_error(record_body{0xdf, 0xff, 0xff, 0xff, 0xff}), record_errc::malformed));
  auto body = encode(sample_app());
  // Replace the command array's header (fixarray of 5) with an array32 of
  // 2^32-1 elements.
  std::vector<std::uint8_t> key = {0xa7, 'c', 'o', 'm', 'm', 'a', 'n', 'd', 0x95};
  auto it = std::search(body.begin(), body.end(), key.begin(), key.end());
  ASSERT_NE(it, body.end());
  auto pos = static_cast<std::size_t>(it - body.begin()) + key.size() - 1;
  body[pos] = 0xdd;
  body.insert(body.begin() + static_cast<std::ptrdiff_t>(pos) + 1, {0xff, 0xff, 0xff, 0xff});
  auto err = app_error(body);
  EXPECT_TRUE(is_error(err, record_errc::malformed));
  EXPECT_NE(error_context(err).find("app_record.manifest.command: truncated"), std::string::npos)
      << error_context(err);
  EXPECT_TRUE(
      is_error(app_error(record_body{0x81, 0xdb, 0xff, 0xff, 0xff, 0xff, 'f'}), record_errc::malformed));
}

TEST(record_body_format, RandomBytesAndMutationsNeverCrash) {
  std::mt19937 rng(12345);
  auto valid = encode(sample_app());
  std::size_t decoded = 0;
  for (int i = 0; i < 20000; ++i) {
    record_body body;
    if (i % 2 == 0) {
      body.resize(rng() % 64);
      for (auto& b : body)
        b = static_cast<std::uint8_t>(rng());
    } else {
      body = valid;
      for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips)
        body[rng() % body.size()] = static_cast<std::uint8_t>(rng());
    }
    auto a = decode_app_record(body);
    auto r = decode_release_record(body);
    if (a) {
      ++decoded;
    } else {
      EXPECT_EQ(a.error().category(), record_error_category);
    }
    if (!r) {
      EXPECT_EQ(r.error().category(), record_error_category);
    }
  }
  // Some flips only change a string's content: those still decode.
  EXPECT_GT(decoded, 0u);
}

// -- errors ----------------------------------------------------------------------

TEST(record_body_format, ErrorsCarryCategoryCodeAndContext) {
  auto err = make_error(store_errc::corrupt, "/d/state.db: file is not a database");
  EXPECT_EQ(err.category(), store_error_category);
  EXPECT_EQ(err.code(), static_cast<std::uint8_t>(store_errc::corrupt));
  EXPECT_TRUE(is_error(err, store_errc::corrupt));
  EXPECT_FALSE(is_error(err, store_errc::not_found));
  EXPECT_FALSE(is_error(err, record_errc::malformed)); // same code 2, other category
  EXPECT_EQ(error_context(err), "/d/state.db: file is not a database");
  EXPECT_EQ(to_string(store_errc::newer_schema), "newer_schema");
  EXPECT_EQ(to_string(record_errc::newer_format), "newer_format");
  EXPECT_EQ(error_context(make_error(record_errc::malformed)), "");
}

// -- hybrid logical clock ------------------------------------------------------------

TEST(hlc_clock, OrdersByPhysicalThenLogicalThenNode) {
  EXPECT_LT(make_hlc(1, 9, "z"), make_hlc(2, 0, "a"));
  EXPECT_LT(make_hlc(2, 0, "z"), make_hlc(2, 1, "a"));
  EXPECT_LT(make_hlc(2, 1, "a"), make_hlc(2, 1, "b"));
  EXPECT_EQ(make_hlc(2, 1, "a"), make_hlc(2, 1, "a"));
  EXPECT_NE(make_hlc(2, 1, "a"), make_hlc(2, 1, "b"));
  EXPECT_EQ(to_string(make_hlc(1700000000123, 4, "node-a")), "1700000000123.4@node-a");
}

TEST(hlc_clock, TickFollowsTheWallClockWhenItMovesForward) {
  auto c = make_hlc(100, 5, "n");
  auto t = c.tick(200);
  EXPECT_EQ(t, make_hlc(200, 0, "n"));
}

TEST(hlc_clock, TickIsMonotonicWhenTheWallClockGoesBack) {
  auto c = make_hlc(0, 0, "n");
  std::uint64_t walls[] = {1000, 1000, 999, 500, 1001, 1001, 3, 2000, 1999};
  for (auto now : walls) {
    auto next = c.tick(now);
    EXPECT_LT(c, next) << "at wall " << now;
    EXPECT_GE(next.physical_ms, now);
    EXPECT_EQ(next.node, "n");
    c = next;
  }
  EXPECT_EQ(c, make_hlc(2000, 1, "n"));
}

TEST(hlc_clock, FullLogicalCounterCarriesIntoPhysical) {
  auto c = make_hlc(100, std::numeric_limits<std::uint32_t>::max(), "n");
  auto t = c.tick(50);
  EXPECT_LT(c, t);
  EXPECT_EQ(t, make_hlc(101, 0, "n"));
}

TEST(hlc_clock, ObserveOrdersAfterBothClocks) {
  auto local = make_hlc(100, 3, "a");
  // Remote ahead of local and of the wall clock.
  auto r = local.observe(make_hlc(500, 7, "b"), 200);
  EXPECT_EQ(r, make_hlc(500, 8, "a"));
  // Local ahead.
  r = local.observe(make_hlc(50, 90, "b"), 20);
  EXPECT_EQ(r, make_hlc(100, 4, "a"));
  // Same physical: the greater logical + 1.
  r = local.observe(make_hlc(100, 9, "b"), 100);
  EXPECT_EQ(r, make_hlc(100, 10, "a"));
  // The wall clock ahead of both.
  r = local.observe(make_hlc(150, 9, "b"), 300);
  EXPECT_EQ(r, make_hlc(300, 0, "a"));
  // A later tick orders after what was received, whatever the wall clock.
  auto remote = make_hlc(10'000, 4, "z");
  auto t = local.observe(remote, 100).tick(100);
  EXPECT_TRUE(std::tie(t.physical_ms, t.logical) > std::tie(remote.physical_ms, remote.logical));
}

} // namespace
