import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { syntheticUniform, SyntheticUniformConfig, uniformSequences, HOLDOUT_STREAM, TRAIN_STREAM } from "../src/synthetic.ts"
import { context, load, rowKeys, tempDir } from "./helpers.ts"

const ctx = context(tempDir(), 0)

/** Pearson chi-square statistic of token counts against the uniform distribution. */
const chiSquare = (tokens: Uint32Array, V: number): number => {
  const counts = new Float64Array(V)
  for (const t of tokens) counts[t]++
  const expected = tokens.length / V
  let chi = 0
  for (const c of counts) chi += ((c - expected) * (c - expected)) / expected
  return chi
}

describe("synthetic-uniform", () => {
  it.effect("is deterministic across calls and seeds differ", () =>
    Effect.gen(function* () {
      const a = yield* load(syntheticUniform, { vocab: 2048, seqLen: 64, samples: 50, seed: 3 }, ctx)
      const b = yield* load(syntheticUniform, { vocab: 2048, seqLen: 64, samples: 50, seed: 3 }, ctx)
      const c = yield* load(syntheticUniform, { vocab: 2048, seqLen: 64, samples: 50, seed: 4 }, ctx)
      expect(a.train.tokens).toEqual(b.train.tokens)
      expect(a.holdout.tokens).toEqual(b.holdout.tokens)
      expect(a.fingerprint).toBe(b.fingerprint)
      expect(a.train.tokens).not.toEqual(c.train.tokens)
      expect(a.fingerprint).not.toBe(c.fingerprint)
    })
  )

  it.effect("the N-sample dataset is the prefix of the 2N-sample one (train and holdout)", () =>
    Effect.gen(function* () {
      const small = yield* load(syntheticUniform, { vocab: 1000, seqLen: 32, samples: 40, seed: 9 }, ctx)
      const large = yield* load(syntheticUniform, { vocab: 1000, seqLen: 32, samples: 80, seed: 9 }, ctx)
      expect(large.train.tokens.subarray(0, 40 * 32)).toEqual(small.train.tokens)
      expect(large.holdout.tokens.subarray(0, 40 * 32)).toEqual(small.holdout.tokens)
    })
  )

  it.effect("uses the run seed when the config has none, the config's seed otherwise", () =>
    Effect.gen(function* () {
      const fromRun = yield* load(syntheticUniform, { vocab: 50, seqLen: 8, samples: 5 }, context(ctx.specDir, 11))
      const fromConfig = yield* load(syntheticUniform, { vocab: 50, seqLen: 8, samples: 5, seed: 11 }, context(ctx.specDir, 0))
      expect(fromRun.train.tokens).toEqual(fromConfig.train.tokens)
      expect(fromRun.stats.seed).toBe(11)
    })
  )

  it("is exactly uniform: chi-square within bounds for V = 3 and V = 1000", () => {
    // V = 3: df = 2, P(chi² > 27.6) = 1e-6.
    const small = uniformSequences(1, TRAIN_STREAM, 3, 1000, 0, 300)
    expect(small.every((t) => t < 3)).toBe(true)
    expect(chiSquare(small, 3)).toBeLessThan(27.6)
    // V = 1000: df = 999, mean 999, sd 44.7; bound at mean + 6 sd.
    const large = uniformSequences(2, TRAIN_STREAM, 1000, 1000, 0, 1000)
    expect(large.every((t) => t < 1000)).toBe(true)
    expect(chiSquare(large, 1000)).toBeLessThan(999 + 6 * Math.sqrt(2 * 999))
    // And not suspiciously perfect (a broken generator emitting t = i mod V would give 0).
    expect(chiSquare(large, 1000)).toBeGreaterThan(999 - 6 * Math.sqrt(2 * 999))
  })

  it("consecutive tokens are independent (chi-square on pairs, V = 3)", () => {
    const tokens = uniformSequences(5, TRAIN_STREAM, 3, 2, 0, 90_000)
    const pairs = new Uint32Array(90_000)
    for (let i = 0; i < 90_000; i++) pairs[i] = tokens[2 * i] * 3 + tokens[2 * i + 1]
    // df = 8, P(chi² > 45) < 1e-6.
    expect(chiSquare(pairs, 9)).toBeLessThan(45)
  })

  it.effect("exposes the exact entropy S·log2 V", () =>
    Effect.gen(function* () {
      const d = yield* load(syntheticUniform, { vocab: 2048, seqLen: 64, samples: 4 }, ctx)
      expect(d.entropyBitsPerSequence).toBe(64 * 11)
      const e = yield* load(syntheticUniform, { vocab: 3, seqLen: 10, samples: 4 }, ctx)
      expect(e.entropyBitsPerSequence).toBeCloseTo(10 * Math.log2(3), 12)
    })
  )

  it.effect("holdout comes from a disjoint stream: default size N, no sequence shared with members", () =>
    Effect.gen(function* () {
      const d = yield* load(syntheticUniform, { vocab: 3, seqLen: 64, samples: 500, seed: 1 }, ctx)
      expect(d.holdout.count).toBe(500)
      const members = new Set(rowKeys(d.train.tokens, 64))
      expect(rowKeys(d.holdout.tokens, 64).filter((k) => members.has(k))).toEqual([])
      expect(d.stats.holdoutEqualToMember).toBe(0)
      expect(d.holdout.tokens).toEqual(uniformSequences(1, HOLDOUT_STREAM, 3, 64, 0, 500))
      const explicit = yield* load(syntheticUniform, { vocab: 3, seqLen: 64, samples: 500, holdout: 7, seed: 1 }, ctx)
      expect(explicit.holdout.count).toBe(7)
    })
  )

  it.effect("records repeats when V^S is tiny instead of hiding them", () =>
    Effect.gen(function* () {
      // Only 4 distinct sequences exist: 50 + 50 draws must repeat.
      const d = yield* load(syntheticUniform, { vocab: 2, seqLen: 2, samples: 50, seed: 1 }, ctx)
      expect(d.stats.repeatedTrainSequences).toBe(46)
      expect(d.stats.holdoutEqualToMember).toBe(50)
    })
  )

  it("rejects bad vocab, seqLen, samples, holdout and seed in its schema (so validate reports them)", () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ vocab: 1, seqLen: 8, samples: 4 }, "vocab"],
      [{ vocab: 0, seqLen: 8, samples: 4 }, "vocab"],
      [{ vocab: -5, seqLen: 8, samples: 4 }, "vocab"],
      [{ vocab: 2 ** 32 + 1, seqLen: 8, samples: 4 }, "vocab"],
      [{ vocab: 16, seqLen: 0, samples: 4 }, "seqLen"],
      [{ vocab: 16, seqLen: -3, samples: 4 }, "seqLen"],
      [{ vocab: 16, seqLen: 2.5, samples: 4 }, "seqLen"],
      [{ vocab: 16, seqLen: 8, samples: 0 }, "samples"],
      [{ vocab: 16, seqLen: 8, samples: -1 }, "samples"],
      [{ vocab: 16, seqLen: 8, samples: 4, holdout: -1 }, "holdout"],
      [{ vocab: 16, seqLen: 8, samples: 4, seed: -1 }, "seed"],
      [{ vocab: 16, seqLen: 8, samples: 4, seed: 2 ** 60 }, "seed"]
    ]
    for (const [config, field] of cases) {
      const exit = Schema.decodeUnknownExit(SyntheticUniformConfig)(config)
      expect(exit._tag, JSON.stringify(config)).toBe("Failure")
      expect(String(exit), JSON.stringify(config)).toContain(field)
    }
  })

  it.effect("its requirement check refuses a dataset too large to hold in memory; facts state entropy and holdout", () =>
    Effect.gen(function* () {
      const config = Schema.decodeUnknownSync(SyntheticUniformConfig)({ vocab: 16, seqLen: 2 ** 20, samples: 2 ** 12 })
      const problems = yield* syntheticUniform.check!(config, { specDir: ".", run: { dataset: {} } })
      expect(problems).toHaveLength(1)
      expect(problems[0]!.message).toMatch(/more than the 2147483648 tokens/)
      const small = Schema.decodeUnknownSync(SyntheticUniformConfig)({ vocab: 16, seqLen: 8, samples: 4, holdout: 0 })
      expect(yield* syntheticUniform.check!(small, { specDir: ".", run: { dataset: {} } })).toEqual([])
      expect(syntheticUniform.facts!(small)).toMatchObject({ seqLen: 8, vocabSize: 16, samples: 4, holdout: 0, exactEntropy: true })
    })
  )
})
