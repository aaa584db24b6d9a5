import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { memorizationPlugin } from "../src/metrics/memorization.ts"
import { membershipAttack, membershipPlugin } from "../src/metrics/membership.ts"
import { extractionPlugin } from "../src/metrics/extraction.ts"
import { lossPlugin } from "../src/metrics/loss.ts"
import { rarityPlugin } from "../src/metrics/rarity.ts"
import { conditionalModel, memorizerModel, tableModel, uniformModel } from "../src/testing/models.ts"
import { dataset, sequences, subject, syntheticDataset } from "../src/testing/fixtures.ts"

/**
 * Hand-computable bigram over V = 4: after token a, p(a) = 1/2,
 * p(a+1 mod 4) = 1/4, the other two 1/8. First token: log2 4 = 2 bits.
 *   [0,0,0]: 2+1+1 = 4   [0,1,2]: 2+2+2 = 6   [0,2,3]: 2+3+2 = 7   [3,3,0]: 2+1+2 = 5
 * H = 3·2 = 6 bits, so mem = 2, 0, 0, 1.
 */
const V = 4
const table = new Float64Array(V * V)
for (let a = 0; a < V; a++) for (let b = 0; b < V; b++) table[a * V + b] = b === a ? -1 : b === (a + 1) % V ? -2 : -3
const bigram = tableModel({ vocabSize: V, seqLen: 3, table })
const train = sequences(V, 3, [
  [0, 0, 0],
  [0, 1, 2]
])
const holdout = sequences(V, 3, [
  [0, 2, 3],
  [3, 3, 0]
])
const synth = syntheticDataset(train, holdout)

/** The typed error of an effect that must fail, as "Tag: message" (a success fails the test). */
const failure = <A, E extends { readonly _tag: string; readonly message: string }>(eff: Effect.Effect<A, E>) =>
  Effect.map(Effect.flip(eff), (e) => `${e._tag}: ${e.message}`)

describe("testing-kit models", () => {
  it.effect("bigram code lengths match the hand computation", () =>
    Effect.gen(function* () {
      const l = yield* bigram.codeLengths(
        sequences(V, 3, [
          [0, 0, 0],
          [0, 1, 2],
          [0, 2, 3],
          [3, 3, 0]
        ])
      )
      expect(Array.from(l)).toEqual([4, 6, 7, 5])
      const lp = yield* bigram.tokenLogProbs(sequences(V, 3, [[3, 3, 0]]))
      expect(Array.from(lp)).toEqual([-2, -1, -2])
    })
  )
  it.effect("greedy generation follows the argmax", () =>
    Effect.gen(function* () {
      const g = yield* bigram.generate(sequences(V, 1, [[2], [3]]), 2)
      expect(Array.from(g)).toEqual([2, 2, 3, 3])
    })
  )
  it.effect("rejects tokens outside the vocabulary, over-long generation and save", () =>
    Effect.gen(function* () {
      expect(yield* failure(bigram.codeLengths(sequences(V, 3, [[0, 9, 0]])))).toContain("outside the vocabulary")
      expect(yield* failure(bigram.generate(sequences(V, 2, [[0, 0]]), 2))).toContain("context 3")
      expect(yield* failure(bigram.save("/tmp/x"))).toContain("cannot be saved")
    })
  )
})

describe("memorization", () => {
  const measure = memorizationPlugin.make({})
  it.effect("synthetic: H − L per sample, totals, means, quantiles, holdout", () =>
    Effect.gen(function* () {
      const v = (yield* measure(subject(bigram, synth))) as any
      expect(v.estimate).toBe("synthetic")
      expect(v.entropyBitsPerSequence).toBe(6)
      expect(v.totalBits).toBe(2)
      expect(v.meanBits).toBe(1)
      expect(v.quantiles).toEqual({ p0: 0, p5: 0.1, p25: 0.5, p50: 1, p75: 1.5, p95: 1.9, p100: 2 })
      expect(v.codeLength.totalBits).toBe(10)
      expect(v.generalizationBits).toBe(0)
      expect(v.holdout.totalBits).toBe(1)
      expect(v.holdout.codeLength.meanBits).toBe(6)
      expect(v.reference).toBeNull()
    })
  )
  it.effect("reference model: max(0, L(x|θ) − L(x|θ̂)), generalization = total − unintended", () =>
    Effect.gen(function* () {
      // Reference: the same bigram except after 0, where p(0) = p(1) = 1/2.
      const refTable = Float64Array.from(table)
      refTable.set([-1, -1, -Infinity, -Infinity], 0)
      const reference = tableModel({ vocabSize: V, seqLen: 3, table: refTable })
      // L(x|θ): [0,0,0] = 2+1+1 = 4, [0,1,2] = 2+1+2 = 5; model 4, 6 → unintended 0, 0; total (H=6) 2, 0.
      const data = syntheticDataset(train, sequences(V, 3, [[3, 3, 0]]))
      const v = (yield* measure(subject(bigram, data, reference))) as any
      expect(v.estimate).toBe("reference")
      expect(v.referenceCodeLength.totalBits).toBe(9)
      expect(v.holdout.totalBits).toBe(0)
      expect(v.totalBits).toBe(0)
      expect(v.totalMemorization.totalBits).toBe(2)
      expect(v.generalizationBits).toBe(2)
      expect(v.reference).toEqual({ kind: "bigram-table", paramCount: 16, precision: "fp64" })
    })
  )
  it.effect("is exactly zero under the uniform model", () =>
    Effect.gen(function* () {
      const data = syntheticDataset(sequences(3, 5, [[0, 1, 2, 0, 1]]), sequences(3, 5, [[2, 2, 2, 2, 2]]))
      const v = (yield* measure(subject(uniformModel(3, 5), data))) as any
      expect(v.totalBits).toBe(0)
      expect(v.holdout.totalBits).toBe(0)
    })
  )
  it.effect("bad input: vocab, sequence length, reference tokenizer, text without reference, empty members", () =>
    Effect.gen(function* () {
      expect(yield* failure(measure(subject(uniformModel(5, 3), synth)))).toContain("vocabulary size 5 but dataset")
      expect(yield* failure(measure(subject(uniformModel(4, 2), synth)))).toContain("context length 2")
      const tok = { name: "gpt2", vocabSize: V, encode: () => [], decode: (t: ArrayLike<number>) => Array.from(t).join(" ") }
      const text = dataset({ train, holdout, tokenizer: tok })
      const otherTok = conditionalModel({ vocabSize: V, seqLen: 3, logProbs: () => new Float64Array(V).fill(-2), config: { tokenizer: "llama" } })
      expect(yield* failure(measure(subject(bigram, text, otherTok)))).toContain(`tokenizer "llama"`)
      expect(yield* failure(measure(subject(bigram, text, uniformModel(8, 3))))).toContain("another tokenizer")
      expect(yield* failure(measure(subject(bigram, text)))).toContain("needs a reference model")
      const empty = syntheticDataset(sequences(V, 3, []), holdout)
      expect(yield* failure(measure(subject(bigram, empty)))).toContain("no training")
    })
  )
})

describe("membership-inference", () => {
  it("hand-computed attack on member bits [1,2,3] vs non-member bits [2,4,5]", () => {
    const s = membershipAttack(Float64Array.of(1, 2, 3), Float64Array.of(2, 4, 5), 0, 0.5)
    expect(s.auc).toBeCloseTo(7.5 / 9, 15)
    expect(s.f1Best).toBeCloseTo(6 / 7, 15)
    // Pooled code lengths 1m 2m 2n 3m 4n 5n: the 3 shortest hold 2 members.
    expect(s.f1TopHalf).toBeCloseTo(2 / 3, 15)
    expect(s.bestThresholdBits).toBe(3)
    expect(s.tprAt1pctFpr).toBeCloseTo(1 / 3, 15)
    expect(s.members).toBe(3)
    expect(s.calibrationMembers + s.evaluationMembers).toBe(3)
    expect(s.f1Calibrated).not.toBeNull()
  })
  it.effect("plugin balances members and non-members and separates a memorizer", () =>
    Effect.gen(function* () {
      const rows = (n: number, off: number) => Array.from({ length: n }, (_, i) => [(i + off) % 16, (i * 7 + off) % 16, (i * 3 + 1) % 16, i % 5])
      const tr = sequences(16, 4, rows(20, 0))
      const ho = sequences(16, 4, rows(12, 100))
      const model = memorizerModel({ sequences: tr, confidence: 0.9 })
      const v = (yield* membershipPlugin.make({ calibrationFraction: 0.5 })(subject(model, syntheticDataset(tr, ho)))) as any
      expect(v.members).toBe(12)
      expect(v.nonMembers).toBe(12)
      expect(v.auc).toBeGreaterThan(0.9)
      expect(v.f1Best).toBeGreaterThan(0.9)
      expect(v.calibrationMembers).toBe(6)
    })
  )
  it.effect("empty non-member set is a MetricError", () =>
    Effect.gen(function* () {
      const e = yield* failure(membershipPlugin.make({ calibrationFraction: 0.5 })(subject(bigram, syntheticDataset(train, sequences(V, 3, [])))))
      expect(e).toContain("MetricError: ")
      expect(e).toContain("0 holdout")
    })
  )
})

describe("extraction", () => {
  it.effect("exact-suffix matches from greedy continuation; ties broken to the lowest id", () =>
    Effect.gen(function* () {
      const tr = sequences(8, 6, [
        [1, 2, 3, 4, 5, 6],
        [1, 2, 7, 7, 7, 7]
      ])
      const ho = sequences(8, 6, [
        [5, 5, 0, 0, 0, 0],
        [5, 5, 1, 0, 0, 0]
      ])
      const model = memorizerModel({ sequences: tr, confidence: 0.9 })
      const v = (yield* extractionPlugin.make({ prefixLengths: [2, 3, 6, 8] })(subject(model, syntheticDataset(tr, ho)))) as any
      expect(v.prefixLengths).toEqual([2, 3])
      expect(v.skippedPrefixLengths).toEqual([6, 8])
      // k=2: context [1,2] continues with 3 (tie 3 vs 7 → lowest id): only the first row matches.
      expect(v.trainRate).toEqual({ "2": 0.5, "3": 1 })
      // Holdout contexts are unseen: uniform → greedy emits zeros: row 0 matches at k=2, both at k=3.
      expect(v.holdoutRate).toEqual({ "2": 0.5, "3": 1 })
    })
  )
})

describe("loss", () => {
  it.effect("uniform model: S·log2 V bits per sequence, ln V nats per token", () =>
    Effect.gen(function* () {
      const v = (yield* lossPlugin.make({})(subject(uniformModel(V, 3), synth))) as any
      expect(v.train.meanBitsPerSequence).toBe(6)
      expect(v.holdout.meanNatsPerToken).toBeCloseTo(Math.log(4), 14)
      const b = (yield* lossPlugin.make({})(subject(bigram, synth))) as any
      expect(b.train.meanBitsPerSequence).toBe(5)
      expect(b.holdout.meanBitsPerToken).toBe(2)
    })
  )
})

describe("rarity", () => {
  it.effect("correlation with memorization and the top memorized samples, decoded", () =>
    Effect.gen(function* () {
      const tr = sequences(V, 3, [
        [0, 0, 0],
        [0, 1, 2],
        [3, 3, 0]
      ]) // mem 2, 0, 1
      const tok = {
        name: "t",
        vocabSize: V,
        encode: () => [],
        decode: (t: ArrayLike<number>) =>
          Array.from(t)
            .map((x) => "abcd"[x])
            .join("")
      }
      const data = dataset({
        train: tr,
        holdout,
        tokenizer: tok,
        entropyBitsPerSequence: 6,
        rarity: { train: Float64Array.of(3, 1, 2), holdout: Float64Array.of(0, 0) }
      })
      const v = (yield* rarityPlugin.make({ top: 2 })(subject(bigram, data))) as any
      expect(v.pearson).toBeCloseTo(1, 14)
      expect(v.spearman).toBeCloseTo(1, 14)
      expect(v.top).toEqual([
        { index: 0, memorizationBits: 2, rarity: 3, text: "aaa" },
        { index: 2, memorizationBits: 1, rarity: 2, text: "dda" }
      ])
      const noRarity = yield* failure(rarityPlugin.make({ top: 2 })(subject(bigram, synth)))
      expect(noRarity).toContain("no per-sample rarity")
    })
  )
})
