import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { invert } from "../src/numerics/linalg.ts"
import { levenbergMarquardt } from "../src/numerics/levenberg-marquardt.ts"
import { linearFit } from "../src/numerics/linreg.ts"
import { averageRanks, sum } from "../src/numerics/stats.ts"

describe("numerics", () => {
  it("invert: A·A⁻¹ = I for well-conditioned random matrices; singular → undefined", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 9, maxLength: 9 }), (xs) => {
        const a = Float64Array.from(xs)
        for (let i = 0; i < 3; i++) a[i * 3 + i] += 4 // diagonally dominant
        const inv = invert(a, 3)!
        for (let i = 0; i < 3; i++)
          for (let j = 0; j < 3; j++) {
            let s = 0
            for (let k = 0; k < 3; k++) s += a[i * 3 + k] * inv[k * 3 + j]
            expect(s).toBeCloseTo(i === j ? 1 : 0, 12)
          }
      }),
      { numRuns: 100 }
    )
    expect(invert(Float64Array.of(1, 2, 2, 4), 2)).toBeUndefined()
  })
  it("LM on a linear model reproduces OLS estimates and standard errors", () => {
    const xs = [0, 1, 2, 3, 4, 5]
    const ys = [1.1, 2.9, 5.2, 7.1, 8.8, 11.3]
    const lm = levenbergMarquardt(
      {
        xs,
        ys,
        f: (x, p) => p[0] + p[1] * x,
        jacobian: (x, _p, out) => {
          out[0] = 1
          out[1] = x
        }
      },
      [0, 0]
    )
    const ols = linearFit(xs, ys)
    expect(lm.params[0]).toBeCloseTo(ols.intercept, 10)
    expect(lm.params[1]).toBeCloseTo(ols.slope, 10)
    expect(lm.stdErrors![0]).toBeCloseTo(ols.interceptStdError!, 8)
    expect(lm.stdErrors![1]).toBeCloseTo(ols.slopeStdError!, 8)
  })
  it("LM fits an exponential decay from a poor start", () => {
    const xs = Array.from({ length: 20 }, (_, i) => i / 4)
    const ys = xs.map((x) => 3 * Math.exp(-0.7 * x))
    const lm = levenbergMarquardt(
      {
        xs,
        ys,
        f: (x, p) => p[0] * Math.exp(p[1] * x),
        jacobian: (x, p, out) => {
          out[0] = Math.exp(p[1] * x)
          out[1] = p[0] * x * Math.exp(p[1] * x)
        }
      },
      [1, 0.1]
    )
    expect(lm.params[0]).toBeCloseTo(3, 9)
    expect(lm.params[1]).toBeCloseTo(-0.7, 9)
    expect(lm.converged).toBe(true)
  })
  it("average ranks give ties the mean of their positions", () => {
    expect(Array.from(averageRanks([10, 20, 10, 30, 20, 20]))).toEqual([1.5, 4, 1.5, 6, 4, 4])
  })
  it("compensated sum: totals of parts add to the total of the whole", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1e6, noNaN: true })), fc.array(fc.double({ min: 0, max: 1e6, noNaN: true })), (a, b) => {
        const whole = sum([...a, ...b])
        expect(Math.abs(sum(a) + sum(b) - whole)).toBeLessThanOrEqual(1e-9 * (1 + whole))
      }),
      { numRuns: 200 }
    )
  })
})
