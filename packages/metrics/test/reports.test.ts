import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import fc from "fast-check"
import { atPath, decodeOutput, encodeOutput, type Json, type OutputSchema, type ReportSection } from "@memorize/core"
import { plugins } from "../src/index.ts"
import { capacityRunsArb } from "../src/testing/index.ts"

/** Every (data, encoding) pair of a Vega-Lite spec, top level and layers. */
const views = (spec: any, inherited?: any): Array<{ values: Array<any>; encoding: any }> => {
  const data = spec.data?.values ?? inherited
  const here = spec.encoding !== undefined && data !== undefined ? [{ values: data, encoding: spec.encoding }] : []
  return [...here, ...(spec.layer ?? []).flatMap((l: any) => views(l, data))]
}

const hasNaN = (v: Json): boolean =>
  typeof v === "number" ? !Number.isFinite(v) : Array.isArray(v) ? v.some(hasNaN) : v !== null && typeof v === "object" ? Object.values(v).some(hasNaN) : false

describe("report sections", () => {
  it.effect("charts carry inline data with every encoded field; tables are rectangular; all finite JSON", () =>
    Effect.gen(function* () {
      const results = fc.sample(capacityRunsArb, { numRuns: 1, seed: 3 })[0]
      const sections: Array<ReportSection> = []
      let sourcedFacts = 0
      for (const p of plugins) {
        if (p.kind === "metric" && p.report !== undefined) sections.push(...p.report(results))
        if (p.kind === "law") {
          const config = Schema.decodeUnknownSync(p.config as Schema.Codec<unknown, unknown>)({})
          const made = yield* (p.make as (c: unknown) => (r: typeof results) => Effect.Effect<unknown, Error>)(config)(results)
          // As core does: stored as JSON by the law's output Schema, decoded by it for the report.
          const output = p.output as OutputSchema<unknown> | undefined
          const stored = encodeOutput(output, made)
          if (!stored.ok) throw new Error(`${p.name}: ${stored.problem}`)
          const decoded = decodeOutput(output, stored.stored)
          if (!decoded.ok) throw new Error(`${p.name}: ${decoded.problem}`)
          const fit = stored.stored
          const own = (p.report as ((f: unknown, r: typeof results) => ReadonlyArray<ReportSection>) | undefined)?.(decoded.value, results) ?? []
          // A headline value that names where it is stored in the fit is that stored value.
          for (const f of own.flatMap((s) => s.headline?.facts ?? [])) {
            if (f.source === undefined) continue
            sourcedFacts++
            expect(atPath(fit, f.source), `${p.name}: ${f.label}`).toBe(f.value)
          }
          sections.push(...own)
        }
      }
      expect(sourcedFacts).toBeGreaterThanOrEqual(3)
      expect(sections.length).toBeGreaterThanOrEqual(10)
      for (const s of sections) {
        expect(s.chart !== undefined || s.table !== undefined || s.headline !== undefined, s.title).toBe(true)
        if (s.chart !== undefined) {
          expect(hasNaN(s.chart), s.title).toBe(false)
          const vs = views(s.chart)
          expect(vs.length, s.title).toBeGreaterThan(0)
          for (const v of vs) {
            expect(v.values.length, s.title).toBeGreaterThan(0)
            for (const ch of Object.values(v.encoding) as Array<any>) {
              if (ch?.field === undefined) continue
              for (const row of v.values) expect(row, `${s.title}: ${ch.field}`).toHaveProperty(ch.field)
            }
          }
        }
        if (s.table !== undefined) {
          for (const row of s.table.rows) expect(row.length, s.title).toBe(s.table.columns.length)
        }
      }
    })
  )
})
