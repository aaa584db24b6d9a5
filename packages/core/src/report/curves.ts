/**
 * Training curves: each run's logged mini-batch loss against steps, from its
 * train-log.jsonl. A number read off a run (a capacity, a memorization) is
 * only what the model can do if training had stopped improving; this section
 * shows whether it had, so the plateau is seen rather than assumed. Core
 * writes the log (interpreter.ts), so core draws it, whatever the plugins.
 */
import { Effect, FileSystem, Schema } from "effect"
import * as NodePath from "node:path"
import type { Json, RunResult } from "../contracts.ts"
import type { ReportSection } from "../plugin.ts"
import type { RunStore } from "../store.ts"
import { differenceLabels, flattenConfig } from "./labels.ts"

/** What the report reads of one train-log.jsonl line (the trainer's ProgressEvent). */
const LogLine = Schema.Struct({ step: Schema.Number, loss: Schema.Number })

export interface CurvePoint {
  readonly step: number
  readonly loss: number
}

export interface Curve {
  readonly runId: string
  /** Logged points by step; a step logged twice (a resumed stretch) keeps its last value. */
  readonly points: ReadonlyArray<CurvePoint>
  /** Lines that did not decode (a write torn by a kill), 1-based: left out of the curve and named in the report. */
  readonly skipped: ReadonlyArray<number>
}

const decodeLine = Schema.decodeUnknownOption(LogLine)

/**
 * Parses one train-log.jsonl; never fails: a line that is not a log point is
 * counted in `skipped`. A step at or below one already read is a restart (a
 * retried attempt logs from its start again): what the earlier attempt
 * logged from that step on is dropped, so the curve is the last attempt's.
 */
export const parseCurve = (runId: string, text: string): Curve => {
  const points: Array<CurvePoint> = []
  const skipped: Array<number> = []
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return
    let json: unknown
    try {
      json = JSON.parse(line)
    } catch {
      skipped.push(i + 1)
      return
    }
    const point = decodeLine(json)
    if (point._tag === "None" || !Number.isFinite(point.value.step) || !Number.isFinite(point.value.loss)) {
      skipped.push(i + 1)
      return
    }
    const { step, loss } = point.value
    while (points.length > 0 && points[points.length - 1]!.step >= step) points.pop()
    points.push({ step, loss })
  })
  return { runId, points, skipped }
}

/** The curves of these runs that have a log (a run loaded from a checkpoint trained nothing and has none). */
export const readCurves = (store: RunStore, results: ReadonlyArray<RunResult>) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const curves: Array<Curve> = []
    for (const r of results) {
      const file = NodePath.join(store.runDir(r.runId), "train-log.jsonl")
      const text = yield* fs.readFileString(file).pipe(Effect.orElseSucceed(() => undefined))
      if (text !== undefined) curves.push(parseCurve(r.runId, text))
    }
    return curves
  })

/** At most this many points per run reach the chart: evenly spaced, the last one always kept. */
export const MAX_POINTS = 200

export const thin = (points: ReadonlyArray<CurvePoint>, max = MAX_POINTS): ReadonlyArray<CurvePoint> => {
  if (points.length <= max) return points
  if (max < 2) return max < 1 ? [] : [points[points.length - 1]!]
  const stride = (points.length - 1) / (max - 1)
  return Array.from({ length: max }, (_, i) => points[Math.round(i * stride)]!)
}

/**
 * What the last quarter of the logged steps changed: the loss's fall
 * (nats/token), and, where the data's entropy is known, the share by which
 * that fall raised what is stored. A log holds one mini-batch loss per
 * interval, whose noise is the size of the changes sought, so the fall is
 * read from a least-squares line through every point of the quarter (its
 * slope times the quarter's length), not from two points. On data of known
 * entropy H per token (synthetic-uniform, the only data that knows it, has
 * the same H at every position) a token predicted at loss ℓ stores H − ℓ of
 * its H nats, so a fall Δ ending at ℓ adds Δ / (H − ℓ) to the memorized bits:
 * a set memorized whole (ℓ near 0) gains nothing from a fall of 0.02, a model
 * at capacity gains a lot. No gain where the line ends at or above H.
 */
export const lastQuarter = (points: ReadonlyArray<CurvePoint>, entropyNatsPerToken: number | null): { fall: number; gain: number | undefined } | undefined => {
  if (points.length < 2) return undefined
  const lastStep = points[points.length - 1]!.step
  const from = points.findIndex((p) => p.step >= 0.75 * lastStep)
  // At least two points: a quarter holding one is read from the point before it.
  const quarter = points.slice(Math.min(from, points.length - 2))
  const n = quarter.length
  const mx = quarter.reduce((a, p) => a + p.step, 0) / n
  const my = quarter.reduce((a, p) => a + p.loss, 0) / n
  const sxx = quarter.reduce((a, p) => a + (p.step - mx) ** 2, 0)
  const slope = sxx === 0 ? 0 : quarter.reduce((a, p) => a + (p.step - mx) * (p.loss - my), 0) / sxx
  const fall = -slope * (lastStep - quarter[0]!.step)
  const end = my + slope * (lastStep - mx)
  const stored = entropyNatsPerToken === null ? 0 : entropyNatsPerToken - end
  return { fall, gain: stored > 0 ? fall / stored : undefined }
}

/**
 * A run is still gaining when its last quarter raised what it stores by more
 * than 1% or, without a known gain, lowered its loss by more than 2%.
 */
export const STILL_GAINING = { gain: 0.01, relativeFall: 0.02 } as const

const stillGaining = (points: ReadonlyArray<CurvePoint>, entropyNatsPerToken: number | null): boolean => {
  const q = lastQuarter(points, entropyNatsPerToken)
  if (q === undefined) return false
  if (q.gain !== undefined) return q.gain > STILL_GAINING.gain
  const end = points[points.length - 1]!.loss
  return end + q.fall > 0 && q.fall / (end + q.fall) > STILL_GAINING.relativeFall
}

/** Entropy of the run's data in nats per token, when the dataset knows it. */
const entropyPerToken = (r: RunResult): number | null =>
  r.dataset.entropyBitsPerSequence === null ? null : (r.dataset.entropyBitsPerSequence / r.dataset.seqLen) * Math.LN2

const round = (x: number, digits: number) => Number(x.toFixed(digits))

/** The training-curve section, or none when no run has a log. */
export const curveSection = (results: ReadonlyArray<RunResult>, curves: ReadonlyArray<Curve>): ReadonlyArray<ReportSection> => {
  const byRun = new Map(curves.filter((c) => c.points.length > 0 || c.skipped.length > 0).map((c) => [c.runId, c]))
  const shown = results.filter((r) => byRun.has(r.runId))
  if (shown.length === 0) return []
  const labels = differenceLabels(
    shown.map((r) => flattenConfig(r.config)),
    ""
  )
  // In the runs table's order: smaller models first, then smaller datasets.
  const runs = shown
    .map((r, i) => ({ result: r, label: labels[i] || r.runId, curve: byRun.get(r.runId)! }))
    .sort(
      (a, b) =>
        a.result.model.paramCount - b.result.model.paramCount ||
        a.result.dataset.trainCount - b.result.dataset.trainCount ||
        a.label.localeCompare(b.label, "en", { numeric: true })
    )
  const values: Array<Json> = runs.flatMap(({ label, curve }) => thin(curve.points).map((p) => ({ run: label, step: p.step, loss: round(p.loss, 5) })))
  const rows = runs.map(({ result, label, curve }) => {
    const q = lastQuarter(curve.points, entropyPerToken(result))
    const last = curve.points[curve.points.length - 1]
    return [
      label,
      last?.step ?? null,
      last === undefined ? null : round(last.loss, 4),
      q === undefined ? null : round(q.fall, 4),
      q?.gain === undefined ? null : round(100 * q.gain, 2)
    ]
  })
  const falling = runs.filter(({ result, curve }) => stillGaining(curve.points, entropyPerToken(result)))
  const torn = runs.filter(({ curve }) => curve.skipped.length > 0)
  const notes = [
    ...(falling.length > 0
      ? [
          `${falling.length} of ${runs.length} run${runs.length === 1 ? "" : "s"} ${falling.length === 1 ? "was" : "were"} still gaining over the last quarter of training (${falling
            .slice(0, 4)
            .map((f) => f.label)
            .join(
              "; "
            )}${falling.length > 4 ? "; …" : ""}): by the loss, what ${falling.length === 1 ? "it" : "they"} stored rose more than ${100 * STILL_GAINING.gain}% in that quarter (or, where that cannot be computed, the loss fell more than ${100 * STILL_GAINING.relativeFall}%), so ${falling.length === 1 ? "its" : "their"} numbers are lower bounds that more steps would raise.`
        ]
      : []),
    ...torn.map(
      ({ result, curve }) =>
        `${result.runId}/train-log.jsonl: line${curve.skipped.length === 1 ? "" : "s"} ${curve.skipped.slice(0, 5).join(", ")}${curve.skipped.length > 5 ? ", …" : ""} did not decode as {step, loss} and ${curve.skipped.length === 1 ? "is" : "are"} left out of the curve.`
    )
  ]
  return [
    {
      title: "Training loss vs steps",
      description:
        "Each run's mini-batch training loss as logged (train-log.jsonl; at most 200 points per run drawn). What a run stores is what its model can store only where the curve has flattened. The table gives how far the loss fell over the last quarter of the logged steps (a least-squares line through the quarter's points, as single mini-batch losses are noisy) and, where the data's entropy H is known, how much that fall added to what is stored: fall / (H − final loss).",
      chart: {
        $schema: "https://vega.github.io/schema/vega-lite/v5.json",
        width: 520,
        height: 300,
        data: { values },
        mark: { type: "line", strokeWidth: 1.5 },
        encoding: {
          x: { field: "step", type: "quantitative", title: "training step (steps)" },
          y: { field: "loss", type: "quantitative", title: "training loss (nats/token)" },
          color: { field: "run", type: "nominal", title: "run" }
        }
      },
      table: {
        columns: [
          "run",
          "last logged step",
          "last logged loss (nats/token)",
          "fall over the last quarter (nats/token)",
          "stored-bits gain over the last quarter (%)"
        ],
        rows
      },
      ...(notes.length > 0 ? { headline: { facts: [], notes } } : {})
    }
  ]
}
