/**
 * Seeded GPT-2 initialisation: weights and embeddings N(0, 0.02), the two
 * residual projections (attn.c_proj, mlp.c_proj) N(0, 0.02/√(2L)), biases 0,
 * LayerNorm gains 1. Same seed → same weights on every machine (the PRNG
 * and Box–Muller run in float64 on the host).
 */
import { gpt2TensorShapes, type Gpt2Shape, type Gpt2Weights, type HostTensor } from "./weights.ts"

/** splitmix64-style 32-bit generator (mulberry32), seeded. */
export const seededUniform = (seed: number): (() => number) => {
  let a = (seed * 0x9e3779b1) >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const seededNormal = (seed: number): (() => number) => {
  const u = seededUniform(seed)
  return () => {
    const u1 = Math.max(u(), 1e-300)
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u())
  }
}

export const initGpt2Weights = (shape: Gpt2Shape, seed: number): Gpt2Weights => {
  const normal = seededNormal(seed)
  const residualStd = 0.02 / Math.sqrt(2 * shape.layers)
  const tensors = new Map<string, HostTensor>()
  for (const [name, s] of gpt2TensorShapes(shape)) {
    const n = s.reduce((a, b) => a * b, 1)
    const data = new Float32Array(n)
    if (name.endsWith("ln_1.weight") || name.endsWith("ln_2.weight") || name === "ln_f.weight") data.fill(1)
    else if (s.length === 2) {
      const std = name.endsWith("c_proj.weight") ? residualStd : 0.02
      for (let i = 0; i < n; i++) data[i] = normal() * std
    }
    tensors.set(name, { shape: s, data })
  }
  return { shape, tensors }
}
