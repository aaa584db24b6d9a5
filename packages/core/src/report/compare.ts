/**
 * Several experiments on the same axes. Each experiment's plugins make their
 * sections as usual; sections with the same source and title are then merged:
 * chart data are concatenated with the experiment in the series name (a
 * chart's series is its colour field), tables get an experiment column.
 * Layers without a series (a fit line, a reference line) are kept once when
 * every experiment drew the same, else split by experiment. Rows marked
 * `reference: true` (a published value, the same whatever was run) keep
 * their series name and are drawn once.
 */
import type { Json } from "../contracts.ts"
import type { ReportSection } from "../plugin.ts"
import { seriesField } from "./chart-frame.ts"

export type SourcedSection = ReportSection & { readonly source: string }

type Obj = { readonly [k: string]: Json }
const isObj = (v: Json | undefined): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v)

export const EXPERIMENT_FIELD = "experiment"

const valuesOf = (node: Obj): ReadonlyArray<Json> | undefined => {
  const d = node["data"]
  return isObj(d) && Array.isArray(d["values"]) ? (d["values"] as ReadonlyArray<Json>) : undefined
}

/** The series field that governs a node: its own colour field, else the first of its layers'. */
const governingField = (node: Obj): string | undefined => {
  if (node["mark"] !== undefined) return seriesField(node)
  const layers = Array.isArray(node["layer"]) ? (node["layer"] as ReadonlyArray<Json>).filter(isObj) : []
  for (const l of layers) {
    const f = governingField(l)
    if (f !== undefined) return f
  }
  return undefined
}

const detailField = (unit: Obj): string | undefined => {
  const enc = unit["encoding"]
  const d = isObj(enc) ? enc["detail"] : undefined
  return isObj(d) && typeof d["field"] === "string" ? d["field"] : undefined
}

/** Marks a row that belongs to no experiment (a published reference). */
export const REFERENCE_FIELD = "reference"

const isReference = (row: Json): boolean => isObj(row) && row[REFERENCE_FIELD] === true

const tagRows = (rows: ReadonlyArray<Json>, experiment: string, field: string | undefined): Array<Json> =>
  rows.map((row) => {
    if (!isObj(row) || isReference(row)) return row
    const tagged: { [k: string]: Json } = { ...row, [EXPERIMENT_FIELD]: experiment }
    if (field !== undefined && row[field] !== undefined && row[field] !== null) tagged[field] = `${experiment} · ${String(row[field])}`
    return tagged
  })

/**
 * Merges the same chart drawn from several experiments (`specs[i]` from
 * `experiments[i]`). The first spec is the template: its structure is kept,
 * its data replaced by everyone's.
 */
export const mergeCharts = (experiments: ReadonlyArray<string>, specs: ReadonlyArray<Obj>): Obj => {
  const merge = (nodes: ReadonlyArray<Obj>, inheritedField: string | undefined): Obj => {
    const template = nodes[0]!
    const field = governingField(template) ?? inheritedField
    const out: { [k: string]: Json } = { ...template }
    const own = nodes.map(valuesOf)
    if (own[0] !== undefined) {
      const rowsOf = (i: number) => own[i] ?? []
      const series = template["mark"] !== undefined ? seriesField(template) : field
      if (series !== undefined) {
        const seen = new Set<string>()
        const rows = nodes
          .flatMap((_, i) => tagRows(rowsOf(i), experiments[i]!, series))
          .filter((row) => {
            if (!isReference(row)) return true
            const k = JSON.stringify(row)
            if (seen.has(k)) return false
            seen.add(k)
            return true
          })
        out["data"] = { values: rows }
      } else if (nodes.every((_, i) => JSON.stringify(rowsOf(i)) === JSON.stringify(rowsOf(0)))) {
        out["data"] = { values: rowsOf(0) as Array<Json> }
      } else if (nodes.every((_, i) => rowsOf(i).every(isReference))) {
        // A published reference drawn over each experiment's range: a line over all of them,
        // a text label once (where the first experiment put it).
        const mark = template["mark"]
        const text = mark === "text" || (isObj(mark) && mark["type"] === "text")
        const all = text ? rowsOf(0) : nodes.flatMap((_, i) => rowsOf(i))
        out["data"] = { values: [...new Map(all.map((r) => [JSON.stringify(r), r])).values()] }
      } else if (template["mark"] !== undefined && detailField(template) !== undefined) {
        // Lines told apart by `detail` (a reference per group) stay styled alike, one per experiment and group.
        out["data"] = { values: nodes.flatMap((_, i) => tagRows(rowsOf(i), experiments[i]!, detailField(template))) }
      } else if (template["mark"] !== undefined) {
        // One unseriesed layer per experiment would be indistinguishable: colour it by experiment.
        out["data"] = { values: nodes.flatMap((_, i) => tagRows(rowsOf(i), experiments[i]!, undefined)) }
        const enc = isObj(template["encoding"]) ? template["encoding"] : {}
        out["encoding"] = { ...enc, color: { field: EXPERIMENT_FIELD, type: "nominal", title: "experiment" } }
      } else {
        out["data"] = { values: nodes.flatMap((_, i) => tagRows(rowsOf(i), experiments[i]!, undefined)) }
      }
    }
    if (Array.isArray(template["layer"])) {
      const layers = template["layer"] as ReadonlyArray<Json>
      out["layer"] = layers.map((l, j) => {
        if (!isObj(l)) return l
        const peers = nodes.map((n) => (Array.isArray(n["layer"]) ? (n["layer"] as ReadonlyArray<Json>)[j] : undefined))
        return merge(
          peers.map((p) => (isObj(p) ? p : l)),
          field
        )
      })
    }
    return out
  }
  return merge(specs, undefined)
}

/** Sections of several experiments, merged by (source, title) in first-seen order. */
export const mergeSections = (
  perExperiment: ReadonlyArray<{ readonly label: string; readonly sections: ReadonlyArray<SourcedSection> }>
): Array<SourcedSection> => {
  if (perExperiment.length === 1) return [...perExperiment[0]!.sections]
  const order: Array<string> = []
  const byKey = new Map<string, Array<{ label: string; section: SourcedSection }>>()
  for (const e of perExperiment) {
    for (const s of e.sections) {
      // Headline-only sections live in each experiment's headline block.
      if (s.chart === undefined && s.table === undefined && s.headline !== undefined) continue
      const k = `${s.source}\u0000${s.title}`
      if (!byKey.has(k)) order.push(k)
      byKey.set(k, [...(byKey.get(k) ?? []), { label: e.label, section: s }])
    }
  }
  return order.flatMap((k): Array<SourcedSection> => {
    const parts = byKey.get(k)!
    const first = parts[0]!.section
    const labels = parts.map((p) => p.label)
    const missing = perExperiment.map((e) => e.label).filter((l) => !labels.includes(l))
    const texts = parts.filter((p) => p.section.description)
    // The same words from every experiment are said once; differing ones are attributed.
    const descriptions =
      texts.length > 0 && texts.every((p) => p.section.description === texts[0]!.section.description)
        ? [texts[0]!.section.description!]
        : texts.map((p) => `${p.label}: ${p.section.description}`)
    const description = [...(descriptions.length > 0 ? [descriptions.join(" — ")] : []), ...(missing.length > 0 ? [`Not in ${missing.join(", ")}.`] : [])].join(
      " "
    )
    const charts = parts.filter((p) => p.section.chart !== undefined)
    const tables = parts.filter((p) => p.section.table !== undefined)
    const sameColumns = tables.every((t) => JSON.stringify(t.section.table!.columns) === JSON.stringify(tables[0]!.section.table!.columns))
    // Tables of different shapes cannot share columns: each experiment keeps its own section.
    if (!sameColumns) return parts.map((p) => ({ ...p.section, title: `${p.section.title} (${p.label})` }))
    const table =
      tables.length === 0
        ? undefined
        : {
            columns: [EXPERIMENT_FIELD, ...tables[0]!.section.table!.columns],
            rows: tables.flatMap((t) => t.section.table!.rows.map((r) => [t.label, ...r])),
            rowTitles: tables.flatMap((t) => t.section.table!.rows.map((_, i) => t.section.table!.rowTitles?.[i] ?? ""))
          }
    return [
      {
        source: first.source,
        title: first.title,
        ...(description ? { description } : {}),
        ...(charts.length > 0
          ? {
              chart: mergeCharts(
                charts.map((c) => c.label),
                charts.map((c) => c.section.chart!)
              )
            }
          : {}),
        ...(table !== undefined ? { table } : {})
      }
    ]
  })
}
