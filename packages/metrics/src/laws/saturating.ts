/**
 * Least-squares fit of the saturating curve y = min(a, C) for one unknown C,
 * where a = N·H is the information in the dataset (bits) and y the measured
 * total memorization. Exact: on each interval between consecutive sorted a
 * values the objective is Σ_{a_i > C} (y_i − C)² + constant, minimised at the
 * mean of those y_i clamped to the interval; the best interval wins.
 * (A type alias, not an interface: assignable to Json as it is.)
 */
export type SaturatingFit = {
  readonly capacityBits: number
  /**
   * Whether some dataset held more bits than the fitted capacity (the plateau
   * was reached). Without saturation C is not identified and capacityBits is
   * the largest measured value: a lower bound.
   */
  readonly saturated: boolean
  readonly ssr: number
  readonly n: number
}

export const saturatingFit = (a: ArrayLike<number>, y: ArrayLike<number>): SaturatingFit => {
  const n = a.length
  const idx = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[i] - a[j] || y[i] - y[j])
  const as = idx.map((i) => a[i])
  const ys = idx.map((i) => y[i])
  // suffix sums of y and y² over sorted order
  const sy = new Float64Array(n + 1)
  const syy = new Float64Array(n + 1)
  for (let k = n - 1; k >= 0; k--) {
    sy[k] = sy[k + 1] + ys[k]
    syy[k] = syy[k + 1] + ys[k] * ys[k]
  }
  let prefix = 0 // Σ_{i<k} (y_i − a_i)²
  let best: { c: number; ssr: number; k: number } | undefined
  for (let k = 0; k < n; k++) {
    // Points k..n−1 are saturated (a_i > C); C ∈ [a_{k−1}, a_k].
    const lo = k === 0 ? 0 : as[k - 1]
    const hi = as[k]
    const m = n - k
    const c = Math.min(Math.max(sy[k] / m, lo), hi)
    const ssr = prefix + syy[k] - 2 * c * sy[k] + m * c * c
    if (best === undefined || ssr < best.ssr) best = { c, ssr, k }
    prefix += (ys[k] - as[k]) ** 2
  }
  const unsaturatedSsr = prefix
  if (best === undefined || unsaturatedSsr < best.ssr || best.c >= as[n - 1]) {
    let maxY = 0
    for (const v of ys) maxY = Math.max(maxY, v)
    return { capacityBits: maxY, saturated: false, ssr: unsaturatedSsr, n }
  }
  return { capacityBits: best.c, saturated: true, ssr: Math.max(best.ssr, 0), n }
}
