// tools/bench/cache-policy/sim.cpp: hit ratios of each eviction_policy kind
// against the ideal static frequency cache. Built and run by ./run.
//
// Every access calls record_access(); a hit calls touch() (as io threads do
// in production) except for kind::lru, which gets exact LRU through
// on_hit_owner(); a miss calls admit(). Hit ratios exclude the first 10% of
// requests (warm-up). Deterministic: fixed seeds.

#include "runtime/cache/policy.hpp"
#include "tools/bench/cache-policy/zipf.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

using ika::cache::eviction_policy;
using ika::cache::policy_node;
using kind = eviction_policy::kind;

constexpr std::size_t keys = 10'000;
constexpr std::uint64_t per_object_overhead = 200; // index entry, headers, allocator slack
constexpr std::size_t scan_keys = 400'000;

std::uint64_t key_hash(std::size_t key) {
  std::uint64_t x = key + 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

enum class workload { stat, shift, scan };

struct config {
  workload w;
  double s;
  std::uint64_t body;
  double budget_fraction;
  std::size_t requests;
};

struct result {
  double hit = 0; // after the warm-up (scan: of the Zipf requests only)
  double ideal = 0;
  double hit_from_cold = 0; // the whole run, warm-up included
};

result simulate(kind k, const config& c) {
  const ika::bench::zipf z(keys, c.s);
  const std::uint64_t charge = c.body + per_object_overhead;
  const auto budget = static_cast<std::uint64_t>(c.budget_fraction * static_cast<double>(keys * c.body));
  const std::size_t fit = budget / charge;
  eviction_policy p(budget, fit, k);
  const std::size_t total_keys = keys + (c.w == workload::scan ? scan_keys : 0);
  auto nodes = std::make_unique<policy_node[]>(total_keys);
  for (std::size_t i = 0; i < total_keys; ++i) {
    nodes[i].hash = key_hash(i);
    nodes[i].charge = charge;
  }
  std::mt19937_64 rng(42);
  const std::function<void(policy_node&)> evicted = [](policy_node&) {};
  std::size_t counted = 0, hits = 0, all_hits = 0, next_scan = 0;
  const std::size_t warmup = c.requests / 10;
  const std::size_t phase_len = c.requests / 8;
  for (std::size_t r = 0; r < c.requests;) {
    // scan: every 100k requests a burst of 20k one-hit keys.
    if (c.w == workload::scan && r % 100'000 == 50'000) {
      for (std::size_t i = 0; i < 20'000; ++i) {
        policy_node& n = nodes[keys + next_scan];
        next_scan = (next_scan + 1) % scan_keys;
        p.record_access(n.hash);
        if (n.resident())
          touch(n);
        else
          p.admit(n, evicted);
      }
    }
    std::size_t key = z(rng);
    if (c.w == workload::shift)
      key = (key + (r / phase_len) * 3'331) % keys; // the hot set moves 8 times
    policy_node& n = nodes[key];
    p.record_access(n.hash);
    const bool hit = n.resident();
    if (hit) {
      if (k == kind::lru)
        p.on_hit_owner(n);
      else
        touch(n);
    } else {
      p.admit(n, evicted);
    }
    if (p.used_bytes() + p.overhead_bytes() > p.budget()) {
      std::fprintf(stderr, "budget exceeded\n");
      std::exit(1);
    }
    all_hits += hit;
    if (++r > warmup) {
      ++counted;
      hits += hit;
    }
  }
  return {static_cast<double>(hits) / static_cast<double>(counted), z.top(fit),
          static_cast<double>(all_hits) / static_cast<double>(c.requests)};
}

const char* name(workload w) {
  switch (w) {
    case workload::stat:
      return "zipf";
    case workload::shift:
      return "shift";
    case workload::scan:
      return "scan";
  }
  return "?";
}

} // namespace

int main(int argc, char** argv) {
  const std::size_t requests = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2'000'000;
  const kind kinds[] = {kind::lru, kind::clock, kind::s3fifo, kind::tinylfu, kind::wtinylfu};
  std::vector<config> configs;
  for (std::uint64_t body : {1024u, 65536u})
    for (double s : {0.8, 1.0, 1.2})
      for (double f : {0.1, 0.2, 0.4})
        configs.push_back({workload::stat, s, body, f, requests});
  for (std::uint64_t body : {1024u, 65536u})
    for (workload w : {workload::shift, workload::scan})
      configs.push_back({w, 1.0, body, 0.2, requests});

  std::printf("%zu keys, %zu requests per run (first 10%% not counted), per-object overhead %llu B; "
              "hit ratio %% (share of the ideal)\n",
              keys, requests, static_cast<unsigned long long>(per_object_overhead));
  std::printf("%-6s %5s %6s %6s %6s", "load", "alpha", "object", "budget", "ideal");
  for (kind k : kinds)
    std::printf(" %15s", std::string(ika::cache::to_string(k)).c_str());
  std::printf("\n");
  std::vector<std::vector<result>> cold_start;
  const auto t0 = std::chrono::steady_clock::now();
  for (const config& c : configs) {
    std::printf("%-6s %5.1f %6s %5.0f%%", name(c.w), c.s, c.body == 1024 ? "1KiB" : "64KiB",
                c.budget_fraction * 100);
    double ideal = 0;
    std::vector<result> rs;
    for (kind k : kinds) {
      rs.push_back(simulate(k, c));
      ideal = rs.back().ideal;
    }
    std::printf(" %5.1f%%", ideal * 100);
    for (const result& r : rs)
      std::printf("  %5.1f%% (%5.3f)", r.hit * 100, r.hit / r.ideal);
    std::printf("\n");
    if (c.w == workload::stat && c.s == 1.0 && c.budget_fraction == 0.2)
      cold_start.push_back(rs);
    std::fflush(stdout);
  }
  std::printf("zipf 1.0 at 20%%, the whole run from a cold cache (warm-up included):");
  for (std::size_t i = 0; i < cold_start.size(); ++i)
    for (std::size_t j = 0; j < std::size(kinds); ++j)
      std::printf("%s %s %s %.1f%%",
                  j   ? ","
                  : i ? ";"
                      : "",
                  i ? "64KiB" : "1KiB", std::string(ika::cache::to_string(kinds[j])).c_str(),
                  cold_start[i][j].hit_from_cold * 100);
  std::printf("\n");
  std::printf("(%.1f s)\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}
