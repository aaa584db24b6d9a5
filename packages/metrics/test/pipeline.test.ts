/**
 * Metrics → RunResult → laws on CPU models with a known capacity: a model
 * that memorizes (with confidence q) the first K training sequences of
 * uniform random data stores about K·(H − L_memorized) bits, whatever N is.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { MetricValues, RunResult, TokenSequences } from "@memorize/core"
import { measureMemorization } from "../src/metrics/memorization.ts"
import { measureMembership } from "../src/metrics/membership.ts"
import { measureLoss } from "../src/metrics/loss.ts"
import { fitCapacity } from "../src/laws/capacity.ts"
import { fitDoubleDescent } from "../src/laws/double-descent.ts"
import { mulberry32 } from "../src/numerics/random.ts"
import { memorizerModel, runResult, subject, syntheticDataset } from "../src/testing/index.ts"

const V = 256
const S = 8
const H = S * Math.log2(V) // 64 bits
const q = 0.999

const uniformData = (count: number, seed: number): TokenSequences => {
  const rnd = mulberry32(seed)
  const tokens = Uint32Array.from({ length: count * S }, () => Math.floor(rnd() * V))
  return { vocabSize: V, seqLen: S, count, tokens }
}
const head = (s: TokenSequences, k: number): TokenSequences => ({ ...s, count: Math.min(k, s.count), tokens: s.tokens.slice(0, Math.min(k, s.count) * S) })

describe("metrics and laws together", () => {
  it.effect("capacity of a K-sequence memorizer is recovered from its runs", () =>
    Effect.gen(function* () {
      const results: Array<RunResult> = []
      for (const K of [20, 40]) {
        for (const N of [5, 10, 40, 80, 160]) {
          for (const seed of [0, 1]) {
            const train = uniformData(N, 1000 * K + 10 * N + seed)
            const holdout = uniformData(N, 7 + 1000 * K + 10 * N + seed)
            const model = memorizerModel({ sequences: head(train, K), confidence: q, paramCount: K * 10 })
            const s = subject(model, syntheticDataset(train, holdout), undefined, seed)
            const metrics: Record<string, MetricValues> = {
              memorization: yield* measureMemorization(s),
              "membership-inference": yield* measureMembership({ calibrationFraction: 0.5 })(s),
              loss: yield* measureLoss(s)
            }
            results.push(runResult({ seed, paramCount: K * 10, trainCount: N, vocabSize: V, seqLen: S, modelConfig: { K }, metrics }))
          }
        }
      }
      // Each memorized sequence: first token log2 V, then S−1 tokens at −log2(q + (1−q)/V) (unique random prefixes).
      const perSeq = H - (Math.log2(V) - (S - 1) * Math.log2(q + (1 - q) / V))
      const fit = (yield* fitCapacity({ metricKey: "totalBits", groupBy: ["model", "train"], bestOf: [] })(results)) as any
      for (const g of fit.groups) {
        const K = g.paramCount / 10
        expect(g.capacitySource).toBe("saturatingFit")
        expect(g.capacityBits / (K * perSeq)).toBeGreaterThan(0.97)
        expect(g.capacityBits / (K * perSeq)).toBeLessThan(1.001)
      }
      expect(fit.throughOrigin.alpha).toBeCloseTo(perSeq / 10, 0)
      // Membership: perfect while N ≤ K (all members memorized), falling once N > K.
      const f1 = (K: number, N: number) =>
        results.filter((r) => r.model.paramCount === K * 10 && r.dataset.trainCount === N).map((r) => (r.metrics["membership-inference"] as any).f1Best)
      for (const v of f1(40, 10)) expect(v).toBe(1)
      for (const v of f1(20, 160)) expect(v).toBeLessThan(0.8)
      const dd = (yield* fitDoubleDescent({
        metricKey: "totalBits",
        groupBy: ["model", "train"],
        lossKey: "holdout.meanNatsPerToken",
        trainLossKey: "train.meanNatsPerToken"
      })(results)) as any
      expect(dd.groups).toHaveLength(2)
    })
  )
})
