import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { saturatingFit } from "../src/laws/saturating.ts"
import { capacityPlugin } from "../src/laws/capacity.ts"
import { doubleDescentPlugin } from "../src/laws/double-descent.ts"
import { membershipF1Plugin, type PredictInput } from "../src/laws/membership-f1.ts"
import { f1OfFeature, invertF1, PAPER_LAW } from "../src/laws/f1-law.ts"
import { runResult } from "../src/testing/results.ts"
import { linearFit, originFit } from "../src/numerics/linreg.ts"

const failure = <A, E extends Error>(eff: Effect.Effect<A, E>) =>
  Effect.map(Effect.flip(eff), (e) => `${(e as { readonly _tag?: string })._tag ?? e.name}: ${e.message}`)

const capacity = capacityPlugin.make({ metricKey: "totalBits", groupBy: ["model", "train"], bestOf: [] })

describe("saturating fit min(N·H, C)", () => {
  it("hand case: a = 10, 20, 40, 80 with y = 10, 20, 30, 30 → C = 30", () => {
    expect(saturatingFit([10, 20, 40, 80], [10, 20, 30, 30])).toEqual({ capacityBits: 30, saturated: true, ssr: 0, n: 4 })
  })
  it("a noisy plateau: C is the mean of the saturated points", () => {
    const f = saturatingFit([10, 100, 200], [10, 28, 32])
    expect(f.capacityBits).toBe(30)
    expect(f.ssr).toBe(8)
  })
  it("no saturation: C is a lower bound (the largest value)", () => {
    expect(saturatingFit([10, 20], [10, 20])).toEqual({ capacityBits: 20, saturated: false, ssr: 0, n: 2 })
  })
})

describe("linear regression", () => {
  it("standard errors by hand: x = 0,1,2,3, y = 1,3,2,5", () => {
    // Sxy = 5.5, Sxx = 5: slope 1.1, intercept 2.75 − 1.65 = 1.1; residuals −.1, .8, −1.3, .6: SSR = 2.7
    const f = linearFit([0, 1, 2, 3], [1, 3, 2, 5])
    expect(f.slope).toBeCloseTo(1.1, 14)
    expect(f.intercept).toBeCloseTo(1.1, 14)
    expect(f.slopeStdError).toBeCloseTo(Math.sqrt(2.7 / 2 / 5), 14)
    expect(f.interceptStdError).toBeCloseTo(Math.sqrt((2.7 / 2) * (1 / 4 + 2.25 / 5)), 14)
    expect(originFit([1, 2], [2, 4]).slope).toBe(2)
  })
})

/** Membership F1 law behind the fixture runs, with x = Capacity/|D| spanning its transition. */
const TRUE_F1 = { c1: 1, c2: 0.002, c3: -1000 }

/** Three models with capacity exactly 3.5 bits/param, two seeds, sizes spanning the plateau. */
const H = 64 * 11 // V = 2048, S = 64
const models = [
  { dModel: 32, paramCount: 80_352 },
  { dModel: 64, paramCount: 185_000 },
  { dModel: 128, paramCount: 469_000 }
]
const sizes = [64, 256, 1024, 4096]
const capacityRuns = models.flatMap((m) =>
  sizes.flatMap((n) =>
    [0, 1].map((seed) => {
      const c = 3.5 * m.paramCount
      return runResult({
        seed,
        paramCount: m.paramCount,
        trainCount: n,
        modelConfig: { layers: 1, dModel: m.dModel },
        metrics: {
          memorization: { totalBits: Math.min(n * H, c) + (seed === 0 ? -100 : 100) * (n * H > c ? 1 : 0) },
          loss: { holdout: { meanNatsPerToken: n * H < c ? 7 : n * H < 4 * c ? 9 - n / 4096 : 6 } },
          "membership-inference": { f1Best: f1OfFeature(TRUE_F1, (3.5 * m.paramCount) / n) }
        }
      })
    })
  )
)

describe("capacity law", () => {
  it.effect("best of a recipe search: the report says how many runs were kept and draws only those", () =>
    Effect.gen(function* () {
      const fit = (yield* capacityPlugin.make({ metricKey: "totalBits", groupBy: ["model"], bestOf: ["seed"] })(capacityRuns)) as any
      // Seed 1 stored 100 bits more than seed 0 wherever the model saturated; below capacity the two tie and the smaller run id stays.
      expect(fit.bestOf.candidates).toBe(24)
      expect(fit.bestOf.kept).toHaveLength(12)
      for (const id of fit.bestOf.kept as Array<string>) {
        const run = capacityRuns.find((r) => r.runId === id)!
        expect(run.config["seed"], id).toBe(run.dataset.trainCount * H > 3.5 * run.model.paramCount ? 1 : 0)
      }
      const sections = capacityPlugin.report!(fit, capacityRuns)
      expect(sections.flatMap((s) => s.headline?.notes ?? [])).toContain(
        "Each run is the best of a recipe search over seed: 12 of 24 runs kept (those that stored the most); the capacity fits and charts use only those."
      )
    })
  )

  it.effect("groups by model config (not dataset size or seed), fits plateau, α = 3.5", () =>
    Effect.gen(function* () {
      const fit = (yield* capacity(capacityRuns)) as any
      expect(fit.groups).toHaveLength(3)
      const g = fit.groups.find((x: any) => x.paramCount === 80_352)
      expect(g.runs).toBe(8)
      expect(g.capacitySource).toBe("saturatingFit")
      expect(g.capacityBits).toBeCloseTo(3.5 * 80_352, 6)
      expect(g.bitsPerParameter).toBeCloseTo(3.5, 12)
      expect(g.perSeed.values[0]).toBeCloseTo(3.5 * 80_352 - 100, 6)
      expect(g.perSeed.values[1]).toBeCloseTo(3.5 * 80_352 + 100, 6)
      expect(g.perSeed.sd).toBeCloseTo(Math.sqrt(20000), 6)
      expect(fit.linear.alpha).toBeCloseTo(3.5, 9)
      expect(Math.abs(fit.linear.intercept)).toBeLessThan(1e-3)
      expect(fit.throughOrigin.alpha).toBeCloseTo(3.5, 9)
      expect(fit.linearNote).toBeNull()
      const sections = capacityPlugin.report!(fit, capacityRuns)
      // A headline-only section (the answers) first, then the charts and tables.
      expect(sections.map((s) => s.title)).toEqual([
        "Capacity: answers",
        "Memorization vs dataset size",
        "Capacity vs parameters",
        "Capacity per model",
        "Predicted vs measured memorization"
      ])
    })
  )
  it.effect("prediction min(N·H, α·P) against measured, with the fitted or a given α", () =>
    Effect.gen(function* () {
      const fit = (yield* capacity(capacityRuns)) as any
      expect(fit.prediction.alphaSource).toBe("throughOriginFit")
      expect(fit.prediction.alpha).toBeCloseTo(3.5, 9)
      expect(fit.prediction.points).toHaveLength(capacityRuns.length)
      const p = fit.prediction.points.find((x: any) => x.paramCount === 80_352 && x.trainCount === 4096)
      expect(p.predictedBits).toBeCloseTo(3.5 * 80_352, 6)
      expect(p.saturated).toBe(true)
      // The fixture's measured values are the prediction ± 100 bits where saturated.
      expect(Math.abs(p.relativeError)).toBeCloseTo(100 / (3.5 * 80_352), 6)
      const below = fit.prediction.points.find((x: any) => x.paramCount === 469_000 && x.trainCount === 64)
      expect(below.predictedBits).toBe(64 * H)
      expect(below.relativeError).toBe(0)
      const given = (yield* capacityPlugin.make({ metricKey: "totalBits", groupBy: ["model", "train"], bestOf: [], predictionAlpha: 3.0 })(capacityRuns)) as any
      expect(given.prediction.alphaSource).toBe("config")
      const q = given.prediction.points.find((x: any) => x.paramCount === 80_352 && x.trainCount === 4096 && x.runId.includes("-s1-"))
      expect(q.predictedBits).toBeCloseTo(3.0 * 80_352, 6)
      expect(q.relativeError).toBeCloseTo((3.5 * 80_352 + 100 - 3.0 * 80_352) / (3.0 * 80_352), 9)
      // Text (no exact entropy): no prediction.
      const text = (yield* capacity(capacityRuns.map((r) => ({ ...r, dataset: { ...r.dataset, entropyBitsPerSequence: null } })))) as any
      expect(text.prediction).toBeNull()
    })
  )
  it.effect("one configuration: no α fit, said so", () =>
    Effect.gen(function* () {
      const fit = (yield* capacity(capacityRuns.filter((r) => r.model.paramCount === 80_352))) as any
      expect(fit.linear).toBeNull()
      expect(fit.linearNote).toContain("at least 2 model configurations")
    })
  )
  it.effect("no memorization values: LawError naming the metric", () =>
    Effect.gen(function* () {
      const e = yield* failure(capacity([runResult({ paramCount: 10, trainCount: 10, metrics: {} })]))
      expect(e).toContain("LawError: none of the 1 results has metrics.memorization.totalBits")
    })
  )
})

describe("double-descent law", () => {
  it.effect("test loss peaks where dataset bits ≈ capacity", () =>
    Effect.gen(function* () {
      const fit = (yield* doubleDescentPlugin.make({
        metricKey: "totalBits",
        groupBy: ["model", "train"],
        lossKey: "holdout.meanNatsPerToken",
        trainLossKey: "train.meanNatsPerToken"
      })(capacityRuns)) as any
      expect(fit.groups).toHaveLength(3)
      for (const g of fit.groups) {
        expect(g.peak.ratio).toBeGreaterThanOrEqual(1)
        expect(g.peak.ratio).toBeLessThan(4)
        expect(g.peak.testLoss).toBeGreaterThanOrEqual(8)
      }
      expect(fit.datasetBitsSource).toBe("entropy")
      expect(doubleDescentPlugin.report!(fit, capacityRuns).filter((s) => s.chart !== undefined || s.table !== undefined)).toHaveLength(2)
    })
  )
})

describe("membership-f1 law", () => {
  const law = membershipF1Plugin.make({ feature: "capacityPerSample", alpha: 3.5, f1Key: "f1Best" })
  it.effect("recovers the constants used to make the points", () =>
    Effect.gen(function* () {
      const fit = (yield* law(capacityRuns)) as any
      expect(fit.n).toBe(24)
      expect(Math.abs(fit.constants.c1 - TRUE_F1.c1)).toBeLessThan(1e-8)
      expect(Math.abs(fit.constants.c2 - TRUE_F1.c2) / TRUE_F1.c2).toBeLessThan(1e-8)
      expect(Math.abs(fit.constants.c3 - TRUE_F1.c3) / 1000).toBeLessThan(1e-8)
      expect(fit.ssr).toBeLessThan(1e-20)
      expect(membershipF1Plugin.report!(fit, capacityRuns).filter((s) => s.chart !== undefined || s.table !== undefined)).toHaveLength(2)
    })
  )
  it.effect("holdout: runs matching a config value are left out of the fit and predicted by it", () =>
    Effect.gen(function* () {
      const held = membershipF1Plugin.make({ feature: "capacityPerSample", alpha: 3.5, f1Key: "f1Best", holdout: { path: "dataset.samples", values: [256] } })
      const fit = (yield* held(capacityRuns)) as any
      expect(fit.n).toBe(18)
      expect(fit.heldOut.n).toBe(6)
      expect(fit.heldOut.points.every((p: any) => p.trainCount === 256)).toBe(true)
      expect(fit.points.some((p: any) => p.trainCount === 256)).toBe(false)
      // The fixture's F1 follows the law exactly, so held-out runs are predicted exactly.
      expect(fit.heldOut.rmse).toBeLessThan(1e-8)
      expect(fit.heldOut.maxAbsError).toBeLessThan(1e-8)
      expect(fit.heldOut.points[0].predicted).toBeCloseTo(fit.heldOut.points[0].f1, 8)
      const sections = membershipF1Plugin.report!(fit, capacityRuns)
      expect(sections.map((s) => s.title)).toContain("Membership F1 law on held-out runs")
      expect(sections.find((s) => s.title === "Membership F1 law on held-out runs")!.table!.rows).toHaveLength(6)
      const none = (yield* law(capacityRuns)) as any
      expect(none.heldOut).toBeNull()
      const e = yield* failure(
        membershipF1Plugin.make({ feature: "capacityPerSample", alpha: 3.5, f1Key: "f1Best", holdout: { path: "seed", values: [0, 1] } })(capacityRuns)
      )
      expect(e).toContain("24 held out by seed")
    })
  )
  it.effect("fewer points than constants: LawError", () =>
    Effect.gen(function* () {
      const e = yield* failure(law(capacityRuns.slice(0, 2)))
      expect(e).toContain("needs at least 3 runs")
      expect(e).toContain("got 2")
    })
  )
  it.effect("predict: paper constants, both directions, and a laws.json file", () =>
    Effect.gen(function* () {
      const predict = (input: Omit<PredictInput, "constants"> & { constants?: string }) => membershipF1Plugin.predict!.run({ constants: "paper", ...input })
      const inv = invertF1(PAPER_LAW, 123_702_528, 0.55)
      if (!inv.ok) throw new Error(inv.reason)
      const out = yield* predict({ params: 123_702_528, samples: inv.samples, constants: "paper" })
      expect(out).toContain(": 0.5500")
      const back = yield* predict({ params: 123_702_528, f1: 0.55 })
      expect(back).toContain(`${Math.round(inv.samples)} sequences`)
      const dir = mkdtempSync(join(tmpdir(), "memorize-metrics-"))
      const file = join(dir, "laws.json")
      writeFileSync(file, JSON.stringify({ "membership-f1": { feature: "samplesPerParameter", alpha: 3.64, constants: { c1: 1, c2: -10, c3: -0.1 } } }))
      // r = |D|/P = 0.1 → σ(0) = ½ → F1 = 0.75
      expect(yield* predict({ params: 1000, samples: 100, constants: file })).toContain(": 0.7500")
      expect(yield* failure(predict({ params: 1000, constants: file }))).toContain("--samples")
      expect(yield* failure(predict({ params: 1000, samples: 1, constants: join(dir, "missing.json") }))).toContain("cannot read constants file")
      expect(yield* failure(predict({ params: 1000, f1: 0.2 }))).toContain("outside the law's range")
    })
  )
})
