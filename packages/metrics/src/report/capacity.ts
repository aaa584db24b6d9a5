/**
 * Report of the capacity law: the headline answers (α in bits per parameter
 * with its standard error and R², per precision when both ran; capacity per
 * model), and Vega-Lite charts with inline data, the paper's α·P lines
 * beside the measured capacities. Core renders them; only JSON is produced here.
 */
import type { HeadlineFact, Json, ReportSection, RunResult } from "@memorize/core"
import type { CapacityFit, CapacityGroup, PrecisionFit } from "../laws/capacity-fit.ts"
import { formatNumber, formatWithError } from "@memorize/core"
import { groupKey } from "../laws/results.ts"
import { DEFAULT_GROUP_BY, namesOf } from "./labels.ts"
import { PAPER, paperAlphaText, regimeNote } from "./paper.ts"

const SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"

const finite = (x: number | null | undefined): number | null => (typeof x === "number" && Number.isFinite(x) ? x : null)

const paperAlphaOf = (precision: string): string | undefined =>
  precision === "bf16" ? `${PAPER.alphaBf16} (bf16)` : precision === "fp32" || precision === "f32" ? `${PAPER.alphaFp32} (fp32)` : undefined

/** α across models: the linear fit when there is one, else the mean bits per parameter. */
const alphaFact = (fit: PrecisionFit, label: string, path: string, paper: string | undefined): HeadlineFact => {
  if (fit.linear !== null) {
    const origin = fit.throughOrigin
    return {
      label,
      value: fit.linear.alpha,
      stdError: finite(fit.linear.alphaStdError),
      unit: "bits/parameter",
      detail:
        `linear fit over ${fit.linear.n} models, R² = ${fit.linear.rSquared.toFixed(3)}` +
        (origin === null ? "" : `; through the origin ${formatWithError(origin.alpha, finite(origin.alphaStdError))}`) +
        (fit.linearNote ? ` (${fit.linearNote})` : ""),
      ...(paper ? { paper } : {}),
      source: `${path}linear.alpha`
    }
  }
  return {
    label,
    value: fit.meanBitsPerParameter,
    unit: "bits/parameter",
    detail: `capacity / P of the one model size${fit.linearNote ? ` (${fit.linearNote})` : ""}`,
    ...(paper ? { paper } : {}),
    source: `${path}meanBitsPerParameter`
  }
}

export const capacityReport = (fit: CapacityFit, results: ReadonlyArray<RunResult>): ReadonlyArray<ReportSection> => {
  const groups = fit.groups
  const names = namesOf(results)
  const short = (g: CapacityGroup) => names.modelOfKey(g.key) ?? names.modelOfLabel(g.label)
  const runOf = (g: CapacityGroup) => results.find((r) => groupKey(r, DEFAULT_GROUP_BY) === g.key)?.runId
  const hoverOf = (g: CapacityGroup) => {
    const id = runOf(g)
    return id === undefined ? g.label : names.configOfModel(id)
  }
  const linear = fit.linear
  const precisions = [...new Set(groups.map((g) => g.precision))]

  // Headline: α overall, α per precision when both ran, then each model's capacity.
  const facts: Array<HeadlineFact> = [
    alphaFact(
      {
        models: groups.length,
        linear: fit.linear,
        throughOrigin: fit.throughOrigin,
        linearNote: fit.linearNote,
        meanBitsPerParameter: fit.meanBitsPerParameter
      },
      precisions.length === 1 ? `α, bits per parameter (${precisions[0]})` : "α, bits per parameter (all precisions)",
      "",
      precisions.length === 1 ? (paperAlphaOf(precisions[0]!) ?? paperAlphaText) : paperAlphaText
    )
  ]
  if (fit.byPrecision != null) {
    for (const [p, f] of Object.entries(fit.byPrecision)) facts.push(alphaFact(f, `α, bits per parameter (${p})`, `byPrecision.${p}.`, paperAlphaOf(p)))
  }
  const order = groups.map((g, i) => ({ g, i })).sort((a, b) => a.g.paramCount - b.g.paramCount || short(a.g).localeCompare(short(b.g)))
  for (const { g, i } of order) {
    facts.push({
      label: `capacity, ${short(g)}`,
      value: g.capacityBits,
      stdError: finite(g.perSeed?.stdError),
      digits: 4,
      unit: "bits",
      detail:
        `${g.bitsPerParameter.toFixed(2)} bits/parameter, P = ${formatNumber(g.paramCount, 4)}; ` +
        (g.capacitySource === "saturatingFit" ? `saturating fit min(N·H, C)` : `largest measured (no plateau reached: a lower bound)`) +
        (g.perSeed !== null && g.perSeed.n > 1 ? `, ± SE over ${g.perSeed.n} seeds` : ""),
      source: `groups.${i}.capacityBits`
    })
  }
  const note = regimeNote(results)
  const sections: Array<ReportSection> = [{ title: "Capacity: answers", headline: { facts, ...(note ? { notes: [note] } : {}) } }]

  // Memorization against dataset size, with each model's plateau and the data's own information N·H.
  const sizePoints: Array<Json> = []
  const plateau: Array<Json> = []
  const ceiling = new Map<string, Array<Json>>()
  for (const g of groups) {
    const model = short(g)
    for (const s of g.sizes) sizePoints.push({ model, N: s.trainCount, memorizedBits: s.meanBits, sdBits: s.sdBits, datasetBits: s.datasetBits, seeds: s.n })
    const ns = g.sizes.map((s) => s.trainCount)
    for (const n of [Math.min(...ns), Math.max(...ns)]) plateau.push({ model, N: n, capacityBits: g.capacityBits, line: `capacity of ${model}` })
    if (g.entropyBitsPerSequence !== null) {
      const name = `N·H, all of the data (H = ${formatNumber(g.entropyBitsPerSequence, 4)} bits)`
      const rows = ceiling.get(name) ?? []
      for (const s of g.sizes) rows.push({ model: name, N: s.trainCount, memorizedBits: s.trainCount * g.entropyBitsPerSequence })
      ceiling.set(name, rows)
    }
  }
  const ceilingRows = [...ceiling.values()].flatMap((rows) => {
    const seen = new Set<number>()
    return rows.filter((r) => {
      const n = (r as { N: number }).N
      if (seen.has(n)) return false
      seen.add(n)
      return true
    })
  })
  const xN = { field: "N", type: "quantitative", scale: { type: "log" }, title: "dataset size N (sequences, log scale)" }
  // N·H grows without bound; the y axis follows the measurements and the N·H line is clipped to it.
  const top = Math.max(...groups.flatMap((g) => g.sizes.map((s) => s.meanBits)), ...groups.map((g) => g.capacityBits))
  const yBits = (field: string) => ({ field, type: "quantitative", scale: { domain: [0, top * 1.15], nice: false } })
  sections.push({
    title: "Memorization vs dataset size",
    description:
      "Total memorization (mean over seeds) for each model. Dashed: each model's capacity plateau. Grey dotted: N·H, everything there is to memorize.",
    chart: {
      $schema: SCHEMA,
      width: 520,
      height: 300,
      layer: [
        ...(ceilingRows.length === 0
          ? []
          : [
              {
                data: { values: ceilingRows },
                mark: { type: "line", strokeDash: [2, 3], color: "#999", clip: true },
                encoding: { x: xN, y: yBits("memorizedBits"), detail: { field: "model", type: "nominal" } }
              }
            ]),
        {
          data: { values: sizePoints },
          mark: { type: "line", point: true },
          encoding: {
            x: xN,
            y: { ...yBits("memorizedBits"), title: "memorization, total (bits)" },
            color: { field: "model", type: "nominal", title: "model" }
          }
        },
        {
          data: { values: plateau },
          mark: { type: "line", strokeDash: [6, 4] },
          encoding: { x: xN, y: yBits("capacityBits"), color: { field: "model", type: "nominal" } }
        }
      ]
    }
  })

  // Capacity against parameters: the fit, and the paper's α·P for bf16 and fp32.
  const ps = groups.map((g) => g.paramCount)
  const maxP = Math.max(...ps)
  const refRows = [
    { series: `paper: ${PAPER.alphaBf16}·P (bf16)`, alpha: PAPER.alphaBf16 },
    { series: `paper: ${PAPER.alphaFp32}·P (fp32)`, alpha: PAPER.alphaFp32 }
  ]
  // `reference: true`: the same in every experiment, so a comparison draws it once.
  const refLines: Array<Json> = refRows.flatMap((r) =>
    [0, maxP * 1.05].map((p) => ({ series: r.series, params: p, capacityBits: r.alpha * p, reference: true }))
  )
  const lines: Array<Json> = []
  if (linear !== null) {
    const name = `fit: ${linear.alpha.toFixed(3)}·P ${linear.intercept < 0 ? "−" : "+"} ${Math.abs(linear.intercept).toFixed(0)}`
    for (const p of [Math.min(...ps), maxP]) lines.push({ series: name, params: p, capacityBits: linear.intercept + linear.alpha * p })
  }
  const capPoints = groups.map((g) => ({
    series: short(g),
    params: g.paramCount,
    capacityBits: g.capacityBits,
    bitsPerParameter: g.bitsPerParameter,
    precision: g.precision
  }))
  const xP = { field: "params", type: "quantitative", title: "model size P (parameters)" }
  const yC = { field: "capacityBits", type: "quantitative", title: "capacity (bits)" }
  sections.push({
    title: "Capacity vs parameters",
    description:
      (linear === null
        ? "One model size: no α fit."
        : `Linear fit: capacity = ${formatWithError(linear.alpha, finite(linear.alphaStdError))}·P ${linear.intercept < 0 ? "−" : "+"} ${Math.abs(linear.intercept).toFixed(1)} bits (R² = ${linear.rSquared.toFixed(3)}).`) +
      ` Solid: the fit; dashed: the paper's α·P for bf16 (${PAPER.alphaBf16}) and fp32 (${PAPER.alphaFp32}).`,
    chart: {
      $schema: SCHEMA,
      width: 520,
      height: 300,
      layer: [
        {
          data: { values: refLines },
          mark: { type: "line", strokeDash: [6, 4] },
          encoding: { x: xP, y: yC, color: { field: "series", type: "nominal", title: "series" } }
        },
        ...(lines.length === 0
          ? []
          : [{ data: { values: lines }, mark: { type: "line" }, encoding: { x: xP, y: yC, color: { field: "series", type: "nominal" } } }]),
        {
          data: { values: refRows.map((r) => ({ params: maxP * 1.05, capacityBits: r.alpha * maxP * 1.05, text: r.series, reference: true })) },
          mark: { type: "text", align: "right", dx: -4, dy: -8, fontSize: 11, color: "#555" },
          encoding: {
            x: { field: "params", type: "quantitative" },
            y: { field: "capacityBits", type: "quantitative" },
            text: { field: "text", type: "nominal" }
          }
        },
        {
          data: { values: capPoints },
          mark: { type: "point", filled: true, size: 80 },
          encoding: { x: xP, y: yC, color: { field: "series", type: "nominal" } }
        }
      ]
    }
  })
  sections.push({
    title: "Capacity per model",
    table: {
      columns: ["model", "params", "precision", "capacity (bits)", "SE across seeds", "bits/param", "source"],
      rows: order.map(({ g }) => [short(g), g.paramCount, g.precision, g.capacityBits, g.perSeed?.stdError ?? null, g.bitsPerParameter, g.capacitySource]),
      rowTitles: order.map(({ g }) => hoverOf(g))
    }
  })
  const prediction = fit.prediction
  if (prediction !== null && prediction.points.length > 0) {
    // Seed means per (model, dataset size), in the order of the points.
    const rows = new Map<string, { model: string; runId: string; trainCount: number; datasetBits: number; predictedBits: number; measured: Array<number> }>()
    for (const p of prediction.points) {
      const k = `${p.model}\u0000${p.trainCount}`
      const row = rows.get(k) ?? {
        model: names.modelOfRun(p.runId),
        runId: p.runId,
        trainCount: p.trainCount,
        datasetBits: p.datasetBits,
        predictedBits: p.predictedBits,
        measured: []
      }
      row.measured.push(p.measuredBits)
      rows.set(k, row)
    }
    // Table order: model (d=8 before d=16), then dataset size.
    const tableRows = [...rows.values()].sort((a, b) => a.model.localeCompare(b.model, "en", { numeric: true }) || a.trainCount - b.trainCount)
    const bits = prediction.points.flatMap((p) => [p.predictedBits, p.measuredBits]).filter((b) => b > 0)
    const mae = prediction.meanAbsRelativeError
    sections.push({
      title: "Predicted vs measured memorization",
      description:
        `Prediction min(N·H, α·P) with α = ${prediction.alpha.toFixed(3)} (${prediction.alphaSource}); mean |relative error| ${(100 * mae).toFixed(1)}%` +
        (prediction.meanAbsRelativeErrorSaturated === null ? "." : `, ${(100 * prediction.meanAbsRelativeErrorSaturated).toFixed(1)}% where N·H > α·P.`) +
        " Dashed: measured = predicted.",
      chart: {
        $schema: SCHEMA,
        width: 360,
        height: 360,
        layer: [
          {
            data: {
              values: bits.length === 0 ? [] : [Math.min(...bits), Math.max(...bits)].map((b) => ({ predictedBits: b, measuredBits: b, reference: true }))
            },
            mark: { type: "line", strokeDash: [4, 4], color: "#999" },
            encoding: { x: { field: "predictedBits", type: "quantitative" }, y: { field: "measuredBits", type: "quantitative" } }
          },
          {
            data: {
              values: prediction.points.map((p) => ({
                model: names.modelOfRun(p.runId),
                run: names.run(p.runId),
                runId: p.runId,
                N: p.trainCount,
                predictedBits: p.predictedBits,
                measuredBits: p.measuredBits
              }))
            },
            mark: { type: "point", filled: true },
            encoding: {
              x: { field: "predictedBits", type: "quantitative", scale: { type: "log" }, title: "predicted min(N·H, α·P) (bits, log scale)" },
              y: { field: "measuredBits", type: "quantitative", scale: { type: "log" }, title: "measured memorization (bits, log scale)" },
              color: { field: "model", type: "nominal", title: "model" }
            }
          }
        ]
      },
      table: {
        columns: ["model", "N", "N·H (bits)", "predicted (bits)", "measured (bits, seed mean)", "relative error"],
        rows: tableRows.map((r) => {
          const m = r.measured.reduce((a, b) => a + b, 0) / r.measured.length
          return [r.model, r.trainCount, r.datasetBits, r.predictedBits, m, (m - r.predictedBits) / r.predictedBits]
        }),
        rowTitles: tableRows.map((r) => names.configOfModel(r.runId))
      }
    })
  }
  return sections
}
