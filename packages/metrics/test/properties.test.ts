import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { measureMemorization } from "../src/metrics/memorization.ts"
import { measureMembership } from "../src/metrics/membership.ts"
import { auc, bestF1, f1AtThreshold, f1TopHalf, operatingPoints, tprAtFpr } from "../src/numerics/roc.ts"
import { quantile, sum } from "../src/numerics/stats.ts"
import { fitCapacity } from "../src/laws/capacity.ts"
import { fitDoubleDescent } from "../src/laws/double-descent.ts"
import { fitMembershipF1 } from "../src/laws/membership-f1.ts"
import { fitF1Law, f1OfFeature, invertF1, predictF1, type F1Constants } from "../src/laws/f1-law.ts"
import { capacityRunsArb, f1LawSuite, memorizationSuite, membershipSuite, orderInvarianceSuite, rocSuite, scoreListsArb } from "../src/testing/index.ts"
import type { MetricSubject, RunResult } from "@memorize/core"

const ourLaw = {
  fit: (xs: ReadonlyArray<number>, ys: ReadonlyArray<number>) => {
    const f = fitF1Law(xs, ys)
    if (f === undefined) return undefined
    const se = f.stdErrors
    return { constants: { c1: f.params[0], c2: f.params[1], c3: f.params[2] }, stdErrors: se === null ? null : { c1: se[0], c2: se[1], c3: se[2] } }
  },
  evaluate: f1OfFeature,
  invert: (c: F1Constants, f1: number) => {
    // Through the public inversion with feature |D|/P and P = 1, so x = |D|.
    const r = invertF1({ feature: "samplesPerParameter", alpha: 1, constants: c }, 1, f1)
    return r.ok ? r.samples : undefined
  }
}

describe("invariant suites pass for this package's implementations", () => {
  it("memorization", () => memorizationSuite(measureMemorization, { numRuns: 25 }))
  it("ROC / AUC / F1", () => rocSuite({ auc, bestF1: (m, n) => bestF1(m, n).f1 }, { numRuns: 100 }))
  it("membership-inference", () => membershipSuite(measureMembership({ calibrationFraction: 0.5 }), { numRuns: 25 }))
  it("membership-f1 law: fit, evaluate, invert", () => f1LawSuite(ourLaw, { numRuns: 15 }))
  it("capacity law is invariant to the order of results", () =>
    orderInvarianceSuite(fitCapacity({ metricKey: "totalBits", groupBy: ["model", "train"], bestOf: [] }), { numRuns: 20 }))
  it("double-descent law is invariant to the order of results", () =>
    orderInvarianceSuite(
      fitDoubleDescent({ metricKey: "totalBits", groupBy: ["model", "train"], lossKey: "holdout.meanNatsPerToken", trainLossKey: "train.meanNatsPerToken" }),
      { numRuns: 15 }
    ))
  it("membership-f1 law is invariant to the order of results", () =>
    orderInvarianceSuite(fitMembershipF1({ feature: "capacityPerSample", alpha: 3.64, f1Key: "f1Best" }), { numRuns: 5 }))
})

describe("the suites catch broken implementations", () => {
  it("memorization without the max(0, ·) clamp fails mem ≥ 0", async () => {
    const broken = (s: MetricSubject) =>
      Effect.map(s.model.codeLengths(s.dataset.train), (l) => ({ totalBits: sum(l.map((x) => s.dataset.entropyBitsPerSequence! - x)) }))
    await expect(memorizationSuite(broken, { numRuns: 25, seed: 1 })).rejects.toThrow()
  })
  it("an AUC that ignores ties fails tie/transform properties", async () => {
    const strictOnly = (m: Float64Array, n: Float64Array) => {
      let w = 0
      for (const a of m) for (const b of n) if (a > b) w++
      return w / (m.length * n.length)
    }
    await expect(rocSuite({ auc: strictOnly }, { numRuns: 100, seed: 1 })).rejects.toThrow()
  })
  it("a law that depends on the order of results fails order invariance", async () => {
    const firstWins = (rs: ReadonlyArray<RunResult>) => Effect.succeed({ first: rs[0]?.runId ?? null })
    await expect(orderInvarianceSuite(firstWins, { numRuns: 30, seed: 1 })).rejects.toThrow()
  })
  it("a law fit that stops early fails the recovery property", async () => {
    const sloppy = {
      ...ourLaw,
      fit: (xs: ReadonlyArray<number>, ys: ReadonlyArray<number>) => {
        const f = ourLaw.fit(xs, ys)
        return f === undefined ? undefined : { ...f, constants: { ...f.constants, c1: f.constants.c1 * 1.001 } }
      }
    }
    await expect(f1LawSuite(sloppy, { numRuns: 5, seed: 1 })).rejects.toThrow()
  })
})

describe("exact ROC statistics against brute force", () => {
  it("AUC equals the pairwise win rate with ties counted ½", () =>
    fc.assert(
      fc.property(scoreListsArb(), ({ members, nonMembers }) => {
        let w = 0
        for (const a of members) for (const b of nonMembers) w += a > b ? 1 : a === b ? 0.5 : 0
        expect(auc(members, nonMembers)).toBeCloseTo(w / (members.length * nonMembers.length), 12)
      }),
      { numRuns: 200 }
    ))
  it("best F1 is the maximum of F1 over every candidate threshold", () =>
    fc.assert(
      fc.property(scoreListsArb(), ({ members, nonMembers }) => {
        const candidates = [Infinity, ...members, ...nonMembers]
        const brute = Math.max(...candidates.map((t) => f1AtThreshold(members, nonMembers, t)))
        const b = bestF1(members, nonMembers)
        expect(b.f1).toBeCloseTo(brute, 14)
        expect(f1AtThreshold(members, nonMembers, b.threshold)).toBeCloseTo(b.f1, 14)
      }),
      { numRuns: 200 }
    ))
  it("TPR at FPR is the best TPR among thresholds meeting the FPR bound", () =>
    fc.assert(
      fc.property(scoreListsArb(), fc.double({ min: 0, max: 1, noNaN: true }), ({ members, nonMembers }, f) => {
        const t = tprAtFpr(members, nonMembers, f)
        const ops = operatingPoints(members, nonMembers)
        for (const o of ops) if (o.fp / nonMembers.length <= f) expect(o.tp / members.length).toBeLessThanOrEqual(t)
        expect(t).toBeGreaterThanOrEqual(0)
        expect(t).toBeLessThanOrEqual(1)
      }),
      { numRuns: 200 }
    ))
})

describe("top-half F1 (label-free threshold, chance ½)", () => {
  const balanced = scoreListsArb().map(({ members, nonMembers }) => {
    const n = Math.min(members.length, nonMembers.length)
    return { members: members.subarray(0, n), nonMembers: nonMembers.subarray(0, n) }
  })
  it("with distinct scores it is the share of members among the n highest of 2n", () =>
    fc.assert(
      fc.property(scoreListsArb({ distinct: true }), ({ members, nonMembers }) => {
        const n = Math.min(members.length, nonMembers.length)
        const m = members.subarray(0, n)
        const all = [...m].map((s) => ({ s, member: true })).concat([...nonMembers.subarray(0, n)].map((s) => ({ s, member: false })))
        const top = all.sort((a, b) => b.s - a.s).slice(0, n)
        expect(f1TopHalf(m, nonMembers.subarray(0, n))).toBeCloseTo(top.filter((x) => x.member).length / n, 14)
      }),
      { numRuns: 200 }
    ))
  it("swapping the classes or negating the scores gives 1 − F1 (ties shared in expectation)", () =>
    fc.assert(
      fc.property(balanced, ({ members, nonMembers }) => {
        const f = f1TopHalf(members, nonMembers)
        expect(f).toBeGreaterThanOrEqual(0)
        expect(f).toBeLessThanOrEqual(1)
        expect(f + f1TopHalf(nonMembers, members)).toBeCloseTo(1, 12)
        expect(
          f +
            f1TopHalf(
              members.map((x) => -x),
              nonMembers.map((x) => -x)
            )
        ).toBeCloseTo(1, 12)
      }),
      { numRuns: 200 }
    ))
  it("does not depend on input order, is ½ when all scores tie and 1 when the classes separate", () =>
    fc.assert(
      fc.property(balanced, fc.integer({ min: -5, max: 5 }), ({ members, nonMembers }, c) => {
        expect(f1TopHalf(members.slice().reverse(), nonMembers.slice().sort())).toBeCloseTo(f1TopHalf(members, nonMembers), 12)
        expect(
          f1TopHalf(
            members.map(() => c),
            nonMembers.map(() => c)
          )
        ).toBe(0.5)
        expect(
          f1TopHalf(
            members.map((x) => x + 100),
            nonMembers
          )
        ).toBe(1)
      }),
      { numRuns: 200 }
    ))
  it("is NaN unless the set is balanced and non-empty", () => {
    expect(f1TopHalf([], [])).toBeNaN()
    expect(f1TopHalf([1, 2], [1])).toBeNaN()
  })
})

describe("quantiles (type 7)", () => {
  it("lie between min and max, are monotone in q, and hit the order statistics at q = k/(n−1)", () =>
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 30 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (xs, q) => {
          const s = [...xs].sort((a, b) => a - b)
          const v = quantile(xs, q)
          expect(v).toBeGreaterThanOrEqual(s[0])
          expect(v).toBeLessThanOrEqual(s[s.length - 1])
          expect(quantile(xs, Math.min(1, q + 0.1))).toBeGreaterThanOrEqual(v)
          const k = Math.floor(q * (s.length - 1))
          expect(quantile(xs, s.length === 1 ? 0 : k / (s.length - 1))).toBeCloseTo(s[k], 6)
        }
      ),
      { numRuns: 200 }
    ))
})

describe("predict ∘ invert on the parametrised law", () => {
  it("round-trips for both features and any parameter count", () =>
    fc.assert(
      fc.property(
        fc.constantFrom("capacityPerSample" as const, "samplesPerParameter" as const),
        fc.double({ min: 1e4, max: 1e10, noNaN: true }),
        fc.double({ min: 0.52, max: 0.98, noNaN: true }),
        (feature, params, target) => {
          const law = {
            feature,
            alpha: 3.64,
            constants: feature === "samplesPerParameter" ? { c1: 1.34, c2: -33.14, c3: -1.117 / 33.14 } : { c1: 1, c2: 0.3, c3: -10 }
          }
          const inv = invertF1(law, params, target)
          if (!inv.ok) return
          expect(predictF1(law, params, inv.samples)).toBeCloseTo(target, 9)
        }
      ),
      { numRuns: 200 }
    ))
})

/** Each run twice: as recipe `lr 0.04`, and as a recipe (`lr 0.01`) that stored `share` of it. */
const searchedArb = fc
  .record({ runs: capacityRunsArb, shares: fc.array(fc.double({ min: 0.5, max: 1, noNaN: true }), { minLength: 36, maxLength: 36 }) })
  .map(({ runs, shares }) => {
    const at = (r: RunResult, lr: number, share: number, suffix: string): RunResult => ({
      ...r,
      runId: `${r.runId}${suffix}`,
      config: { ...r.config, train: { ...(r.config["train"] as object), lr } },
      metrics: { ...r.metrics, memorization: { totalBits: share * (r.metrics["memorization"] as { totalBits: number }).totalBits } }
    })
    // The searched path is no part of the model, so the best runs are compared as if it were never set.
    return { best: runs, all: [...runs.map((r) => at(r, 0.04, 1, "")), ...runs.map((r, i) => at(r, 0.01, shares[i % shares.length]!, "-lr0.01"))] }
  })
  // In any order: the better recipe may come first or last.
  .chain(({ best, all }) => fc.shuffledSubarray(all, { minLength: all.length }).map((shuffled) => ({ best, all: shuffled })))

describe("capacity law over a recipe search (bestOf)", () => {
  const plain = fitCapacity({ metricKey: "totalBits", groupBy: ["model", "train"], bestOf: [] })
  const searched = fitCapacity({ metricKey: "totalBits", groupBy: ["model", "train"], bestOf: ["train.lr"] })

  it("fits what the best recipe of each run alone gives, and records which runs it kept", () =>
    fc.assert(
      fc.property(searchedArb, ({ best, all }) => {
        const a = Effect.runSync(searched(all)) as any
        const b = Effect.runSync(plain(best)) as any
        expect(a.bestOf).toEqual({ paths: ["train.lr"], candidates: all.length, kept: best.map((r) => r.runId).sort() })
        expect({ ...a, bestOf: null }).toEqual(b)
      }),
      { numRuns: 40 }
    ))

  it("the searched path names no part of the model: runs won by either recipe stay one model configuration", () =>
    fc.assert(
      fc.property(capacityRunsArb, fc.array(fc.boolean(), { minLength: 36, maxLength: 36 }), (runs, flips) => {
        const withLr = runs.map((r, i) => ({
          ...r,
          config: { ...r.config, train: { ...(r.config["train"] as object), lr: flips[i % flips.length] ? 0.01 : 0.04 } }
        }))
        const fit = Effect.runSync(searched(withLr)) as any
        expect(fit.groups).toHaveLength(new Set(runs.map((r) => r.model.paramCount)).size)
      }),
      { numRuns: 40 }
    ))

  it("is invariant to the order of results (best of the seeds: ties and all)", () =>
    orderInvarianceSuite(fitCapacity({ metricKey: "totalBits", groupBy: ["model"], bestOf: ["seed"] }), { numRuns: 20 }))

  it("names a path that no run has, and a path inside the model", () => {
    const runs = fc.sample(capacityRunsArb, 1)[0]!
    const e = Effect.runSync(Effect.flip(fitCapacity({ metricKey: "totalBits", groupBy: ["model"], bestOf: ["train.learningRate"] })(runs)))
    expect(e.message).toContain(`bestOf: "train.learningRate" is in no run's resolved config`)
    const m = Effect.runSync(Effect.flip(fitCapacity({ metricKey: "totalBits", groupBy: ["model"], bestOf: ["model.heads", "train.lr"] })(runs)))
    expect(m.message).toContain(`bestOf: "model.heads" is part of the model, not of its training recipe`)
  })
})
