/**
 * Report sections of the capacity law: Vega-Lite specs with inline data.
 * Core renders them; only JSON is produced here.
 */
import type { Json, LawFit, ReportSection, RunResult } from "@memorize/core"
import { at } from "../laws/results.ts"

const SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"

interface GroupView {
  readonly label: string
  readonly paramCount: number
  readonly capacityBits: number
  readonly bitsPerParameter: number
  readonly capacitySource: string
  readonly sizes: ReadonlyArray<{ readonly trainCount: number; readonly datasetBits: number | null; readonly meanBits: number; readonly sdBits: number | null; readonly n: number }>
  readonly perSeed: { readonly stdError: number | null } | null
}

export const capacityReport = (fit: LawFit, _results: ReadonlyArray<RunResult>): ReadonlyArray<ReportSection> => {
  const groups = (fit["groups"] ?? []) as unknown as ReadonlyArray<GroupView>
  const sizePoints: Array<Json> = []
  const plateau: Array<Json> = []
  for (const g of groups) {
    for (const s of g.sizes) sizePoints.push({ model: g.label, trainCount: s.trainCount, memorizedBits: s.meanBits, sd: s.sdBits, datasetBits: s.datasetBits })
    const ns = g.sizes.map((s) => s.trainCount)
    plateau.push({ model: g.label, trainCount: Math.min(...ns), capacityBits: g.capacityBits }, { model: g.label, trainCount: Math.max(...ns), capacityBits: g.capacityBits })
  }
  const sections: Array<ReportSection> = [
    {
      title: "Memorization vs dataset size",
      description: "Total memorization (mean over seeds) for each model; dashed lines: the capacity plateau.",
      chart: {
        $schema: SCHEMA,
        width: 480,
        height: 300,
        layer: [
          {
            data: { values: sizePoints },
            mark: { type: "line", point: true },
            encoding: {
              x: { field: "trainCount", type: "quantitative", scale: { type: "log" }, title: "training sequences" },
              y: { field: "memorizedBits", type: "quantitative", title: "memorized bits" },
              color: { field: "model", type: "nominal" }
            }
          },
          {
            data: { values: plateau },
            mark: { type: "line", strokeDash: [4, 4] },
            encoding: {
              x: { field: "trainCount", type: "quantitative" },
              y: { field: "capacityBits", type: "quantitative" },
              color: { field: "model", type: "nominal" }
            }
          }
        ]
      }
    }
  ]
  const linear = fit["linear"] as { alpha: number; intercept: number } | null
  const capPoints = groups.map((g) => ({ model: g.label, params: g.paramCount, capacityBits: g.capacityBits }))
  const ps = groups.map((g) => g.paramCount)
  const layers: Array<Json> = [
    {
      data: { values: capPoints },
      mark: { type: "point", filled: true },
      encoding: {
        x: { field: "params", type: "quantitative", title: "parameters" },
        y: { field: "capacityBits", type: "quantitative", title: "capacity (bits)" },
        tooltip: [{ field: "model" }, { field: "capacityBits" }]
      }
    }
  ]
  if (linear !== null && ps.length > 0) {
    const lo = Math.min(...ps)
    const hi = Math.max(...ps)
    layers.push({
      data: { values: [lo, hi].map((p) => ({ params: p, fit: linear.intercept + linear.alpha * p })) },
      mark: { type: "line", color: "firebrick" },
      encoding: { x: { field: "params", type: "quantitative" }, y: { field: "fit", type: "quantitative" } }
    })
  }
  sections.push({
    title: "Capacity vs parameters",
    description: linear === null ? "One model configuration: no α fit." : `Linear fit: capacity = ${linear.alpha.toFixed(3)}·P + ${linear.intercept.toFixed(1)}`,
    chart: { $schema: SCHEMA, width: 480, height: 300, layer: layers }
  })
  sections.push({
    title: "Capacity per model",
    table: {
      columns: ["model", "params", "capacity (bits)", "bits/param", "source", "SE across seeds"],
      rows: groups.map((g) => [g.label, g.paramCount, g.capacityBits, g.bitsPerParameter, g.capacitySource, (at(g.perSeed as unknown as Json, "stdError") ?? null) as Json])
    }
  })
  const prediction = fit["prediction"] as unknown as PredictionView | null | undefined
  if (prediction !== null && prediction !== undefined && prediction.points.length > 0) {
    // Seed means per (model, dataset size), in the order of the points.
    const rows = new Map<string, { model: string; trainCount: number; datasetBits: number; predictedBits: number; measured: Array<number> }>()
    for (const p of prediction.points) {
      const k = `${p.model}\u0000${p.trainCount}`
      const row = rows.get(k) ?? { model: p.model, trainCount: p.trainCount, datasetBits: p.datasetBits, predictedBits: p.predictedBits, measured: [] }
      row.measured.push(p.measuredBits)
      rows.set(k, row)
    }
    const mae = prediction.meanAbsRelativeError
    sections.push({
      title: "Predicted vs measured memorization",
      description: `Prediction min(N·H, α·P) with α = ${prediction.alpha.toFixed(3)} (${prediction.alphaSource}); mean |relative error| ${(100 * mae).toFixed(1)}%` +
        (prediction.meanAbsRelativeErrorSaturated === null ? "." : `, ${(100 * prediction.meanAbsRelativeErrorSaturated).toFixed(1)}% where N·H > α·P.`),
      chart: {
        $schema: SCHEMA,
        width: 360,
        height: 360,
        data: { values: prediction.points.map((p) => ({ model: p.model, trainCount: p.trainCount, predictedBits: p.predictedBits, measuredBits: p.measuredBits })) },
        mark: { type: "point", filled: true },
        encoding: {
          x: { field: "predictedBits", type: "quantitative", scale: { type: "log" }, title: "predicted min(N·H, α·P) (bits)" },
          y: { field: "measuredBits", type: "quantitative", scale: { type: "log" }, title: "measured memorization (bits)" },
          color: { field: "model", type: "nominal" },
          tooltip: [{ field: "model" }, { field: "trainCount" }, { field: "predictedBits" }, { field: "measuredBits" }]
        }
      },
      table: {
        columns: ["model", "N", "N·H (bits)", "predicted (bits)", "measured (bits, seed mean)", "relative error"],
        rows: [...rows.values()].map((r) => {
          const m = r.measured.reduce((a, b) => a + b, 0) / r.measured.length
          return [r.model, r.trainCount, r.datasetBits, r.predictedBits, m, (m - r.predictedBits) / r.predictedBits]
        })
      }
    })
  }
  return sections
}

interface PredictionView {
  readonly alpha: number
  readonly alphaSource: string
  readonly meanAbsRelativeError: number
  readonly meanAbsRelativeErrorSaturated: number | null
  readonly points: ReadonlyArray<{ readonly model: string; readonly trainCount: number; readonly datasetBits: number; readonly predictedBits: number; readonly measuredBits: number }>
}
