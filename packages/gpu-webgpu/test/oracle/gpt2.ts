/**
 * A float64 CPU GPT-2: the oracle the GPU model and checkpoints are tested
 * against. Straightforward loops, no tricks, every intermediate in float64.
 *
 * The forward pass is forward.ts's (the oracle ops composed).
 *
 * Log-probabilities and code lengths follow the project's convention: without
 * a BOS token the first token of a sequence cannot be predicted and costs
 * log2 V bits; with `bos` (a token id) the model reads [bos, x_0 … x_{S−1}]
 * in S + 1 positions (the GPU model's convention, so n_positions ≥ S + 1) and
 * position t predicts x_t: every token is predicted. The loss is the mean next-token cross-entropy in nats over the
 * predicted tokens (S − 1 per sequence without BOS, S with), as training uses.
 *
 * Invalid inputs (token out of range, sequence longer than n_positions,
 * missing tensor) throw a `ModelError` naming the problem.
 */
import { ModelError, type TokenSequences } from "@memorize/core"
import { type Gpt2Weights, gpt2TensorShapes } from "../../src/model/weights.ts"
import { forwardLogits, type Tensors64 } from "./forward.ts"

export interface OracleOptions {
  /** A BOS token id prepended to every sequence, so the first real token is predicted too. */
  readonly bos?: number
}

/** The weights widened to float64, checked against the shape's tensor list. */
const widen = (weights: Gpt2Weights): Tensors64 => {
  const wide = new Map<string, Float64Array>()
  for (const [name, dims] of gpt2TensorShapes(weights.shape)) {
    const t = weights.tensors.get(name)
    if (t === undefined) throw new ModelError({ message: `oracle: missing tensor ${name}`, tensor: name })
    const n = dims.reduce((a, b) => a * b, 1)
    if (t.data.length !== n)
      throw new ModelError({ message: `oracle: tensor ${name} has ${t.data.length} values, expected [${dims.join(", ")}]`, tensor: name })
    wide.set(name, Float64Array.from(t.data))
  }
  return (name) => wide.get(name)!
}

const checkInput = (weights: Gpt2Weights, seqs: TokenSequences, options?: OracleOptions) => {
  const { vocabSize: V, nPositions: nPos } = weights.shape
  const T = seqs.seqLen + (options?.bos !== undefined ? 1 : 0)
  if (seqs.tokens.length !== seqs.count * seqs.seqLen) {
    throw new ModelError({ message: `oracle: ${seqs.tokens.length} tokens for ${seqs.count} sequences of ${seqs.seqLen}` })
  }
  if (T > nPos) throw new ModelError({ message: `oracle: sequences of ${T} positions exceed n_positions ${nPos}` })
  if (options?.bos !== undefined && !(options.bos >= 0 && options.bos < V))
    throw new ModelError({ message: `oracle: BOS token ${options.bos} outside the vocabulary of ${V}` })
  for (let i = 0; i < seqs.tokens.length; i++) {
    if (seqs.tokens[i] >= V) throw new ModelError({ message: `oracle: token ${seqs.tokens[i]} at index ${i} outside the vocabulary of ${V}` })
  }
}

/** The ids fed to the model for sequence `n` (BOS first when given). */
const inputIds = (seqs: TokenSequences, n: number, options?: OracleOptions): ArrayLike<number> => {
  const row = seqs.tokens.subarray(n * seqs.seqLen, (n + 1) * seqs.seqLen)
  return options?.bos !== undefined ? [options.bos, ...row] : row
}

/** Logits of every position, count × T × V, T = seqLen (+1 with BOS; position t then predicts token t). */
export const oracleLogits = (weights: Gpt2Weights, seqs: TokenSequences, options?: OracleOptions): Float64Array => {
  checkInput(weights, seqs, options)
  const w = widen(weights)
  const T = seqs.seqLen + (options?.bos !== undefined ? 1 : 0)
  const V = weights.shape.vocabSize
  const out = new Float64Array(seqs.count * T * V)
  for (let n = 0; n < seqs.count; n++) out.set(forwardLogits(weights.shape, w, inputIds(seqs, n, options), 1, T), n * T * V)
  return out
}

/** log-sum-exp of row `off..off+V`, stable. */
const logSumExp = (x: Float64Array, off: number, V: number): number => {
  let max = -Infinity
  for (let v = 0; v < V; v++) if (x[off + v] > max) max = x[off + v]
  let s = 0
  for (let v = 0; v < V; v++) s += Math.exp(x[off + v] - max)
  return max + Math.log(s)
}

/** log2 p(x_t | x_<t) of every token, count × seqLen; the first is −log2 V without BOS. */
export const oracleTokenLogProbs = (weights: Gpt2Weights, seqs: TokenSequences, options?: OracleOptions): Float64Array => {
  const logits = oracleLogits(weights, seqs, options)
  const V = weights.shape.vocabSize
  const S = seqs.seqLen
  const bos = options?.bos !== undefined
  const T = S + (bos ? 1 : 0)
  const out = new Float64Array(seqs.count * S)
  for (let n = 0; n < seqs.count; n++) {
    for (let t = 0; t < S; t++) {
      // The prediction for token t comes from the position before it.
      const from = bos ? t : t - 1
      if (from < 0) {
        out[n * S + t] = -Math.log2(V)
        continue
      }
      const off = (n * T + from) * V
      out[n * S + t] = (logits[off + seqs.tokens[n * S + t]] - logSumExp(logits, off, V)) / Math.LN2
    }
  }
  return out
}

/** Code length L(x | θ) = −Σ_t log2 p(x_t | x_<t) of every sequence, bits. */
export const oracleCodeLengths = (weights: Gpt2Weights, seqs: TokenSequences, options?: OracleOptions): Float64Array => {
  const lp = oracleTokenLogProbs(weights, seqs, options)
  const out = new Float64Array(seqs.count)
  for (let n = 0; n < seqs.count; n++) {
    let s = 0
    for (let t = 0; t < seqs.seqLen; t++) s -= lp[n * seqs.seqLen + t]
    out[n] = s
  }
  return out
}

/** Mean next-token cross-entropy in nats over the predicted tokens. */
export const oracleLoss = (weights: Gpt2Weights, seqs: TokenSequences, options?: OracleOptions): number => {
  const lp = oracleTokenLogProbs(weights, seqs, options)
  const first = options?.bos !== undefined ? 0 : 1
  let s = 0
  let k = 0
  for (let n = 0; n < seqs.count; n++) {
    for (let t = first; t < seqs.seqLen; t++) {
      s -= lp[n * seqs.seqLen + t] * Math.LN2
      k++
    }
  }
  return k === 0 ? NaN : s / k
}

export { initGpt2Weights, INITIALIZER_RANGE } from "../../src/model/init.ts"
