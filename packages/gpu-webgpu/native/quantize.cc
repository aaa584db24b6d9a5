// The native twin of packages/core/src/quantize.ts: the same IEEE-754
// operations (+, −, ×, ÷, floor on doubles) in the same order, so every
// frequency equals the TypeScript definition's bit for bit and a file coded by
// one decodes with the other. Compiled in its own target with
// -ffp-contract=off (binding.gyp): a fused a·b + c rounds once and would give
// other doubles. Vectorising the per-logit 2^x is exact (lane-wise IEEE ops);
// the sum Z is kept a sequential left-to-right loop, since reassociating it
// would change its last bits and with them the frequencies.
#include "quantize.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace memo {
namespace {

constexpr double kLn2 = 0.6931471805599453;
constexpr double kLog2e = 1.4426950408889634;
constexpr int kMinExp = -80;
constexpr int kFractionSteps = 64;
constexpr int kOffset = -kMinExp * kFractionSteps;
constexpr double kStepLn2 = kLn2 / kFractionSteps;

// expSeries of quantize.ts: Taylor series to y^18, term = (term·y)/k.
double exp_series(double y) {
  double term = 1, sum = 1;
  for (int k = 1; k <= 18; k++) {
    term = (term * y) / k;
    sum += term;
  }
  return sum;
}

// POW64 of quantize.ts: 2^(n/64), n = −5120…0, as halves[−k]·fraction[n − 64k].
std::vector<double> build_pow64() {
  std::vector<double> fraction(kFractionSteps), halves(-kMinExp + 1), out(kOffset + 1);
  for (int j = 0; j < kFractionSteps; j++) fraction[j] = exp_series((double(j) / kFractionSteps) * kLn2);
  halves[0] = 1;
  for (size_t k = 1; k < halves.size(); k++) halves[k] = halves[k - 1] / 2;
  for (int i = 0; i <= kOffset; i++) {
    const int n = i + kMinExp * kFractionSteps;
    const int k = int(std::floor(double(n) / kFractionSteps));
    out[i] = halves[-k] * fraction[n - k * kFractionSteps];
  }
  return out;
}

const std::vector<double>& pow64() {
  static const std::vector<double> table = build_pow64();
  return table;
}

// The largest logit of a row, NaN aside (for a row with NaN the result is
// unspecified: such a row is refused anyway, by the `l ≤ m` test in exp2_row).
// 16 running maxima vectorise; the maximum of a set does not depend on order.
float max_of(const float* __restrict l, int V) {
  constexpr int kLanes = 16;
  float acc[kLanes];
  for (int j = 0; j < kLanes; j++) acc[j] = -std::numeric_limits<float>::infinity();
  int s = 0;
  for (; s + kLanes <= V; s += kLanes)
    for (int j = 0; j < kLanes; j++) acc[j] = l[s + j] > acc[j] ? l[s + j] : acc[j];
  for (; s < V; s++) acc[0] = l[s] > acc[0] ? l[s] : acc[0];
  float m = acc[0];
  for (int j = 1; j < kLanes; j++) m = acc[j] > m ? acc[j] : m;
  return m;
}

// The first s with l[s] == top (V if none): 16 at a time, then one by one.
int first_index_of(const float* __restrict l, int V, float top) {
  int s = 0;
  for (; s + 16 <= V; s += 16) {
    int hit = 0;
    for (int j = 0; j < 16; j++) hit |= l[s + j] == top;
    if (hit) break;
  }
  while (s < V && !(l[s] == top)) s++;
  return s;
}

// e[s] = 2^((l[s] − m)·log2 e) as exp2NonPositive computes it; returns
// whether some l[s] is not ≤ m (NaN, +∞). Branch-free with restrict pointers
// so that it vectorises along s: lanes below 2^−80 (and −∞) compute on x = 0
// and are zeroed.
int exp2_row(const float* __restrict l, int V, double m, const double* __restrict table, double* __restrict e) {
  int bad = 0;
  for (int s = 0; s < V; s++) {
    const double ls = l[s];
    bad |= !(ls <= m);
    const double x = (ls - m) * kLog2e;
    const bool live = x >= kMinExp;
    const double y = (live ? x : 0.0) * kFractionSteps;
    const double n = std::floor(y);
    const double r = (y - n) * kStepLn2;
    const double v = table[int(n) + kOffset] *
                     (1 + r * (1 + r * (0.5 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120 + r / 720))))));
    e[s] = live ? v : 0.0;
  }
  return bad;
}

// Rows are quantized kGroup at a time so that their sums Z, each a sequential
// left-to-right loop (its order decides Z's last bits, and with them the
// frequencies), run as kGroup independent chains instead of one chain's
// latency per logit.
constexpr int kGroup = 4;

// Rows first…first + n − 1 (n ≤ kGroup); `e` holds kGroup × V doubles.
// Returns a bit mask of the rows the definition refuses.
unsigned quantize_group(const float* logits, int first, int n, int V, double budget, const double* table, int32_t* cum, double* stats,
                        double* e) {
  unsigned refused = 0;
  double m[kGroup];
  int best[kGroup];
  for (int k = 0; k < n; k++) {
    const float* l = logits + int64_t(first + k) * V;
    // The first maximum, as `if (l > m)` in quantize.ts (its value, signed zero included, is l[best]).
    const float top = max_of(l, V);
    const int b = first_index_of(l, V, top);
    if (b == V || !std::isfinite(top) || exp2_row(l, V, double(l[b]), table, e + int64_t(k) * V)) {
      refused |= 1u << k;
      continue;
    }
    best[k] = b;
    m[k] = l[b];
  }
  double z[kGroup] = {0, 0, 0, 0};
  static_assert(kGroup == 4, "the sums below are written out for 4 rows");
  if (refused == 0 && n == kGroup) {
    const double* e0 = e;
    const double* e1 = e + V;
    const double* e2 = e + 2 * int64_t(V);
    const double* e3 = e + 3 * int64_t(V);
    for (int s = 0; s < V; s++) {
      z[0] += e0[s];
      z[1] += e1[s];
      z[2] += e2[s];
      z[3] += e3[s];
    }
  } else {
    for (int k = 0; k < n; k++)
      if (!(refused & (1u << k)))
        for (int s = 0; s < V; s++) z[k] += e[int64_t(k) * V + s];
  }
  for (int k = 0; k < n; k++) {
    if (refused & (1u << k)) continue;
    const double* ek = e + int64_t(k) * V;
    int32_t* c = cum + int64_t(first + k) * (V + 1);
    // ⌊e·scale⌋ as int32 truncation (0 ≤ e·scale < 2^31, as `| 0` in TypeScript); integer sums are exact in any order.
    const double scale = budget / z[k];
    int64_t assigned = 0;
    for (int s = 0; s < V; s++) {
      const int32_t g = int32_t(ek[s] * scale);
      c[s + 1] = 1 + g;
      assigned += g;
    }
    // The remainder goes to the most probable symbol, then the running sums.
    c[best[k] + 1] += int32_t(int64_t(budget) - assigned);
    // The running sum kept in a register (c[s + 1] += c[s] would wait on the store it just made).
    int32_t sum = 0;
    c[0] = 0;
    for (int s = 1; s <= V; s++) c[s] = sum += c[s];
    stats[2 * (first + k)] = m[k];
    stats[2 * (first + k) + 1] = z[k];
  }
  return refused;
}

}  // namespace

int quantize_rows(const float* logits, int rows, int V, int P, int32_t* cum, double* stats, int threads) {
  const double* table = pow64().data();
  const double budget = std::ldexp(1.0, P) - V;
  const int groups = (rows + kGroup - 1) / kGroup;
  int first_bad = rows;
#pragma omp parallel num_threads(threads) if (threads > 1 && int64_t(rows) * V >= (1 << 16))
  {
    std::vector<double> e(size_t(kGroup) * V);
    int bad = rows;
#pragma omp for schedule(static)
    for (int j = 0; j < groups; j++) {
      const int first = j * kGroup;
      const unsigned refused = quantize_group(logits, first, std::min(kGroup, rows - first), V, budget, table, cum, stats, e.data());
      if (refused != 0 && first + __builtin_ctz(refused) < bad) bad = first + __builtin_ctz(refused);
    }
#pragma omp critical
    if (bad < first_bad) first_bad = bad;
  }
  return first_bad == rows ? -1 : first_bad;
}

}  // namespace memo
