/**
 * Invariant suites: a plugin author runs one call against their metric or
 * law and gets a fast-check counterexample when an invariant breaks. Each
 * suite returns a Promise that rejects with fast-check's report.
 *
 * - memorizationSuite   mem ≥ 0; ≤ H(x) on synthetic data; = 0 exactly under the
 *                       uniform model; totals add over disjoint sets;
 *                       unintended ≤ L(x|θ) against a reference
 * - rocSuite            AUC ∈ [0,1]; = 1 when perfectly separated; invariant under
 *                       strictly increasing transforms; AUC(s) + AUC(−s) = 1 without
 *                       ties (and with ties, unless tiesCountHalf: false); F1 ∈ [0,1]
 * - membershipSuite     a membership metric's AUC and F1 values lie in [0,1]
 * - f1LawSuite          a fit recovers known constants (noiseless within 1e-6,
 *                       noisy within 6 of its own standard errors); predict∘invert
 *                       round-trips
 * - orderInvarianceSuite a law's fit does not depend on the order of results
 */
import fc from "fast-check"
import { Effect, Result } from "effect"
import type { LawImpl, MetricImpl, MetricValues, TokenSequences, TrainedModel } from "@memorize/core"
import { bigramModelArb, capacityRunsArb, lawCaseArb, scoreListsArb, shapeArb, tokenSequencesArb, type LawCase } from "./arbitraries.ts"
import { concat, subject, syntheticDataset } from "./fixtures.ts"
import { uniformModel } from "./models.ts"
import { mulberry32 } from "../numerics/random.ts"
import type { F1Constants } from "../laws/f1-law.ts"

export interface SuiteOptions {
  readonly numRuns?: number
  readonly seed?: number
}

const params = (o: SuiteOptions) => ({ numRuns: o.numRuns ?? 50, ...(o.seed === undefined ? {} : { seed: o.seed }) })

const run = <A, E>(eff: Effect.Effect<A, E>): Promise<A> => Effect.runPromise(eff)

const sumOf = (xs: Float64Array): number => xs.reduce((a, b) => a + b, 0)

const close = (a: number, b: number, rel = 1e-9): boolean => Math.abs(a - b) <= rel * (1 + Math.abs(a) + Math.abs(b))

/** How to read total memorization of the members from a metric's output (default: `totalBits`). */
export type ReadTotal = (values: MetricValues) => number

const defaultTotal: ReadTotal = (v) => v["totalBits"] as number

export const memorizationSuite = async (measure: MetricImpl, options: SuiteOptions & { readonly totalBits?: ReadTotal } = {}): Promise<void> => {
  const total = options.totalBits ?? defaultTotal
  const p = params(options)
  const setup = shapeArb().chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      a: tokenSequencesArb(shape, { minCount: 1 }),
      b: tokenSequencesArb(shape, { minCount: 1 }),
      holdout: tokenSequencesArb(shape, { minCount: 1, maxCount: 4 }),
      model: bigramModelArb(shape),
      reference: bigramModelArb(shape)
    })
  )

  // 0 ≤ mem ≤ H, per sample (one-sequence datasets) and in total.
  await fc.assert(
    fc.asyncProperty(setup, async ({ a, holdout, model }) => {
      const h = a.seqLen * Math.log2(a.vocabSize)
      for (let i = 0; i < Math.min(a.count, 3); i++) {
        const one: TokenSequences = { ...a, count: 1, tokens: a.tokens.slice(i * a.seqLen, (i + 1) * a.seqLen) }
        const t = total(await run(measure(subject(model, syntheticDataset(one, holdout)))))
        if (!(t >= 0)) throw new Error(`memorization ${t} < 0`)
        if (!(t <= h * (1 + 1e-12))) throw new Error(`memorization ${t} > H(x) = ${h}`)
      }
    }),
    p
  )

  // Exactly zero under the uniform model.
  await fc.assert(
    fc.asyncProperty(setup, async ({ shape, a, holdout }) => {
      const t = total(await run(measure(subject(uniformModel(shape.vocabSize, shape.seqLen), syntheticDataset(a, holdout)))))
      if (t !== 0) throw new Error(`uniform model memorizes ${t} bits, expected exactly 0`)
    }),
    p
  )

  // Totals add over disjoint sets.
  await fc.assert(
    fc.asyncProperty(setup, async ({ a, b, holdout, model }) => {
      const ta = total(await run(measure(subject(model, syntheticDataset(a, holdout)))))
      const tb = total(await run(measure(subject(model, syntheticDataset(b, holdout)))))
      const tab = total(await run(measure(subject(model, syntheticDataset(concat(a, b), holdout)))))
      if (!close(ta + tb, tab)) throw new Error(`total(A) + total(B) = ${ta + tb} but total(A ∪ B) = ${tab}`)
    }),
    p
  )

  // Unintended memorization against a reference never exceeds the reference's code length.
  await fc.assert(
    fc.asyncProperty(setup, async ({ a, holdout, model, reference }) => {
      const t = total(await run(measure(subject(model, syntheticDataset(a, holdout), reference))))
      const l = sumOf(await run(reference.codeLengths(a)))
      if (!(t >= 0 && t <= l * (1 + 1e-12))) throw new Error(`unintended memorization ${t} not in [0, L(x|θ) = ${l}]`)
    }),
    p
  )
}

export interface RocFunctions {
  /** AUC of scores (higher = member). */
  readonly auc: (members: Float64Array, nonMembers: Float64Array) => number
  /** Best-threshold F1, if the implementation has one. */
  readonly bestF1?: (members: Float64Array, nonMembers: Float64Array) => number
}

export const rocSuite = async (fns: RocFunctions, options: SuiteOptions & { readonly tiesCountHalf?: boolean } = {}): Promise<void> => {
  const p = params(options)
  await fc.assert(
    fc.property(scoreListsArb(), ({ members, nonMembers }) => {
      const a = fns.auc(members, nonMembers)
      if (!(a >= 0 && a <= 1)) throw new Error(`AUC ${a} outside [0, 1]`)
      if (fns.bestF1 !== undefined) {
        const f = fns.bestF1(members, nonMembers)
        if (!(f >= 0 && f <= 1)) throw new Error(`F1 ${f} outside [0, 1]`)
      }
    }),
    p
  )
  await fc.assert(
    fc.property(scoreListsArb(), ({ members, nonMembers }) => {
      // Shift members strictly above every non-member.
      const top = Math.max(...nonMembers)
      const low = Math.min(...members)
      const shifted = members.map((m) => m - low + top + 1)
      const a = fns.auc(shifted, nonMembers)
      if (a !== 1) throw new Error(`perfectly separated scores give AUC ${a}, expected 1`)
    }),
    p
  )
  const transforms: ReadonlyArray<[string, (x: number) => number]> = [
    ["3x + 7", (x) => 3 * x + 7],
    ["x³", (x) => x ** 3],
    ["exp(x/10)", (x) => Math.exp(x / 10)]
  ]
  await fc.assert(
    fc.property(scoreListsArb(), fc.constantFrom(...transforms), ({ members, nonMembers }, [name, t]) => {
      const a = fns.auc(members, nonMembers)
      const b = fns.auc(members.map(t), nonMembers.map(t))
      if (!close(a, b, 1e-12)) throw new Error(`AUC changed under ${name}: ${a} → ${b}`)
    }),
    p
  )
  await fc.assert(
    fc.property(scoreListsArb({ distinct: true }), ({ members, nonMembers }) => {
      const s =
        fns.auc(members, nonMembers) +
        fns.auc(
          members.map((x) => -x),
          nonMembers.map((x) => -x)
        )
      if (!close(s, 1, 1e-12)) throw new Error(`AUC(s) + AUC(−s) = ${s}, expected 1`)
    }),
    p
  )
  if (options.tiesCountHalf !== false) {
    // With ties counted ½ (Mann–Whitney), the identity holds with ties too.
    await fc.assert(
      fc.property(scoreListsArb(), ({ members, nonMembers }) => {
        const s =
          fns.auc(members, nonMembers) +
          fns.auc(
            members.map((x) => -x),
            nonMembers.map((x) => -x)
          )
        if (!close(s, 1, 1e-12)) throw new Error(`with tied scores AUC(s) + AUC(−s) = ${s}, expected 1 (ties must count ½)`)
      }),
      p
    )
  }
}

/** Keys of a membership metric's output that must lie in [0, 1] (defaults: this package's names). */
export const membershipSuite = async (measure: MetricImpl, options: SuiteOptions & { readonly keys?: ReadonlyArray<string> } = {}): Promise<void> => {
  const keys = options.keys ?? ["auc", "f1Best", "f1TopHalf", "f1Calibrated", "tprAt1pctFpr", "tprAt0p1pctFpr"]
  const setup = shapeArb().chain((shape) =>
    fc.record({ train: tokenSequencesArb(shape, { minCount: 1 }), holdout: tokenSequencesArb(shape, { minCount: 1 }), model: bigramModelArb(shape) })
  )
  await fc.assert(
    fc.asyncProperty(setup, fc.integer({ min: 0, max: 1000 }), async ({ train, holdout, model }, seed) => {
      const v = await run(measure(subject(model, syntheticDataset(train, holdout), undefined, seed)))
      for (const k of keys) {
        const x = v[k]
        if (x === null || x === undefined) continue
        if (typeof x !== "number" || !(x >= 0 && x <= 1)) throw new Error(`${k} = ${String(x)} outside [0, 1]`)
      }
    }),
    params(options)
  )
}

export interface F1LawFunctions {
  /** Fits constants to (x, F1) points; stdErrors when the fit reports them. */
  readonly fit: (
    xs: ReadonlyArray<number>,
    ys: ReadonlyArray<number>
  ) => { readonly constants: F1Constants; readonly stdErrors: F1Constants | null } | undefined
  /** F1 at feature value x. */
  readonly evaluate: (c: F1Constants, x: number) => number
  /** Feature value x at which the law gives F1 (undefined outside its range). */
  readonly invert: (c: F1Constants, f1: number) => number | undefined
}

const relErr = (a: number, b: number) => Math.abs(a - b) / Math.max(1, Math.abs(b))

export const f1LawSuite = async (fns: F1LawFunctions, options: SuiteOptions & { readonly noise?: number } = {}): Promise<void> => {
  const p = params({ numRuns: 30, ...options })
  const noiseless = (c: LawCase) => c.xs.map((x) => fns.evaluate(c.constants, x))
  await fc.assert(
    fc.property(lawCaseArb(), (c) => {
      const fit = fns.fit(c.xs, noiseless(c))
      if (fit === undefined) throw new Error("fit failed on noiseless points")
      for (const k of ["c1", "c2", "c3"] as const) {
        const e = relErr(fit.constants[k], c.constants[k])
        if (!(e <= 1e-6)) throw new Error(`noiseless fit: ${k} = ${fit.constants[k]}, true ${c.constants[k]} (relative error ${e})`)
      }
    }),
    p
  )
  const sigma = options.noise ?? 0.003
  await fc.assert(
    fc.property(lawCaseArb({ minPoints: 30, maxPoints: 60 }), fc.integer(), (c, seed) => {
      // Gaussian noise (Box–Muller) from a seeded PRNG.
      const rnd = mulberry32(seed)
      const ys = noiseless(c).map((y) => y + sigma * Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd()))
      const fit = fns.fit(c.xs, ys)
      if (fit === undefined || fit.stdErrors === null) throw new Error("noisy fit gave no constants or no standard errors")
      for (const k of ["c1", "c2", "c3"] as const) {
        const d = Math.abs(fit.constants[k] - c.constants[k])
        if (!(d <= 6 * fit.stdErrors[k] + 1e-9 * Math.abs(c.constants[k]))) {
          throw new Error(`noisy fit: ${k} = ${fit.constants[k]} ± ${fit.stdErrors[k]}, true ${c.constants[k]} (more than 6 standard errors away)`)
        }
      }
    }),
    p
  )
  await fc.assert(
    fc.property(lawCaseArb(), fc.double({ min: 0.01, max: 0.99, noNaN: true }), (c, u) => {
      // A target strictly inside the law's F1 range.
      const lo = Math.min(0.5, 0.5 + c.constants.c1 / 2)
      const hi = Math.max(0.5, 0.5 + c.constants.c1 / 2)
      const target = lo + u * (hi - lo)
      const x = fns.invert(c.constants, target)
      if (x === undefined) return
      const back = fns.evaluate(c.constants, x)
      if (!(Math.abs(back - target) <= 1e-9)) throw new Error(`predict(invert(${target})) = ${back}`)
    }),
    p
  )
}

/** A law's output is the same (as JSON) for any order of the results. */
export const orderInvarianceSuite = async <F>(law: LawImpl<F>, options: SuiteOptions = {}): Promise<void> => {
  const setup = capacityRunsArb.chain((rs) => fc.tuple(fc.constant(rs), fc.shuffledSubarray([...rs], { minLength: rs.length, maxLength: rs.length })))
  await fc.assert(
    fc.asyncProperty(setup, async ([rs, shuffled]) => {
      // Compare outputs as JSON, or failures by their message (Errors stringify to {}).
      const show = (r: Result.Result<unknown, Error>) => (Result.isSuccess(r) ? JSON.stringify(r.success) : `failure: ${r.failure.message}`)
      const sa = show(await run(Effect.result(law(rs))))
      const sb = show(await run(Effect.result(law(shuffled))))
      if (sa !== sb) throw new Error(`law output depends on the order of results:\n${sa.slice(0, 400)}\nvs\n${sb.slice(0, 400)}`)
    }),
    params({ numRuns: 30, ...options })
  )
}

export type { TrainedModel }
