/**
 * The report's generic machinery, as properties: labels from what differs,
 * headline number formatting, chart framing (legends, tooltips, toggles),
 * and merging several experiments onto shared axes.
 */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import type { Json } from "../src/contracts.ts"
import { frameChart, seriesNames, SERIES_PARAM } from "../src/report/chart-frame.ts"
import { mergeCharts } from "../src/report/compare.ts"
import { atPath, formatNumber, formatWithError } from "../src/report/headline.ts"
import { scriptJson } from "../src/report/interactive.ts"
import { configText, differenceLabels, flattenConfig, groupDifferenceLabels, storeLabels } from "../src/report/labels.ts"

const PATHS = ["model.dModel", "model.layers", "dataset.samples", "train.precision", "seed"] as const
// Small domains, so that records differing on a single path are common.
const leaf = fc.oneof(
  { arbitrary: fc.constantFrom(0, 1), weight: 4 },
  { arbitrary: fc.constantFrom("fp32", "bf16"), weight: 1 },
  { arbitrary: fc.constant(undefined), weight: 1 }
)
const record = fc
  .record(Object.fromEntries(PATHS.map((p) => [p, leaf])) as Record<(typeof PATHS)[number], typeof leaf>)
  .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as Record<string, Json>)

const same = (a: Record<string, Json>, b: Record<string, Json>) => PATHS.every((p) => JSON.stringify(a[p]) === JSON.stringify(b[p]))

describe("labels from what differs", () => {
  it("two records share a label exactly when they agree on every path", () =>
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 12 }), (records) => {
        const labels = differenceLabels(records)
        for (let i = 0; i < records.length; i++) {
          for (let j = 0; j < records.length; j++) expect(labels[i] === labels[j]).toBe(same(records[i]!, records[j]!))
        }
      }),
      { numRuns: 300 }
    ))

  it("a label names only what differs, in the paper's notation", () => {
    const runs = [
      { "model.dModel": 8, "model.layers": 1, "dataset.samples": 16, seed: 0 },
      { "model.dModel": 16, "model.layers": 1, "dataset.samples": 256, seed: 1 }
    ]
    expect(differenceLabels(runs)).toEqual(["d=8, N=16, seed 0", "d=16, N=256, seed 1"])
    expect(differenceLabels([runs[0]!, runs[0]!])).toEqual(["all runs", "all runs"])
    expect(differenceLabels([{ "train.precision": "fp32" }, { "train.precision": "bf16" }])).toEqual(["fp32", "bf16"])
  })

  it("groups are named without what varies inside them (dataset size, seed)", () =>
    fc.assert(
      fc.property(
        fc.array(record, { minLength: 1, maxLength: 10 }),
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 10, maxLength: 10 }),
        (records, groupOf) => {
          const items = records.map((r, i) => ({ group: `g${groupOf[i]}`, config: r as Json }))
          const labels = groupDifferenceLabels(items)
          expect(new Set(labels.keys())).toEqual(new Set(items.map((i) => i.group)))
          const varying = PATHS.filter((p) => {
            const byGroup = new Map<string, Set<string>>()
            for (const it of items) byGroup.set(it.group, (byGroup.get(it.group) ?? new Set()).add(JSON.stringify((it.config as Record<string, Json>)[p])))
            return [...byGroup.values()].some((s) => s.size > 1)
          })
          // The symbols of paths that vary inside a group never appear in a group's label.
          const symbol: Record<string, RegExp> = {
            "model.dModel": /\bd=/,
            "model.layers": /\bL=/,
            "dataset.samples": /\bN=/,
            seed: /\bseed\b/,
            "train.precision": /^$/
          }
          for (const p of varying) if (p !== "train.precision") for (const l of labels.values()) expect(l).not.toMatch(symbol[p]!)
        }
      )
    ))

  it("flattening keeps every leaf; the hover text lists each once", () =>
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), (v) => {
        const flat = flattenConfig({ root: v as Json })
        const text = configText({ root: v as Json })
        expect(text.split("\n").filter((l) => l !== "").length).toBe(Object.keys(flat).length)
      })
    ))

  it("store labels tell folders apart with as few trailing segments as needed", () => {
    expect(storeLabels(["/a/runs/fp32", "/a/runs/bf16"])).toEqual(["fp32", "bf16"])
    expect(storeLabels(["/a/runs/quickstart", "/b/runs/quickstart"])).toEqual(["a/runs/quickstart", "b/runs/quickstart"])
  })
})

describe("headline numbers", () => {
  it("a formatted number reads back within its significant digits", () =>
    fc.assert(
      fc.property(
        fc.double({ min: -1e9, max: 1e9, noNaN: true }).filter((x) => x === 0 || Math.abs(x) > 1e-6),
        fc.integer({ min: 2, max: 5 }),
        (x, digits) => {
          const back = Number(formatNumber(x, digits).replace(/,/g, ""))
          expect(Math.abs(back - x)).toBeLessThanOrEqual(Math.abs(x) * 10 ** (1 - digits) + 0.5)
        }
      )
    ))

  it("value ± error: both read back, the error never shown as 0 when it is not", () =>
    fc.assert(
      fc.property(fc.double({ min: 1e-3, max: 1e6, noNaN: true }), fc.double({ min: 1e-6, max: 1e8, noNaN: true }), (v, se) => {
        const [a, b] = formatWithError(v, se).split(" ± ")
        expect(Math.abs(Number(a!.replace(/,/g, "")) - v)).toBeLessThanOrEqual(v * 0.01 + 5e-4)
        expect(Number(b!.replace(/,/g, ""))).toBeGreaterThan(0)
      })
    ))

  it("atPath reads laws.json paths through arrays", () => {
    const laws = { capacity: { groups: [{ capacityBits: 10 }, { capacityBits: 20 }], linear: { alpha: 1.5 } } }
    expect(atPath(laws, "capacity.groups.1.capacityBits")).toBe(20)
    expect(atPath(laws, "capacity.linear.alpha")).toBe(1.5)
    expect(atPath(laws, "capacity.groups.x")).toBeUndefined()
    expect(atPath(laws, "capacity.missing.alpha")).toBeUndefined()
  })

  it("JSON inlined in a script cannot close it, and reads back", () =>
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = scriptJson(v)
        expect(text).not.toMatch(/<\//)
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(v)))
      })
    ))
})

const seriesChart = (rows: ReadonlyArray<{ model: string; x: number; y: number }>, refs: boolean): { readonly [k: string]: Json } => ({
  layer: [
    {
      data: { values: rows.map((r) => ({ ...r })) },
      mark: { type: "line", point: true },
      encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" }, color: { field: "model", type: "nominal" } }
    },
    ...(refs
      ? [
          {
            data: {
              values: [
                { model: "paper", x: 0, y: 0, reference: true },
                { model: "paper", x: 1, y: 3.5, reference: true }
              ]
            },
            mark: "line",
            encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" }, color: { field: "model", type: "nominal" } }
          }
        ]
      : []),
    { data: { values: [{ x: 1 }] }, mark: { type: "rule" }, encoding: { x: { field: "x", type: "quantitative" } } }
  ]
})
const rowsArb = fc.array(
  fc.record({ model: fc.constantFrom("d=8", "d=16", "d=32"), x: fc.integer({ min: 1, max: 100 }), y: fc.integer({ min: 0, max: 1000 }) }),
  { minLength: 1, maxLength: 12 }
)

describe("charts", () => {
  it("framing: legends never truncated, tooltips and one legend-bound toggle for the series", () =>
    fc.assert(
      fc.property(rowsArb, fc.boolean(), (rows, refs) => {
        const framed = frameChart(seriesChart(rows, refs)) as any
        expect(framed.config.legend.labelLimit).toBe(0)
        const layers = framed.layer as Array<any>
        const params = layers.flatMap((l) => l.params ?? [])
        expect(params).toEqual([{ name: SERIES_PARAM, select: { type: "point", fields: ["model"], toggle: "true" }, bind: "legend" }])
        for (const l of layers.filter((l) => l.encoding.color !== undefined)) {
          expect(l.mark.tooltip).toEqual({ content: "data" })
          expect(l.encoding.opacity.condition.param).toBe(SERIES_PARAM)
          // Natural order: d=8 before d=16.
          expect(l.encoding.color.sort).toEqual(
            [...new Set([...rows.map((r) => r.model), ...(refs ? ["paper"] : [])])].sort((a, b) => a.localeCompare(b, "en", { numeric: true }))
          )
        }
      })
    ))

  it("merging experiments: every row kept and tagged with its experiment; references drawn once", () =>
    fc.assert(
      fc.property(fc.array(rowsArb, { minLength: 2, maxLength: 4 }), (perExperiment) => {
        const names = perExperiment.map((_, i) => `exp${i}`)
        const merged = mergeCharts(
          names,
          perExperiment.map((rows) => seriesChart(rows, true))
        ) as any
        const [main, ref, rule] = merged.layer
        expect(main.data.values.length).toBe(perExperiment.reduce((a, r) => a + r.length, 0))
        for (const row of main.data.values) expect(row.model).toMatch(new RegExp(`^${row.experiment} · d=(8|16|32)$`))
        expect(ref.data.values).toHaveLength(2)
        expect(rule.data.values).toEqual([{ x: 1 }])
        const expected = new Set([...perExperiment.flatMap((rows, i) => rows.map((r) => `${names[i]} · ${r.model}`)), "paper"])
        expect(new Set(seriesNames(merged))).toEqual(expected)
      })
    ))

  it("a layer without series that differs between experiments is coloured by experiment", () => {
    const a = {
      layer: [
        { data: { values: [{ x: 1, y: 2 }] }, mark: "line", encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" } } }
      ]
    }
    const b = {
      layer: [
        { data: { values: [{ x: 1, y: 3 }] }, mark: "line", encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" } } }
      ]
    }
    const merged = mergeCharts(["a", "b"], [a, b]) as any
    expect(merged.layer[0].encoding.color.field).toBe("experiment")
    expect(seriesNames(merged)).toEqual(["a", "b"])
    expect(mergeCharts(["a", "b"], [a, a])).toEqual(a)
  })
})
