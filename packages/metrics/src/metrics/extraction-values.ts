/**
 * What the extraction metric stores (result.json `metrics.extraction`): its
 * output Schema, and the types drawn from it.
 */
import { Schema } from "effect"
import { NonNegativeInt, PositiveInt } from "@memorize/core"
import { Rate } from "./quantities.ts"

/** Greedy extraction on one set of sequences at one prefix length. */
export const ExtractionCountsSchema = Schema.Struct({
  count: NonNegativeInt.annotate({ description: "sequences tried" }),
  exactMatches: NonNegativeInt.annotate({ description: "sequences whose greedy continuation equals their true suffix exactly" }),
  rate: Rate.annotate({ description: "exactMatches / count" })
})
export type ExtractionCounts = typeof ExtractionCountsSchema.Type

export const ExtractionPrefixSchema = Schema.Struct({
  prefixLength: PositiveInt.annotate({ description: "tokens given" }),
  suffixLength: PositiveInt.annotate({ description: "tokens that must come out exactly (seqLen − prefixLength)" }),
  train: ExtractionCountsSchema,
  holdout: Schema.NullOr(ExtractionCountsSchema).annotate({ description: "null when the dataset has no holdout" })
})
export type ExtractionPrefix = typeof ExtractionPrefixSchema.Type

/** Rates keyed by prefix length ("8", "16", ...), for quick reading. */
const RateByPrefix = Schema.Record(Schema.String, Rate)

export const ExtractionValuesSchema = Schema.Struct({
  prefixLengths: Schema.Array(PositiveInt).annotate({ description: "the prefix lengths used (those shorter than the sequences), ascending" }),
  skippedPrefixLengths: Schema.Array(PositiveInt).annotate({ description: "configured prefix lengths ≥ seqLen: no suffix left to extract" }),
  byPrefix: Schema.Array(ExtractionPrefixSchema),
  trainRate: RateByPrefix,
  holdoutRate: RateByPrefix.annotate({ description: "empty when the dataset has no holdout" })
})
export type ExtractionValues = typeof ExtractionValuesSchema.Type
