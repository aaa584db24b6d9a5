/**
 * What the capacity law stores (laws.json "capacity") and its report reads:
 * the output Schema of capacity.ts, and the types drawn from it. The
 * double-descent law groups runs the same way and reuses `CapacityGroup`.
 */
import { Schema } from "effect"

const Bits = Schema.Finite
const MaybeFinite = Schema.NullOr(Schema.Finite)

/** y = min(N·H, C) fitted to one model's runs (saturating.ts). */
export const SaturatingFitSchema = Schema.Struct({
  capacityBits: Bits,
  /** Whether some dataset held more bits than C: without it C is the largest measured value, a lower bound. */
  saturated: Schema.Boolean,
  ssr: Schema.Finite,
  n: Schema.Int
})

export const SizeSchema = Schema.Struct({
  trainCount: Schema.Int,
  datasetBits: MaybeFinite,
  meanBits: Bits,
  sdBits: MaybeFinite,
  n: Schema.Int
})

export const CapacityGroupSchema = Schema.Struct({
  key: Schema.String,
  label: Schema.String,
  paramCount: Schema.Int,
  precision: Schema.String,
  runs: Schema.Int,
  entropyBitsPerSequence: MaybeFinite,
  sizes: Schema.Array(SizeSchema),
  plateauMaxBits: Bits,
  plateauAtTrainCount: Schema.Int,
  saturatingFit: Schema.NullOr(SaturatingFitSchema),
  perSeed: Schema.NullOr(Schema.Struct({ mean: Bits, sd: MaybeFinite, stdError: MaybeFinite, n: Schema.Int, values: Schema.Array(Bits) })),
  capacityBits: Bits,
  capacitySource: Schema.Literals(["saturatingFit", "plateauMax"]),
  bitsPerParameter: Schema.Finite
})
export type CapacityGroup = typeof CapacityGroupSchema.Type

export const LinearSchema = Schema.Struct({
  alpha: Schema.Finite,
  alphaStdError: MaybeFinite,
  intercept: Schema.Finite,
  interceptStdError: MaybeFinite,
  rSquared: Schema.Finite,
  n: Schema.Int,
  residuals: Schema.Array(Schema.Finite)
})

export const OriginSchema = Schema.Struct({ alpha: Schema.Finite, alphaStdError: MaybeFinite, n: Schema.Int })

/** capacity = α·P across model configurations (null fits, with the reason, below two distinct P). */
export const AcrossModelsSchema = Schema.Struct({
  linear: Schema.NullOr(LinearSchema),
  throughOrigin: Schema.NullOr(OriginSchema),
  linearNote: Schema.NullOr(Schema.String)
})
export type AcrossModels = typeof AcrossModelsSchema.Type

export const PrecisionFitSchema = Schema.Struct({
  ...AcrossModelsSchema.fields,
  models: Schema.Int,
  meanBitsPerParameter: Schema.Finite
})
export type PrecisionFit = typeof PrecisionFitSchema.Type

export const PredictionPointSchema = Schema.Struct({
  runId: Schema.String,
  model: Schema.String,
  paramCount: Schema.Int,
  vocabSize: Schema.Int,
  seqLen: Schema.Int,
  trainCount: Schema.Int,
  datasetBits: Bits,
  predictedBits: Bits,
  measuredBits: Bits,
  saturated: Schema.Boolean,
  relativeError: Schema.Finite
})

export const PredictionSchema = Schema.Struct({
  alpha: Schema.Finite,
  alphaSource: Schema.Literals(["config", "throughOriginFit", "meanBitsPerParameter"]),
  points: Schema.Array(PredictionPointSchema),
  meanAbsRelativeError: Schema.Finite,
  meanAbsRelativeErrorSaturated: MaybeFinite
})
export type Prediction = typeof PredictionSchema.Type

export const CapacityFitSchema = Schema.Struct({
  /** Where memorization was read: "memorization.<metricKey>". */
  metricKey: Schema.String,
  groups: Schema.Array(CapacityGroupSchema),
  ...AcrossModelsSchema.fields,
  /** The across-model fits per precision, when the runs used more than one (else null; absent in fits stored before it existed). */
  byPrecision: Schema.optionalKey(Schema.NullOr(Schema.Record(Schema.String, PrecisionFitSchema))),
  meanBitsPerParameter: Schema.Finite,
  /** With the law's `bestOf`: the paths searched over, how many runs were candidates, the ids of those kept (else null; absent in fits stored before it existed). */
  bestOf: Schema.optionalKey(Schema.NullOr(Schema.Struct({ paths: Schema.Array(Schema.String), candidates: Schema.Int, kept: Schema.Array(Schema.String) }))),
  /** Null when no run's data has an exact entropy. */
  prediction: Schema.NullOr(PredictionSchema)
})
export type CapacityFit = typeof CapacityFitSchema.Type
