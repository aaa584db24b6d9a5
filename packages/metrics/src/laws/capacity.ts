/**
 * `capacity` law. For each model configuration (grouping: results.ts):
 *
 *   sizes             per dataset size: mean/sd of total memorization across seeds
 *   plateauMaxBits    max over sizes of the seed-mean memorization
 *   saturatingFit     C of y = min(N·H, C) over all runs (needs exact entropy), or null
 *   perSeed           the same fit per seed: mean, sd, stdError, n (the uncertainty across seeds)
 *   capacityBits      saturatingFit.capacityBits when saturated, else plateauMaxBits
 *   capacitySource    "saturatingFit" | "plateauMax"
 *   bitsPerParameter  capacityBits / paramCount
 *
 * Across models: `linear` (capacity = α·P + intercept, with standard errors)
 * and `throughOrigin` (capacity = α·P), null with `linearNote` when fewer than
 * two configurations exist. With runs in more than one precision,
 * `byPrecision` holds the same across-model fits per precision (else null):
 *   { [precision]: { models, linear, throughOrigin, linearNote, meanBitsPerParameter } }
 * Memorization is read from
 * metrics.memorization[metricKey] (default "totalBits").
 *
 * `bestOf` (config): spec paths over which a recipe was searched (e.g.
 * `train.lr`). Runs that differ only there count once, as the one that
 * stored the most, in every fit and in the report; the fit records which
 * (`bestOf: { paths, candidates, kept }`, null without the option).
 *
 * `prediction` (null without exact entropy): every run's measured memorization
 * against the paper's prediction min(N·H, α·P), with α = config.predictionAlpha
 * when set (e.g. 3.64, the paper's), else the through-origin fit across models
 * (else the mean bits/parameter):
 *   { alpha, alphaSource, points [{ runId, model, paramCount, vocabSize, seqLen,
 *     trainCount, datasetBits, predictedBits, measuredBits, relativeError }],
 *     meanAbsRelativeError, meanAbsRelativeErrorSaturated }
 */
import { Effect, Schema } from "effect"
import { definePlugin, LawError, PositiveNumber, withDefault, type RunResult } from "@memorize/core"
import { type AcrossModels, type CapacityFit, CapacityFitSchema, type CapacityGroup, type PrecisionFit, type Prediction } from "./capacity-fit.ts"
import { linearFit, originFit } from "../numerics/linreg.ts"
import { mean, stdDev, stdError } from "../numerics/stats.ts"
import { at, bestOfRuns, groupKey, groupLabel, metricNumber, seedOf, sortRuns } from "./results.ts"
import { readsProblems } from "./reads.ts"
import { saturatingFit, type SaturatingFit } from "./saturating.ts"
import { capacityReport } from "../report/capacity.ts"

export const CAPACITY = "capacity"

/** How runs are read and grouped into model configurations (the double-descent law reads them the same way). */
export const capacityFields = {
  metricKey: withDefault(
    Schema.String.annotate({ description: "the memorization metric's value taken as a run's total memorization in bits (a key of metrics.memorization)" }),
    "totalBits"
  ),
  groupBy: withDefault(
    Schema.Array(Schema.String).annotate({ description: "spec sections that, with the trained model's size, identify a model configuration" }),
    ["model", "train"]
  )
}

export const CapacityConfig = Schema.Struct({
  ...capacityFields,
  bestOf: withDefault(
    Schema.Array(Schema.String).annotate({
      description:
        "spec paths over which each run's recipe was searched (e.g. [train.lr]): runs that differ only there count once, as the one that stored the most (capacity is the most a model can store)"
    }),
    []
  ),
  predictionAlpha: Schema.optional(PositiveNumber).annotate({
    description: "α in bits/parameter for the prediction min(N·H, α·P) (the paper: 3.64); default: the through-origin fit across models"
  })
})
export type CapacityConfig = typeof CapacityConfig.Type

interface Point {
  readonly result: RunResult
  readonly bits: number
}

const nullIfNaN = (x: number): number | null => (Number.isFinite(x) ? x : null)

const fitGroup = (key: string, points: ReadonlyArray<Point>): CapacityGroup => {
  const first = points[0].result
  const h = first.dataset.entropyBitsPerSequence
  const bySize = new Map<number, Array<number>>()
  for (const p of points) {
    const n = p.result.dataset.trainCount
    bySize.set(n, [...(bySize.get(n) ?? []), p.bits])
  }
  const sizes = [...bySize.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([trainCount, ys]) => ({
      trainCount,
      datasetBits: h === null ? null : trainCount * h,
      meanBits: mean(ys),
      sdBits: nullIfNaN(stdDev(ys)),
      n: ys.length
    }))
  let plateau = sizes[0]
  for (const s of sizes) if (s.meanBits > plateau.meanBits) plateau = s
  let sat: SaturatingFit | null = null
  let perSeed: CapacityGroup["perSeed"] = null
  if (h !== null) {
    sat = saturatingFit(
      points.map((p) => p.result.dataset.trainCount * h),
      points.map((p) => p.bits)
    )
    const seeds = [...new Set(points.map((p) => seedOf(p.result)))].sort((a, b) => a - b)
    const values = seeds.map((s) => {
      const ps = points.filter((p) => seedOf(p.result) === s)
      return saturatingFit(
        ps.map((p) => p.result.dataset.trainCount * h),
        ps.map((p) => p.bits)
      ).capacityBits
    })
    perSeed = { mean: mean(values), sd: nullIfNaN(stdDev(values)), stdError: nullIfNaN(stdError(values)), n: values.length, values }
  }
  const useFit = sat?.saturated === true
  const capacityBits = useFit && sat !== null ? sat.capacityBits : plateau.meanBits
  return {
    key,
    label: groupLabel(first),
    paramCount: first.model.paramCount,
    precision: first.model.precision,
    runs: points.length,
    entropyBitsPerSequence: h,
    sizes,
    plateauMaxBits: plateau.meanBits,
    plateauAtTrainCount: plateau.trainCount,
    saturatingFit: sat,
    perSeed,
    capacityBits,
    capacitySource: useFit ? "saturatingFit" : "plateauMax",
    bitsPerParameter: capacityBits / first.model.paramCount
  }
}

/** Capacity per model configuration (pure; fails when no run has the memorization value). */
export const capacityGroups = (
  results: ReadonlyArray<RunResult>,
  config: Pick<CapacityConfig, "metricKey" | "groupBy"> & { readonly bestOf?: ReadonlyArray<string> }
): Effect.Effect<ReadonlyArray<CapacityGroup>, LawError> => {
  const groups = new Map<string, Array<Point>>()
  for (const result of results) {
    const bits = metricNumber(result, "memorization", config.metricKey)
    if (bits === undefined) continue
    const k = groupKey(result, config.groupBy, config.bestOf)
    groups.set(k, [...(groups.get(k) ?? []), { result, bits }])
  }
  if (groups.size === 0) {
    return Effect.fail(
      new LawError({
        law: CAPACITY,
        message: `none of the ${results.length} results has metrics.memorization.${config.metricKey} (add the memorization metric to the spec)`
      })
    )
  }
  return Effect.succeed([...groups.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, ps]) => fitGroup(k, sortRuns(ps))))
}

/** capacity = α·P (+ intercept) across model configurations, and through the origin. */
const acrossModels = (groups: ReadonlyArray<CapacityGroup>): AcrossModels => {
  // In a fixed order (by parameter count, then key), so the fit does not depend on input order.
  const ordered = [...groups].sort((a, b) => a.paramCount - b.paramCount || (a.key < b.key ? -1 : 1))
  const ps = ordered.map((g) => g.paramCount)
  const cs = ordered.map((g) => g.capacityBits)
  const distinctP = new Set(ps).size
  if (distinctP < 2) {
    return {
      linear: null,
      throughOrigin: null,
      linearNote: `capacity = α·P needs at least 2 model configurations with different parameter counts, got ${distinctP}`
    }
  }
  const lf = linearFit(ps, cs)
  const of = originFit(ps, cs)
  return {
    linear: {
      alpha: lf.slope,
      alphaStdError: lf.slopeStdError,
      intercept: lf.intercept,
      interceptStdError: lf.interceptStdError,
      rSquared: lf.rSquared,
      n: lf.n,
      residuals: lf.residuals
    },
    throughOrigin: { alpha: of.slope, alphaStdError: of.slopeStdError, n: of.n },
    linearNote: lf.n === 2 ? "two model configurations: the line is exact, no standard errors" : null
  }
}

/** The across-model fits per precision, when the runs used more than one. */
const byPrecisionOf = (groups: ReadonlyArray<CapacityGroup>): { readonly [precision: string]: PrecisionFit } | null => {
  const precisions = [...new Set(groups.map((g) => g.precision))].sort()
  if (precisions.length < 2) return null
  return Object.fromEntries(
    precisions.map((p) => {
      const gs = groups.filter((g) => g.precision === p)
      return [p, { models: gs.length, ...acrossModels(gs), meanBitsPerParameter: mean(gs.map((g) => g.bitsPerParameter)) }]
    })
  )
}

/** The runs the fits read: all of them, or with `bestOf`, the best of each recipe search. */
export const searchedRuns = (
  results: ReadonlyArray<RunResult>,
  config: CapacityConfig
): Effect.Effect<{ readonly runs: ReadonlyArray<RunResult>; readonly bestOf: CapacityFit["bestOf"] }, LawError> => {
  if (config.bestOf.length === 0) return Effect.succeed({ runs: results, bestOf: null })
  // The model section is what is measured, not a recipe: runs of other heads or widths are other models.
  const model = config.bestOf.filter((p) => p === "model" || p.startsWith("model."))
  if (model.length > 0) {
    return Effect.fail(
      new LawError({
        law: CAPACITY,
        message: `bestOf: ${model.map((p) => `"${p}"`).join(", ")} is part of the model, not of its training recipe (search train.* paths such as train.lr; sweep model fields as separate models)`
      })
    )
  }
  // A path no run has is a typo (the search would silently collapse nothing): name it.
  const missing = config.bestOf.filter((p) => !results.some((r) => at(r.config, p) !== undefined))
  if (missing.length > 0) {
    return Effect.fail(
      new LawError({
        law: CAPACITY,
        message: `bestOf: ${missing.map((p) => `"${p}"`).join(", ")} is in no run's resolved config (paths look like train.lr or train.batchSize)`
      })
    )
  }
  const bitsOf = (r: RunResult) => metricNumber(r, "memorization", config.metricKey)
  const candidates = results.filter((r) => bitsOf(r) !== undefined)
  const runs = bestOfRuns(candidates, config.bestOf, bitsOf)
  return Effect.succeed({ runs, bestOf: { paths: config.bestOf, candidates: candidates.length, kept: runs.map((r) => r.runId).sort() } })
}

export const fitCapacity =
  (config: CapacityConfig) =>
  (results: ReadonlyArray<RunResult>): Effect.Effect<CapacityFit, LawError> =>
    Effect.gen(function* () {
      const { runs, bestOf } = yield* searchedRuns(results, config)
      const groups = yield* capacityGroups(runs, config)
      const { linear, throughOrigin, linearNote } = acrossModels(groups)
      const meanBitsPerParameter = mean(groups.map((g) => g.bitsPerParameter))
      const fitted = throughOrigin === null ? null : throughOrigin.alpha
      const alpha = config.predictionAlpha ?? fitted ?? meanBitsPerParameter
      const alphaSource = config.predictionAlpha !== undefined ? "config" : fitted !== null ? "throughOriginFit" : "meanBitsPerParameter"
      return {
        metricKey: `memorization.${config.metricKey}`,
        groups,
        linear,
        throughOrigin,
        linearNote,
        byPrecision: byPrecisionOf(groups),
        meanBitsPerParameter,
        bestOf,
        prediction: predictionOf(runs, config, groups, alpha, alphaSource)
      }
    })

/** min(N·H, α·P) against measured memorization, per run (runs without exact entropy are left out). */
export const predictionOf = (
  results: ReadonlyArray<RunResult>,
  config: CapacityConfig,
  groups: ReadonlyArray<CapacityGroup>,
  alpha: number,
  alphaSource: Prediction["alphaSource"]
): Prediction | null => {
  const labels = new Map(groups.map((g) => [g.key, g.label]))
  const points = sortRuns(results.map((result) => ({ result }))).flatMap(({ result }) => {
    const measured = metricNumber(result, "memorization", config.metricKey)
    const h = result.dataset.entropyBitsPerSequence
    if (measured === undefined || h === null) return []
    const datasetBits = result.dataset.trainCount * h
    const predictedBits = Math.min(datasetBits, alpha * result.model.paramCount)
    return [
      {
        runId: result.runId,
        model: labels.get(groupKey(result, config.groupBy, config.bestOf)) ?? groupLabel(result),
        paramCount: result.model.paramCount,
        vocabSize: result.dataset.vocabSize,
        seqLen: result.dataset.seqLen,
        trainCount: result.dataset.trainCount,
        datasetBits,
        predictedBits,
        measuredBits: measured,
        saturated: datasetBits > alpha * result.model.paramCount,
        relativeError: (measured - predictedBits) / predictedBits
      }
    ]
  })
  if (points.length === 0) return null
  const sat = points.filter((p) => p.saturated)
  return {
    alpha,
    alphaSource,
    points,
    meanAbsRelativeError: mean(points.map((p) => Math.abs(p.relativeError))),
    meanAbsRelativeErrorSaturated: sat.length === 0 ? null : mean(sat.map((p) => Math.abs(p.relativeError)))
  }
}

export const capacityPlugin = definePlugin({
  kind: "law",
  name: CAPACITY,
  description:
    "Capacity per model (plateau of total memorization over dataset sizes; saturating fit min(N·H, C) with its spread across seeds), bits per parameter, and capacity = α·P across models.",
  config: CapacityConfig,
  output: CapacityFitSchema,
  check: (c, input) => readsProblems(CAPACITY, [{ field: "metricKey", metric: "memorization", key: c.metricKey }], input),
  make: fitCapacity,
  // With bestOf, the report draws the runs the fits read, not the recipes they beat, and says so.
  report: (fit, results) => {
    const search = fit.bestOf
    if (!search) return capacityReport(fit, results)
    const note = `Each run is the best of a recipe search over ${search.paths.join(", ")}: ${search.kept.length} of ${search.candidates} runs kept (those that stored the most); the capacity fits and charts use only those.`
    return [
      ...capacityReport(
        fit,
        results.filter((r) => search.kept.includes(r.runId))
      ),
      { title: "Recipe search", headline: { facts: [], notes: [note] } }
    ]
  }
})
