/**
 * Report sections of the metric plugins, drawn from all runs' values:
 * Vega-Lite specs with inline data, and tables. Runs without the metric are
 * left out.
 */
import type { Json, ReportSection, RunResult } from "@memorize/core"
import { at, groupLabel } from "../laws/results.ts"

const SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"

const lineChart = (values: ReadonlyArray<Json>, y: string, yTitle: string, color: string): { readonly [k: string]: Json } => ({
  $schema: SCHEMA,
  width: 480,
  height: 300,
  data: { values: values as Array<Json> },
  mark: { type: "line", point: true },
  encoding: {
    x: { field: "trainCount", type: "quantitative", scale: { type: "log" }, title: "training sequences" },
    y: { field: y, type: "quantitative", title: yTitle, aggregate: "mean" },
    color: { field: color, type: "nominal" }
  }
})

const num = (v: Json | undefined): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null)

export const memorizationReport = (results: ReadonlyArray<RunResult>): ReadonlyArray<ReportSection> => {
  const values = results.flatMap((r) => {
    const m = r.metrics["memorization"] as Json | undefined
    if (m === undefined) return []
    const rows: Array<Json> = [{ trainCount: r.dataset.trainCount, series: `${groupLabel(r)} · members`, meanBits: num(at(m, "meanBits")) }]
    const h = num(at(m, "holdout.meanBits"))
    if (h !== null) rows.push({ trainCount: r.dataset.trainCount, series: `${groupLabel(r)} · holdout`, meanBits: h })
    return rows
  })
  if (values.length === 0) return []
  return [{
    title: "Memorization per sample: members vs holdout",
    description: "Mean (unintended) memorization in bits per sequence; the holdout curve is the generalization baseline.",
    chart: lineChart(values, "meanBits", "bits per sequence", "series")
  }]
}

export const membershipReport = (results: ReadonlyArray<RunResult>): ReadonlyArray<ReportSection> => {
  const values = results.flatMap((r) => {
    const m = r.metrics["membership-inference"] as Json | undefined
    if (m === undefined) return []
    return (["f1Best", "f1Calibrated", "auc"] as const).flatMap((k) => {
      const v = num(at(m, k))
      return v === null ? [] : [{ trainCount: r.dataset.trainCount, series: `${groupLabel(r)} · ${k}`, value: v }]
    })
  })
  if (values.length === 0) return []
  return [
    { title: "Membership inference vs dataset size", chart: lineChart(values, "value", "F1 / AUC", "series") },
    {
      title: "Membership inference per run",
      table: {
        columns: ["run", "model", "training sequences", "F1 (best)", "F1 (calibrated)", "AUC", "TPR@1%FPR", "TPR@0.1%FPR", "members"],
        rows: results.filter((r) => r.metrics["membership-inference"] !== undefined).map((r) => {
          const m = r.metrics["membership-inference"] as Json
          return [r.runId, groupLabel(r), r.dataset.trainCount, ...(["f1Best", "f1Calibrated", "auc", "tprAt1pctFpr", "tprAt0p1pctFpr", "members"].map((k) => num(at(m, k))))]
        })
      }
    }
  ]
}

export const extractionReport = (results: ReadonlyArray<RunResult>): ReadonlyArray<ReportSection> => {
  const values = results.flatMap((r) => {
    const m = r.metrics["extraction"] as Json | undefined
    if (m === undefined) return []
    const rows: Array<Json> = []
    for (const set of ["trainRate", "holdoutRate"] as const) {
      const rates = at(m, set)
      if (rates === null || rates === undefined || typeof rates !== "object" || Array.isArray(rates)) continue
      for (const [k, v] of Object.entries(rates as { readonly [k: string]: Json })) {
        rows.push({ trainCount: r.dataset.trainCount, series: `${set === "trainRate" ? "train" : "holdout"} · prefix ${k}`, rate: num(v) })
      }
    }
    return rows
  })
  if (values.length === 0) return []
  return [{ title: "Extraction rate (exact suffix match)", chart: lineChart(values, "rate", "exact-match rate", "series") }]
}

export const rarityReport = (results: ReadonlyArray<RunResult>): ReadonlyArray<ReportSection> => {
  const rows = results.filter((r) => r.metrics["rarity"] !== undefined).map((r) => {
    const m = r.metrics["rarity"] as Json
    return [r.runId, groupLabel(r), r.dataset.trainCount, num(at(m, "pearson")), num(at(m, "spearman"))] as Array<Json>
  })
  if (rows.length === 0) return []
  return [{ title: "Rarity (TF-IDF) vs memorization", table: { columns: ["run", "model", "training sequences", "Pearson", "Spearman"], rows } }]
}

export const lossReport = (results: ReadonlyArray<RunResult>): ReadonlyArray<ReportSection> => {
  const values = results.flatMap((r) => {
    const m = r.metrics["loss"] as Json | undefined
    if (m === undefined) return []
    return (["train", "holdout"] as const).flatMap((k) => {
      const v = num(at(m, `${k}.meanNatsPerToken`))
      return v === null ? [] : [{ trainCount: r.dataset.trainCount, series: `${groupLabel(r)} · ${k}`, loss: v }]
    })
  })
  if (values.length === 0) return []
  return [{ title: "Train and test loss vs dataset size", chart: lineChart(values, "loss", "loss (nats/token)", "series") }]
}
