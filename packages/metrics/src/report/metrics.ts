/**
 * Report sections of the metric plugins, drawn from all runs' values:
 * Vega-Lite specs with inline data, and tables. Runs are named by what
 * differs between them (labels.ts); colour is the model, the dash pattern
 * what is measured (train or test, members or holdout). Runs without the
 * metric are left out.
 */
import type { HeadlineFact, Json, ReportSection, RunResult } from "@memorize/core"
import { formatNumber } from "@memorize/core"
import { predictF1, PAPER_LAW } from "../laws/f1-law.ts"
import { at } from "../laws/results.ts"
import { namesOf } from "./labels.ts"

const SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"

const X_N = { field: "N", type: "quantitative", scale: { type: "log" }, title: "dataset size N (sequences, log scale)" }

/** y against N: one line per (colour, dash) pair, the mean over seeds. */
const lineChart = (
  values: ReadonlyArray<Json>,
  y: { readonly field: string; readonly title: string },
  color: { readonly field: string; readonly title: string },
  dash?: { readonly field: string; readonly title: string; readonly order: ReadonlyArray<string> }
): { readonly [k: string]: Json } => ({
  $schema: SCHEMA,
  width: 520,
  height: 300,
  data: { values: values as Array<Json> },
  mark: { type: "line", point: true },
  encoding: {
    x: X_N,
    y: { field: y.field, type: "quantitative", title: y.title, aggregate: "mean" },
    color: { field: color.field, type: "nominal", title: color.title },
    // The dash scale follows `order` (its first entry solid), keeping only values present.
    ...(dash === undefined
      ? {}
      : {
          strokeDash: {
            field: dash.field,
            type: "nominal",
            title: dash.title,
            legend: { symbolType: "stroke", symbolStrokeWidth: 2, symbolSize: 300 },
            scale: { domain: dash.order.filter((d) => values.some((v) => (v as { readonly [k: string]: Json })[dash.field] === d)) }
          }
        })
  }
})

/** Table order: by model size, then dataset size, then label (seeds). */
const byModelAndSize = (rs: ReadonlyArray<RunResult>, label: (runId: string) => string): Array<RunResult> =>
  [...rs].sort(
    (a, b) =>
      a.model.paramCount - b.model.paramCount ||
      a.dataset.trainCount - b.dataset.trainCount ||
      label(a.runId).localeCompare(label(b.runId), "en", { numeric: true })
  )

const num = (v: Json | undefined): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null)

export const memorizationReport = (results: ReadonlyArray<RunResult>): ReadonlyArray<ReportSection> => {
  const names = namesOf(results)
  const values = results.flatMap((r) => {
    const m = r.metrics["memorization"] as Json | undefined
    if (m === undefined) return []
    const model = names.modelOfRun(r.runId)
    const rows: Array<Json> = [{ N: r.dataset.trainCount, model, set: "members (trained on)", meanBits: num(at(m, "meanBits")) }]
    const h = num(at(m, "holdout.meanBits"))
    if (h !== null) rows.push({ N: r.dataset.trainCount, model, set: "holdout (never seen)", meanBits: h })
    return rows
  })
  if (values.length === 0) return []
  return [
    {
      title: "Memorization per sample: members vs holdout",
      description: "Mean (unintended) memorization per sequence, mean over seeds. Solid: training members; dashed: the holdout, the generalization baseline.",
      chart: lineChart(
        values,
        { field: "meanBits", title: "memorization per sequence (bits)" },
        { field: "model", title: "model" },
        { field: "set", title: "sequences", order: ["members (trained on)", "holdout (never seen)"] }
      )
    }
  ]
}

const MIA_KEYS = [
  ["f1Best", "F1 (best threshold)"],
  ["f1TopHalf", "F1 (top half called members)"],
  ["f1Calibrated", "F1 (calibrated threshold)"],
  ["auc", "ROC AUC"]
] as const

export const membershipReport = (results: ReadonlyArray<RunResult>): ReadonlyArray<ReportSection> => {
  const names = namesOf(results)
  const withMia = byModelAndSize(
    results.filter((r) => r.metrics["membership-inference"] !== undefined),
    names.run
  )
  if (withMia.length === 0) return []
  const values = withMia.flatMap((r) => {
    const m = r.metrics["membership-inference"] as Json
    const model = names.modelOfRun(r.runId)
    const measured = MIA_KEYS.flatMap(([k, name]) => {
      const v = num(at(m, k))
      return v === null ? [] : [{ N: r.dataset.trainCount, model, measure: name, value: v }]
    })
    // The paper's law at this run's P and |D|, beside the measured F1.
    return [...measured, { N: r.dataset.trainCount, model, measure: "paper's law (F1)", value: predictF1(PAPER_LAW, r.model.paramCount, r.dataset.trainCount) }]
  })
  // Headline: how membership inference fares from the smallest to the largest dataset.
  const byN = new Map<number, Array<RunResult>>()
  for (const r of withMia) byN.set(r.dataset.trainCount, [...(byN.get(r.dataset.trainCount) ?? []), r])
  const ns = [...byN.keys()].sort((a, b) => a - b)
  const meanOf = (rs: ReadonlyArray<RunResult>, k: string) => {
    const vs = rs.flatMap((r) => {
      const v = num(at(r.metrics["membership-inference"] as Json, k))
      return v === null ? [] : [v]
    })
    return vs.length === 0 ? null : vs.reduce((a, b) => a + b, 0) / vs.length
  }
  const ends = [ns[0]!, ns[ns.length - 1]!]
  // The headline F1 is the one whose chance level is the law's ½ (runs stored
  // before f1TopHalf existed fall back to the best-threshold F1).
  const headlineKey = ends.every((n) => meanOf(byN.get(n)!, "f1TopHalf") !== null) ? "f1TopHalf" : "f1Best"
  const f1s = ends.map((n) => meanOf(byN.get(n)!, headlineKey))
  const aucs = ends.map((n) => meanOf(byN.get(n)!, "auc"))
  const paperAt = ends.map((n) => {
    const rs = byN.get(n)!
    return rs.reduce((a, r) => a + predictF1(PAPER_LAW, r.model.paramCount, n), 0) / rs.length
  })
  const facts: Array<HeadlineFact> =
    f1s[0] === null || f1s[1] === null
      ? []
      : [
          {
            label: `membership inference F1 (${headlineKey === "f1TopHalf" ? "top half called members" : "best threshold"}), smallest → largest N`,
            value: `${f1s[0].toFixed(3)} → ${f1s[1].toFixed(3)}`,
            detail:
              `N = ${formatNumber(ends[0]!, 4)} → ${formatNumber(ends[1]!, 4)}, mean over models and seeds` +
              (aucs[0] !== null && aucs[1] !== null ? `; ROC AUC ${aucs[0].toFixed(3)} → ${aucs[1].toFixed(3)}` : "") +
              (headlineKey === "f1TopHalf"
                ? ". Chance level of this F1 and of AUC: 0.5"
                : ". Best-threshold F1 on a balanced set is ≥ 2/3 by construction; chance AUC is 0.5"),
            paper: `law predicts F1 ${paperAt[0]!.toFixed(3)} → ${paperAt[1]!.toFixed(3)} at these |D|/P`
          }
        ]
  return [
    { title: "Membership inference: answers", headline: { facts } },
    {
      title: "Membership inference vs dataset size",
      description:
        "Loss-threshold attack on a balanced set of members and non-members, mean over seeds; colour: model, dash: what is measured, including the paper's law evaluated at each run's P and |D|.",
      chart: lineChart(
        values,
        { field: "value", title: "F1 / ROC AUC (unitless, chance ≈ 0.5)" },
        { field: "model", title: "model" },
        { field: "measure", title: "measure", order: [...MIA_KEYS.map(([, name]) => name), "paper's law (F1)"] }
      )
    },
    {
      title: "Membership inference per run",
      table: {
        columns: ["run", "training sequences", "F1 (best)", "F1 (top half)", "F1 (calibrated)", "AUC", "TPR@1%FPR", "TPR@0.1%FPR", "members"],
        rows: withMia.map((r) => {
          const m = r.metrics["membership-inference"] as Json
          return [
            names.run(r.runId),
            r.dataset.trainCount,
            ...["f1Best", "f1TopHalf", "f1Calibrated", "auc", "tprAt1pctFpr", "tprAt0p1pctFpr", "members"].map((k) => num(at(m, k)))
          ]
        }),
        rowTitles: withMia.map((r) => names.configOfRun(r.runId))
      }
    }
  ]
}

export const extractionReport = (results: ReadonlyArray<RunResult>): ReadonlyArray<ReportSection> => {
  const names = namesOf(results)
  const values = results.flatMap((r) => {
    const m = r.metrics["extraction"] as Json | undefined
    if (m === undefined) return []
    const rows: Array<Json> = []
    for (const set of ["trainRate", "holdoutRate"] as const) {
      const rates = at(m, set)
      if (rates === null || rates === undefined || typeof rates !== "object" || Array.isArray(rates)) continue
      for (const [k, v] of Object.entries(rates as { readonly [k: string]: Json })) {
        rows.push({
          N: r.dataset.trainCount,
          series: `${names.modelOfRun(r.runId)} · prefix ${k}`,
          set: set === "trainRate" ? "members" : "holdout",
          rate: num(v)
        })
      }
    }
    return rows
  })
  if (values.length === 0) return []
  return [
    {
      title: "Extraction rate (exact suffix match)",
      description: "Greedy decoding from a prefix of each sequence; the share whose suffix comes out exactly. Solid: training members; dashed: holdout.",
      chart: lineChart(
        values,
        { field: "rate", title: "exact-match rate (fraction of sequences)" },
        { field: "series", title: "model · prefix tokens" },
        { field: "set", title: "sequences", order: ["members", "holdout"] }
      )
    }
  ]
}

export const rarityReport = (results: ReadonlyArray<RunResult>): ReadonlyArray<ReportSection> => {
  const names = namesOf(results)
  const runs = byModelAndSize(
    results.filter((r) => r.metrics["rarity"] !== undefined),
    names.run
  )
  const rows = runs.map((r) => {
    const m = r.metrics["rarity"] as Json
    return [names.run(r.runId), r.dataset.trainCount, num(at(m, "pearson")), num(at(m, "spearman"))] as Array<Json>
  })
  if (rows.length === 0) return []
  return [
    {
      title: "Rarity (TF-IDF) vs memorization",
      table: { columns: ["run", "training sequences", "Pearson", "Spearman"], rows, rowTitles: runs.map((r) => names.configOfRun(r.runId)) }
    }
  ]
}

export const lossReport = (results: ReadonlyArray<RunResult>): ReadonlyArray<ReportSection> => {
  const names = namesOf(results)
  const values = results.flatMap((r) => {
    const m = r.metrics["loss"] as Json | undefined
    if (m === undefined) return []
    return (
      [
        ["train", "train (members)"],
        ["holdout", "test (holdout)"]
      ] as const
    ).flatMap(([k, split]) => {
      const v = num(at(m, `${k}.meanNatsPerToken`))
      return v === null ? [] : [{ N: r.dataset.trainCount, model: names.modelOfRun(r.runId), split, loss: v }]
    })
  })
  if (values.length === 0) return []
  return [
    {
      title: "Train (solid) and test (dashed) loss vs dataset size",
      description: "Mean loss per token over the training set and over the holdout, mean over seeds; colour: model, dash: which set.",
      chart: lineChart(
        values,
        { field: "loss", title: "loss (nats/token)" },
        { field: "model", title: "model" },
        { field: "split", title: "loss on", order: ["train (members)", "test (holdout)"] }
      )
    }
  ]
}
