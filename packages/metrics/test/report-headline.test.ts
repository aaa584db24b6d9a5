/**
 * The report's answers from the law plugins: α per precision when both ran,
 * each headline value being the stored one, and models named by what
 * differs between them.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { atPath, type Json, type RunResult } from "@memorize/core"
import { CapacityConfig, fitCapacity } from "../src/laws/capacity.ts"
import { capacityReport } from "../src/report/capacity.ts"
import { regimeNote } from "../src/report/paper.ts"
import { capacityRunsArb } from "../src/testing/index.ts"
import { Schema } from "effect"

const config = Schema.decodeUnknownSync(CapacityConfig)({})

/** The same runs in another precision (as an fp32 twin of each bf16 run). */
const inPrecision = (r: RunResult, precision: string): RunResult => ({
  ...r,
  runId: `${r.runId}-${precision}`,
  config: { ...r.config, train: { ...(r.config["train"] as { readonly [k: string]: Json }), precision } },
  model: { ...r.model, precision }
})

describe("capacity headline", () => {
  it("with both precisions: α per precision, each equal to the fit over that precision's runs alone", () =>
    fc.assert(
      fc.property(
        capacityRunsArb.filter((rs) => new Set(rs.map((r) => r.model.paramCount)).size >= 2),
        (runs) => {
          const both = [...runs, ...runs.map((r) => inPrecision(r, "fp32"))]
          const fit = Effect.runSync(fitCapacity(config)(both))
          const alone = Effect.runSync(fitCapacity(config)(runs))
          const byPrecision = fit["byPrecision"] as { readonly [p: string]: { readonly linear: Json } }
          expect(Object.keys(byPrecision).sort()).toEqual(["bf16", "fp32"])
          expect(byPrecision["bf16"]!.linear).toEqual(alone["linear"])
          expect(byPrecision["fp32"]!.linear).toEqual(alone["linear"])
          // One precision: no per-precision split.
          expect(alone["byPrecision"]).toBeNull()
          const facts = capacityReport(fit, both).flatMap((s) => s.headline?.facts ?? [])
          expect(facts.map((f) => f.source)).toEqual(expect.arrayContaining(["linear.alpha", "byPrecision.bf16.linear.alpha", "byPrecision.fp32.linear.alpha"]))
          for (const f of facts) if (f.source !== undefined) expect(atPath(fit, f.source), f.label).toBe(f.value)
          expect(facts.find((f) => f.source === "byPrecision.bf16.linear.alpha")!.paper).toMatch(/3\.51/)
        }
      ),
      { numRuns: 25 }
    ))

  it("models are named by what differs between them, one distinct name each", () =>
    fc.assert(
      fc.property(capacityRunsArb, (runs) => {
        const fit = Effect.runSync(fitCapacity(config)(runs))
        const table = capacityReport(fit, runs).find((s) => s.title === "Capacity per model")!.table!
        const names = table.rows.map((r) => r[0] as string)
        expect(new Set(names).size).toBe(names.length)
        // The fixtures differ only in the model's width: the names say just that.
        for (const n of names) expect(n).toMatch(names.length === 1 ? /^all models$/ : /^width=\d+$/)
        expect(table.rowTitles).toHaveLength(names.length)
        for (const t of table.rowTitles!) expect(t).toMatch(/^model\.width = \d+$/m)
      }),
      { numRuns: 25 }
    ))

  it("the regime line appears only outside the paper's regime", () => {
    const [runs] = fc.sample(capacityRunsArb, { numRuns: 1, seed: 7 })
    // The fixtures have V = 2048 and S = 64 with ≥ 1,000 parameters: only size and steps can be off.
    const small = runs!.map((r) => ({ ...r, model: { ...r.model, paramCount: 500 } }))
    expect(regimeNote(small)).toMatch(/below the paper's smallest/)
    const paperSized = runs!.map((r) => ({
      ...r,
      model: { ...r.model, paramCount: 1e6 },
      train: { steps: 1e6, finalLoss: 0, stopReason: "maxSteps", wallMs: 0, tokensPerSecond: 0 }
    }))
    expect(regimeNote(paperSized)).toBeUndefined()
  })
})
