/**
 * `extraction` metric: greedy continuation from the first k tokens of every
 * sequence; a sample is extracted when the continuation equals its true
 * suffix exactly. What each stored key means: extraction-values.ts.
 */
import { Effect, Schema } from "effect"
import {
  definePlugin,
  MetricError,
  PositiveInt,
  withDefault,
  type MetricImpl,
  type MetricSubject,
  type ModelError,
  type TokenSequences,
  type TrainedModel
} from "@memorize/core"
import { extractionNeeds } from "./requirements.ts"
import { permutation } from "../numerics/random.ts"
import { extractionReport } from "../report/metrics.ts"
import { checkCompatible, prefixes, subset } from "./common.ts"
import { ExtractionValuesSchema, type ExtractionCounts, type ExtractionPrefix, type ExtractionValues } from "./extraction-values.ts"

export const EXTRACTION = "extraction"

/** Number of rows whose generated suffix equals the true one. Pure. */
export const exactSuffixMatches = (seqs: TokenSequences, prefixLength: number, generated: Uint32Array): number => {
  const len = seqs.seqLen - prefixLength
  let matches = 0
  for (let i = 0; i < seqs.count; i++) {
    let same = true
    for (let t = 0; t < len && same; t++) same = generated[i * len + t] === seqs.tokens[i * seqs.seqLen + prefixLength + t]
    if (same) matches++
  }
  return matches
}

const rateOn = (model: TrainedModel, seqs: TokenSequences, k: number): Effect.Effect<ExtractionCounts, MetricError | ModelError> =>
  Effect.gen(function* () {
    const len = seqs.seqLen - k
    const generated = yield* model.generate(prefixes(seqs, k), len)
    if (generated.length !== seqs.count * len) {
      return yield* Effect.fail(
        new MetricError({ metric: EXTRACTION, message: `model generated ${generated.length} tokens for ${seqs.count} prefixes × ${len}` })
      )
    }
    const exactMatches = exactSuffixMatches(seqs, k, generated)
    return { count: seqs.count, exactMatches, rate: exactMatches / seqs.count }
  })

export const ExtractionConfig = Schema.Struct({
  prefixLengths: withDefault(
    Schema.NonEmptyArray(PositiveInt).annotate({
      description: "prefix lengths (tokens) greedy decoding starts from; the rest must come out exactly; the paper: 8, 16, 32"
    }),
    [8, 16, 32]
  ),
  maxSamples: Schema.optional(PositiveInt).annotate({
    description: "at most this many sequences per set, a seeded subset (generation is the costly part); default: all"
  })
})

const capped = (seqs: TokenSequences, max: number | undefined, seed: number): TokenSequences =>
  max === undefined || seqs.count <= max ? seqs : subset(seqs, permutation(seqs.count, seed).subarray(0, max))

export const measureExtraction = (config: typeof ExtractionConfig.Type): MetricImpl<ExtractionValues> =>
  Effect.fn("measureExtraction")(function* (subject: MetricSubject) {
    const { model, dataset, context } = subject
    yield* checkCompatible(EXTRACTION, model, dataset, "model")
    if (dataset.train.count === 0) {
      return yield* Effect.fail(new MetricError({ metric: EXTRACTION, message: `dataset "${dataset.kind}" has no training (member) sequences` }))
    }
    const ks = [...new Set(config.prefixLengths)].sort((a, b) => a - b)
    const used = ks.filter((k) => k < dataset.seqLen)
    if (used.length === 0) {
      return yield* Effect.fail(
        new MetricError({ metric: EXTRACTION, message: `every prefix length (${ks.join(", ")}) is ≥ the sequence length ${dataset.seqLen}` })
      )
    }
    const train = capped(dataset.train, config.maxSamples, context.seed)
    const holdout = capped(dataset.holdout, config.maxSamples, context.seed + 1)
    const byPrefix: Array<ExtractionPrefix> = []
    const trainRate: Record<string, number> = {}
    const holdoutRate: Record<string, number> = {}
    for (const k of used) {
      const t = yield* rateOn(model, train, k)
      const h = holdout.count === 0 ? null : yield* rateOn(model, holdout, k)
      byPrefix.push({ prefixLength: k, suffixLength: dataset.seqLen - k, train: t, holdout: h })
      trainRate[String(k)] = t.rate
      if (h !== null) holdoutRate[String(k)] = h.rate
    }
    return { prefixLengths: used, skippedPrefixLengths: ks.filter((k) => k >= dataset.seqLen), byPrefix, trainRate, holdoutRate }
  })

export const extractionPlugin = definePlugin({
  kind: "metric",
  name: EXTRACTION,
  description: "Greedy extraction: exact-suffix-match rate from prefixes of 8, 16, 32 tokens, on members and holdout.",
  config: ExtractionConfig,
  output: ExtractionValuesSchema,
  check: (config, input) => Effect.succeed(extractionNeeds(config.prefixLengths, input)),
  make: measureExtraction,
  report: extractionReport
})
