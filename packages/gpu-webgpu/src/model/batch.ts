/**
 * Model inputs and targets for a batch of sequences of S tokens.
 *
 * Without BOS the model reads x_0..x_{S-1} (T = S positions) and position t
 * predicts x_{t+1}; the last position predicts nothing, and x_0 itself cannot
 * be predicted (the evaluator counts it at log2 V bits). With BOS (id V) the
 * model reads [BOS, x_0..x_{S-1}] (T = S + 1 positions, so n_positions = S + 1)
 * and position t predicts x_t: every token is predicted.
 */
import { NO_TARGET } from "../kernels/softmax-ce.ts"

export interface BatchArrays {
  readonly tokens: Uint32Array
  readonly targets: Uint32Array
  /** Number of positions with a target. */
  readonly predicted: number
}

/** Model positions for data sequences of S tokens. */
export const inputLength = (S: number, bos: boolean): number => S + (bos ? 1 : 0)

/**
 * Fills inputs/targets for `rows` (indices into `source`, a count × S token
 * array) into a batch of `B` rows of T = inputLength(S) positions; rows past
 * `rows.length` are padding (token 0, no targets).
 */
export const fillBatch = (source: Uint32Array, S: number, rows: ReadonlyArray<number>, B: number, bos: number | undefined): BatchArrays => {
  const lead = bos === undefined ? 0 : 1
  const T = S + lead
  const tokens = new Uint32Array(B * T)
  const targets = new Uint32Array(B * T).fill(NO_TARGET)
  rows.forEach((r, b) => {
    const o = b * T
    if (bos !== undefined) tokens[o] = bos
    tokens.set(source.subarray(r * S, r * S + S), o + lead)
    for (let t = 0; t + 1 < T; t++) targets[o + t] = tokens[o + t + 1]
  })
  return { tokens, targets, predicted: rows.length * (T - 1) }
}
