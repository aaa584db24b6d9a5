/**
 * Token-id JSONL, the one reader: one sequence a line, an array of ids
 * (`[1, 2, 3]`) or an object with a `tokens` field (`{"tokens": [1, 2, 3]}`);
 * blank lines are skipped. Every line is checked (its length by the caller's
 * rule, every id an integer in [0, vocab)), and a bad one is a SourceFailure
 * naming file:line.
 */
import { SourceFailure } from "../errors.ts"
import { parseJsonLine, readLines } from "./jsonl.ts"

export interface TokenLineRules {
  readonly vocab: number
  /** Added to the id range in messages: " (the model's vocabulary)". */
  readonly vocabNote?: string
  /** Why a sequence of `n` ids is refused ("5 tokens, expected exactly seqLen = 4"), or undefined. */
  readonly lengthProblem: (n: number) => string | undefined
}

const describe = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "an array" : typeof v)

/** The checked sequences of a token JSONL file, with their 1-based line numbers. */
export async function* tokenLines(
  file: string,
  rules: TokenLineRules,
  signal?: AbortSignal
): AsyncGenerator<{ readonly ids: Uint32Array; readonly number: number }> {
  for await (const { line, number } of readLines(file)) {
    if (signal?.aborted) throw signal.reason ?? new Error("interrupted")
    if (line.trim() === "") continue
    const where = `${file}:${number}`
    const row = parseJsonLine(file, number, line)
    const ids: unknown = Array.isArray(row) ? row : typeof row === "object" && row !== null && "tokens" in row ? (row as { tokens: unknown }).tokens : undefined
    if (ids === undefined) throw new SourceFailure(file, `${where}: expected an array of token ids or an object with a "tokens" field, found ${describe(row)}`)
    if (!Array.isArray(ids)) throw new SourceFailure(file, `${where}: "tokens" is ${describe(ids)}, expected an array of token ids`)
    const lengthProblem = rules.lengthProblem(ids.length)
    if (lengthProblem !== undefined) throw new SourceFailure(file, `${where}: ${lengthProblem}`)
    const seq = new Uint32Array(ids.length)
    for (let i = 0; i < ids.length; i++) {
      const t: unknown = ids[i]
      if (typeof t !== "number" || !Number.isInteger(t) || t < 0 || t >= rules.vocab) {
        throw new SourceFailure(file, `${where}: token ${i} is ${JSON.stringify(t)}, expected an integer id in [0, ${rules.vocab})${rules.vocabNote ?? ""}`)
      }
      seq[i] = t
    }
    yield { ids: seq, number }
  }
}
