/**
 * What the rarity metric stores (result.json `metrics.rarity`): its output
 * Schema, and the types drawn from it.
 */
import { Schema } from "effect"
import { NonNegativeInt } from "@memorize/core"
import { EstimateSchema } from "./memorization-values.ts"
import { Bits } from "./quantities.ts"

/**
 * A correlation; null where it is undefined (fewer than two samples, or a
 * constant variable). Not bounded to [−1, 1] here: rounding may step past ±1.
 */
const Correlation = Schema.NullOr(Schema.Finite)

const sample = {
  index: NonNegativeInt.annotate({ description: "the member's position in the training set" }),
  memorizationBits: Bits.annotate({ description: "its memorization, bits (the estimate `estimate` names)" }),
  rarity: Schema.Finite.annotate({ description: "its TF-IDF rarity, from the dataset plugin" })
}

/** One of the most memorized members: decoded to text when the dataset has a tokenizer, else its token ids. */
export const RaritySampleSchema = Schema.Union([
  Schema.Struct({ ...sample, text: Schema.String }),
  Schema.Struct({ ...sample, tokens: Schema.Array(NonNegativeInt) })
])
export type RaritySample = typeof RaritySampleSchema.Type

export const RarityValuesSchema = Schema.Struct({
  count: NonNegativeInt.annotate({ description: "members correlated" }),
  estimate: EstimateSchema,
  pearson: Correlation.annotate({ description: "Pearson correlation of rarity with memorization" }),
  spearman: Correlation.annotate({ description: "Spearman rank correlation of rarity with memorization" }),
  top: Schema.Array(RaritySampleSchema).annotate({ description: "the most memorized members, most first" })
})
export type RarityValues = typeof RarityValuesSchema.Type
