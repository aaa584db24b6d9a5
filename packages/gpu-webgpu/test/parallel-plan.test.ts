/**
 * The WebGPU plan at a size where the parallel reductions are really used
 * (issue 12): B·T = 512 rows, so the weight-gradient GEMMs (K = B·T) and
 * d-lnf (K = V = 300) are split along K, bias and LayerNorm gain/bias
 * gradients reduced over several row blocks. The whole gradient is checked
 * against the native CPU backend (an independent implementation, itself
 * checked against finite differences in gradcheck.test.ts), and a second
 * run must give the same bits. Tolerance: 1e-4 of the tensor's largest
 * gradient + 1e-3 relative (f32 sums of 512 terms, in different orders).
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { makeCpuGpt2Engine } from "../src/cpu/cpu-model.ts"

import { WebGpu } from "../src/device/webgpu.ts"
import { registerTile, sharedTile, vec4Tile } from "../src/kernels/matmul.ts"
import { fillBatch } from "../src/model/batch.ts"
import { makeGpuGpt2Engine } from "../src/model/gpu-model.ts"
import { initGpt2Weights } from "../src/model/init.ts"
import { paramLayout } from "../src/model/layout.ts"
import type { Gpt2Shape, Gpt2Weights } from "../src/model/weights.ts"
import { randInts, randn, webgpuGradient } from "./helpers.ts"

const shape: Gpt2Shape = { vocabSize: 300, nPositions: 32, layers: 1, dModel: 16, heads: 2, layerNormEps: 1e-5, activation: "gelu_new", tiedHead: true }
const B = 16

const randomWeights = (seed: number): Gpt2Weights => {
  const base = initGpt2Weights(shape, seed)
  return {
    shape,
    tensors: new Map(
      [...base.tensors].map(([name, t], i) => {
        const noise = randn(t.data.length, seed * 100 + i, 0.3)
        return [name, { shape: t.shape, data: name.includes("ln_") ? t.data.map((v, j) => v + noise[j]) : noise }] as const
      })
    )
  }
}

layer(WebGpu.layer)("WebGPU plan with split-K GEMMs and two-pass reductions", (it) => {
  for (const tile of [registerTile, vec4Tile, sharedTile]) {
    it.effect(`whole gradient vs the native CPU backend, bit-identical on a rerun (matmul ${tile.kind}; V=300 S=32 d=16 B=16)`, () =>
      Effect.gen(function* () {
        const weights = randomWeights(3)
        const data = randInts(B * shape.nPositions, shape.vocabSize, 4)
        const batch = fillBatch(
          data,
          shape.nPositions,
          Array.from({ length: B }, (_, i) => i),
          B,
          undefined
        )
        const cpu = yield* makeCpuGpt2Engine(weights, { precision: "fp32", bos: false })
        const want = yield* cpu.gradient(batch, shape.nPositions, 1 / batch.predicted)

        const engine = yield* makeGpuGpt2Engine(weights, { precision: "fp32", bos: false, tile })
        const plan = yield* engine.plan(B, shape.nPositions)
        const labels = plan.backward.map((d) => d.label)
        for (const gemm of ["d-W1", "d-W2", "d-Wa", "d-Wp", "d-head", "d-lnf"]) expect(labels, gemm).toContain(`${gemm}:split-k`)
        expect(labels).toContain("reduce:colsum_partial")
        expect(labels).toContain("layernorm:backward_params_partial")
        const gradient = () => webgpuGradient(engine, plan, batch)
        const got = yield* gradient()
        for (const [name, slot] of paramLayout(shape).slots) {
          const g = got.subarray(slot.offset, slot.offset + slot.size)
          const w = want.subarray(slot.offset, slot.offset + slot.size)
          const scale = Math.max(...Array.from(w, Math.abs))
          let worst = 0
          let at = 0
          for (let i = 0; i < g.length; i++) {
            const e = Math.abs(g[i] - w[i]) / (1e-4 * scale + 1e-3 * Math.abs(w[i]) + 1e-9)
            if (!(e <= worst)) [worst, at] = [e, i]
          }
          expect(worst, `${name}[${at}]: webgpu ${g[at]}, cpu ${w[at]}`).toBeLessThanOrEqual(1)
        }
        expect(Array.from(yield* gradient())).toEqual(Array.from(got))
      }).pipe(Effect.scoped)
    )
  }
})
