/**
 * The table of runs printed after `run` (and shown in the report). Core
 * supplies the run, what differs, size and training loss; every other column
 * is declared by a metric plugin (`MetricPlugin.summary`), read from that
 * metric's stored values.
 */
import type { RunResult } from "../contracts.ts"
import type { OutputSchema, SummaryColumn } from "../plugin.ts"
import { decodeOutput } from "../plugin-output.ts"
import type { RegistryShape } from "../registry.ts"
import { configText, differenceLabels, flattenConfig } from "./labels.ts"

/** A metric's summary column, with the metric whose values it reads. */
export interface PlacedColumn {
  readonly metric: string
  readonly column: SummaryColumn<any>
  /** The metric's output Schema: a column reads the values it decodes. */
  readonly output: OutputSchema<unknown> | undefined
}

export interface SummaryRow {
  readonly runId: string
  /** The run named by what differs from the other runs shown ("d=16, N=256"). */
  readonly label: string
  /** The run's whole resolved config, one `path = value` per line. */
  readonly config: string
  readonly params: number
  readonly samples: number
  /** One value per summary column (undefined: the run has none). */
  readonly values: ReadonlyArray<number | undefined>
  readonly loss: number | undefined
}

/** The summary columns of the metrics these runs measured, in the order the runs list their metrics. */
export const summaryColumns = (results: ReadonlyArray<RunResult>, registry: Pick<RegistryShape, "find">): ReadonlyArray<PlacedColumn> => {
  const metrics = new Set<string>()
  for (const r of results) for (const name of Object.keys(r.metrics)) metrics.add(name)
  return [...metrics].flatMap((metric) => {
    const plugin = registry.find("metric", metric)
    return (plugin?.summary ?? []).map((column) => ({ metric, column, output: plugin?.output }))
  })
}

const finite = (v: number | undefined): number | undefined => (v !== undefined && Number.isFinite(v) ? v : undefined)

export const summaryRows = (results: ReadonlyArray<RunResult>, columns: ReadonlyArray<PlacedColumn>): ReadonlyArray<SummaryRow> => {
  const labels = differenceLabels(
    results.map((r) => flattenConfig(r.config)),
    ""
  )
  return results
    .map((r, i) => ({
      runId: r.runId,
      label: labels[i]!,
      config: configText(r.config),
      params: r.model.paramCount,
      samples: r.dataset.trainCount,
      values: columns.map(({ metric, column, output }) => {
        const stored = r.metrics[metric]
        if (stored === undefined) return undefined
        // Values that do not decode show as "—" here; the report names them (write.ts).
        const decoded = decodeOutput(output, stored)
        return decoded.ok ? finite(column.value(decoded.value, r)) : undefined
      }),
      loss: r.train?.finalLoss
    }))
    .sort((a, b) => a.params - b.params || a.samples - b.samples || a.label.localeCompare(b.label))
}

const fixed = (v: number | undefined, digits: number) => (v === undefined ? "—" : digits === 0 ? String(Math.round(v)) : v.toFixed(digits))

export const summaryHeader = (columns: ReadonlyArray<PlacedColumn>): ReadonlyArray<string> => [
  "run",
  "label (what differs)",
  "params",
  "samples",
  ...columns.map((c) => c.column.header),
  "train loss"
]

export const summaryCells = (r: SummaryRow, columns: ReadonlyArray<PlacedColumn>): ReadonlyArray<string> => [
  r.runId,
  r.label || "—",
  String(r.params),
  String(r.samples),
  ...columns.map((c, i) => fixed(r.values[i], c.column.digits)),
  fixed(r.loss, 4)
]

/** One run's summary values as `header value` pairs, for the line printed when it finishes. */
export const summaryPairs = (result: RunResult, registry: Pick<RegistryShape, "find">): ReadonlyArray<string> => {
  const columns = summaryColumns([result], registry)
  const row = summaryRows([result], columns)[0]!
  return columns.flatMap((c, i) => (row.values[i] === undefined ? [] : [`${c.column.header} ${fixed(row.values[i], c.column.digits)}`]))
}

/** A plain-text table for the terminal. */
export const resultsTable = (results: ReadonlyArray<RunResult>, registry: Pick<RegistryShape, "find">): string => {
  if (results.length === 0) return "no complete runs"
  const columns = summaryColumns(results, registry)
  const header = summaryHeader(columns)
  const rows = [header, ...summaryRows(results, columns).map((r) => summaryCells(r, columns))]
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows
    .map((r, n) => {
      const line = r.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ")
      return n === 0 ? `${line}\n${widths.map((w) => "-".repeat(w)).join("  ")}` : line
    })
    .join("\n")
}
