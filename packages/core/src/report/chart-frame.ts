/**
 * What core adds to every plugin chart (a Vega-Lite spec), whatever it
 * shows: legends that are never cut off (Vega-Lite truncates labels at
 * 160px by default, which made every legend unreadable), tooltips with the
 * datum's values, and series toggles (click a legend entry to pick series;
 * double-click clears). Pure JSON → JSON.
 */
import type { Json } from "../contracts.ts"

type Obj = { readonly [k: string]: Json }
const isObj = (v: Json | undefined): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v)

/** The Vega-Lite units of a spec: the top level when it draws, and each layer (recursively). */
const units = (spec: Obj): Array<Obj> => [
  ...(spec["mark"] !== undefined ? [spec] : []),
  ...(Array.isArray(spec["layer"]) ? (spec["layer"] as ReadonlyArray<Json>).filter(isObj).flatMap(units) : [])
]

/** The field a unit's colour encodes (its series), if any. */
export const seriesField = (unit: Obj): string | undefined => {
  const enc = unit["encoding"]
  const color = isObj(enc) ? enc["color"] : undefined
  return isObj(color) && typeof color["field"] === "string" ? color["field"] : undefined
}

const dataOf = (unit: Obj, inherited: ReadonlyArray<Json>): ReadonlyArray<Json> => {
  const d = unit["data"]
  return isObj(d) && Array.isArray(d["values"]) ? (d["values"] as ReadonlyArray<Json>) : inherited
}

/** Channels whose nominal values a legend lists. */
const LEGEND_CHANNELS = ["color", "strokeDash", "shape"] as const

const legendFields = (unit: Obj): Array<string> => {
  const enc = unit["encoding"]
  if (!isObj(enc)) return []
  return LEGEND_CHANNELS.flatMap((ch) => {
    const c = enc[ch]
    return isObj(c) && typeof c["field"] === "string" && c["legend"] !== null ? [c["field"]] : []
  })
}

/** Every entry the chart's legends will show (colour, dash and shape values), in order of appearance. */
export const seriesNames = (spec: Obj): Array<string> => {
  const out: Array<string> = []
  const walk = (node: Obj, inherited: ReadonlyArray<Json>) => {
    const data = dataOf(node, inherited)
    const fields = node["mark"] !== undefined ? legendFields(node) : []
    for (const f of fields) for (const row of data) if (isObj(row) && row[f] !== undefined && row[f] !== null) out.push(String(row[f]))
    if (Array.isArray(node["layer"])) for (const l of node["layer"] as ReadonlyArray<Json>) if (isObj(l)) walk(l, data)
  }
  walk(spec, [])
  return [...new Set(out)]
}

export const SERIES_PARAM = "series"

/** Numbers inside names compare as numbers: "d=8" < "d=16". */
export const naturalOrder = (xs: ReadonlyArray<string>): Array<string> => [...new Set(xs)].sort((a, b) => a.localeCompare(b, "en", { numeric: true }))

/** Every value of `field` in the chart's data (any unit). */
const valuesOf = (spec: Obj, field: string): Array<string> => {
  const out: Array<string> = []
  const walk = (node: Obj) => {
    const d = node["data"]
    if (isObj(d) && Array.isArray(d["values"]))
      for (const row of d["values"] as ReadonlyArray<Json>) if (isObj(row) && row[field] !== undefined && row[field] !== null) out.push(String(row[field]))
    if (Array.isArray(node["layer"])) for (const l of node["layer"] as ReadonlyArray<Json>) if (isObj(l)) walk(l)
  }
  walk(spec)
  return out
}

const withUnitExtras = (unit: Obj, field: string | undefined, owner: boolean, names: ReadonlyArray<string>): Obj => {
  const mark = typeof unit["mark"] === "string" ? { type: unit["mark"] } : (unit["mark"] as Obj)
  // Reference lines and labels (no series of their own) keep their own tooltips, if any.
  const tooltip = mark["tooltip"] ?? (field !== undefined || mark["type"] === "point" ? { content: "data" } : undefined)
  const enc0 = (unit["encoding"] ?? {}) as Obj
  const color = enc0["color"]
  // Series in natural order (d=8 before d=16), unless the plugin set an order.
  const enc: Obj =
    field !== undefined && isObj(color) && color["sort"] === undefined && !(isObj(color["scale"]) && color["scale"]["domain"] !== undefined) && names.length > 0
      ? { ...enc0, color: { ...color, sort: [...names] } }
      : enc0
  const encoding =
    field === undefined || enc["opacity"] !== undefined ? enc : { ...enc, opacity: { condition: { param: SERIES_PARAM, value: 1 }, value: 0.12 } }
  return {
    ...unit,
    mark: tooltip === undefined ? mark : { ...mark, tooltip },
    encoding,
    ...(owner
      ? {
          params: [
            ...((unit["params"] as ReadonlyArray<Json>) ?? []),
            { name: SERIES_PARAM, select: { type: "point", fields: [field!], toggle: "true" }, bind: "legend" }
          ]
        }
      : {})
  }
}

/** The plugin's spec with core's legend, tooltip and series-toggle additions. */
export const frameChart = (spec: Obj): Obj => {
  // The toggle is defined once, on the first unit with a series; other units with
  // the same series field follow it.
  const first = units(spec).find((u) => seriesField(u) !== undefined)
  const field = first === undefined ? undefined : seriesField(first)
  let owned = false
  const colorNames = field === undefined ? [] : naturalOrder(valuesOf(spec, field))
  const rewrite = (node: Obj): Obj => {
    let out: Obj = node
    if (node["mark"] !== undefined) {
      const f = seriesField(node)
      const follows = f !== undefined && f === field
      const owner = follows && !owned
      if (owner) owned = true
      out = withUnitExtras(node, follows ? f : undefined, owner, colorNames)
    }
    if (Array.isArray(node["layer"])) out = { ...out, layer: (node["layer"] as ReadonlyArray<Json>).map((l) => (isObj(l) ? rewrite(l) : l)) }
    return out
  }
  const framed = rewrite(spec)
  const config = isObj(spec["config"]) ? spec["config"] : {}
  return {
    width: 520,
    height: 300,
    ...framed,
    config: {
      ...config,
      // labelLimit 0: no truncation; below the plot, in columns, so long names wrap into rows.
      legend: {
        labelLimit: 0,
        titleLimit: 0,
        orient: "bottom",
        direction: "horizontal",
        columns: 2,
        symbolLimit: 0,
        ...(isObj(config["legend"]) ? config["legend"] : {})
      },
      axis: { labelLimit: 0, titleLimit: 0, ...(isObj(config["axis"]) ? config["axis"] : {}) },
      title: { limit: 0, ...(isObj(config["title"]) ? config["title"] : {}) }
    }
  }
}
