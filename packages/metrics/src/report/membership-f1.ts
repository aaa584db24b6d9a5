/**
 * Report of the membership-F1 law: its constants with standard errors and
 * what it predicts at the data sizes run (headline), and measured F1 against
 * |D|/P with the fitted curve and the paper's law.
 */
import type { HeadlineFact, Json, ReportSection, RunResult } from "@memorize/core"
import type { MembershipF1Fit } from "../laws/membership-f1-fit.ts"
import { formatNumber, formatWithError } from "@memorize/core"
import { f1OfFeature, PAPER_LAW } from "../laws/f1-law.ts"
import { namesOf } from "./labels.ts"

const SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"

const finite = (x: number | null | undefined): number | null => (typeof x === "number" && Number.isFinite(x) ? x : null)

export const membershipF1Report = (fit: MembershipF1Fit, results: ReadonlyArray<RunResult>): ReadonlyArray<ReportSection> => {
  const { points, constants: c, heldOut, stdErrors: se, feature, alpha, f1Key } = fit
  if (points.length === 0) return []
  const names = namesOf(results)
  const held = heldOut?.points ?? []
  // Everything is drawn against r = |D|/P; the fitted law's own x is α·P/|D| = α/r in the printed form.
  const fitted = (r: number) => f1OfFeature(c, feature === "samplesPerParameter" ? r : alpha / r)
  const paper = (r: number) => f1OfFeature(PAPER_LAW.constants, r)
  const xText = feature === "samplesPerParameter" ? "x = |D|/P" : `x = ${alpha}·P/|D|`

  const all = [...points, ...held]
  const predicted = all.map((p) => p.predicted)
  const facts: Array<HeadlineFact> = [
    ...(["c1", "c2", "c3"] as const).map(
      (k): HeadlineFact => ({
        label: `membership law ${k}`,
        value: c[k],
        stdError: se === null ? null : finite(se[k]),
        detail: `F1 = ½(1 + c1·σ(c2·(x + c3))), ${xText}, fitted to ${f1Key} of ${points.length} runs`,
        paper: `${formatNumber(PAPER_LAW.constants[k], 4)} (in x = |D|/P)`,
        source: `constants.${k}`
      })
    ),
    {
      label: "membership law: predicted F1 at the sizes run",
      value: `${Math.max(...predicted).toFixed(3)} → ${Math.min(...predicted).toFixed(3)}`,
      detail: `|D|/P from ${formatNumber(Math.min(...all.map((p) => p.trainCount / p.paramCount)), 3)} to ${formatNumber(Math.max(...all.map((p) => p.trainCount / p.paramCount)), 3)}; fit RMSE ${fit.rmse.toFixed(3)}`,
      paper: `the paper's law predicts ${Math.max(...all.map((p) => paper(p.trainCount / p.paramCount))).toFixed(3)} → ${Math.min(...all.map((p) => paper(p.trainCount / p.paramCount))).toFixed(3)} there`
    },
    ...(heldOut === null || heldOut.rmse === null
      ? []
      : [
          {
            label: `membership law on ${heldOut.n} held-out runs: RMSE`,
            value: heldOut.rmse,
            detail: `runs with ${heldOut.path} ∈ ${JSON.stringify(heldOut.values)} left out of the fit; mean |error| ${heldOut.meanAbsError!.toFixed(4)}`,
            source: "heldOut.rmse"
          } satisfies HeadlineFact
        ])
  ]

  const rs = all.map((p) => p.trainCount / p.paramCount)
  const lo = Math.min(...rs) / 1.5
  const hi = Math.max(...rs) * 1.5
  const grid = Array.from({ length: 121 }, (_, i) => lo * (hi / lo) ** (i / 120))
  const curves: Array<Json> = [
    ...grid.map((r) => ({ series: "fitted law", r, f1: fitted(r) })),
    ...grid.map((r) => ({ series: "paper's law", r, f1: paper(r), reference: true }))
  ]
  const marks: Array<Json> = [
    ...points.map((p) => ({
      series: "runs in the fit",
      model: names.modelOfRun(p.runId),
      run: names.run(p.runId),
      runId: p.runId,
      r: p.trainCount / p.paramCount,
      f1: p.f1,
      predicted: p.predicted
    })),
    ...held.map((p) => ({
      series: "held-out runs",
      model: names.modelOfRun(p.runId),
      run: names.run(p.runId),
      runId: p.runId,
      r: p.trainCount / p.paramCount,
      f1: p.f1,
      predicted: p.predicted
    }))
  ]
  const xR = { field: "r", type: "quantitative", scale: { type: "log" }, title: "|D| / P (sequences per parameter, log scale)" }
  const yF = { field: "f1", type: "quantitative", title: `membership F1 (unitless, ${f1Key})`, scale: { domain: [0.4, 1.05] } }
  return [
    { title: "Membership law: answers", headline: { facts } },
    {
      title: "Membership inference F1 vs |D|/P",
      description:
        `Fitted law: F1 = ½(1 + c1·σ(c2·(x + c3))), ${xText}, c1 = ${formatWithError(c.c1, se === null ? null : finite(se.c1))}, c2 = ${formatWithError(c.c2, se === null ? null : finite(se.c2))}, c3 = ${formatWithError(c.c3, se === null ? null : finite(se.c3))}. ` +
        "The paper's law (c1 = 1.34, logit((2·F1 − 1)/c1) = 1.117 − 33.14·|D|/P) is drawn for comparison.",
      chart: {
        $schema: SCHEMA,
        width: 520,
        height: 300,
        layer: [
          {
            data: { values: curves },
            mark: { type: "line", strokeDash: [6, 3] },
            encoding: { x: xR, y: yF, color: { field: "series", type: "nominal", title: "series" } }
          },
          { data: { values: marks }, mark: { type: "point", filled: true, size: 60 }, encoding: { x: xR, y: yF, color: { field: "series", type: "nominal" } } }
        ]
      }
    },
    {
      title: "Membership F1 law constants",
      table: {
        columns: ["constant", "value", "standard error", "paper (x = |D|/P)"],
        rows: (["c1", "c2", "c3"] as const).map((k) => [k, c[k], se === null ? null : se[k], PAPER_LAW.constants[k]])
      }
    },
    ...(heldOut === null
      ? []
      : [
          {
            title: "Membership F1 law on held-out runs",
            description:
              `Runs with ${heldOut.path} ∈ ${JSON.stringify(heldOut.values)} were left out of the fit: ${heldOut.n} runs` +
              (heldOut.rmse === null ? "." : `, RMSE ${heldOut.rmse.toFixed(4)}, mean |error| ${heldOut.meanAbsError!.toFixed(4)}.`),
            table: {
              columns: ["run", "params", "|D|", "x", "measured F1", "predicted F1", "error"],
              rows: held.map((p) => [names.run(p.runId), p.paramCount, p.trainCount, p.x, p.f1, p.predicted, p.f1 - p.predicted]),
              rowTitles: held.map((p) => names.configOfRun(p.runId))
            }
          }
        ])
  ]
}
