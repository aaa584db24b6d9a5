/**
 * The native quantizer (native/quantize.cc) against its definition, core's
 * quantize.ts: every cumulative frequency, maximum and sum Z equal bit for
 * bit, since files coded by one path must decode with the other. Random rows
 * include extreme finite values, −∞, logits 80+ bits below the maximum, ties
 * and near-ties; vocabularies 2…4096; several frequency totals; 1 to 9 rows
 * (the kernel works on groups of 4); 1 or 2 threads. Rows with NaN or +∞ are refused at the row the definition throws on.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { makeQuantizer } from "@memorize/core"
import { nativeAddon } from "../src/cpu/native.ts"

const native = Effect.runSync(nativeAddon)

/** The definition's rows: cum (rows × (V + 1)) and stats (rows × 2), or the row it throws on with its message. */
const byDefinition = (logits: Float32Array, rows: number, V: number, P: number) => {
  const q = makeQuantizer(V, P)
  const cum = new Int32Array(rows * (V + 1))
  const stats = new Float64Array(rows * 2)
  for (let i = 0; i < rows; i++) {
    try {
      q.quantize(logits, i)
    } catch (e) {
      return { refused: i, message: (e as Error).message, cum, stats }
    }
    q.cumulate()
    cum.set(q.cum, i * (V + 1))
    stats[2 * i] = q.lastMax()
    stats[2 * i + 1] = q.lastSum()
  }
  return { refused: -1, message: "", cum, stats }
}

const byNative = (logits: Float32Array, rows: number, V: number, P: number, threads: number) => {
  const cum = new Int32Array(rows * (V + 1))
  const stats = new Float64Array(rows * 2)
  return { refused: native.quantize(logits, rows, V, P, cum, stats, threads), cum, stats }
}

/** One logit: ordinary, extreme, far below the rest, −∞, or one of a few values (ties). */
const logitArb = fc.oneof(
  { weight: 6, arbitrary: fc.float({ min: -20, max: 20, noNaN: true }) },
  { weight: 1, arbitrary: fc.float({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 1, arbitrary: fc.float({ min: -1e6, max: -50, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(-Infinity, -3.4e38, 0, 1, 1 + 2 ** -23, 3.4e38, -0) }
)

/** rows × V logits, V in 2…4096, P with 2^P > 2V up to 30, and a thread count. */
const caseArb = fc
  .record({
    V: fc.integer({ min: 2, max: 4096 }),
    rows: fc.integer({ min: 1, max: 9 }),
    extraP: fc.integer({ min: 0, max: 30 }),
    threads: fc.constantFrom(1, 2)
  })
  .chain(({ V, rows, extraP, threads }) => {
    const minP = Math.ceil(Math.log2(2 * V + 1))
    const P = Math.min(30, minP + (extraP % (31 - minP)))
    return fc.record({
      V: fc.constant(V),
      rows: fc.constant(rows),
      P: fc.constant(P),
      threads: fc.constant(threads),
      // A dense array of ordinary logits with sparse special ones keeps large V cheap to generate.
      base: fc.float({ min: -8, max: 8, noNaN: true }),
      spread: fc.constantFrom(0, 1e-6, 1, 30, 200),
      seed: fc.integer(),
      specials: fc.array(fc.tuple(fc.nat(), logitArb), { maxLength: 40 })
    })
  })
  .map(({ V, rows, P, threads, base, spread, seed, specials }) => {
    const logits = new Float32Array(rows * V)
    let s = seed >>> 0
    for (let k = 0; k < logits.length; k++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0
      logits[k] = base + spread * (s / 2 ** 32 - 0.5)
    }
    for (const [at, v] of specials) logits[at % logits.length] = v
    return { V, rows, P, threads, logits }
  })

describe("native quantizer (quantize.cc) vs the definition (core quantize.ts)", () => {
  it("gives the same cumulative frequencies, maxima and sums, bit for bit", () => {
    fc.assert(
      fc.property(caseArb, ({ V, rows, P, threads, logits }) => {
        const want = byDefinition(logits, rows, V, P)
        const got = byNative(logits, rows, V, P, threads)
        expect(got.refused).toBe(want.refused)
        const good = want.refused < 0 ? rows : want.refused
        expect(got.cum.subarray(0, good * (V + 1))).toEqual(want.cum.subarray(0, good * (V + 1)))
        for (let k = 0; k < 2 * good; k++) expect(Object.is(got.stats[k], want.stats[k])).toBe(true)
      }),
      { numRuns: 300 }
    )
  })

  it("matches on a large step (256 rows × 2048, the benchmark's shape) with 1 and 2 threads", () => {
    const [rows, V, P] = [256, 2048, 24]
    const logits = new Float32Array(rows * V).map((_, k) => Math.sin(k * 0.7) * 6 + ((k * 7919) % 13))
    const want = byDefinition(logits, rows, V, P)
    for (const threads of [1, 2]) {
      const got = byNative(logits, rows, V, P, threads)
      expect(got.refused).toBe(-1)
      expect(got.cum).toEqual(want.cum)
      expect(got.stats).toEqual(want.stats)
    }
  })

  // Z of a row of 2…40 logits carries the last bits of each 2^x: a fused multiply-add in the polynomial (a build without
  // -ffp-contract=off) changes it in many of these rows, where over 2048 logits the sum and the floors mostly absorb it.
  it("gives the same sums Z over many short rows (sensitive to fused multiply-adds)", () => {
    for (const V of [2, 3, 5, 7, 8, 13, 40]) {
      const rows = 4000
      const logits = new Float32Array(rows * V).map((_, k) => -Math.abs((Math.sin(k * 12.9898) * 43758.5453) % 3))
      const want = byDefinition(logits, rows, V, 20)
      const got = byNative(logits, rows, V, 20, 1)
      let differ = 0
      for (let k = 0; k < 2 * rows; k++) if (!Object.is(got.stats[k], want.stats[k])) differ++
      expect(differ, `V = ${V}: rows whose maximum or Z differ`).toBe(0)
      expect(got.cum).toEqual(want.cum)
    }
  })

  it("refuses a row with NaN or +∞, or without a finite maximum, at the row where the definition throws", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 300 }),
        fc.integer({ min: 1, max: 10 }),
        fc.constantFrom(NaN, Infinity, "all -Infinity" as const),
        fc.nat(),
        fc.nat(),
        (V, rows, bad, r, at) => {
          const logits = new Float32Array(rows * V).map((_, k) => (k % 17) - 8)
          const row = r % rows
          if (bad === "all -Infinity") logits.fill(-Infinity, row * V, row * V + V)
          else logits[row * V + (at % V)] = bad
          const want = byDefinition(logits, rows, V, 20)
          expect(want.refused).toBe(row)
          expect(want.message).toMatch(/logits row \d+ has (no finite maximum|a non-finite value)/)
          for (const threads of [1, 2]) expect(byNative(logits, rows, V, 20, threads).refused).toBe(row)
        }
      ),
      { numRuns: 200 }
    )
  })

  it("rejects sizes it cannot quantize", () => {
    const cum = new Int32Array(9)
    const stats = new Float64Array(2)
    expect(() => native.quantize(new Float32Array(8), 1, 8, 3, cum, stats, 1)).toThrow(/out of range/)
    expect(() => native.quantize(new Float32Array(4), 1, 8, 20, cum, stats, 1)).toThrow(/out of range/)
  })
})
