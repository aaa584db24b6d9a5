import { describe, expect, it } from "@effect/vitest"
import { fitF1Law, f1OfFeature, invertF1, PAPER_LAW, predictF1, PRINTED_LAW } from "../src/laws/f1-law.ts"

const GPT2_SMALL = 123_702_528
const GPT2_XL = 1_556_075_200

describe("membership F1 law", () => {
  it("paper constants: F1 → 0.5 as data grows, ≈ 1 for tiny data; printed form does not", () => {
    expect(predictF1(PAPER_LAW, GPT2_SMALL, 1e12)).toBeCloseTo(0.5, 12)
    expect(predictF1(PAPER_LAW, GPT2_SMALL, 1)).toBeGreaterThan(0.99)
    // Printed constants with x = C/|D|: rises with |D| and exceeds 1.
    expect(predictF1(PRINTED_LAW, GPT2_SMALL, 1e12)).toBeGreaterThan(1)
  })
  it("hand-computed value: r = |D|/P = 0.01 gives ½(1 + 1.34·σ(1.117 − 0.3314))", () => {
    const expected = 0.5 * (1 + 1.34 / (1 + Math.exp(-(1.117 - 0.3314))))
    expect(predictF1(PAPER_LAW, 1000, 10)).toBeCloseTo(expected, 12)
  })
  it("validation sizes round-trip for GPT-2 small and XL at F1 0.95, 0.75, 0.55", () => {
    for (const p of [GPT2_SMALL, GPT2_XL]) {
      for (const f1 of [0.95, 0.75, 0.55]) {
        const inv = invertF1(PAPER_LAW, p, f1)
        if (!inv.ok) throw new Error(inv.reason)
        expect(predictF1(PAPER_LAW, p, inv.samples)).toBeCloseTo(f1, 10)
      }
    }
  })
  it("invert names targets outside the range", () => {
    const r = invertF1(PAPER_LAW, GPT2_SMALL, 0.4)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.reason).toContain("outside the law's range")
  })
  it("recovers constants from noiseless points", () => {
    const c = { c1: 1.2, c2: -8, c3: -0.4 }
    const xs = Array.from({ length: 12 }, (_, i) => i / 11)
    const ys = xs.map((x) => f1OfFeature(c, x))
    const fit = fitF1Law(xs, ys)!
    expect(fit.params[0]).toBeCloseTo(c.c1, 8)
    expect(fit.params[1]).toBeCloseTo(c.c2, 7)
    expect(fit.params[2]).toBeCloseTo(c.c3, 8)
    expect(fit.ssr).toBeLessThan(1e-20)
    expect(fit.stdErrors).not.toBeNull()
  })
})
