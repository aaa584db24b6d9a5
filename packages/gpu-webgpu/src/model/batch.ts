/**
 * Model inputs and targets for a batch of sequences.
 *
 * Without BOS the model reads x_0..x_{S-1} and position t predicts x_{t+1};
 * the last position predicts nothing, and x_0 itself cannot be predicted (it
 * is counted at log2 V bits by the evaluator). With BOS (id V) the model
 * reads [BOS, x_0..x_{S-2}] and position t predicts x_t: every token is
 * predicted and n_positions stays S.
 */
import { NO_TARGET } from "../kernels/softmax-ce.ts"

export interface BatchArrays {
  readonly tokens: Uint32Array
  readonly targets: Uint32Array
  /** Number of positions with a target. */
  readonly predicted: number
}

/**
 * Fills inputs/targets for `rows` (indices into `source`, a count × S token
 * array) into a batch of `B` rows; rows past `rows.length` are padding
 * (token 0, no targets).
 */
export const fillBatch = (source: Uint32Array, S: number, rows: ReadonlyArray<number>, B: number, bos: number | undefined): BatchArrays => {
  const tokens = new Uint32Array(B * S)
  const targets = new Uint32Array(B * S).fill(NO_TARGET)
  let predicted = 0
  rows.forEach((r, b) => {
    const src = source.subarray(r * S, r * S + S)
    const o = b * S
    if (bos !== undefined) {
      tokens[o] = bos
      for (let t = 1; t < S; t++) tokens[o + t] = src[t - 1]
      for (let t = 0; t < S; t++) targets[o + t] = src[t]
      predicted += S
    } else {
      tokens.set(src, o)
      for (let t = 0; t + 1 < S; t++) targets[o + t] = src[t + 1]
      predicted += S - 1
    }
  })
  return { tokens, targets, predicted }
}
