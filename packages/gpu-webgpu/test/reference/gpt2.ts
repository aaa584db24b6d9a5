/**
 * A float64 CPU GPT-2: the oracle the GPU model and checkpoints are tested
 * against. Straightforward loops, no tricks, every intermediate in float64.
 *
 * Architecture (Hugging Face GPT2LMHeadModel, dropout off):
 *   x_t = wte[tok_t] + wpe[t]
 *   per layer:  x += c_proj(attn(ln_1(x)));  x += mlp.c_proj(act(mlp.c_fc(ln_2(x))))
 *   logits_t = ln_f(x_t) · headᵀ      (head = wte when tied, else lm_head)
 * Attention is causal, heads split c_attn's output [q | k | v] into
 * contiguous d/heads slices, scores scaled by 1/√(d/heads). LayerNorm uses the
 * biased variance. Activation "gelu_new" is the tanh approximation
 * 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))), "gelu" the exact 0.5·x·(1 + erf(x/√2)).
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

export interface ReferenceOptions {
  /** A BOS token id prepended to every sequence, so the first real token is predicted too. */
  readonly bos?: number
}

/**
 * erf(x) to about 1 ulp: the series erf(x) = (2/√π)·e^(−x²)·Σ_n 2^n x^(2n+1) / (1·3·…·(2n+1)),
 * whose terms are all positive (no cancellation), for |x| < 6; beyond, erf is ±1 in float64.
 */
export const erf = (x: number): number => {
  const ax = Math.abs(x)
  if (ax >= 6) return Math.sign(x)
  let term = ax
  let sum = ax
  for (let n = 1; n < 500; n++) {
    term *= (2 * ax * ax) / (2 * n + 1)
    sum += term
    if (term < sum * 1e-17) break
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-ax * ax) * sum
}

export const geluTanh = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)))
export const geluErf = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2))

interface Layer64 {
  readonly ln1w: Float64Array; readonly ln1b: Float64Array
  readonly attnW: Float64Array; readonly attnB: Float64Array
  readonly projW: Float64Array; readonly projB: Float64Array
  readonly ln2w: Float64Array; readonly ln2b: Float64Array
  readonly fcW: Float64Array; readonly fcB: Float64Array
  readonly mprojW: Float64Array; readonly mprojB: Float64Array
}

/** The weights widened to float64, checked against the shape's tensor list. */
const widen = (weights: Gpt2Weights) => {
  for (const [name, dims] of gpt2TensorShapes(weights.shape)) {
    const t = weights.tensors.get(name)
    if (t === undefined) throw new ModelError({ message: `reference model: missing tensor ${name}`, tensor: name })
    const n = dims.reduce((a, b) => a * b, 1)
    if (t.data.length !== n) throw new ModelError({ message: `reference model: tensor ${name} has ${t.data.length} values, expected [${dims.join(", ")}]`, tensor: name })
  }
  const get = (name: string) => Float64Array.from(weights.tensors.get(name)!.data)
  const layers: Array<Layer64> = []
  for (let i = 0; i < weights.shape.layers; i++) {
    const p = `h.${i}.`
    layers.push({
      ln1w: get(p + "ln_1.weight"), ln1b: get(p + "ln_1.bias"),
      attnW: get(p + "attn.c_attn.weight"), attnB: get(p + "attn.c_attn.bias"),
      projW: get(p + "attn.c_proj.weight"), projB: get(p + "attn.c_proj.bias"),
      ln2w: get(p + "ln_2.weight"), ln2b: get(p + "ln_2.bias"),
      fcW: get(p + "mlp.c_fc.weight"), fcB: get(p + "mlp.c_fc.bias"),
      mprojW: get(p + "mlp.c_proj.weight"), mprojB: get(p + "mlp.c_proj.bias")
    })
  }
  const wte = get("wte.weight")
  return {
    wte, wpe: get("wpe.weight"), layers,
    lnfw: get("ln_f.weight"), lnfb: get("ln_f.bias"),
    head: weights.shape.tiedHead ? wte : get("lm_head.weight")
  }
}

const layerNorm = (x: Float64Array, off: number, d: number, w: Float64Array, b: Float64Array, eps: number, out: Float64Array, outOff: number) => {
  let mean = 0
  for (let i = 0; i < d; i++) mean += x[off + i]
  mean /= d
  let v = 0
  for (let i = 0; i < d; i++) v += (x[off + i] - mean) ** 2
  const inv = 1 / Math.sqrt(v / d + eps)
  for (let i = 0; i < d; i++) out[outOff + i] = (x[off + i] - mean) * inv * w[i] + b[i]
}

/** y[T, m] = x[T, n] · W[n, m] + b (Conv1D layout). */
const linear = (x: Float64Array, T: number, n: number, W: Float64Array, b: Float64Array, m: number): Float64Array => {
  const y = new Float64Array(T * m)
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < m; j++) y[t * m + j] = b[j]
    for (let i = 0; i < n; i++) {
      const xi = x[t * n + i]
      if (xi === 0) continue
      for (let j = 0; j < m; j++) y[t * m + j] += xi * W[i * m + j]
    }
  }
  return y
}

/** Logits [T, V] of one sequence of T token ids. */
const forwardOne = (w: ReturnType<typeof widen>, weights: Gpt2Weights, ids: ArrayLike<number>): Float64Array => {
  const { dModel: d, heads, layerNormEps: eps, vocabSize: V, activation } = weights.shape
  const T = ids.length
  const dh = d / heads
  const act = activation === "gelu" ? geluErf : geluTanh
  const x = new Float64Array(T * d)
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < d; i++) x[t * d + i] = w.wte[ids[t] * d + i] + w.wpe[t * d + i]
  }
  const h = new Float64Array(T * d)
  const scale = 1 / Math.sqrt(dh)
  const scores = new Float64Array(T)
  for (const L of w.layers) {
    for (let t = 0; t < T; t++) layerNorm(x, t * d, d, L.ln1w, L.ln1b, eps, h, t * d)
    const qkv = linear(h, T, d, L.attnW, L.attnB, 3 * d)
    const a = new Float64Array(T * d)
    for (let hd = 0; hd < heads; hd++) {
      const qo = hd * dh, ko = d + hd * dh, vo = 2 * d + hd * dh
      for (let t = 0; t < T; t++) {
        let max = -Infinity
        for (let j = 0; j <= t; j++) {
          let s = 0
          for (let c = 0; c < dh; c++) s += qkv[t * 3 * d + qo + c] * qkv[j * 3 * d + ko + c]
          scores[j] = s * scale
          if (scores[j] > max) max = scores[j]
        }
        let z = 0
        for (let j = 0; j <= t; j++) z += (scores[j] = Math.exp(scores[j] - max))
        for (let c = 0; c < dh; c++) {
          let acc = 0
          for (let j = 0; j <= t; j++) acc += scores[j] * qkv[j * 3 * d + vo + c]
          a[t * d + hd * dh + c] = acc / z
        }
      }
    }
    const proj = linear(a, T, d, L.projW, L.projB, d)
    for (let i = 0; i < T * d; i++) x[i] += proj[i]
    for (let t = 0; t < T; t++) layerNorm(x, t * d, d, L.ln2w, L.ln2b, eps, h, t * d)
    const fc = linear(h, T, d, L.fcW, L.fcB, 4 * d)
    for (let i = 0; i < fc.length; i++) fc[i] = act(fc[i])
    const m = linear(fc, T, 4 * d, L.mprojW, L.mprojB, d)
    for (let i = 0; i < T * d; i++) x[i] += m[i]
  }
  for (let t = 0; t < T; t++) layerNorm(x, t * d, d, w.lnfw, w.lnfb, eps, h, t * d)
  const logits = new Float64Array(T * V)
  for (let t = 0; t < T; t++) {
    for (let v = 0; v < V; v++) {
      let s = 0
      for (let i = 0; i < d; i++) s += h[t * d + i] * w.head[v * d + i]
      logits[t * V + v] = s
    }
  }
  return logits
}

const checkInput = (weights: Gpt2Weights, seqs: TokenSequences, options?: ReferenceOptions) => {
  const { vocabSize: V, seqLen: nPos } = weights.shape
  const T = seqs.seqLen + (options?.bos !== undefined ? 1 : 0)
  if (seqs.tokens.length !== seqs.count * seqs.seqLen) {
    throw new ModelError({ message: `reference model: ${seqs.tokens.length} tokens for ${seqs.count} sequences of ${seqs.seqLen}` })
  }
  if (T > nPos) throw new ModelError({ message: `reference model: sequences of ${T} positions exceed n_positions ${nPos}` })
  if (options?.bos !== undefined && !(options.bos >= 0 && options.bos < V)) throw new ModelError({ message: `reference model: BOS token ${options.bos} outside the vocabulary of ${V}` })
  for (let i = 0; i < seqs.tokens.length; i++) {
    if (seqs.tokens[i] >= V) throw new ModelError({ message: `reference model: token ${seqs.tokens[i]} at index ${i} outside the vocabulary of ${V}` })
  }
}

/** The ids fed to the model for sequence `n` (BOS first when given). */
const inputIds = (seqs: TokenSequences, n: number, options?: ReferenceOptions): ArrayLike<number> => {
  const row = seqs.tokens.subarray(n * seqs.seqLen, (n + 1) * seqs.seqLen)
  return options?.bos !== undefined ? [options.bos, ...row] : row
}

/** Logits of every position, count × T × V, T = seqLen (+1 with BOS; position t then predicts token t). */
export const referenceLogits = (weights: Gpt2Weights, seqs: TokenSequences, options?: ReferenceOptions): Float64Array => {
  checkInput(weights, seqs, options)
  const w = widen(weights)
  const T = seqs.seqLen + (options?.bos !== undefined ? 1 : 0)
  const V = weights.shape.vocabSize
  const out = new Float64Array(seqs.count * T * V)
  for (let n = 0; n < seqs.count; n++) out.set(forwardOne(w, weights, inputIds(seqs, n, options)), n * T * V)
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
export const referenceTokenLogProbs = (weights: Gpt2Weights, seqs: TokenSequences, options?: ReferenceOptions): Float64Array => {
  const logits = referenceLogits(weights, seqs, options)
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
export const referenceCodeLengths = (weights: Gpt2Weights, seqs: TokenSequences, options?: ReferenceOptions): Float64Array => {
  const lp = referenceTokenLogProbs(weights, seqs, options)
  const out = new Float64Array(seqs.count)
  for (let n = 0; n < seqs.count; n++) {
    let s = 0
    for (let t = 0; t < seqs.seqLen; t++) s -= lp[n * seqs.seqLen + t]
    out[n] = s
  }
  return out
}

/** Mean next-token cross-entropy in nats over the predicted tokens. */
export const referenceLoss = (weights: Gpt2Weights, seqs: TokenSequences, options?: ReferenceOptions): number => {
  const lp = referenceTokenLogProbs(weights, seqs, options)
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
