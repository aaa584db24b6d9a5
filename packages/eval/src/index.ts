/**
 * @memorize/eval: audit an existing checkpoint (code lengths of token
 * sequences, memorization against a reference, membership inference), the
 * library behind `memorize eval`.
 */
export type { EvalOptions } from "./options.ts"
export { type Limits, readEvalTokens, type TokenFile } from "./tokens.ts"
export { type PreparedEval, prepareEval } from "./prepare.ts"
export { evaluate, type EvalResult, type EvalSet, runEval } from "./evaluate.ts"
export { bitsLines, writeEvalFiles } from "./output.ts"
export { type Device, devices } from "./gpu.ts"

/** How eval's progress line names its work. */
export const EVAL_PROGRESS = { what: "eval", unit: "sequences", rateUnit: "seq/s" } as const
