/**
 * Descriptive statistics over float64 arrays. Sums use Neumaier compensation
 * so that totals over disjoint sets add up to the total over their union to
 * near machine precision (an invariant the property kit checks).
 */
import type { BitsSummary } from "../metrics/bits-summary.ts"

export type { BitsSummary }

/** Compensated (Neumaier) sum. */
export const sum = (xs: ArrayLike<number>): number => {
  let s = 0
  let c = 0
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]
    const t = s + x
    c += Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s
    s = t
  }
  return s + c
}

export const mean = (xs: ArrayLike<number>): number => (xs.length === 0 ? NaN : sum(xs) / xs.length)

/** Sample variance (n − 1 in the denominator); NaN for fewer than two values. */
export const variance = (xs: ArrayLike<number>): number => {
  const n = xs.length
  if (n < 2) return NaN
  const m = mean(xs)
  let acc = 0
  for (let i = 0; i < n; i++) acc += (xs[i] - m) ** 2
  return acc / (n - 1)
}

export const stdDev = (xs: ArrayLike<number>): number => Math.sqrt(variance(xs))

/** Standard error of the mean; NaN for fewer than two values. */
export const stdError = (xs: ArrayLike<number>): number => stdDev(xs) / Math.sqrt(xs.length)

const sorted = (xs: ArrayLike<number>): Float64Array => Float64Array.from(xs).sort()

/**
 * Quantile by linear interpolation between order statistics: Hyndman & Fan
 * type 7 (R's and NumPy's default). For sorted x[0..n-1] and q in [0, 1]:
 * h = (n − 1)·q, Q(q) = x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]).
 * So Q(0) is the minimum, Q(1) the maximum, Q(0.5) the usual median.
 */
export const quantileSorted = (s: ArrayLike<number>, q: number): number => {
  const n = s.length
  if (n === 0) return NaN
  const h = (n - 1) * q
  const lo = Math.floor(h)
  const hi = Math.min(lo + 1, n - 1)
  return s[lo] + (h - lo) * (s[hi] - s[lo])
}

export const quantile = (xs: ArrayLike<number>, q: number): number => quantileSorted(sorted(xs), q)

/** The quantile levels every distribution in metric output reports. */
export const QUANTILE_LEVELS = [0, 0.05, 0.25, 0.5, 0.75, 0.95, 1] as const

/** Key of a quantile level in JSON output: 0.05 → "p5", 0.5 → "p50", 1 → "p100". */
export const quantileKey = (q: number): string => `p${Math.round(q * 100)}`

export const quantiles = (xs: ArrayLike<number>, levels: ReadonlyArray<number> = QUANTILE_LEVELS): Record<string, number> => {
  const s = sorted(xs)
  const out: Record<string, number> = {}
  for (const q of levels) out[quantileKey(q)] = quantileSorted(s, q)
  return out
}

/** Summary written into metric output for one distribution of per-sample bits (its stored shape: metrics/bits-summary.ts). */
export const summarizeBits = (xs: ArrayLike<number>): BitsSummary => ({
  count: xs.length,
  totalBits: sum(xs),
  meanBits: mean(xs),
  quantiles: quantiles(xs)
})

/**
 * Ranks 1..n with ties given the average of the ranks they span (so the
 * Mann–Whitney statistic and Spearman's correlation handle ties exactly).
 */
export const averageRanks = (xs: ArrayLike<number>): Float64Array => {
  const n = xs.length
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => xs[a] - xs[b])
  const ranks = new Float64Array(n)
  let i = 0
  while (i < n) {
    let j = i
    while (j + 1 < n && xs[idx[j + 1]] === xs[idx[i]]) j++
    const r = (i + j) / 2 + 1
    for (let k = i; k <= j; k++) ranks[idx[k]] = r
    i = j + 1
  }
  return ranks
}

/** Pearson correlation; NaN when either variable is constant or n < 2. */
export const pearson = (xs: ArrayLike<number>, ys: ArrayLike<number>): number => {
  const n = xs.length
  if (n !== ys.length) throw new RangeError(`pearson: lengths differ (${n} vs ${ys.length})`)
  if (n < 2) return NaN
  const mx = mean(xs)
  const my = mean(ys)
  let sxy = 0
  let sxx = 0
  let syy = 0
  for (let i = 0; i < n; i++) {
    const dx = xs[i] - mx
    const dy = ys[i] - my
    sxy += dx * dy
    sxx += dx * dx
    syy += dy * dy
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy)
}

/** Spearman rank correlation (Pearson on average ranks). */
export const spearman = (xs: ArrayLike<number>, ys: ArrayLike<number>): number => pearson(averageRanks(xs), averageRanks(ys))
