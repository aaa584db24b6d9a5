/**
 * Finite-difference gradient check of the whole model, on both backends: the
 * gradient the backward pass accumulates for every tensor is compared, at
 * sampled elements, with central differences of a float64 loss composed from
 * the reference ops. Tolerance: 1e-3 of the tensor's largest gradient + 1e-2
 * relative (the backends run in f32; the finite differences are float64, h = 1e-5).
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect } from "effect"
import { makeCpuGpt2Engine } from "../src/cpu/cpu-model.ts"
import { WebGpu } from "../src/device/webgpu.ts"
import { fillBatch } from "../src/model/batch.ts"
import { registerTile, sharedTile, vec4Tile } from "../src/kernels/matmul.ts"
import { makeGpuGpt2Engine } from "../src/model/gpu-model.ts"
import { initGpt2Weights } from "../src/model/init.ts"
import { paramLayout } from "../src/model/layout.ts"
import type { Gpt2Shape, Gpt2Weights } from "../src/model/weights.ts"
import * as ref from "./reference/ops.ts"
import { randInts, randn, rng, webgpuGradient } from "./helpers.ts"

/** Mean cross-entropy (nats) of a GPT-2 in float64, from the reference ops. */
const referenceLoss = (shape: Gpt2Shape, t: Map<string, Float64Array>, tokens: Uint32Array, targets: Uint32Array, B: number): number => {
  const { seqLen: S, dModel: d, heads: H, vocabSize: V, layerNormEps: eps } = shape
  const N = B * S
  let x = ref.embedding(tokens, t.get("wte.weight")!, t.get("wpe.weight")!, S, d)
  for (let l = 0; l < shape.layers; l++) {
    const p = (n: string) => t.get(`h.${l}.${n}`)!
    const ln1 = ref.layerNorm(x, p("ln_1.weight"), p("ln_1.bias"), N, d, eps).y
    const qkv = ref.matmul(ln1, p("attn.c_attn.weight"), N, 3 * d, d, { bias: p("attn.c_attn.bias") })
    const att = ref.attention(qkv, B, S, d, H).out
    const proj = ref.matmul(att, p("attn.c_proj.weight"), N, d, d, { bias: p("attn.c_proj.bias") })
    const xmid = x.map((v, i) => v + proj[i])
    const ln2 = ref.layerNorm(xmid, p("ln_2.weight"), p("ln_2.bias"), N, d, eps).y
    const h = ref.matmul(ln2, p("mlp.c_fc.weight"), N, 4 * d, d, { bias: p("mlp.c_fc.bias") }).map(ref.gelu)
    const out = ref.matmul(h, p("mlp.c_proj.weight"), N, d, 4 * d, { bias: p("mlp.c_proj.bias") })
    x = xmid.map((v, i) => v + out[i])
  }
  const lnf = ref.layerNorm(x, t.get("ln_f.weight")!, t.get("ln_f.bias")!, N, d, eps).y
  const logits = ref.matmul(lnf, t.get("wte.weight")!, N, V, d, { transB: true })
  const ce = ref.softmaxCrossEntropy(logits, targets, N, V, 1)
  const predicted = Array.from(targets).filter((v) => v !== ref.NO_TARGET).length
  return ce.loss.reduce((a, b) => a + b, 0) / predicted
}

/** Random weights of a useful size (GPT-2 init is too small for a sharp check). */
const randomWeights = (shape: Gpt2Shape, seed: number): Gpt2Weights => {
  const base = initGpt2Weights(shape, seed)
  const tensors = new Map([...base.tensors].map(([name, t], i) => {
    const noise = randn(t.data.length, seed * 100 + i, 0.5)
    const data = name.includes("ln_") ? t.data.map((v, j) => v + noise[j] * 0.5) : noise
    return [name, { shape: t.shape, data }] as const
  }))
  return { shape, tensors }
}


/** The backend's gradient against central differences of the float64 loss, at 4 sampled elements of every tensor. */
const expectGradient = (shape: Gpt2Shape, weights: Gpt2Weights, grads: Float32Array, batch: { tokens: Uint32Array; targets: Uint32Array }, B: number) => {
  const t64 = new Map([...weights.tensors].map(([n, t]) => [n, Float64Array.from(t.data)]))
  const r = rng(9)
  const h = 1e-5
  for (const [name, slot] of paramLayout(shape).slots) {
    const g = grads.subarray(slot.offset, slot.offset + slot.size)
    const scale = Math.max(...Array.from(g, Math.abs))
    const w = t64.get(name)!
    for (let k = 0; k < 4; k++) {
      const i = Math.floor(r() * slot.size)
      const orig = w[i]
      w[i] = orig + h
      const up = referenceLoss(shape, t64, batch.tokens, batch.targets, B)
      w[i] = orig - h
      const dn = referenceLoss(shape, t64, batch.tokens, batch.targets, B)
      w[i] = orig
      const fd = (up - dn) / (2 * h)
      expect(Math.abs(g[i] - fd), `${name}[${i}]: backend ${g[i]}, finite difference ${fd}`).toBeLessThanOrEqual(1e-3 * scale + 1e-2 * Math.abs(fd) + 1e-6)
    }
  }
}

const V = 7
const tinyShape = (bos: boolean): Gpt2Shape => ({ vocabSize: bos ? V + 1 : V, seqLen: bos ? 6 : 5, layers: 2, dModel: 8, heads: 2, layerNormEps: 1e-5, activation: "gelu_new", tiedHead: true })

layer(WebGpu.layer)("finite-difference gradient check (WebGPU)", (it) => {
  const cases = [
    { bos: false, tile: registerTile },
    { bos: true, tile: registerTile },
    { bos: false, tile: vec4Tile, fuseGelu: false },
    { bos: false, tile: sharedTile }
  ]
  for (const { bos, tile, fuseGelu } of cases as ReadonlyArray<{ bos: boolean; tile: typeof registerTile; fuseGelu?: boolean }>) {
    it.effect(`whole tiny model (L=2, d=8, H=2, V=7, S=5, B=3${bos ? ", BOS: V+1 tokens, S+1 positions" : ""}; matmul ${tile.kind}${fuseGelu === false ? ", GELU unfused" : ""})`, () =>
      Effect.gen(function* () {
        const shape = tinyShape(bos)
        const B = 3
        const S = 5
        const data = randInts(B * S, V, 21)
        const weights = randomWeights(shape, 5)
        const engine = yield* makeGpuGpt2Engine(weights, { precision: "fp32", bos, tile, fuseGelu })
        const plan = yield* engine.plan(B, shape.seqLen)
        const rows = [0, 1, 2]
        const batch = fillBatch(data, S, rows, B, bos ? V : undefined)
        const grads = yield* webgpuGradient(engine, plan, batch)

        expectGradient(shape, weights, grads, batch, B)
      }))
  }
})

describe("finite-difference gradient check (native CPU)", () => {
  for (const bos of [false, true]) {
    it.effect(`whole tiny model (L=2, d=8, H=2, V=7, S=5, B=3${bos ? ", BOS" : ""})`, () =>
      Effect.gen(function* () {
        const shape = tinyShape(bos)
        const [B, S] = [3, 5]
        const data = randInts(B * S, V, 21)
        const weights = randomWeights(shape, 5)
        const engine = yield* makeCpuGpt2Engine(weights, { precision: "fp32", bos })
        const batch = fillBatch(data, S, [0, 1, 2], B, bos ? V : undefined)
        const grads = yield* engine.gradient(batch, shape.seqLen, 1 / batch.predicted)
        expectGradient(shape, weights, grads, batch, B)
      }).pipe(Effect.scoped))
  }
})
