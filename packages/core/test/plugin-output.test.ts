/**
 * Plugin outputs through their Schemas (plugin-output.ts): what `make`
 * returns is encoded to the JSON stored, the stored JSON decoded for the
 * plugin's hooks; a value that does not match is named, never stored or drawn.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import fc from "fast-check"
import { collectSections } from "../src/report/write.ts"
import { summaryColumns, summaryRows } from "../src/report/summary.ts"
import { decodeOutput, encodeOutput } from "../src/plugin-output.ts"
import { definePlugin, type ReportSection } from "../src/plugin.ts"
import { makeRegistry } from "../src/registry.ts"
import type { RunResult } from "../src/contracts.ts"

// A transformation, so that stored and typed forms differ: the fit keeps a Date, laws.json an ISO string.
const FitSchema = Schema.Struct({
  alpha: Schema.Finite,
  fittedAt: Schema.DateFromString,
  models: Schema.Array(Schema.Struct({ p: Schema.Int, bits: Schema.Finite }))
})
type Fit = typeof FitSchema.Type

const seen: Array<Fit> = []
const law = definePlugin({
  kind: "law",
  name: "typed-law",
  description: "a law with an output Schema (tests only)",
  config: Schema.Struct({}),
  output: FitSchema,
  make: () => () => Effect.succeed({ alpha: 3.5, fittedAt: new Date(0), models: [] }),
  report: (fit: Fit): ReadonlyArray<ReportSection> => {
    seen.push(fit)
    return [{ title: `alpha ${fit.alpha} at ${fit.fittedAt.toISOString()}`, table: { columns: ["p"], rows: fit.models.map((m) => [m.p]) } }]
  }
})

const ValuesSchema = Schema.Struct({ totalBits: Schema.Finite })
const metric = definePlugin({
  kind: "metric",
  name: "typed-metric",
  description: "a metric with an output Schema (tests only)",
  config: Schema.Struct({}),
  output: ValuesSchema,
  make: () => () => Effect.succeed({ totalBits: 1 }),
  summary: [{ header: "bits", digits: 0, value: (v) => v.totalBits }]
})

const resultWith = (runId: string, values: { readonly [k: string]: unknown }): RunResult => ({
  runId,
  experiment: "x",
  config: { seed: 0 },
  model: { kind: "m", paramCount: 10, vocabSize: 4, seqLen: 4, precision: "fp32", config: {} },
  dataset: { kind: "d", trainCount: 4, holdoutCount: 0, vocabSize: 4, seqLen: 4, entropyBitsPerSequence: 8, fingerprint: "f", stats: {} },
  train: null,
  metrics: { "typed-metric": values as never },
  provenance: {}
})

describe("plugin outputs", () => {
  it("encode then decode gives the typed value back, for any value the Schema accepts", () => {
    const modelArb = fc.record({ p: fc.integer({ min: -1e6, max: 1e6 }), bits: fc.double({ noNaN: true, noDefaultInfinity: true }) })
    const fitArb = fc.record({
      alpha: fc.double({ noNaN: true, noDefaultInfinity: true }),
      fittedAt: fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }),
      models: fc.array(modelArb, { maxLength: 5 })
    })
    fc.assert(
      fc.property(fitArb, (fit) => {
        const stored = encodeOutput(FitSchema, fit)
        if (!stored.ok) throw new Error(stored.problem)
        // What is stored is JSON (the Date became a string) and survives a trip through a file.
        const file = JSON.parse(JSON.stringify(stored.stored))
        expect(typeof file.fittedAt).toBe("string")
        const back = decodeOutput(FitSchema, file)
        if (!back.ok) throw new Error(back.problem)
        expect(back.value.fittedAt.getTime()).toBe(fit.fittedAt.getTime())
        expect(back.value.models).toEqual(fit.models.map((m) => ({ p: m.p, bits: Object.is(m.bits, -0) ? 0 : m.bits })))
      })
    )
  })

  it("an output the Schema refuses, or that is not JSON, is named and not stored", () => {
    const wrong = encodeOutput(ValuesSchema, { totalBits: "many" } as never)
    expect(wrong).toEqual({ ok: false, problem: expect.stringMatching(/does not match the plugin's output Schema.*totalBits/s) })
    const nan = encodeOutput(ValuesSchema, { totalBits: NaN })
    expect(nan.ok).toBe(false)
    const noSchema = encodeOutput(undefined, { bits: new Float64Array(1) })
    expect(noSchema).toEqual({ ok: false, problem: expect.stringMatching(/key "bits" is a Float64Array/) })
  })

  it.effect("the report hands a law its decoded fit, and names a stored fit or metric value that does not decode", () =>
    Effect.gen(function* () {
      const registry = yield* makeRegistry([law, metric], "built-in")
      const stored = encodeOutput(FitSchema, { alpha: 2.5, fittedAt: new Date(1000), models: [{ p: 7, bits: 1 }] })
      if (!stored.ok) throw new Error(stored.problem)
      seen.length = 0
      const good = collectSections([resultWith("r1", { totalBits: 3 })], { "typed-law": stored.stored }, registry)
      expect(seen[0]!.fittedAt).toBeInstanceOf(Date)
      expect(good.map((s) => s.title)).toContain("alpha 2.5 at 1970-01-01T00:00:01.000Z")

      const bad = collectSections([resultWith("r1", { totalBits: "lots" }), resultWith("r2", { totalBits: 2 })], { "typed-law": { alpha: "high" } }, registry)
      const titles = bad.map((s) => s.title)
      expect(titles).toContain("Law typed-law: stored fit does not match the plugin")
      expect(titles).toContain("Metric typed-metric: stored values do not match the plugin")
      expect(bad.find((s) => s.title.startsWith("Metric"))!.description).toMatch(/^1 run's .*r1:/)

      // The runs table reads decoded values; one that does not decode shows as missing.
      const rs = [resultWith("r1", { totalBits: "lots" }), resultWith("r2", { totalBits: 2 })]
      const rows = summaryRows(rs, summaryColumns(rs, registry))
      expect(rows.map((r) => r.values[0])).toEqual([undefined, 2])
    })
  )
})
