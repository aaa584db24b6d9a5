/**
 * `synthetic-uniform`: sequences of S tokens drawn i.i.d. uniformly from
 * [0, V), the paper's capacity-measurement data.
 *
 * Algorithm (reproducible by any implementation):
 *   key     = (seed mod 2^32, floor(seed / 2^32))
 *   stream  = 0 for members (train), 1 for non-members (holdout)
 *   words of sequence k = Philox4x32-10(counter (b, k, stream, 0), key) for
 *                         b = 0, 1, 2, ..., the four words of each block in order
 *   token t = the next word w with w < V·floor(2^32 / V), reduced: w mod V
 *             (words at or above that bound are skipped: rejection sampling,
 *             so every token is exactly uniform for any V ≤ 2^32)
 * Sequence k depends only on (seed, stream, k): the N-sample dataset is the
 * first N sequences of the 2N-sample one, and holdout comes from its own
 * stream. H(x) = S·log2 V bits exactly.
 */
import { Effect, Schema } from "effect"
import { definePlugin, type Dataset, type RunContext, type TokenSequences } from "@memorize/core"
import { countRepeats } from "./dedup.ts"
import { datasetError } from "./errors.ts"
import { DataSeed, Holdout, Samples, SeqLen, sizeProblems, Vocab } from "./fields.ts"
import { fingerprint } from "./fingerprint.ts"
import { WordStream } from "./philox.ts"

export const TRAIN_STREAM = 0
export const HOLDOUT_STREAM = 1

/** Sequences [start, start+count) of one stream, row-major. */
export const uniformSequences = (seed: number, stream: number, vocab: number, seqLen: number, start: number, count: number): Uint32Array => {
  const out = new Uint32Array(count * seqLen)
  for (let i = 0; i < count; i++) {
    const words = new WordStream(seed, stream, start + i)
    for (let t = 0; t < seqLen; t++) out[i * seqLen + t] = words.below(vocab)
  }
  return out
}

export const SyntheticUniformConfig = Schema.Struct({
  vocab: Vocab.annotate({ description: "vocabulary size V (2 ≤ V ≤ 2^32); each token carries log2 V bits; the paper: 2048" }),
  seqLen: SeqLen.annotate({ description: "tokens per sequence S; a sequence carries S·log2 V bits; the paper: 64" }),
  samples: Samples.annotate({ description: "member (training) sequences N" }),
  holdout: Schema.optional(Holdout).annotate({ description: "non-member sequences, for membership inference (default: N, a balanced set)" }),
  seed: Schema.optional(DataSeed).annotate({ description: "data seed (default: the run's seed)" })
})
export type SyntheticUniformConfig = typeof SyntheticUniformConfig.Type

const NAME = "synthetic-uniform"
const MAX_INDEX = 0x1_0000_0000

export const buildSyntheticUniform = Effect.fn("synthetic-uniform.build")(function* (config: SyntheticUniformConfig, context: Pick<RunContext, "seed">) {
  const { vocab, seqLen, samples } = config
  const holdout = config.holdout ?? samples
  const seed = config.seed ?? context.seed
  if (!Number.isInteger(vocab) || vocab <= 1) return yield* Effect.fail(datasetError(NAME, `vocab must be an integer > 1, found ${vocab}`))
  if (vocab > MAX_INDEX) return yield* Effect.fail(datasetError(NAME, `vocab must be at most 2^32, found ${vocab}`))
  if (!Number.isInteger(seqLen) || seqLen <= 0) return yield* Effect.fail(datasetError(NAME, `seqLen must be an integer > 0, found ${seqLen}`))
  if (!Number.isInteger(samples) || samples <= 0) return yield* Effect.fail(datasetError(NAME, `samples must be an integer > 0, found ${samples}`))
  if (!Number.isInteger(holdout) || holdout < 0) return yield* Effect.fail(datasetError(NAME, `holdout must be an integer ≥ 0, found ${holdout}`))
  if (samples >= MAX_INDEX || holdout >= MAX_INDEX)
    return yield* Effect.fail(datasetError(NAME, `at most 2^32 - 1 sequences per split, found samples ${samples}, holdout ${holdout}`))
  if ((samples + holdout) * seqLen > 2 ** 31)
    return yield* Effect.fail(datasetError(NAME, `samples × seqLen too large to hold in memory: ${samples} + ${holdout} sequences × ${seqLen} tokens`))
  if (!Number.isSafeInteger(seed) || seed < 0) return yield* Effect.fail(datasetError(NAME, `seed must be a non-negative integer, found ${seed}`))

  const train: TokenSequences = { vocabSize: vocab, seqLen, count: samples, tokens: uniformSequences(seed, TRAIN_STREAM, vocab, seqLen, 0, samples) }
  const held: TokenSequences = { vocabSize: vocab, seqLen, count: holdout, tokens: uniformSequences(seed, HOLDOUT_STREAM, vocab, seqLen, 0, holdout) }
  // Independent draws can repeat when V^S is small; record it rather than
  // silently conditioning the distribution away from uniform.
  const {
    within: [within],
    across
  } = countRepeats([train, held])
  const dataset: Dataset = {
    kind: NAME,
    vocabSize: vocab,
    seqLen,
    train,
    holdout: held,
    entropyBitsPerSequence: seqLen * Math.log2(vocab),
    fingerprint: fingerprint(train, held),
    stats: {
      seed,
      generator: "philox4x32-10 + rejection",
      repeatedTrainSequences: within,
      holdoutEqualToMember: across
    }
  }
  return dataset
})

export const syntheticUniform = definePlugin({
  kind: "dataset",
  name: NAME,
  description: "Sequences of i.i.d. uniform tokens over [0, vocab): exact entropy S·log2 V, counter-based (Philox) generation.",
  config: SyntheticUniformConfig,
  facts: (c) => ({ seqLen: c.seqLen, vocabSize: c.vocab, samples: c.samples, holdout: c.holdout ?? c.samples, exactEntropy: true, rarity: false }),
  check: (c) => Effect.succeed(sizeProblems(c.samples, c.holdout ?? c.samples, c.seqLen)),
  make: (config) => (context) => buildSyntheticUniform(config, context)
})
