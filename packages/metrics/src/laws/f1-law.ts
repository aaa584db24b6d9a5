/**
 * The membership-inference scaling law of Morris et al. (2025), "How much do
 * language models memorize?":
 *
 *   F1(x) = ½ · (1 + c1 · σ(c2 · (x + c3)))
 *
 * with the feature x one of
 *   "capacityPerSample":   x = Capacity/|D| = α·P/|D|   (the form as printed)
 *   "samplesPerParameter": x = |D|/P                     (the form that reproduces
 *                                                          the paper's validation)
 *
 * The printed constants (c1 = 1.34, c2 = −0.034, c3 = −33.14 with x = C/|D|)
 * give F1 > 1 that rises with |D|, contradicting the paper's own validation.
 * In the samplesPerParameter form the validated law is
 *   logit((2·F1 − 1)/c1) = 1.117 − 33.14·r,  r = |D|/P,
 * i.e. c2 = −33.14 and c3 = −1.117/33.14 (≈ −0.0337, the printed c2 up to
 * rounding): F1 → 0.5 as the data grows and → ≈1 for tiny datasets. These are
 * the "paper" constants used by `memorize predict --constants paper`.
 * Pure functions; everything here is float64.
 */
import { multiStartLM, type LeastSquaresFit } from "../numerics/levenberg-marquardt.ts"
import { quantile } from "../numerics/stats.ts"

export type Feature = "capacityPerSample" | "samplesPerParameter"

/** A type alias, not an interface: assignable to Json as it is. */
export type F1Constants = {
  readonly c1: number
  readonly c2: number
  readonly c3: number
}

/**
 * Constants plus what they mean: the feature, and α when the feature uses
 * capacity. (A type alias, not an interface: assignable to Json as it is.)
 */
export type F1Law = {
  readonly feature: Feature
  readonly alpha: number
  readonly constants: F1Constants
}

export const PAPER_ALPHA = 3.64

/** The paper's law, evaluated in the form that reproduces its validation (see above). */
export const PAPER_LAW: F1Law = {
  feature: "samplesPerParameter",
  alpha: PAPER_ALPHA,
  constants: { c1: 1.34, c2: -33.14, c3: -1.117 / 33.14 }
}

/** The constants exactly as printed, with x = Capacity/|D| (kept to show the inconsistency). */
export const PRINTED_LAW: F1Law = {
  feature: "capacityPerSample",
  alpha: PAPER_ALPHA,
  constants: { c1: 1.34, c2: -0.034, c3: -33.14 }
}

export const sigmoid = (z: number): number => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)))

export const f1OfFeature = (c: F1Constants, x: number): number => 0.5 * (1 + c.c1 * sigmoid(c.c2 * (x + c.c3)))

export const featureOf = (law: Pick<F1Law, "feature" | "alpha">, params: number, samples: number): number =>
  law.feature === "capacityPerSample" ? (law.alpha * params) / samples : samples / params

/** Predicted F1 of a model with `params` parameters trained on `samples` sequences. */
export const predictF1 = (law: F1Law, params: number, samples: number): number => f1OfFeature(law.constants, featureOf(law, params, samples))

/** Why an inversion has no answer. */
export type InvertResult = { readonly ok: true; readonly samples: number } | { readonly ok: false; readonly reason: string }

/** The dataset size |D| at which the law predicts `target` F1. */
export const invertF1 = (law: F1Law, params: number, target: number): InvertResult => {
  const { c1, c2, c3 } = law.constants
  const y = (2 * target - 1) / c1
  if (!(y > 0 && y < 1)) {
    const lo = Math.min(0.5, 0.5 + c1 / 2)
    const hi = Math.max(0.5, 0.5 + c1 / 2)
    return { ok: false, reason: `F1 ${target} is outside the law's range (${lo}, ${hi}) for c1 = ${c1}` }
  }
  if (c2 === 0) return { ok: false, reason: "c2 = 0: the law does not depend on the dataset size" }
  const x = Math.log(y / (1 - y)) / c2 - c3
  if (!(x > 0) || !Number.isFinite(x)) return { ok: false, reason: `F1 ${target} needs feature ${law.feature} = ${x}, which no positive dataset size gives` }
  const samples = law.feature === "capacityPerSample" ? (law.alpha * params) / x : x * params
  return { ok: true, samples }
}

const jacobian = (x: number, p: Float64Array, out: Float64Array) => {
  const u = x + p[2]
  const s = sigmoid(p[1] * u)
  const ds = s * (1 - s)
  out[0] = 0.5 * s
  out[1] = 0.5 * p[0] * ds * u
  out[2] = 0.5 * p[0] * ds * p[1]
}

/**
 * Starting points spread over the data: the sigmoid's centre at quartiles
 * of x, its width a few multiples of the x spread, both signs of c2.
 */
export const startingPoints = (xs: ArrayLike<number>, ys: ArrayLike<number>): Array<Array<number>> => {
  let lo = Infinity
  let hi = -Infinity
  let top = 0
  for (let i = 0; i < xs.length; i++) {
    lo = Math.min(lo, xs[i])
    hi = Math.max(hi, xs[i])
    top = Math.max(top, ys[i])
  }
  const w = hi > lo ? hi - lo : Math.max(Math.abs(hi), 1)
  const c1s = [1, Math.max(2 * top - 1, 0.1) * 1.5]
  const centres = [0.1, 0.25, 0.5, 0.75, 0.9].map((q) => quantile(xs, q))
  const out: Array<Array<number>> = []
  for (const c1 of c1s) for (const m of centres) for (const k of [1, 4, 16, -1, -4, -16]) out.push([c1, k / w, -m])
  return out
}

/** Nonlinear least squares for (c1, c2, c3); undefined when no start converges to finite values. */
export const fitF1Law = (xs: ArrayLike<number>, ys: ArrayLike<number>): LeastSquaresFit | undefined =>
  multiStartLM({ xs, ys, f: (x, p) => 0.5 * (1 + p[0] * sigmoid(p[1] * (x + p[2]))), jacobian }, startingPoints(xs, ys))
