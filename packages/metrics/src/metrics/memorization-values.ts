/**
 * What the memorization metric stores (result.json `metrics.memorization`):
 * its output Schema, and the types drawn from it. Field order is the order
 * the metric has always written them in, so result.json reads the same.
 */
import { Schema } from "effect"
import { NonNegativeInt } from "@memorize/core"
import { BitsSummarySchema } from "./bits-summary.ts"
import { Bits } from "./quantities.ts"

/** Which estimate the headline is: against the exact entropy (synthetic data) or a reference model. */
export const EstimateSchema = Schema.Literals(["synthetic", "reference"])
export type Estimate = typeof EstimateSchema.Type

/** The numbers for one set of sequences (the members, or the holdout). */
export const MemorizationSectionSchema = Schema.Struct({
  estimate: EstimateSchema,
  // The headline, unintended memorization of these sequences, spread in as a BitsSummary.
  ...BitsSummarySchema.fields,
  codeLength: BitsSummarySchema.annotate({ description: "L(x|θ̂), the trained model's code length, bits per sequence" }),
  referenceCodeLength: Schema.NullOr(BitsSummarySchema).annotate({ description: "L(x|θ), the reference model's code length; null without a reference" }),
  totalMemorization: Schema.NullOr(BitsSummarySchema).annotate({
    description: "max(0, H − L(x|θ̂)) per sequence; null when the dataset has no exact entropy H"
  }),
  generalizationBits: Schema.NullOr(Bits).annotate({ description: "totalMemorization.totalBits − totalBits; null with totalMemorization" })
})
export type MemorizationSection = typeof MemorizationSectionSchema.Type

/** The model a reference estimate was measured against. */
export const ModelSummarySchema = Schema.Struct({
  kind: Schema.String,
  paramCount: NonNegativeInt,
  precision: Schema.String
})

export const MemorizationValuesSchema = Schema.Struct({
  ...MemorizationSectionSchema.fields,
  entropyBitsPerSequence: Schema.NullOr(Bits).annotate({ description: "exact entropy H(x) of one sequence, bits; null when the dataset does not know it" }),
  reference: Schema.NullOr(ModelSummarySchema).annotate({ description: "the reference model; null for the synthetic estimate" }),
  holdout: Schema.NullOr(MemorizationSectionSchema).annotate({
    description: "the same for the non-members (the generalization baseline); null without a holdout"
  })
})
export type MemorizationValues = typeof MemorizationValuesSchema.Type
