/** The short table of runs printed after `run` (and at the top of report.md). */
import type { Json, RunResult } from "../contracts.ts"
import { configText, differenceLabels, flattenConfig } from "./labels.ts"

export interface SummaryRow {
  readonly runId: string
  /** The run named by what differs from the other runs shown ("d=16, N=256"). */
  readonly label: string
  /** The run's whole resolved config, one `path = value` per line. */
  readonly config: string
  readonly params: number
  readonly samples: number
  readonly memorizedBits: number | undefined
  readonly bitsPerParam: number | undefined
  readonly mia: number | undefined
  readonly loss: number | undefined
}

const num = (v: Json | undefined): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined)

export const summaryRows = (results: ReadonlyArray<RunResult>): ReadonlyArray<SummaryRow> => {
  const labels = differenceLabels(results.map((r) => flattenConfig(r.config)), "")
  return results.map((r, i) => {
    const mem = r.metrics["memorization"] as { [k: string]: Json } | undefined
    const mia = r.metrics["membership-inference"] as { [k: string]: Json } | undefined
    const total = num(mem?.["totalBits"])
    return {
      runId: r.runId,
      label: labels[i]!,
      config: configText(r.config),
      params: r.model.paramCount,
      samples: r.dataset.trainCount,
      memorizedBits: total,
      bitsPerParam: total === undefined ? undefined : total / r.model.paramCount,
      mia: num(mia?.["f1Best"]),
      loss: r.train?.finalLoss
    }
  }).sort((a, b) => a.params - b.params || a.samples - b.samples || a.label.localeCompare(b.label))
}

const f = (v: number | undefined, digits: number) => (v === undefined ? "—" : v.toFixed(digits))

export const summaryHeader = ["run", "label (what differs)", "params", "samples", "memorized bits", "bits/param", "MIA F1", "train loss"] as const

export const summaryCells = (r: SummaryRow): ReadonlyArray<string> => [
  r.runId, r.label || "—", String(r.params), String(r.samples),
  r.memorizedBits === undefined ? "—" : String(Math.round(r.memorizedBits)), f(r.bitsPerParam, 3), f(r.mia, 3), f(r.loss, 4)
]

/** A plain-text table for the terminal. */
export const resultsTable = (results: ReadonlyArray<RunResult>): string => {
  if (results.length === 0) return "no complete runs"
  const rows = [summaryHeader as ReadonlyArray<string>, ...summaryRows(results).map(summaryCells)]
  const widths = summaryHeader.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r, n) => {
    const line = r.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ")
    return n === 0 ? `${line}\n${widths.map((w) => "-".repeat(w)).join("  ")}` : line
  }).join("\n")
}
