/**
 * The token files eval reads: the shared token-JSONL reader of
 * @memorize/datasets, with eval's rule that lengths may differ
 * (1 … n_positions, less one for BOS).
 */
import type { DatasetError } from "@memorize/core"
import { SourceFailure, tokenLines, toDatasetError } from "@memorize/datasets"
import { Effect } from "effect"

/** One file's sequences, in file order, with the line each came from. */
export interface TokenFile {
  readonly file: string
  readonly sequences: ReadonlyArray<Uint32Array>
  readonly lines: ReadonlyArray<number>
}

export interface Limits {
  readonly vocab: number
  readonly maxLen: number
  readonly maxLenWhy: string
}

const DATASET = "tokens"

/** Reads a JSONL token file of sequences of 1 … limits.maxLen ids in [0, vocab), naming file:line for any bad line. */
export const readEvalTokens = (file: string, limits: Limits): Effect.Effect<TokenFile, DatasetError> =>
  Effect.tryPromise({
    try: async (signal) => {
      const sequences: Array<Uint32Array> = []
      const lines: Array<number> = []
      const rules = {
        vocab: limits.vocab,
        vocabNote: " (the model's vocabulary)",
        lengthProblem: (n: number) =>
          n === 0 ? "empty sequence (at least 1 token is needed)" : n > limits.maxLen ? `${n} tokens, more than ${limits.maxLenWhy}` : undefined
      }
      for await (const { ids, number } of tokenLines(file, rules, signal)) {
        sequences.push(ids)
        lines.push(number)
      }
      if (sequences.length === 0) throw new SourceFailure(file, `${file}: no sequences (every line is blank)`)
      return { file, sequences, lines }
    },
    catch: toDatasetError(DATASET)
  })
