/**
 * Config fields the dataset plugins share, with their constraints in the
 * schema (so `validate` rejects a bad value at its line:column instead of the
 * run failing later), and the requirement checks they share: paths that
 * must name files, and a size that fits in memory.
 */
import { Effect, Schema } from "effect"
import { NonNegativeInt, PositiveInt, type Problem } from "@memorize/core"
import { expandPaths } from "./sources/glob.ts"

/** Token ids are uint32: at most 2^32 distinct ones. */
export const MAX_VOCAB = 2 ** 32
/** Sequences per split are indexed by a uint32 counter (Philox). */
export const MAX_SEQUENCES = 2 ** 32 - 1
/** Tokens (members + non-members) held in memory at once: 2^31 uint32 = 8 GiB. */
export const MAX_TOKENS = 2 ** 31

/** Vocabulary size V: an integer in [2, 2^32]. */
export const Vocab = Schema.Int.check(Schema.isBetween({ minimum: 2, maximum: MAX_VOCAB }))
/** Tokens per sequence S > 0. */
export const SeqLen = PositiveInt.check(Schema.isLessThanOrEqualTo(MAX_TOKENS))
/** Member sequences N > 0. */
export const Samples = PositiveInt.check(Schema.isLessThanOrEqualTo(MAX_SEQUENCES))
/** Non-member sequences ≥ 0. */
export const Holdout = NonNegativeInt.check(Schema.isLessThanOrEqualTo(MAX_SEQUENCES))
/** A data seed: a non-negative integer that a double holds exactly. */
export const DataSeed = NonNegativeInt.check(Schema.isLessThanOrEqualTo(Number.MAX_SAFE_INTEGER))

/** The memory requirement of (samples + holdout) × seqLen tokens, as a problem when it is too large. */
export const sizeProblems = (samples: number, holdout: number, seqLen: number): ReadonlyArray<Problem> =>
  (samples + holdout) * seqLen > MAX_TOKENS
    ? [
        {
          path: ["samples"],
          message: `(samples ${samples} + holdout ${holdout}) × seqLen ${seqLen} tokens is more than the ${MAX_TOKENS} tokens a dataset may hold in memory`
        }
      ]
    : []

/** A problem at `field` for every path or glob that names no file (relative to the spec's folder). */
export const pathProblems = (field: string, patterns: string | ReadonlyArray<string> | undefined, specDir: string): Effect.Effect<ReadonlyArray<Problem>> => {
  const list = patterns === undefined ? [] : typeof patterns === "string" ? [patterns] : patterns
  return Effect.forEach(list, (pattern, i) =>
    Effect.promise(() =>
      expandPaths([pattern], specDir).then(
        (): ReadonlyArray<Problem> => [],
        (e: unknown): ReadonlyArray<Problem> => [{ path: typeof patterns === "string" ? [field] : [field, i], message: (e as Error)?.message ?? String(e) }]
      )
    )
  ).pipe(Effect.map((lists) => lists.flat()))
}
