/** Seeded host-side randomness of the trainer (batch order) and GPT-2 initialisation. */
import { mulberry32, philox4x32 } from "@memorize/core"
import { type Gpt2Shape, type Gpt2Weights, type HostTensor, gpt2TensorShapes } from "./weights.ts"

/** The trainer's seeded generator (batch order): mulberry32 from core, seed spread by the golden ratio. */
export const seededUniform = (seed: number): (() => number) => mulberry32(Math.imul(seed, 0x9e3779b1))

/**
 * GPT-2 initialisation, deterministic from a seed, as Hugging Face's
 * `GPT2PreTrainedModel._init_weights` does it:
 *   - every weight matrix and embedding (wte, wpe, c_attn, c_fc, lm_head): normal(0, 0.02)
 *   - the residual projections `attn.c_proj.weight` and `mlp.c_proj.weight`:
 *     normal(0, 0.02 / √(2·L)) (GPT-2 paper, §2.3)
 *   - biases 0, LayerNorm γ = 1 and β = 0.
 *
 * Random numbers are counter based, so any element can be computed on its own
 * (and, if wanted, on the GPU) and adding a tensor never shifts another's:
 *   key      = (seed mod 2^32, ⌊seed / 2^32⌋)
 *   stream   = FNV-1a 32 of the tensor's name (e.g. "h.0.attn.c_attn.weight")
 *   block k  = Philox4x32-10(counter = (k, stream, 0x67707432 "gpt2", 0), key) → words w0..w3
 *   u1 = (⌊w0/32⌋·2^26 + ⌊w1/64⌋ + ½) / 2^53,  u2 the same from w2, w3   (both in (0, 1))
 *   Box–Muller: r = √(−2 ln u1); element 2k = std·r·cos(2π u2), element 2k+1 = std·r·sin(2π u2)
 * Elements are numbered row-major; values are rounded to float32.
 */
const GPT2_TAG = 0x67707432

/** Philox4x32-10 (Salmon et al., SC 2011), the project's one implementation (core). */
export const philox4x32_10 = philox4x32

/** FNV-1a, 32 bits, over the UTF-8 bytes of `s`. */
export const fnv1a32 = (s: string): number => {
  let h = 0x811c9dc5
  for (const b of new TextEncoder().encode(s)) h = Math.imul(h ^ b, 0x01000193) >>> 0
  return h >>> 0
}

/** `n` samples of normal(0, std) for one (seed, stream), as documented above. */
export const normalStream = (seed: number, stream: number, n: number, std: number): Float32Array => {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`)
  const k0 = (seed % 0x1_0000_0000) >>> 0
  const k1 = Math.floor(seed / 0x1_0000_0000) >>> 0
  const out = new Float32Array(n)
  const w = new Uint32Array(4)
  for (let k = 0; 2 * k < n; k++) {
    philox4x32_10(k, stream, GPT2_TAG, 0, k0, k1, w)
    const u1 = ((w[0] >>> 5) * 0x4000000 + (w[1] >>> 6) + 0.5) / 2 ** 53
    const u2 = ((w[2] >>> 5) * 0x4000000 + (w[3] >>> 6) + 0.5) / 2 ** 53
    const r = Math.sqrt(-2 * Math.log(u1))
    out[2 * k] = std * r * Math.cos(2 * Math.PI * u2)
    if (2 * k + 1 < n) out[2 * k + 1] = std * r * Math.sin(2 * Math.PI * u2)
  }
  return out
}

export const INITIALIZER_RANGE = 0.02

/** The initial value rule for one tensor name: "normal" with a std, or a constant. */
const ruleFor = (name: string, layers: number): { readonly std: number } | { readonly constant: number } => {
  if (name.endsWith(".bias")) return { constant: 0 }
  if (/(^|\.)ln_(1|2|f)\.weight$/.test(name)) return { constant: 1 }
  if (name.endsWith("c_proj.weight")) return { std: INITIALIZER_RANGE / Math.sqrt(2 * layers) }
  return { std: INITIALIZER_RANGE }
}

/** Fresh GPT-2 weights for `shape`, deterministic from `seed` (a non-negative safe integer). */
export const initGpt2Weights = (shape: Gpt2Shape, seed: number): Gpt2Weights => {
  const tensors = new Map<string, HostTensor>()
  for (const [name, dims] of gpt2TensorShapes(shape)) {
    const n = dims.reduce((a, b) => a * b, 1)
    const rule = ruleFor(name, shape.layers)
    const data = "std" in rule ? normalStream(seed, fnv1a32(name), n, rule.std) : new Float32Array(n).fill(rule.constant)
    tensors.set(name, { shape: dims, data })
  }
  return { shape, tensors }
}
