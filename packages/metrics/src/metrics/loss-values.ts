/**
 * What the loss metric stores (result.json `metrics.loss`): its output
 * Schema, and the types drawn from it.
 */
import { Schema } from "effect"
import { NonNegativeInt } from "@memorize/core"

/** Mean loss over one set of sequences; per-token values divide by seqLen, the first token included. */
export const LossSummarySchema = Schema.Struct({
  count: NonNegativeInt.annotate({ description: "sequences" }),
  meanBitsPerSequence: Schema.Finite.annotate({ description: "mean code length L(x|θ̂), bits per sequence" }),
  meanBitsPerToken: Schema.Finite.annotate({ description: "bits per token" }),
  meanNatsPerToken: Schema.Finite.annotate({ description: "nats per token (the training loss's unit)" })
})
export type LossSummary = typeof LossSummarySchema.Type

export const LossValuesSchema = Schema.Struct({
  train: LossSummarySchema,
  holdout: Schema.NullOr(LossSummarySchema).annotate({ description: "the test loss; null when the dataset has no holdout" })
})
export type LossValues = typeof LossValuesSchema.Type
