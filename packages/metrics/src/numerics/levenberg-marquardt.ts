/**
 * Levenberg–Marquardt nonlinear least squares in float64, with Marquardt's
 * diagonal scaling and several starting points (the best sum of squares
 * wins). Standard errors come from the covariance s²·(JᵀJ)⁻¹ at the optimum,
 * s² = SSR / (n − p).
 */
import { invert, solve } from "./linalg.ts"

export interface LeastSquaresProblem {
  readonly xs: ArrayLike<number>
  readonly ys: ArrayLike<number>
  /** Model value at x for parameters p. */
  readonly f: (x: number, p: Float64Array) => number
  /** ∂f/∂p_j at x, written into `out` (length p). */
  readonly jacobian: (x: number, p: Float64Array, out: Float64Array) => void
}

export interface LeastSquaresFit {
  readonly params: Float64Array
  /** null when n = p (no residual degrees of freedom) or JᵀJ is singular. */
  readonly stdErrors: Float64Array | null
  readonly covariance: Float64Array | null
  readonly ssr: number
  readonly residuals: Float64Array
  readonly iterations: number
  readonly converged: boolean
  /** Index of the starting point the returned fit came from. */
  readonly start: number
}

export interface LmOptions {
  readonly maxIterations?: number
  /** Stop when the relative step is below this (and the SSR decrease below 1e-12 relative). */
  readonly tolerance?: number
}

const ssrOf = (prob: LeastSquaresProblem, p: Float64Array, res: Float64Array): number => {
  let s = 0
  for (let i = 0; i < prob.xs.length; i++) {
    const r = prob.f(prob.xs[i], p) - prob.ys[i]
    res[i] = r
    s += r * r
  }
  return s
}

/** Normal equations JᵀJ (np×np) and Jᵀr at p. */
const normal = (prob: LeastSquaresProblem, p: Float64Array, res: Float64Array) => {
  const np = p.length
  const jtj = new Float64Array(np * np)
  const jtr = new Float64Array(np)
  const row = new Float64Array(np)
  for (let i = 0; i < prob.xs.length; i++) {
    prob.jacobian(prob.xs[i], p, row)
    for (let a = 0; a < np; a++) {
      jtr[a] += row[a] * res[i]
      for (let b = 0; b < np; b++) jtj[a * np + b] += row[a] * row[b]
    }
  }
  return { jtj, jtr }
}

export const levenbergMarquardt = (prob: LeastSquaresProblem, start: ArrayLike<number>, options: LmOptions = {}): Omit<LeastSquaresFit, "start"> => {
  const maxIt = options.maxIterations ?? 2000
  const tol = options.tolerance ?? 1e-13
  const n = prob.xs.length
  const np = start.length
  let p = Float64Array.from(start)
  const res = new Float64Array(n)
  let ssr = ssrOf(prob, p, res)
  let lambda = 1e-3
  let converged = false
  let it = 0
  const trialRes = new Float64Array(n)
  for (; it < maxIt && Number.isFinite(ssr); it++) {
    const { jtj, jtr } = normal(prob, p, res)
    let improved = false
    // Raise damping until a step lowers the SSR (or damping becomes absurd).
    while (lambda < 1e16) {
      const a = Float64Array.from(jtj)
      for (let j = 0; j < np; j++) a[j * np + j] += lambda * Math.max(jtj[j * np + j], 1e-300)
      const neg = jtr.map((v) => -v)
      const step = solve(a, neg, np)
      if (step === undefined) {
        lambda *= 10
        continue
      }
      const trial = new Float64Array(np)
      for (let j = 0; j < np; j++) trial[j] = p[j] + step[j]
      const trialSsr = ssrOf(prob, trial, trialRes)
      if (Number.isFinite(trialSsr) && trialSsr <= ssr) {
        let stepNorm = 0
        let pNorm = 0
        for (let j = 0; j < np; j++) {
          stepNorm += step[j] ** 2
          pNorm += trial[j] ** 2
        }
        const rel = Math.sqrt(stepNorm) / (Math.sqrt(pNorm) + 1e-300)
        const decrease = (ssr - trialSsr) / (ssr + 1e-300)
        p = trial
        res.set(trialRes)
        const prev = ssr
        ssr = trialSsr
        lambda = Math.max(lambda / 10, 1e-12)
        improved = true
        if ((rel < tol && decrease < 1e-12) || ssr === 0 || prev === ssr) converged = true
        break
      }
      lambda *= 10
    }
    if (!improved) {
      // No damped step helps: we are at a (local) minimum to working precision.
      converged = true
      break
    }
    if (converged) break
  }
  const { jtj } = normal(prob, p, res)
  const inv = invert(jtj, np)
  const dof = n - np
  let covariance: Float64Array | null = null
  let stdErrors: Float64Array | null = null
  if (inv !== undefined && dof > 0) {
    const s2 = ssr / dof
    covariance = inv.map((v) => v * s2)
    stdErrors = new Float64Array(np)
    for (let j = 0; j < np; j++) stdErrors[j] = Math.sqrt(Math.max(covariance[j * np + j], 0))
  }
  return { params: p, stdErrors, covariance, ssr, residuals: Float64Array.from(res), iterations: it, converged }
}

/** Runs LM from every start and keeps the lowest SSR. */
export const multiStartLM = (prob: LeastSquaresProblem, starts: ReadonlyArray<ArrayLike<number>>, options: LmOptions = {}): LeastSquaresFit | undefined => {
  let best: LeastSquaresFit | undefined
  starts.forEach((s, k) => {
    const fit = levenbergMarquardt(prob, s, options)
    if (!Number.isFinite(fit.ssr) || !Array.from(fit.params).every(Number.isFinite)) return
    if (best === undefined || fit.ssr < best.ssr) best = { ...fit, start: k }
  })
  return best
}
