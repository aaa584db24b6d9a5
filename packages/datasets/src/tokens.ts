/**
 * `tokens`: already-tokenized data. JSONL files whose lines are arrays of
 * token ids (`[1, 2, 3]`) or objects with a `tokens` field
 * (`{"tokens": [1, 2, 3]}`); `path` holds the members, `holdout` the
 * optional holdout (non-members). Every sequence must have exactly `seqLen` ids in
 * [0, vocab); anything else is an error naming the file and line. The
 * data-generating process is unknown, so there is no entropy.
 */
import { Effect, Schema } from "effect"
import { definePlugin, type Dataset, type TokenSequences } from "@memorize/core"
import { countRepeats } from "./dedup.ts"
import { datasetError, toDatasetError } from "./errors.ts"
import { pathProblems, SeqLen, Vocab } from "./fields.ts"
import { fingerprint } from "./fingerprint.ts"
import { expandPaths } from "./sources/glob.ts"
import { tokenLines } from "./sources/token-lines.ts"

const NAME = "tokens"

const Paths = Schema.Union([Schema.String, Schema.Array(Schema.String)])

export const TokensConfig = Schema.Struct({
  path: Paths.annotate({ description: "member sequences: JSONL file(s) or glob(s) of token ids, one sequence a line, relative to the spec's folder" }),
  holdout: Schema.optional(Paths).annotate({ description: "holdout (non-member) sequences, in the same format (default: none)" }),
  vocab: Vocab.annotate({ description: "vocabulary size V (2 ≤ V ≤ 2^32): every id must be below it" }),
  seqLen: SeqLen.annotate({ description: "tokens per sequence: every line must have exactly this many" })
})
export type TokensConfig = typeof TokensConfig.Type

/** Reads token sequences of exactly `seqLen` ids from JSONL files, validating every line. */
export const readTokenFiles = async (files: ReadonlyArray<string>, vocab: number, seqLen: number, signal?: AbortSignal): Promise<TokenSequences> => {
  let data = new Uint32Array(1024 * seqLen)
  let count = 0
  const rules = { vocab, lengthProblem: (n: number) => (n === seqLen ? undefined : `${n} tokens, expected exactly seqLen = ${seqLen}`) }
  for (const file of files) {
    for await (const { ids } of tokenLines(file, rules, signal)) {
      if ((count + 1) * seqLen > data.length) {
        const grown = new Uint32Array(data.length * 2)
        grown.set(data)
        data = grown
      }
      data.set(ids, count * seqLen)
      count++
    }
  }
  return { vocabSize: vocab, seqLen, count, tokens: data.slice(0, count * seqLen) }
}

export const tokensDataset = definePlugin({
  kind: "dataset",
  name: NAME,
  description: "Pre-tokenized JSONL (arrays of ids or {tokens: [...]}) for members and an optional holdout (non-members).",
  config: TokensConfig,
  // How many members there are is known only after reading the files.
  facts: (c) => ({ seqLen: c.seqLen, vocabSize: c.vocab, exactEntropy: false, rarity: false, ...(c.holdout === undefined ? { holdout: 0 } : {}) }),
  check: (c, { specDir }) => Effect.map(Effect.all([pathProblems("path", c.path, specDir), pathProblems("holdout", c.holdout, specDir)]), (l) => l.flat()),
  make: (config) => (context) =>
    Effect.gen(function* () {
      const { vocab, seqLen } = config
      if (!Number.isInteger(vocab) || vocab <= 1) return yield* Effect.fail(datasetError(NAME, `vocab must be an integer > 1, found ${vocab}`))
      if (!Number.isInteger(seqLen) || seqLen <= 0) return yield* Effect.fail(datasetError(NAME, `seqLen must be an integer > 0, found ${seqLen}`))
      const list = (p: string | ReadonlyArray<string>) => (typeof p === "string" ? [p] : p)
      const { train, holdout, memberFiles, holdoutFiles } = yield* Effect.tryPromise({
        try: async (signal) => {
          const memberFiles = await expandPaths(list(config.path), context.specDir)
          const holdoutFiles = config.holdout === undefined ? [] : await expandPaths(list(config.holdout), context.specDir)
          const train = await readTokenFiles(memberFiles, vocab, seqLen, signal)
          const holdout = await readTokenFiles(holdoutFiles, vocab, seqLen, signal)
          return { train, holdout, memberFiles, holdoutFiles }
        },
        catch: toDatasetError(NAME)
      })
      if (train.count === 0) return yield* Effect.fail(datasetError(NAME, `no member sequences in ${memberFiles.join(", ")}`, memberFiles[0]))
      const repeats = countRepeats([train, holdout])
      const dataset: Dataset = {
        kind: NAME,
        vocabSize: vocab,
        seqLen,
        train,
        holdout,
        fingerprint: fingerprint(train, holdout),
        stats: {
          memberFiles: memberFiles.length,
          holdoutFiles: holdoutFiles.length,
          members: train.count,
          holdout: holdout.count,
          // Not corrected (the files are the user's data), but worth knowing:
          // a holdout sequence equal to a member blurs membership inference.
          repeatedMembers: repeats.within[0],
          holdoutEqualToMember: repeats.across
        }
      }
      return dataset
    })
})
