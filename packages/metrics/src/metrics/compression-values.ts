/**
 * What the compression metric stores (result.json `metrics.compression`):
 * its output Schema, and the types drawn from it. C(x) is the length of a
 * sequence's arithmetic code word alone (the decoder also needs its length
 * and the sequence length: the file index, 2 bytes per sequence at S < 128);
 * L(x) = −Σ log2 p is the code length the other metrics use as the estimate.
 */
import { Schema } from "effect"
import { NonNegativeInt, PositiveInt } from "@memorize/core"
import { BitsSummarySchema } from "./bits-summary.ts"
import { Bits } from "./quantities.ts"

/** Where H, the bits a sequence holds, came from: the dataset's exact entropy or the reference model's L(x|θ). */
export const EntropySourceSchema = Schema.Literals(["exact", "reference"])

export const VerifiedMemorizationSchema = Schema.Struct({
  entropy: EntropySourceSchema,
  estimate: BitsSummarySchema.annotate({ description: "max(0, H − L(x)) per sequence, bits" }),
  verified: BitsSummarySchema.annotate({ description: "max(0, H − C(x)) per sequence, bits" })
})
export type VerifiedMemorization = typeof VerifiedMemorizationSchema.Type

/** One set of sequences (the members, or the holdout), every one coded and decoded back. */
export const CompressionSectionSchema = Schema.Struct({
  count: NonNegativeInt.annotate({ description: "sequences" }),
  tokens: NonNegativeInt.annotate({ description: "tokens in them" }),
  compressedBits: BitsSummarySchema.annotate({ description: "C(x), bits of the code word" }),
  codeLength: BitsSummarySchema.annotate({ description: "L(x|θ̂) from model.codeLengths, bits" }),
  overheadBits: Bits.annotate({ description: "Σ (C − L), bits" }),
  overheadBitsPerSequence: Bits.annotate({ description: "overheadBits / count" }),
  maxOverheadBits: Bits.annotate({ description: "max over sequences of C − L, bits" }),
  logitCodeLengthBits: Bits.annotate({
    description:
      "Σ −log2 p from the float32 logits the coder saw (differs from Σ L by the model's float32 rounding, and with BOS by BOS's mass, which the coder leaves out as BOS never occurs inside data)"
  }),
  quantizationLossBits: Bits.annotate({ description: "measured cost of quantizing p to f/T: Σ −log2 (f/T) − logitCodeLengthBits" }),
  quantizationBoundBits: Bits.annotate({ description: "its bound: tokens · −log2(1 − V/T)" }),
  coderBoundBits: Bits.annotate({ description: "Σ over sequences of (the coder's truncation bound + 2 bits)" }),
  maxSlackBits: Bits.annotate({ description: "max over sequences of C − its bound: ≤ 0 (else the metric fails)" }),
  roundTrip: Schema.Struct({
    checked: NonNegativeInt.annotate({ description: "sequences decoded back" }),
    exact: NonNegativeInt.annotate({ description: "those equal to the original (all: a mismatch fails the metric)" })
  }),
  memorization: Schema.NullOr(VerifiedMemorizationSchema).annotate({
    description: "null when H is unknown: no exact entropy and no reference model"
  })
})
export type CompressionSection = typeof CompressionSectionSchema.Type

export const CompressionValuesSchema = Schema.Struct({
  freqBits: PositiveInt.annotate({ description: "log2 of the coder's frequency total T" }),
  batch: PositiveInt.annotate({ description: "sequences per model call" }),
  entropy: Schema.NullOr(EntropySourceSchema).annotate({ description: "the members' memorization.entropy; null without H" }),
  estimateBits: Schema.NullOr(Bits).annotate({ description: "members' Σ max(0, H − L), bits; null without H" }),
  verifiedBits: Schema.NullOr(Bits).annotate({ description: "members' Σ max(0, H − C), bits; null without H" }),
  train: CompressionSectionSchema,
  holdout: Schema.NullOr(CompressionSectionSchema).annotate({ description: "null without a holdout or with holdout: false" })
})
export type CompressionValues = typeof CompressionValuesSchema.Type
