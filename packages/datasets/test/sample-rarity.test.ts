import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import fc from "fast-check"
import { plugins } from "../src/index.ts"
import { fingerprint } from "../src/fingerprint.ts"
import { hashSequence } from "../src/hash.ts"
import { tfidfRarity } from "../src/rarity.ts"
import { BottomK, Priority, priorityOrder } from "../src/sample.ts"
import { rowKeys } from "./helpers.ts"

const seqs = (rows: Array<Array<number>>, S: number, V = 10) => ({ vocabSize: V, seqLen: S, count: rows.length, tokens: Uint32Array.from(rows.flat()) })

describe("seeded selection", () => {
  const distinctRows = fc.uniqueArray(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 3, maxLength: 3 }), { selector: (r) => r.join(","), maxLength: 60 })

  it("BottomK keeps exactly the k smallest priorities of the distinct sequences, whatever the order and repeats", () => {
    fc.assert(
      fc.property(distinctRows, fc.integer({ min: 0, max: 20 }), fc.nat(), fc.array(fc.nat()), (rows, k, seed, repeats) => {
        const stream = [...rows, ...repeats.filter(() => rows.length > 0).map((r) => rows[r % rows.length])]
        const sampler = new BottomK(k, seed)
        for (const r of stream) {
          const t = Uint32Array.from(r)
          const [h0, h1] = hashSequence(t, 0, 3)
          sampler.offer(t, h0, h1)
        }
        const order = priorityOrder(Uint32Array.from(rows.flat()), rows.length, 3, seed)
        const expected = Array.from(order.slice(0, k), (i) => rows[i].join(","))
        expect(new Set(sampler.rows().map((r) => Array.from(r).join(",")))).toEqual(new Set(expected))
        expect(sampler.size).toBe(Math.min(k, rows.length))
      })
    )
  })

  it("priority order is a permutation that depends on content and seed only", () => {
    fc.assert(
      fc.property(distinctRows, fc.nat(), (rows, seed) => {
        const order = priorityOrder(Uint32Array.from(rows.flat()), rows.length, 3, seed)
        expect([...order].sort((a, b) => a - b)).toEqual(rows.map((_, i) => i))
        const reversed = [...rows].reverse()
        const order2 = priorityOrder(Uint32Array.from(reversed.flat()), rows.length, 3, seed)
        expect(Array.from(order2, (i) => reversed[i].join(","))).toEqual(Array.from(order, (i) => rows[i].join(",")))
      })
    )
  })

  it("priorities are roughly uniform: the chosen half of 4000 sequences is not biased to low token ids", () => {
    const rows = Array.from({ length: 4000 }, (_, i) => [i, 0, 0])
    const order = priorityOrder(Uint32Array.from(rows.flat()), 4000, 3, 1)
    const firstHalfMean = Array.from(order.slice(0, 2000)).reduce((a, b) => a + b, 0) / 2000
    expect(Math.abs(firstHalfMean - 1999.5)).toBeLessThan(6 * Math.sqrt((4000 * 4000) / 12 / 2000 / 2))
    expect(new Priority(1).of(1, 2)).toEqual(new Priority(1).of(1, 2))
    expect(new Priority(1).of(1, 2)).not.toEqual(new Priority(2).of(1, 2))
  })
})

describe("rarity (TF-IDF)", () => {
  it("matches the formula on a hand-computed example", () => {
    // Tokens: train [0,0], [0,1]; holdout [2,2]. |D| = 6; tf: 0→3, 1→1, 2→2.
    const r = tfidfRarity(
      seqs(
        [
          [0, 0],
          [0, 1]
        ],
        2
      ),
      seqs([[2, 2]], 2)
    )
    expect(r.train[0]).toBeCloseTo(Math.log(6 / 3), 12)
    expect(r.train[1]).toBeCloseTo((Math.log(6 / 3) + Math.log(6 / 1)) / 2, 12)
    expect(r.holdout[0]).toBeCloseTo(Math.log(6 / 2), 12)
  })

  it("is non-negative and larger for sequences made of rarer tokens (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 4, maxLength: 4 }), { minLength: 1, maxLength: 30 }), (rows) => {
        const r = tfidfRarity(seqs(rows, 4), seqs([], 4))
        expect([...r.train].every((x) => x >= 0)).toBe(true)
        // A sequence of tokens seen nowhere else scores the maximum, log |D|.
        const planted = tfidfRarity(seqs([...rows, [9, 8, 7, 6]], 4), seqs([], 4))
        expect(planted.train[rows.length]).toBeCloseTo(Math.log(4 * (rows.length + 1)), 12)
        expect(planted.train[rows.length]).toBe(Math.max(...planted.train))
      })
    )
  })
})

describe("fingerprint", () => {
  it("changes with any token, with the split, and is stable", () => {
    const a = seqs(
      [
        [1, 2],
        [3, 4]
      ],
      2
    )
    const h = seqs([[5, 6]], 2)
    expect(fingerprint(a, h)).toBe(
      fingerprint(
        seqs(
          [
            [1, 2],
            [3, 4]
          ],
          2
        ),
        seqs([[5, 6]], 2)
      )
    )
    expect(fingerprint(a, h)).not.toBe(
      fingerprint(
        seqs(
          [
            [1, 2],
            [3, 5]
          ],
          2
        ),
        h
      )
    )
    // Same tokens, different split: a different dataset.
    expect(
      fingerprint(
        seqs([[1, 2]], 2),
        seqs(
          [
            [3, 4],
            [5, 6]
          ],
          2
        )
      )
    ).not.toBe(fingerprint(a, h))
    expect(fingerprint(a, h)).toMatch(/^sha256:[0-9a-f]{64}$/)
  })
})

describe("plugin list", () => {
  it("exports the three dataset plugins, whose configs reject unknown keys", () => {
    expect(plugins.map((p) => [p.kind, p.name])).toEqual([
      ["dataset", "synthetic-uniform"],
      ["dataset", "text"],
      ["dataset", "tokens"]
    ])
    const decode = (i: number, u: unknown) => Schema.decodeUnknownExit(plugins[i].config)(u, { onExcessProperty: "error" })
    expect(decode(0, { vocab: 4, seqLen: 2, samples: 1 })._tag).toBe("Success")
    expect(decode(0, { vocab: 4, seqLen: 2, samples: 1, vocabulary: 3 })._tag).toBe("Failure")
    expect(decode(1, { source: "brown", samples: 1 })._tag).toBe("Success")
    expect(decode(1, { source: "csv", samples: 1 })._tag).toBe("Failure")
    expect(decode(2, { path: "a.jsonl", vocab: 4, seqLen: 2 })._tag).toBe("Success")
  })
})

describe("rowKeys helper", () => {
  it("splits rows", () => {
    expect(rowKeys(Uint32Array.from([1, 2, 3, 4]), 2)).toEqual(["1,2", "3,4"])
  })
})
