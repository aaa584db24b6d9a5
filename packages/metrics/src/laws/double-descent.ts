/**
 * `double-descent` law: test loss against (dataset bits / capacity).
 * Capacity per model configuration comes from the capacity law's fit over
 * the same results (same grouping). Dataset bits = trainCount · H(x), with
 * H the exact entropy when known, else seqLen·log2 V (an upper bound; then
 * `datasetBitsSource` says "uniformBound"). Output keys:
 *
 *   points  [{ runId, model, trainCount, ratio, testLoss, trainLoss }]
 *   groups  [{ model, capacityBits, curve: [{ ratio, trainCount, testLoss (seed mean), n }],
 *              peak: { ratio, trainCount, testLoss } }]
 *   peakRatioMedian   median over models of the ratio where test loss peaks
 *   lossKey, datasetBitsSource
 */
import { Effect, Schema } from "effect"
import { definePlugin, LawError, withDefault, type RunResult } from "@memorize/core"
import { type DescentGroup, type DoubleDescentFit, DoubleDescentFitSchema } from "./double-descent-fit.ts"
import { mean, quantile } from "../numerics/stats.ts"
import { capacityFields, capacityGroups } from "./capacity.ts"
import { groupKey, metricNumber, sortRuns } from "./results.ts"
import { readsProblems } from "./reads.ts"
import { doubleDescentReport } from "../report/double-descent.ts"

export const DOUBLE_DESCENT = "double-descent"

export const DoubleDescentConfig = Schema.Struct({
  ...capacityFields,
  lossKey: withDefault(Schema.String.annotate({ description: "the loss metric's value taken as test loss (nats/token)" }), "holdout.meanNatsPerToken"),
  trainLossKey: withDefault(Schema.String.annotate({ description: "the loss metric's value taken as train loss (nats/token)" }), "train.meanNatsPerToken")
})
export type DoubleDescentConfig = typeof DoubleDescentConfig.Type

export const fitDoubleDescent =
  (config: DoubleDescentConfig) =>
  (results: ReadonlyArray<RunResult>): Effect.Effect<DoubleDescentFit, LawError> =>
    Effect.gen(function* () {
      const groups = yield* capacityGroups(results, config)
      const capacity = new Map(groups.map((g) => [g.key, g]))
      let uniformBound = false
      const byGroup = new Map<string, Array<{ runId: string; trainCount: number; ratio: number; testLoss: number; trainLoss: number | null }>>()
      for (const { result } of sortRuns(results.map((result) => ({ result })))) {
        const testLoss = metricNumber(result, "loss", config.lossKey)
        const g = capacity.get(groupKey(result, config.groupBy))
        if (testLoss === undefined || g === undefined || !(g.capacityBits > 0)) continue
        const h = result.dataset.entropyBitsPerSequence ?? result.dataset.seqLen * Math.log2(result.dataset.vocabSize)
        if (result.dataset.entropyBitsPerSequence === null) uniformBound = true
        const ratio = (result.dataset.trainCount * h) / g.capacityBits
        byGroup.set(g.key, [
          ...(byGroup.get(g.key) ?? []),
          { runId: result.runId, trainCount: result.dataset.trainCount, ratio, testLoss, trainLoss: metricNumber(result, "loss", config.trainLossKey) ?? null }
        ])
      }
      if (byGroup.size === 0) {
        return yield* Effect.fail(
          new LawError({
            law: DOUBLE_DESCENT,
            message: `no result has both metrics.loss.${config.lossKey} and a positive capacity (add the loss and memorization metrics to the spec)`
          })
        )
      }
      const points: Array<DoubleDescentFit["points"][number]> = []
      const out: Array<DescentGroup> = []
      const peaks: Array<number> = []
      for (const g of groups) {
        const pts = byGroup.get(g.key)
        if (pts === undefined) continue
        for (const p of pts) points.push({ model: g.label, ...p })
        const sizes = [...new Set(pts.map((p) => p.trainCount))].sort((a, b) => a - b)
        const curve = sizes.map((n) => {
          const here = pts.filter((p) => p.trainCount === n)
          return { trainCount: n, ratio: here[0].ratio, testLoss: mean(here.map((p) => p.testLoss)), n: here.length }
        })
        let peak = curve[0]
        for (const c of curve) if (c.testLoss > peak.testLoss) peak = c
        peaks.push(peak.ratio)
        out.push({ model: g.label, capacityBits: g.capacityBits, curve, peak: { ratio: peak.ratio, trainCount: peak.trainCount, testLoss: peak.testLoss } })
      }
      return {
        lossKey: `loss.${config.lossKey}`,
        datasetBitsSource: uniformBound ? "uniformBound" : "entropy",
        points,
        groups: out,
        peakRatioMedian: quantile(peaks, 0.5)
      }
    })

export const doubleDescentPlugin = definePlugin({
  kind: "law",
  name: DOUBLE_DESCENT,
  description: "Test loss against dataset bits / capacity, with the location of the peak.",
  config: DoubleDescentConfig,
  output: DoubleDescentFitSchema,
  check: (c, input) =>
    readsProblems(
      DOUBLE_DESCENT,
      [
        { field: "metricKey", metric: "memorization", key: c.metricKey },
        { field: "lossKey", metric: "loss", key: c.lossKey },
        { field: "trainLossKey", metric: "loss", key: c.trainLossKey }
      ],
      input
    ),
  make: fitDoubleDescent,
  report: (fit, results) => doubleDescentReport(fit, results)
})
