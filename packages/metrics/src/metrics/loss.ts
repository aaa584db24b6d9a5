/**
 * `loss` metric: train and test loss for the double-descent analysis; the
 * stored keys are in loss-values.ts. Per-token values divide by seqLen, the
 * first token included (the model contract codes it at log2 V bits when
 * there is no BOS token).
 */
import { Effect } from "effect"
import { definePlugin, MetricError, type MetricImpl, type MetricSubject } from "@memorize/core"
import { mean } from "../numerics/stats.ts"
import { NoOptions } from "./no-options.ts"
import { lossReport } from "../report/metrics.ts"
import { checkCompatible, codeLengthsOf } from "./common.ts"
import { LossValuesSchema, type LossSummary, type LossValues } from "./loss-values.ts"

export const LOSS = "loss"

export const lossSummary = (bits: ArrayLike<number>, seqLen: number): LossSummary => {
  const perSeq = mean(bits)
  return {
    count: bits.length,
    meanBitsPerSequence: perSeq,
    meanBitsPerToken: perSeq / seqLen,
    meanNatsPerToken: (perSeq * Math.LN2) / seqLen
  }
}

export const measureLoss: MetricImpl<LossValues> = Effect.fn("measureLoss")(function* (subject: MetricSubject) {
  const { model, dataset } = subject
  yield* checkCompatible(LOSS, model, dataset, "model")
  if (dataset.train.count === 0) {
    return yield* Effect.fail(new MetricError({ metric: LOSS, message: `dataset "${dataset.kind}" has no training sequences` }))
  }
  const train = lossSummary(yield* codeLengthsOf(LOSS, model, dataset.train, "model"), dataset.seqLen)
  const holdout = dataset.holdout.count === 0 ? null : lossSummary(yield* codeLengthsOf(LOSS, model, dataset.holdout, "model"), dataset.seqLen)
  return { train, holdout }
})

export const lossPlugin = definePlugin({
  kind: "metric",
  name: LOSS,
  description: "Train and holdout loss (nats/token, bits/sequence), for the double-descent analysis.",
  config: NoOptions,
  output: LossValuesSchema,
  make: () => measureLoss,
  report: lossReport
})
