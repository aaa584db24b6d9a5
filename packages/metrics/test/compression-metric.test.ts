import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import fc from "fast-check"
import { MetricError, quantizationBound, type Json, type TokenSequences, type TrainedModel } from "@memorize/core"
import { compressionPlugin, measureCompression } from "../src/index.ts"
import { truncationBound } from "../src/compression/range-coder.ts"
import { compressionReport } from "../src/report/compression.ts"
import {
  bigramModelArb,
  conditionalModel,
  dataset,
  memorizerModel,
  runResult,
  subject,
  syntheticDataset,
  tokenSequencesArb,
  uniformModel
} from "../src/testing/index.ts"

const decodeConfig = (input: unknown) => Schema.decodeUnknownEffect(compressionPlugin.config)(input, { onExcessProperty: "error" })

const defaults = { batch: 256, freqBits: 24, holdout: true }

const randomSeqs = (V: number, S: number, count: number, seed: number): TokenSequences => {
  const tokens = new Uint32Array(count * S)
  let x = seed >>> 0
  for (let i = 0; i < tokens.length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0
    tokens[i] = x % V
  }
  return { vocabSize: V, seqLen: S, count, tokens }
}

const get = (v: Json, path: string): any => path.split(".").reduce((o: any, k) => o?.[k], v)

describe("compression metric", () => {
  it.effect("config: defaults, bounds, unknown keys", () =>
    Effect.gen(function* () {
      expect(yield* decodeConfig({})).toEqual(defaults)
      for (const bad of [{ batch: 0 }, { freqBits: 15 }, { freqBits: 25 }, { holdout: "yes" }, { verify: true }]) {
        expect((yield* Effect.result(decodeConfig(bad)))._tag, JSON.stringify(bad)).toBe("Failure")
      }
    })
  )

  it.effect("validate: freqBits too small for the dataset's vocabulary is named at its field", () =>
    Effect.gen(function* () {
      const check = compressionPlugin.check!
      const input = (vocabSize: number) => ({ specDir: ".", run: { dataset: { vocabSize } } })
      expect(yield* check({ ...defaults, freqBits: 16 }, input(50_257))).toEqual([
        { path: ["freqBits"], message: "2^16 total frequency is too small for a vocabulary of 50257 (it must exceed 2·V)" }
      ])
      expect(yield* check(defaults, input(50_257))).toEqual([])
    })
  )

  it.effect("a memorizing model: verified memorization is the estimate up to ≤ 2 bits + bounds per sequence, holdout ≈ 0", () =>
    Effect.gen(function* () {
      const V = 512
      const S = 16
      const train = randomSeqs(V, S, 40, 1)
      const holdout = randomSeqs(V, S, 30, 2)
      const model = memorizerModel({ sequences: train, confidence: 0.99 })
      const v = yield* measureCompression({ ...defaults, batch: 7 })(subject(model, syntheticDataset(train, holdout)))
      const perSeqSlack = 2 + S * (quantizationBound(V, 24) + truncationBound(1, 24))
      expect(v.entropy).toBe("exact")
      const estimate = v.estimateBits as number
      const verified = v.verifiedBits as number
      expect(estimate).toBeGreaterThan(0.9 * 40 * S * Math.log2(V))
      expect(verified).toBeLessThanOrEqual(estimate + 1e-6 * estimate + 40 * 1)
      expect(verified).toBeGreaterThanOrEqual(estimate - 40 * perSeqSlack)
      for (const set of ["train", "holdout"] as const) {
        const s = v[set] as Json
        expect(get(s, "roundTrip")).toEqual({ checked: get(s, "count"), exact: get(s, "count") })
        expect(get(s, "maxSlackBits")).toBeLessThanOrEqual(0)
        expect(get(s, "quantizationLossBits")).toBeLessThanOrEqual(get(s, "quantizationBoundBits"))
        expect(get(s, "overheadBitsPerSequence")).toBeLessThanOrEqual(perSeqSlack)
        expect(get(s, "compressedBits.count")).toBe(get(s, "count"))
      }
      // The holdout is not memorized: its code words are about H long.
      expect(get(v.holdout as Json, "memorization.verified.totalBits")).toBeLessThan(30)
      expect(get(v.holdout as Json, "compressedBits.meanBits")).toBeGreaterThan(S * Math.log2(V) - 1)
    })
  )

  it.effect("the uniform model compresses to H within its bound; verified memorization ≈ 0", () =>
    Effect.gen(function* () {
      const V = 100
      const S = 12
      const data = syntheticDataset(randomSeqs(V, S, 25, 3), randomSeqs(V, S, 5, 4))
      const v = yield* measureCompression(defaults)(subject(uniformModel(V, S), data))
      const H = S * Math.log2(V)
      expect(get(v.train as Json, "compressedBits.meanBits")).toBeGreaterThan(H - 0.01)
      expect(get(v.train as Json, "compressedBits.meanBits")).toBeLessThanOrEqual(H + 2 + S * quantizationBound(V, 24) + S * truncationBound(1, 24))
      expect(v.verifiedBits as number).toBeLessThan(25 * 0.01)
    })
  )

  it.effect("property: for random bigram models and data, every sequence round-trips and verified ≥ estimate − Σ bounds", () =>
    Effect.gen(function* () {
      const arb = fc.record({ vocabSize: fc.integer({ min: 2, max: 30 }), seqLen: fc.integer({ min: 1, max: 10 }) }).chain((shape) =>
        fc.record({
          model: bigramModelArb(shape),
          train: tokenSequencesArb(shape, { minCount: 1, maxCount: 10 }),
          holdout: tokenSequencesArb(shape, { minCount: 0, maxCount: 5 }),
          batch: fc.integer({ min: 1, max: 12 }),
          freqBits: fc.integer({ min: 16, max: 24 })
        })
      )
      for (const c of fc.sample(arb, { numRuns: 60, seed: 11 })) {
        const v = yield* measureCompression({ batch: c.batch, freqBits: c.freqBits, holdout: true })(subject(c.model, syntheticDataset(c.train, c.holdout)))
        const slack = c.train.count * (2 + c.train.seqLen * (quantizationBound(c.train.vocabSize, c.freqBits) + truncationBound(1, c.freqBits)) + 1e-3)
        expect(get(v.train as Json, "roundTrip.exact")).toBe(c.train.count)
        expect(v.verifiedBits as number).toBeGreaterThanOrEqual((v.estimateBits as number) - slack)
        expect(v.holdout === null).toBe(c.holdout.count === 0)
      }
    })
  )

  it.effect("text-like data: H comes from the reference model; without one, memorization is null", () =>
    Effect.gen(function* () {
      const V = 64
      const S = 8
      const train = randomSeqs(V, S, 12, 5)
      const data = dataset({ train, holdout: randomSeqs(V, S, 4, 6), kind: "text-fixture" })
      const model = memorizerModel({ sequences: train, confidence: 0.9 })
      const withRef = yield* measureCompression(defaults)(subject(model, data, uniformModel(V, S)))
      expect(withRef.entropy).toBe("reference")
      expect(withRef.verifiedBits as number).toBeGreaterThan(0.5 * 12 * S * Math.log2(V))
      const without = yield* measureCompression(defaults)(subject(model, data))
      expect(without.entropy).toBeNull()
      expect(without.verifiedBits).toBeNull()
      expect(get(without.train as Json, "memorization")).toBeNull()
      expect(get(without.train as Json, "roundTrip.exact")).toBe(12)
    })
  )

  it.effect("fails clearly for a model without nextTokenLogits and for one that computes other logits when decoding; a model that peeks gains nothing", () =>
    Effect.gen(function* () {
      const V = 8
      const S = 6
      const data = syntheticDataset(randomSeqs(V, S, 5, 7), randomSeqs(V, S, 2, 8))
      const { nextTokenLogits: _, ...plain } = uniformModel(V, S)
      const e1 = yield* Effect.flip(measureCompression(defaults)(subject(plain as TrainedModel, data)))
      expect(e1).toBeInstanceOf(MetricError)
      expect(e1.message).toMatch(/does not provide nextTokenLogits/)
      // Logits that drift from call to call: the decoder's calls are later ones, so it quantizes other floats.
      const base = uniformModel(V, S)
      let calls = 0
      const drifting: TrainedModel = {
        ...base,
        nextTokenLogits: (seqs, t) =>
          Effect.map(base.nextTokenLogits(seqs, t), (l) => {
            calls++
            for (let i = 0; i < seqs.count; i++) l[i * V + (calls % V)] += 3
            return l
          })
      }
      const e2 = yield* Effect.flip(measureCompression(defaults)(subject(drifting, data)))
      expect(e2.message).toMatch(/of 5 train sequences did not decode to themselves \(first: \d+\): the model computed other next-token logits when decoding/)
      // Logits at t that favour the token *at* t: the coder feeds only the prefix (zeros after it), in both directions,
      // so the peek sees a 0, the round trip is exact, and no sequence is coded below its uniform length.
      const peeking: TrainedModel = {
        ...base,
        nextTokenLogits: (seqs, t) =>
          Effect.map(base.nextTokenLogits(seqs, t), (l) => {
            for (let i = 0; i < seqs.count; i++) l[i * V + seqs.tokens[i * S + t]] += 5
            return l
          })
      }
      const peeked = yield* measureCompression(defaults)(subject(peeking, data))
      expect(get(peeked.train as Json, "roundTrip.exact")).toBe(5)
      const zeros = Array.from(data.train.tokens).filter((x) => x === 0).length
      expect(get(peeked.train as Json, "compressedBits.totalBits") as number).toBeGreaterThan((30 - zeros) * Math.log2(V))
    })
  )

  it.effect("the report puts estimate and verified side by side", () =>
    Effect.gen(function* () {
      const V = 32
      const S = 8
      const results = []
      for (const n of [4, 16]) {
        const train = randomSeqs(V, S, n, n)
        const values = yield* measureCompression(defaults)(
          subject(memorizerModel({ sequences: train, confidence: 0.95 }), syntheticDataset(train, randomSeqs(V, S, 4, 99)))
        )
        results.push(runResult({ paramCount: 100, trainCount: n, vocabSize: V, seqLen: S, metrics: { compression: values } }))
      }
      const [section] = compressionReport(results)
      expect(section.title).toBe("Memorization: estimate vs verified (compression)")
      expect(section.table!.rows).toHaveLength(2)
      for (const row of section.table!.rows) {
        expect(row).toHaveLength(section.table!.columns.length)
        const [estimate, verified, ratio] = row.slice(3, 6) as Array<number>
        expect(verified / estimate).toBeCloseTo(ratio, 12)
        expect(ratio).toBeGreaterThan(0.9)
        expect(row[11]).toMatch(/^(\d+)\/\1$/)
      }
      expect((section.chart!.data as { values: Array<unknown> }).values).toHaveLength(4)
      expect(compressionReport([runResult({ paramCount: 1, trainCount: 1, metrics: {} })])).toEqual([])
    })
  )

  it("conditionalModel's logits are causal: independent of tokens at and after the position", () => {
    const V = 5
    const model = conditionalModel({
      vocabSize: V,
      seqLen: 4,
      logProbs: (ctx) => Float64Array.from({ length: V }, (_, s) => Math.log2(s === ctx.length % V ? 0.6 : 0.1))
    })
    const a = { vocabSize: V, seqLen: 4, count: 1, tokens: Uint32Array.from([1, 2, 3, 4]) }
    const b = { ...a, tokens: Uint32Array.from([1, 2, 0, 0]) }
    expect(Effect.runSync(model.nextTokenLogits(a, 2))).toEqual(Effect.runSync(model.nextTokenLogits(b, 2)))
    expect(Array.from(Effect.runSync(model.nextTokenLogits(a, 0)))).toEqual([0, 0, 0, 0, 0])
  })
})
