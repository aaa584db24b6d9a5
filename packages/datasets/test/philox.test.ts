import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { philox4x32, rejectionLimit, seedKey, WordStream } from "../src/philox.ts"

const hex = (a: Uint32Array) => Array.from(a, (x) => x.toString(16).padStart(8, "0"))

describe("Philox4x32-10", () => {
  it("matches Random123's known-answer vectors", () => {
    const out = new Uint32Array(4)
    expect(hex(philox4x32(0, 0, 0, 0, 0, 0, out))).toEqual(["6627e8d5", "e169c58d", "bc57ac4c", "9b00dbd8"])
    expect(hex(philox4x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, out))).toEqual([
      "408f276d",
      "41c83b0e",
      "a20bc7c6",
      "6d5451fd"
    ])
    expect(hex(philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, out))).toEqual([
      "d16cfe09",
      "94fdcceb",
      "5001e420",
      "24126ea1"
    ])
  })

  it("splits seeds into two 32-bit key words and rejects unsafe seeds", () => {
    expect(seedKey(0)).toEqual([0, 0])
    expect(seedKey(2 ** 32 + 5)).toEqual([5, 1])
    expect(() => seedKey(-1)).toThrow(RangeError)
    expect(() => seedKey(1.5)).toThrow(RangeError)
  })

  it("rejection bound: each residue gets exactly the same number of accepted words (exhaustive, 8-bit words)", () => {
    for (let n = 2; n <= 256; n++) {
      const limit = rejectionLimit(n, 256)
      const counts = new Array<number>(n).fill(0)
      for (let w = 0; w < 256; w++) if (w < limit) counts[w % n]++
      expect(new Set(counts).size).toBe(1)
      // Maximal: one more block of n would not fit.
      expect(limit + n).toBeGreaterThan(256)
    }
  })

  it("rejection bound for 32-bit words is the largest multiple of n ≤ 2^32 (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 2 ** 32 }), (n) => {
        const limit = rejectionLimit(n)
        return limit % n === 0 && limit <= 2 ** 32 && limit + n > 2 ** 32
      })
    )
  })

  it("word streams are pure functions of (seed, stream, index)", () => {
    const draw = (seed: number, stream: number, index: number) => {
      const w = new WordStream(seed, stream, index)
      return Array.from({ length: 10 }, () => w.next())
    }
    expect(draw(7, 0, 3)).toEqual(draw(7, 0, 3))
    expect(draw(7, 0, 3)).not.toEqual(draw(7, 1, 3))
    expect(draw(7, 0, 3)).not.toEqual(draw(7, 0, 4))
    expect(draw(7, 0, 3)).not.toEqual(draw(8, 0, 3))
  })
})
