/** What the double-descent law stores (laws.json "double-descent") and its report reads. */
import { Schema } from "effect"

export const DescentPointSchema = Schema.Struct({
  model: Schema.String,
  runId: Schema.String,
  trainCount: Schema.Int,
  /** Dataset bits / the model's capacity. */
  ratio: Schema.Finite,
  testLoss: Schema.Finite,
  trainLoss: Schema.NullOr(Schema.Finite)
})

const CurvePointSchema = Schema.Struct({ trainCount: Schema.Int, ratio: Schema.Finite, testLoss: Schema.Finite, n: Schema.Int })

export const DescentGroupSchema = Schema.Struct({
  model: Schema.String,
  capacityBits: Schema.Finite,
  /** Test loss per dataset size, the mean over seeds. */
  curve: Schema.Array(CurvePointSchema),
  peak: Schema.Struct({ ratio: Schema.Finite, trainCount: Schema.Int, testLoss: Schema.Finite })
})
export type DescentGroup = typeof DescentGroupSchema.Type

export const DoubleDescentFitSchema = Schema.Struct({
  lossKey: Schema.String,
  /** "entropy" (exact H) or "uniformBound" (seqLen·log2 V where some dataset has no exact entropy). */
  datasetBitsSource: Schema.Literals(["entropy", "uniformBound"]),
  points: Schema.Array(DescentPointSchema),
  groups: Schema.Array(DescentGroupSchema),
  /** Median over models of the ratio where test loss peaks. */
  peakRatioMedian: Schema.Finite
})
export type DoubleDescentFit = typeof DoubleDescentFitSchema.Type
