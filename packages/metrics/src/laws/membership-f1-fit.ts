/**
 * What the membership-f1 law stores (laws.json "membership-f1") and its
 * report and `memorize predict` read.
 */
import { Schema } from "effect"

export const ConstantsSchema = Schema.Struct({ c1: Schema.Finite, c2: Schema.Finite, c3: Schema.Finite })

export const FeatureSchema = Schema.Literals(["capacityPerSample", "samplesPerParameter"])

/** A law: its x (feature, α) and constants (f1-law.ts). */
export const F1LawSchema = Schema.Struct({ feature: FeatureSchema, alpha: Schema.Finite, constants: ConstantsSchema })

export const F1PointSchema = Schema.Struct({
  runId: Schema.String,
  paramCount: Schema.Int,
  trainCount: Schema.Int,
  x: Schema.Finite,
  f1: Schema.Finite,
  predicted: Schema.Finite,
  residual: Schema.Finite,
  /** The paper's law evaluated for this run. */
  paperPredicted: Schema.Finite
})
export type F1Point = typeof F1PointSchema.Type

const MaybeFinite = Schema.NullOr(Schema.Finite)

export const HeldOutSchema = Schema.Struct({
  /** Dotted config path and the values that held a run out of the fit. */
  path: Schema.String,
  values: Schema.Array(Schema.Unknown),
  n: Schema.Int,
  points: Schema.Array(F1PointSchema),
  rmse: MaybeFinite,
  meanAbsError: MaybeFinite,
  maxAbsError: MaybeFinite
})

export const MembershipF1FitSchema = Schema.Struct({
  feature: FeatureSchema,
  alpha: Schema.Finite,
  f1Key: Schema.String,
  n: Schema.Int,
  constants: ConstantsSchema,
  /** Null when the fit has no residual degrees of freedom (3 runs). */
  stdErrors: Schema.NullOr(ConstantsSchema),
  ssr: Schema.Finite,
  rmse: Schema.Finite,
  converged: Schema.Boolean,
  iterations: Schema.Int,
  points: Schema.Array(F1PointSchema),
  /** Null without config.holdout. */
  heldOut: Schema.NullOr(HeldOutSchema),
  /** The paper's law in the form that reproduces its validation. */
  paper: F1LawSchema
})
export type MembershipF1Fit = typeof MembershipF1FitSchema.Type
