#include "runtime/cache/policy.hpp"
#include "tools/bench/cache-policy/zipf.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using ika::cache::eviction_policy;
using ika::cache::frequency_sketch;
using ika::cache::policy_node;
using kind = eviction_policy::kind;

constexpr kind all_kinds[] = {kind::lru, kind::clock, kind::s3fifo, kind::tinylfu, kind::wtinylfu};

std::uint64_t key_hash(std::size_t key) {
  std::uint64_t x = key * 0x9e3779b97f4a7c15ULL + 1;
  x = (x ^ (x >> 31)) * 0xbf58476d1ce4e5b9ULL;
  return x ^ (x >> 29);
}

struct nodes {
  std::unique_ptr<policy_node[]> v;
  std::size_t n;
  nodes(std::size_t count, std::uint64_t charge) : v(std::make_unique<policy_node[]>(count)), n(count) {
    for (std::size_t i = 0; i < n; ++i) {
      v[i].hash = key_hash(i);
      v[i].charge = charge;
    }
  }
  policy_node& operator[](std::size_t i) { return v[i]; }
};

// A policy whose objects get exactly `object_bytes` (its overhead on top).
eviction_policy make_policy(std::uint64_t object_bytes, std::size_t expected_items, kind k) {
  const eviction_policy probe(std::uint64_t{1} << 40, expected_items, k);
  return eviction_policy(object_bytes + probe.overhead_bytes(), expected_items, k);
}

// A production-style access: record, then touch on a hit or admit on a miss.
bool access(eviction_policy& p, policy_node& n, std::vector<policy_node*>& evicted) {
  p.record_access(n.hash);
  if (n.resident()) {
    if (p.policy_kind() == kind::lru)
      p.on_hit_owner(n);
    else
      ika::cache::touch(n);
    return true;
  }
  p.admit(n, [&](policy_node& v) { evicted.push_back(&v); });
  return false;
}

TEST(CachePolicyTest, BudgetNeverExceededAndCallbackGetsExactlyTheEvictedNodes) {
  for (kind k : all_kinds) {
    SCOPED_TRACE(std::string(ika::cache::to_string(k)));
    constexpr std::size_t count = 600;
    nodes ns(count, 0);
    std::mt19937_64 rng(7);
    for (std::size_t i = 0; i < count; ++i)
      ns[i].charge = 100 + rng() % 5000; // mixed sizes: several victims per admission
    eviction_policy p(200'000, 60, k);
    std::set<policy_node*> resident;
    for (int step = 0; step < 20'000; ++step) {
      policy_node& n = ns[rng() % (rng() % 2 ? 50 : count)];
      const int action = static_cast<int>(rng() % 10);
      if (action == 0 && n.resident()) {
        p.remove(n);
        ASSERT_FALSE(n.resident());
        resident.erase(&n);
      } else if (n.resident()) {
        p.record_access(n.hash);
        ika::cache::touch(n);
      } else {
        p.record_access(n.hash);
        std::vector<policy_node*> evicted;
        const bool admitted = p.admit(n, [&](policy_node& v) {
          EXPECT_FALSE(v.resident());
          evicted.push_back(&v);
        });
        if (!admitted) {
          EXPECT_TRUE(evicted.empty()) << "a rejected admission changed nothing";
          EXPECT_FALSE(n.resident());
        } else {
          EXPECT_TRUE(n.resident());
          resident.insert(&n);
        }
        for (policy_node* v : evicted) {
          EXPECT_EQ(resident.erase(v), 1u) << "evicted a node that was not resident";
          EXPECT_NE(v, &n);
        }
      }
      ASSERT_LE(p.used_bytes() + p.overhead_bytes(), p.budget());
      // Exactly the nodes the test believes resident are resident.
      ASSERT_EQ(p.size(), resident.size());
      std::uint64_t bytes = 0;
      for (const policy_node* r : resident) {
        ASSERT_TRUE(r->resident());
        bytes += r->charge;
      }
      ASSERT_EQ(p.used_bytes(), bytes);
    }
    EXPECT_GT(resident.size(), 20u);
  }
}

TEST(CachePolicyTest, NodeIsSmall) {
  EXPECT_LE(sizeof(policy_node), 40u); // inside every cached object
}

TEST(CachePolicyTest, OversizeIsRejectedAndExactFitAdmitted) {
  for (kind k : all_kinds) {
    SCOPED_TRACE(std::string(ika::cache::to_string(k)));
    eviction_policy p = make_policy(10'000, 10, k);
    policy_node small, big, exact;
    small.hash = 1;
    small.charge = 100;
    big.hash = 2;
    big.charge = 10'001;
    exact.hash = 3;
    exact.charge = 10'000;
    ASSERT_TRUE(p.admit(small, [](policy_node&) {}));
    EXPECT_FALSE(p.admit(big, [](policy_node&) { ADD_FAILURE() << "nothing may be evicted"; }));
    EXPECT_FALSE(big.resident());
    EXPECT_TRUE(small.resident());
    EXPECT_EQ(p.used_bytes(), 100u);
    // Exactly the object budget fits (TinyLFU admits it only if more
    // frequent than what it displaces).
    for (int i = 0; i < 3; ++i)
      p.record_access(exact.hash);
    std::vector<policy_node*> evicted;
    EXPECT_TRUE(p.admit(exact, [&](policy_node& v) { evicted.push_back(&v); }));
    EXPECT_EQ(evicted, std::vector<policy_node*>{&small});
    EXPECT_EQ(p.used_bytes(), 10'000u);
    // A budget smaller than the policy's own overhead admits nothing.
    eviction_policy tiny(16, 1000, k);
    policy_node one;
    one.charge = 1;
    EXPECT_EQ(tiny.admit(one, [](policy_node&) {}),
              k != kind::tinylfu && k != kind::wtinylfu && k != kind::s3fifo);
    EXPECT_LE(tiny.used_bytes() + tiny.overhead_bytes(), tiny.budget());
  }
}

TEST(CachePolicyTest, RemoveWorksInEveryQueue) {
  for (kind k : all_kinds) {
    SCOPED_TRACE(std::string(ika::cache::to_string(k)));
    // 100 objects of 1000 B; a 1% window holds one.
    eviction_policy p = make_policy(100'000, 100, k);
    nodes ns(400, 1000);
    std::vector<policy_node*> evicted;
    // Fill, warm the first 100 so TinyLFU keeps them, then churn: s3fifo
    // sends the churned keys to its ghost and re-admits keys into main.
    for (int round = 0; round < 3; ++round)
      for (std::size_t i = 0; i < 100; ++i)
        access(p, ns[i], evicted);
    for (std::size_t i = 100; i < 400; ++i)
      access(p, ns[i], evicted);
    for (std::size_t i = 100; i < 400; ++i)
      access(p, ns[i], evicted);
    // Take out every resident node, one by one: whatever queue holds it.
    std::size_t removed = 0;
    for (std::size_t i = 0; i < 400; ++i) {
      if (!ns[i].resident())
        continue;
      const auto size = p.size();
      const auto used = p.used_bytes();
      p.remove(ns[i]);
      EXPECT_FALSE(ns[i].resident());
      EXPECT_EQ(p.size(), size - 1);
      EXPECT_EQ(p.used_bytes(), used - 1000);
      p.remove(ns[i]); // not resident: ignored
      EXPECT_EQ(p.size(), size - 1);
      ++removed;
    }
    EXPECT_GE(removed, 50u);
    EXPECT_EQ(p.size(), 0u);
    EXPECT_EQ(p.used_bytes(), 0u);
    // The lists are intact: the policy fills up again.
    for (std::size_t i = 0; i < 150; ++i)
      access(p, ns[i], evicted);
    EXPECT_EQ(p.size(), 100u);
  }
}

TEST(CachePolicyTest, RemoveFromWindowAndMainOfS3fifo) {
  // S3-FIFO: new keys go to the small queue, keys in the ghost to main.
  eviction_policy p = make_policy(10'000, 10, kind::s3fifo);
  nodes ns(30, 1000);
  std::vector<policy_node*> evicted;
  for (std::size_t i = 0; i < 30; ++i)
    access(p, ns[i], evicted); // 0..19 pass through the small queue to the ghost
  ASSERT_FALSE(ns[0].resident());
  access(p, ns[0], evicted); // a ghost hit: admitted to main
  ASSERT_TRUE(ns[0].resident());
  p.remove(ns[0]);
  EXPECT_FALSE(ns[0].resident());
  p.remove(ns[29]); // the newest, in the small queue
  EXPECT_FALSE(ns[29].resident());
  EXPECT_EQ(p.used_bytes(), p.size() * 1000);
}

TEST(CachePolicyTest, LargeObjectPushesOutSeveralSmallOnes) {
  for (kind k : all_kinds) {
    SCOPED_TRACE(std::string(ika::cache::to_string(k)));
    eviction_policy p = make_policy(10'000, 10, k);
    nodes small(10, 1000);
    std::vector<policy_node*> evicted;
    for (std::size_t i = 0; i < 10; ++i)
      access(p, small[i], evicted);
    ASSERT_EQ(p.used_bytes(), 10'000u);
    policy_node big;
    big.hash = 12345;
    big.charge = 3500;
    for (int i = 0; i < 15; ++i)
      p.record_access(big.hash); // hot enough for TinyLFU against four one-hit keys
    ASSERT_TRUE(p.admit(big, [&](policy_node& v) { evicted.push_back(&v); }));
    EXPECT_EQ(evicted.size(), 4u);
    EXPECT_EQ(p.used_bytes(), 6000u + 3500u);
  }
}

TEST(CachePolicySketch, EstimatesGrowWithRecordsAndAgingHalves) {
  frequency_sketch s(1000);
  EXPECT_EQ(s.memory_bytes(), 1024u * 8);
  EXPECT_EQ(s.sample_size(), 20u * 1024);
  EXPECT_EQ(s.estimate(key_hash(1)), 0u);
  std::uint32_t last = 0;
  for (std::uint32_t i = 1; i <= 20; ++i) {
    s.record(key_hash(1));
    const auto e = s.estimate(key_hash(1));
    EXPECT_GE(e, std::min(i, 15u)); // count-min never underestimates
    EXPECT_GE(e, last);
    last = e;
  }
  EXPECT_EQ(last, 15u); // 4-bit saturation
  for (int i = 0; i < 6; ++i)
    s.record(key_hash(2));
  EXPECT_GE(s.estimate(key_hash(2)), 6u);
  // Mostly unseen keys estimate 0 (a few collide).
  int nonzero = 0;
  for (std::size_t k = 1000; k < 2000; ++k)
    nonzero += s.estimate(key_hash(k)) != 0;
  EXPECT_LT(nonzero, 20);
  s.age();
  EXPECT_EQ(s.estimate(key_hash(1)), 7u);
  EXPECT_GE(s.estimate(key_hash(2)), 3u);
  EXPECT_LE(s.estimate(key_hash(2)), 4u);
}

TEST(CachePolicySketch, AgesItselfAfterSampleSizeRecords) {
  frequency_sketch s(64);
  for (int i = 0; i < 15; ++i)
    s.record(key_hash(0));
  ASSERT_EQ(s.estimate(key_hash(0)), 15u);
  // Distinct keys, each counted once: the sample fills and the counters halve.
  std::size_t k = 1;
  while (s.estimate(key_hash(0)) == 15 && k < 100 * s.sample_size())
    s.record(key_hash(k++));
  EXPECT_LE(k, s.sample_size() + 1) << "aging ran after about sample_size() increments";
  EXPECT_EQ(s.estimate(key_hash(0)), 7u);
}

TEST(CachePolicySketch, ConcurrentRecordsFromManyThreads) {
  frequency_sketch s(2048);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&s, t] {
      std::mt19937_64 rng(t);
      for (int i = 0; i < 200'000; ++i)
        s.record(key_hash(i % 2 == 0 ? 0 : 1 + rng() % 1'000'000)); // key 0 is hot
    });
  for (auto& th : threads)
    th.join();
  // Aged many times, yet the hot key stays far above never-seen keys.
  EXPECT_GE(s.estimate(key_hash(0)), 7u);
  double cold = 0;
  for (std::size_t k = 2'000'000; k < 2'000'100; ++k)
    cold += s.estimate(key_hash(k));
  EXPECT_LT(cold / 100, 4.0);
}

TEST(CachePolicyTest, ProductionKindResistsScans) {
  // Default kind, 100 objects; 50 keys with a few hits each, then a scan of
  // 2,000 one-hit keys: the frequent keys stay.
  eviction_policy p = make_policy(100 * 1000, 100, eviction_policy::default_kind);
  nodes hot(50, 1000);
  nodes scan(2000, 1000);
  for (std::size_t i = 0; i < 2000; ++i)
    scan[i].hash = key_hash(1'000'000 + i);
  std::vector<policy_node*> evicted;
  for (int round = 0; round < 4; ++round)
    for (std::size_t i = 0; i < 50; ++i)
      access(p, hot[i], evicted);
  for (std::size_t i = 0; i < 2000; ++i)
    access(p, scan[i], evicted);
  std::size_t kept = 0;
  for (std::size_t i = 0; i < 50; ++i)
    kept += hot[i].resident();
  EXPECT_EQ(kept, 50u);
  // Exact LRU, for contrast, loses them all.
  eviction_policy lru = make_policy(100 * 1000, 100, kind::lru);
  nodes hot2(50, 1000);
  nodes scan2(2000, 1000);
  for (int round = 0; round < 4; ++round)
    for (std::size_t i = 0; i < 50; ++i)
      access(lru, hot2[i], evicted);
  for (std::size_t i = 0; i < 2000; ++i)
    access(lru, scan2[i], evicted);
  EXPECT_FALSE(hot2[0].resident());
}

using ika::bench::zipf;

double zipf_hit_ratio(kind k, const zipf& z, std::size_t capacity, std::size_t requests) {
  eviction_policy p = make_policy(capacity, capacity, k); // charge 1: `capacity` objects
  nodes ns(z.cdf.size(), 1);
  std::mt19937_64 rng(2026);
  std::vector<policy_node*> evicted;
  std::size_t hits = 0;
  const std::size_t warmup = requests / 10;
  for (std::size_t r = 0; r < requests; ++r) {
    const bool hit = access(p, ns[z(rng)], evicted);
    if (r >= warmup)
      hits += hit;
  }
  return static_cast<double>(hits) / static_cast<double>(requests - warmup);
}

TEST(CachePolicyTest, ZipfHitRatioIsNearTheIdealFrequencyCache) {
  // Zipf(1.0), 10,000 keys, room for 2,000 objects. The ideal static cache
  // holds the 2,000 most popular keys: H(2000)/H(10000) = 83.6%. The
  // simulator (tools/bench/cache-policy) measures the default kind at 99.2%
  // of the ideal over 2M requests; this shorter run (400k, 40k warm-up) must
  // reach 95%: enough margin for the shorter run's noise (+-0.2%) and warm-up
  // tail, while exact LRU (91%) or CLOCK (93.5%) would fail it. Two 400k runs:
  // ~170 ms in RelWithDebInfo.
  const zipf z(10'000, 1.0);
  const double ideal = z.cdf[1999];
  EXPECT_NEAR(ideal, 0.836, 0.001);
  const double got = zipf_hit_ratio(eviction_policy::default_kind, z, 2000, 400'000);
  const double lru = zipf_hit_ratio(kind::lru, z, 2000, 400'000);
  EXPECT_GE(got, 0.95 * ideal) << "hit ratio " << got << ", ideal " << ideal;
  EXPECT_LT(lru, 0.95 * ideal) << "the bound tells a frequency policy from LRU";
  EXPECT_GT(got, lru);
  RecordProperty("hit_ratio", std::to_string(got));
  RecordProperty("lru_hit_ratio", std::to_string(lru));
}

} // namespace
