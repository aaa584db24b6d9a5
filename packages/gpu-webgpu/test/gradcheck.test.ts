/**
 * Finite-difference gradient check of the whole model, on both backends: the
 * gradient the backward pass accumulates for every tensor is compared, at
 * sampled elements, with central differences of a float64 loss composed from
 * the oracle ops. Tolerance: 1e-3 of the tensor's largest gradient + 1e-2
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
import { forwardLoss } from "./oracle/forward.ts"
import { randInts, randn, rng, webgpuGradient } from "./helpers.ts"

/** Mean cross-entropy (nats) of a GPT-2 in float64: the oracle forward pass. */
const oracleLoss = (shape: Gpt2Shape, t: Map<string, Float64Array>, tokens: Uint32Array, targets: Uint32Array, B: number): number =>
  forwardLoss(shape, (name) => t.get(name)!, tokens, targets, B, shape.nPositions)

/** Random weights of a useful size (GPT-2 init is too small for a sharp check). */
const randomWeights = (shape: Gpt2Shape, seed: number): Gpt2Weights => {
  const base = initGpt2Weights(shape, seed)
  const tensors = new Map(
    [...base.tensors].map(([name, t], i) => {
      const noise = randn(t.data.length, seed * 100 + i, 0.5)
      const data = name.includes("ln_") ? t.data.map((v, j) => v + noise[j] * 0.5) : noise
      return [name, { shape: t.shape, data }] as const
    })
  )
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
      const up = oracleLoss(shape, t64, batch.tokens, batch.targets, B)
      w[i] = orig - h
      const dn = oracleLoss(shape, t64, batch.tokens, batch.targets, B)
      w[i] = orig
      const fd = (up - dn) / (2 * h)
      expect(Math.abs(g[i] - fd), `${name}[${i}]: backend ${g[i]}, finite difference ${fd}`).toBeLessThanOrEqual(1e-3 * scale + 1e-2 * Math.abs(fd) + 1e-6)
    }
  }
}

const V = 7
const tinyShape = (bos: boolean): Gpt2Shape => ({
  vocabSize: bos ? V + 1 : V,
  nPositions: bos ? 6 : 5,
  layers: 2,
  dModel: 8,
  heads: 2,
  layerNormEps: 1e-5,
  activation: "gelu_new",
  tiedHead: true
})

layer(WebGpu.layer)("finite-difference gradient check (WebGPU)", (it) => {
  const cases = [
    { bos: false, tile: registerTile },
    { bos: true, tile: registerTile },
    { bos: false, tile: vec4Tile, fuseGelu: false },
    { bos: false, tile: sharedTile }
  ]
  for (const { bos, tile, fuseGelu } of cases as ReadonlyArray<{ bos: boolean; tile: typeof registerTile; fuseGelu?: boolean }>) {
    it.effect(
      `whole tiny model (L=2, d=8, H=2, V=7, S=5, B=3${bos ? ", BOS: V+1 tokens, S+1 positions" : ""}; matmul ${tile.kind}${fuseGelu === false ? ", GELU unfused" : ""})`,
      () =>
        Effect.gen(function* () {
          const shape = tinyShape(bos)
          const B = 3
          const S = 5
          const data = randInts(B * S, V, 21)
          const weights = randomWeights(shape, 5)
          const engine = yield* makeGpuGpt2Engine(weights, { precision: "fp32", bos, tile, fuseGelu })
          const plan = yield* engine.plan(B, shape.nPositions)
          const rows = [0, 1, 2]
          const batch = fillBatch(data, S, rows, B, bos ? V : undefined)
          const grads = yield* webgpuGradient(engine, plan, batch)

          expectGradient(shape, weights, grads, batch, B)
        })
    )
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
        const grads = yield* engine.gradient(batch, shape.nPositions, 1 / batch.predicted)
        expectGradient(shape, weights, grads, batch, B)
      }).pipe(Effect.scoped)
    )
  }
})
