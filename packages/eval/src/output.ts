/**
 * Eval's output: one JSON line per sequence (bits.jsonl) and the summary
 * (summary.json), each written atomically by core's writer.
 */
import { type StoreError, writeFileAtomic } from "@memorize/core"
import { Effect } from "effect"
import * as nodePath from "node:path"
import type { EvalResult } from "./evaluate.ts"

/** The per-sequence JSON lines: members, then the holdout (tagged "set" when there are any). */
export function* bitsLines(result: EvalResult, perToken: boolean): Generator<string> {
  const tagged = result.holdout !== undefined
  for (const [name, set] of [
    ["members", result.members],
    ["holdout", result.holdout]
  ] as const) {
    if (set === undefined) continue
    for (let i = 0; i < set.bits.length; i++) {
      const line: Record<string, unknown> = { index: i }
      if (tagged) line.set = name
      line.bits = set.bits[i]
      if (set.referenceBits !== undefined) {
        line.referenceBits = set.referenceBits[i]
        line.memorizedBits = Math.max(0, set.referenceBits[i] - set.bits[i])
      }
      if (perToken) line.tokenBits = Array.from(set.tokenBits[i])
      yield JSON.stringify(line)
    }
  }
}

const withNewlines = function* (lines: Iterable<string>) {
  for (const l of lines) yield `${l}\n`
}

/** Writes bits.jsonl and summary.json under `dir` (created if needed); returns their paths. */
export const writeEvalFiles = (result: EvalResult, dir: string, perToken: boolean): Effect.Effect<readonly [string, string], StoreError> =>
  Effect.gen(function* () {
    const abs = nodePath.resolve(dir)
    const bits = nodePath.join(abs, "bits.jsonl")
    const summary = nodePath.join(abs, "summary.json")
    yield* writeFileAtomic(bits, withNewlines(bitsLines(result, perToken)))
    yield* writeFileAtomic(summary, `${JSON.stringify(result.summary, null, 2)}\n`)
    return [bits, summary] as const
  })
