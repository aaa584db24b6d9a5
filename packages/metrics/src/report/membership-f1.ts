/** Report of the membership-F1 law: measured F1 against the feature, with the fitted curve. */
import type { Json, LawFit, ReportSection, RunResult } from "@memorize/core"
import { f1OfFeature, type F1Constants } from "../laws/f1-law.ts"

const SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"

export const membershipF1Report = (fit: LawFit, _results: ReadonlyArray<RunResult>): ReadonlyArray<ReportSection> => {
  const points = (fit["points"] ?? []) as unknown as ReadonlyArray<{ x: number; f1: number; runId: string }>
  const c = fit["constants"] as unknown as F1Constants | undefined
  if (c === undefined || points.length === 0) return []
  const heldOut = fit["heldOut"] as unknown as { path: string; values: ReadonlyArray<Json>; n: number; rmse: number | null; meanAbsError: number | null; points: ReadonlyArray<{ x: number; f1: number; predicted: number; runId: string; paramCount: number; trainCount: number }> } | null | undefined
  const held = heldOut?.points ?? []
  const xs = [...points, ...held].map((p) => p.x)
  const lo = Math.min(...xs)
  const hi = Math.max(...xs)
  const curve: Array<Json> = Array.from({ length: 101 }, (_, i) => {
    const x = lo + ((hi - lo) * i) / 100
    return { x, f1: f1OfFeature(c, x) }
  })
  const xTitle = fit["feature"] === "samplesPerParameter" ? "|D| / P (sequences per parameter)" : "Capacity / |D| (bits per sequence)"
  const se = fit["stdErrors"] as unknown as F1Constants | null
  return [
    {
      title: "Membership inference F1 vs " + (fit["feature"] === "samplesPerParameter" ? "|D|/P" : "Capacity/|D|"),
      description: `Fitted law: F1 = ½(1 + c1·σ(c2·(x + c3))), c1 = ${c.c1.toPrecision(4)}, c2 = ${c.c2.toPrecision(4)}, c3 = ${c.c3.toPrecision(4)}.`,
      chart: {
        $schema: SCHEMA,
        width: 480,
        height: 300,
        layer: [
          {
            data: { values: [...points.map((p) => ({ x: p.x, f1: p.f1, run: p.runId, set: "fitted" })), ...held.map((p) => ({ x: p.x, f1: p.f1, run: p.runId, set: "held out" }))] },
            mark: { type: "point", filled: true },
            encoding: {
              x: { field: "x", type: "quantitative", title: xTitle },
              y: { field: "f1", type: "quantitative", title: "F1", scale: { domain: [0.4, 1] } },
              shape: { field: "set", type: "nominal" }
            }
          },
          { data: { values: curve }, mark: { type: "line", color: "firebrick" }, encoding: { x: { field: "x", type: "quantitative" }, y: { field: "f1", type: "quantitative" } } }
        ]
      }
    },
    {
      title: "Membership F1 law constants",
      table: {
        columns: ["constant", "value", "standard error"],
        rows: (["c1", "c2", "c3"] as const).map((k) => [k, c[k], se === null ? null : se[k]])
      }
    },
    ...(heldOut === null || heldOut === undefined ? [] : [{
      title: "Membership F1 law on held-out runs",
      description: `Runs with ${heldOut.path} ∈ ${JSON.stringify(heldOut.values)} were left out of the fit: ${heldOut.n} runs` +
        (heldOut.rmse === null ? "." : `, RMSE ${heldOut.rmse.toFixed(4)}, mean |error| ${heldOut.meanAbsError!.toFixed(4)}.`),
      table: {
        columns: ["run", "params", "|D|", "x", "measured F1", "predicted F1", "error"],
        rows: held.map((p) => [p.runId, p.paramCount, p.trainCount, p.x, p.f1, p.predicted, p.f1 - p.predicted])
      }
    }])
  ]
}
