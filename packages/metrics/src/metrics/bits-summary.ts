/**
 * The stored shape of one distribution of per-sample bits (summarizeBits in
 * numerics/stats.ts), shared by the metrics that report such distributions
 * (memorization, compression) so that all of them store it alike.
 */
import { Schema } from "effect"
import { NonNegativeInt } from "@memorize/core"
import { Bits } from "./quantities.ts"

export const BitsSummarySchema = Schema.Struct({
  count: NonNegativeInt.annotate({ description: "sequences summarized" }),
  totalBits: Bits.annotate({ description: "sum over the sequences, bits" }),
  meanBits: Bits.annotate({ description: "mean per sequence, bits" }),
  // A record, not seven fields: `quantiles` (stats.ts) keys whatever levels it is given.
  quantiles: Schema.Record(Schema.String, Bits).annotate({
    description: "bits per sequence at the levels p0, p5, p25, p50, p75, p95, p100 (type-7 interpolation)"
  })
})
/** A type alias drawn from the Schema, so it is assignable to Json as it is. */
export type BitsSummary = typeof BitsSummarySchema.Type
