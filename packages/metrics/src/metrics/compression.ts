/**
 * `compression` metric: memorization you can check bit by bit. Every member
 * (and holdout) sequence is arithmetic-coded under the trained model and
 * decoded back; its real code word length C(x) stands beside the code length
 * L(x) = −Σ log2 p that the other metrics use as the estimate.
 *
 * What each stored key means: compression-values.ts.
 */
import { Effect, Schema } from "effect"
import {
  definePlugin,
  MetricError,
  withDefault,
  type MetricImpl,
  type MetricSubject,
  type ModelError,
  quantizationBound,
  type TokenSequences
} from "@memorize/core"
import { decodeSequences, encodeSequences, type LogitsSource } from "../compression/codec.ts"
import { MAX_FREQ_BITS, MIN_FREQ_BITS } from "../compression/range-coder.ts"
import { summarizeBits } from "../numerics/stats.ts"
import { compressionReport } from "../report/compression.ts"
import { checkCompatible, codeLengthsOf } from "./common.ts"
import { CompressionValuesSchema, type CompressionSection, type CompressionValues } from "./compression-values.ts"

export const COMPRESSION = "compression"

export const CompressionConfig = Schema.Struct({
  batch: withDefault(
    Schema.Int.check(Schema.isGreaterThan(0)).annotate({
      description: "sequences per model call (encoder and decoder use the same batches); memory grows with it"
    }),
    256
  ),
  freqBits: withDefault(
    Schema.Int.check(Schema.isBetween({ minimum: MIN_FREQ_BITS, maximum: MAX_FREQ_BITS })).annotate({
      description: "log2 of the coder's frequency total T: quantization costs at most −log2(1 − V/T) bits per token"
    }),
    MAX_FREQ_BITS
  ),
  holdout: withDefault(Schema.Boolean.annotate({ description: "also compress the holdout (non-members), for the verified-memorization baseline" }), true)
})
export type CompressionConfig = typeof CompressionConfig.Type

const sum = (xs: ArrayLike<number>) => {
  let s = 0
  for (let i = 0; i < xs.length; i++) s += xs[i]
  return s
}

const positivePart = (h: ArrayLike<number>, lengths: ArrayLike<number>) =>
  Float64Array.from({ length: lengths.length }, (_, i) => Math.max(0, h[i] - lengths[i]))

const section = (
  config: CompressionConfig,
  subject: MetricSubject,
  source: LogitsSource,
  name: "train" | "holdout",
  seqs: TokenSequences
): Effect.Effect<CompressionSection, MetricError | ModelError> =>
  Effect.gen(function* () {
    const options = { batch: config.batch, freqBits: config.freqBits }
    const codeLengths = yield* codeLengthsOf(COMPRESSION, subject.model, seqs, "model")
    const encoded = yield* encodeSequences(source, seqs, options)
    const decoded = yield* decodeSequences(source, encoded.codes, seqs, options)
    const S = seqs.seqLen
    let exact = 0
    let firstWrong = -1
    for (let i = 0; i < seqs.count; i++) {
      let same = true
      for (let t = 0; t < S && same; t++) same = decoded.tokens[i * S + t] === seqs.tokens[i * S + t]
      if (same) exact++
      else if (firstWrong < 0) firstWrong = i
    }
    if (firstWrong >= 0) {
      return yield* new MetricError({
        metric: COMPRESSION,
        message: `${seqs.count - exact} of ${seqs.count} ${name} sequences did not decode to themselves (first: ${firstWrong}): the model computed other next-token logits when decoding than when encoding, for the same prefixes`
      })
    }
    const compressed = Float64Array.from(encoded.codes, (c) => c.bitLength)
    let maxSlack = -Infinity
    let maxOverhead = -Infinity
    for (let i = 0; i < seqs.count; i++) {
      maxSlack = Math.max(maxSlack, compressed[i] - encoded.boundBits[i])
      maxOverhead = Math.max(maxOverhead, compressed[i] - codeLengths[i])
      if (compressed[i] > encoded.boundBits[i]) {
        return yield* new MetricError({
          metric: COMPRESSION,
          message: `${name} sequence ${i} was coded in ${compressed[i]} bits, above its bound of ${encoded.boundBits[i].toFixed(3)} (a coder defect)`
        })
      }
    }
    const tokens = seqs.count * S
    const logitTotal = sum(encoded.logitBits)
    const entropy = subject.dataset.entropyBitsPerSequence
    const h =
      entropy !== undefined
        ? new Float64Array(seqs.count).fill(entropy)
        : subject.reference !== undefined
          ? yield* codeLengthsOf(COMPRESSION, subject.reference, seqs, "reference model")
          : undefined
    return {
      count: seqs.count,
      tokens,
      compressedBits: summarizeBits(compressed),
      codeLength: summarizeBits(codeLengths),
      overheadBits: sum(compressed) - sum(codeLengths),
      overheadBitsPerSequence: (sum(compressed) - sum(codeLengths)) / seqs.count,
      maxOverheadBits: maxOverhead,
      logitCodeLengthBits: logitTotal,
      quantizationLossBits: sum(encoded.quantizedBits) - logitTotal,
      quantizationBoundBits: tokens * quantizationBound(seqs.vocabSize, config.freqBits),
      coderBoundBits: sum(encoded.boundBits) - sum(encoded.quantizedBits),
      maxSlackBits: maxSlack,
      roundTrip: { checked: seqs.count, exact },
      memorization:
        h === undefined
          ? null
          : {
              entropy: entropy !== undefined ? "exact" : "reference",
              estimate: summarizeBits(positivePart(h, codeLengths)),
              verified: summarizeBits(positivePart(h, compressed))
            }
    }
  })

export const measureCompression = (config: CompressionConfig): MetricImpl<CompressionValues> =>
  Effect.fn("measureCompression")(function* (subject: MetricSubject) {
    const { model, dataset } = subject
    yield* checkCompatible(COMPRESSION, model, dataset, "model")
    if (subject.reference !== undefined && dataset.entropyBitsPerSequence === undefined) {
      yield* checkCompatible(COMPRESSION, subject.reference, dataset, "reference model")
    }
    if (model.nextTokenStepper === undefined && model.nextTokenLogits === undefined) {
      return yield* new MetricError({
        metric: COMPRESSION,
        message: `model "${model.description.kind}" does not provide nextTokenLogits (or nextTokenStepper), which arithmetic coding needs`
      })
    }
    if (2 ** config.freqBits <= 2 * dataset.vocabSize) {
      return yield* new MetricError({
        metric: COMPRESSION,
        message: `freqBits ${config.freqBits} is too small for a vocabulary of ${dataset.vocabSize} (2^freqBits must exceed 2·V)`
      })
    }
    if (dataset.train.count === 0) {
      return yield* new MetricError({ metric: COMPRESSION, message: `dataset "${dataset.kind}" has no training (member) sequences` })
    }
    const source: LogitsSource = model
    const train = yield* section(config, subject, source, "train", dataset.train)
    const holdout = config.holdout && dataset.holdout.count > 0 ? yield* section(config, subject, source, "holdout", dataset.holdout) : null
    const mem = train.memorization
    return {
      freqBits: config.freqBits,
      batch: config.batch,
      entropy: mem?.entropy ?? null,
      estimateBits: mem?.estimate.totalBits ?? null,
      verifiedBits: mem?.verified.totalBits ?? null,
      train,
      holdout
    }
  })

export const compressionPlugin = definePlugin({
  kind: "metric",
  name: COMPRESSION,
  description:
    "Verified memorization: arithmetic-codes every sequence under the model and decodes it back; compressed bits beside the code length, overhead, quantization loss and its bound, and Σ max(0, H − compressed bits) beside the estimate Σ max(0, H − L).",
  config: CompressionConfig,
  output: CompressionValuesSchema,
  check: (config, { run }) => {
    const V = run.dataset.vocabSize
    return Effect.succeed(
      V !== undefined && 2 ** config.freqBits <= 2 * V
        ? [{ path: ["freqBits"], message: `2^${config.freqBits} total frequency is too small for a vocabulary of ${V} (it must exceed 2·V)` }]
        : []
    )
  },
  make: measureCompression,
  report: compressionReport
})
