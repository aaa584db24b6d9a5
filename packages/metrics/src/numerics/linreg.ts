/**
 * Ordinary least squares for y = intercept + slope·x (and through the origin),
 * with the classical standard errors (homoscedastic Gaussian residuals).
 */
import { mean } from "./stats.ts"

export interface LinearFit {
  readonly n: number
  readonly slope: number
  readonly intercept: number
  /** Standard errors; null when n ≤ 2 (no residual degrees of freedom). */
  readonly slopeStdError: number | null
  readonly interceptStdError: number | null
  readonly rSquared: number
  readonly residuals: ReadonlyArray<number>
}

export interface OriginFit {
  readonly n: number
  readonly slope: number
  /** null when n ≤ 1. */
  readonly slopeStdError: number | null
  readonly residuals: ReadonlyArray<number>
}

/** Caller guarantees n ≥ 2 and x not constant (checked by the law plugins, which own the error). */
export const linearFit = (xs: ArrayLike<number>, ys: ArrayLike<number>): LinearFit => {
  const n = xs.length
  const mx = mean(xs)
  const my = mean(ys)
  let sxx = 0
  let sxy = 0
  let syy = 0
  for (let i = 0; i < n; i++) {
    sxx += (xs[i] - mx) ** 2
    sxy += (xs[i] - mx) * (ys[i] - my)
    syy += (ys[i] - my) ** 2
  }
  const slope = sxy / sxx
  const intercept = my - slope * mx
  const residuals: Array<number> = []
  let ssr = 0
  for (let i = 0; i < n; i++) {
    const r = ys[i] - (intercept + slope * xs[i])
    residuals.push(r)
    ssr += r * r
  }
  const dof = n - 2
  const s2 = dof > 0 ? ssr / dof : NaN
  return {
    n,
    slope,
    intercept,
    slopeStdError: dof > 0 ? Math.sqrt(s2 / sxx) : null,
    interceptStdError: dof > 0 ? Math.sqrt(s2 * (1 / n + (mx * mx) / sxx)) : null,
    rSquared: syy === 0 ? 1 : 1 - ssr / syy,
    residuals
  }
}

/** y = slope·x, least squares. */
export const originFit = (xs: ArrayLike<number>, ys: ArrayLike<number>): OriginFit => {
  const n = xs.length
  let sxx = 0
  let sxy = 0
  for (let i = 0; i < n; i++) {
    sxx += xs[i] * xs[i]
    sxy += xs[i] * ys[i]
  }
  const slope = sxy / sxx
  const residuals: Array<number> = []
  let ssr = 0
  for (let i = 0; i < n; i++) {
    const r = ys[i] - slope * xs[i]
    residuals.push(r)
    ssr += r * r
  }
  const dof = n - 1
  return { n, slope, slopeStdError: dof > 0 ? Math.sqrt(ssr / dof / sxx) : null, residuals }
}
