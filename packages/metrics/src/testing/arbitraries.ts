/**
 * fast-check arbitraries for metric and law properties: token sequences,
 * log-probability tables (and models made from them), score lists, law
 * parameters with feature values that span the law's transition, and runs.
 */
import fc from "fast-check"
import type { RunResult, TokenSequences, TrainedModel } from "@memorize/core"
import { tableModel } from "./models.ts"
import { runResult } from "./results.ts"
import type { F1Constants } from "../laws/f1-law.ts"

export interface Shape {
  readonly vocabSize: number
  readonly seqLen: number
}

/** A vocabulary size and sequence length small enough for exhaustive CPU models. */
export const shapeArb = (o: { maxVocab?: number; maxSeqLen?: number } = {}): fc.Arbitrary<Shape> =>
  fc.record({ vocabSize: fc.integer({ min: 2, max: o.maxVocab ?? 12 }), seqLen: fc.integer({ min: 1, max: o.maxSeqLen ?? 8 }) })

/** `count` (or 0..maxCount) sequences of the given shape, tokens uniform over the vocabulary. */
export const tokenSequencesArb = (shape: Shape, o: { minCount?: number; maxCount?: number } = {}): fc.Arbitrary<TokenSequences> =>
  fc
    .integer({ min: o.minCount ?? 0, max: o.maxCount ?? 12 })
    .chain((count) =>
      fc
        .array(fc.integer({ min: 0, max: shape.vocabSize - 1 }), { minLength: count * shape.seqLen, maxLength: count * shape.seqLen })
        .map((ts) => ({ vocabSize: shape.vocabSize, seqLen: shape.seqLen, count, tokens: Uint32Array.from(ts) }))
    )

/**
 * A V×V table of log2 conditional probabilities (rows normalised), from
 * positive weights; `peaked` raises weights to a power so some rows are
 * confident (low code lengths) and memorization is non-trivial.
 */
export const logProbTableArb = (vocabSize: number): fc.Arbitrary<Float64Array> =>
  fc
    .tuple(
      fc.array(fc.double({ min: 1e-3, max: 1, noNaN: true }), { minLength: vocabSize * vocabSize, maxLength: vocabSize * vocabSize }),
      fc.integer({ min: 1, max: 6 })
    )
    .map(([w, power]) => {
      const t = new Float64Array(vocabSize * vocabSize)
      for (let a = 0; a < vocabSize; a++) {
        let z = 0
        for (let b = 0; b < vocabSize; b++) z += w[a * vocabSize + b] ** power
        for (let b = 0; b < vocabSize; b++) t[a * vocabSize + b] = Math.log2(w[a * vocabSize + b] ** power / z)
      }
      return t
    })

/** A bigram `tableModel` of the shape, with a random table. */
export const bigramModelArb = (shape: Shape): fc.Arbitrary<TrainedModel> =>
  logProbTableArb(shape.vocabSize).map((table) => tableModel({ vocabSize: shape.vocabSize, seqLen: shape.seqLen, table }))

/** Member and non-member scores (higher = member). Integer-valued by default, so ties occur and transforms are exact. */
export const scoreListsArb = (o: { maxLength?: number; distinct?: boolean } = {}): fc.Arbitrary<{ members: Float64Array; nonMembers: Float64Array }> => {
  const n = o.maxLength ?? 40
  if (o.distinct === true) {
    return fc
      .uniqueArray(fc.integer({ min: -1000, max: 1000 }), { minLength: 2, maxLength: 2 * n })
      .chain((xs) =>
        fc.integer({ min: 1, max: xs.length - 1 }).map((k) => ({ members: Float64Array.from(xs.slice(0, k)), nonMembers: Float64Array.from(xs.slice(k)) }))
      )
  }
  const list = fc.array(fc.integer({ min: -30, max: 30 }), { minLength: 1, maxLength: n }).map((xs) => Float64Array.from(xs))
  return fc.record({ members: list, nonMembers: list })
}

/** Constants of the F1 law with feature values spanning its transition (all x > 0). */
export interface LawCase {
  readonly constants: F1Constants
  readonly xs: ReadonlyArray<number>
}

export const lawCaseArb = (o: { minPoints?: number; maxPoints?: number } = {}): fc.Arbitrary<LawCase> =>
  fc
    .record({
      c1: fc.double({ min: 0.6, max: 1.4, noNaN: true }),
      k: fc.double({ min: 0.5, max: 5, noNaN: true }),
      sign: fc.constantFrom(1, -1),
      offset: fc.double({ min: 0.1, max: 2, noNaN: true }),
      scale: fc.constantFrom(1e-3, 1, 1e3),
      n: fc.integer({ min: o.minPoints ?? 8, max: o.maxPoints ?? 30 })
    })
    .map(({ c1, k, sign, offset, scale, n }) => {
      // x spans ±4 logistic widths around the centre −c3 = width·4 + offset > 0.
      const c2 = (sign * k) / scale
      const half = 4 / k
      const centre = (half + offset) * scale
      const xs = Array.from({ length: n }, (_, i) => centre + (-half + (2 * half * i) / (n - 1)) * scale)
      return { constants: { c1, c2, c3: -centre }, xs }
    })

/**
 * Run results of a capacity experiment: 1–3 models, 2–4 dataset sizes, 1–3
 * seeds; memorization min(N·H, α·P) with noise, and a loss and F1 so every
 * law has input.
 */
export const capacityRunsArb: fc.Arbitrary<ReadonlyArray<RunResult>> = fc
  .record({
    models: fc.uniqueArray(fc.integer({ min: 1_000, max: 100_000 }), { minLength: 1, maxLength: 3 }),
    sizes: fc.uniqueArray(fc.integer({ min: 1, max: 2_000 }), { minLength: 2, maxLength: 4 }),
    seeds: fc.integer({ min: 1, max: 3 }),
    alpha: fc.double({ min: 2, max: 5, noNaN: true }),
    noise: fc.array(fc.double({ min: -0.05, max: 0.05, noNaN: true }), { minLength: 36, maxLength: 36 })
  })
  .map(({ models, sizes, seeds, alpha, noise }) => {
    const H = 64 * 11
    const out: Array<RunResult> = []
    let k = 0
    for (const p of models)
      for (const n of sizes)
        for (let seed = 0; seed < seeds; seed++) {
          const e = noise[k++ % noise.length]
          const c = alpha * p
          out.push(
            runResult({
              seed,
              paramCount: p,
              trainCount: n,
              modelConfig: { width: p },
              metrics: {
                memorization: { totalBits: Math.max(0, Math.min(n * H, c) * (1 + e)) },
                loss: { holdout: { meanNatsPerToken: 5 + e + Math.exp(-(Math.log((n * H) / c) ** 2)) } },
                "membership-inference": { f1Best: 0.5 + 0.5 / (1 + (n * H) / c) + e / 10, f1TopHalf: 0.5 + 0.5 / (1 + (n * H) / c) + e / 10 }
              }
            })
          )
        }
    return out
  })
