#pragma once
// Zipf(s) over n keys (P(rank k) ~ 1/(k+1)^s), drawn by inverse CDF: the
// skewed workload of the cache benchmarks, shared by the policy simulator
// and the policy's unit tests.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

namespace ika::bench {

struct zipf {
  std::vector<double> cdf;
  zipf(std::size_t n, double s) : cdf(n) {
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i)
      cdf[i] = (sum += 1.0 / std::pow(static_cast<double>(i + 1), s));
    for (auto& c : cdf)
      c /= sum;
  }
  std::size_t operator()(std::mt19937_64& rng) const {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    return std::min<std::size_t>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin(), cdf.size() - 1);
  }
  // Share of requests that go to the k most popular keys.
  double top(std::size_t k) const { return k == 0 ? 0.0 : cdf[std::min(k, cdf.size()) - 1]; }
};

} // namespace ika::bench
