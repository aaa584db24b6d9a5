import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { run, storageBuffer, whole } from "../src/device/gpu.ts"
import { WebGpu } from "../src/device/webgpu.ts"
import { matmul, registerTile, sharedTile, type MatmulTile, vec4Fits, vec4Tile } from "../src/kernels/matmul.ts"
import * as ref from "../src/reference/ops.ts"
import { down, expectClose, randn, up } from "./helpers.ts"

// Tolerance: f32 accumulation over K ≤ 70 terms of size ≤ 1 → well under 1e-4 relative.
const ATOL = 1e-5
const RTOL = 1e-4

layer(WebGpu.layer)("matmul kernel vs float64 reference", (it) => {
  const tiles: ReadonlyArray<readonly [string, MatmulTile]> = [
    ["register 4x4", registerTile],
    ["register 2x1", { ...registerTile, tm: 2, tn: 1, wx: 4, wy: 4 }],
    ["shared 64x64", sharedTile],
    ["shared 16x16", { kind: "shared", tm: 1, tn: 1, wx: 16, wy: 16, bk: 8 }]
  ]
  for (const [name, tile] of tiles) {
    for (const [transA, transB] of [[false, false], [true, false], [false, true]] as const) {
      it.effect(`${name} transA=${transA} transB=${transB}, odd sizes, bias`, () =>
        Effect.gen(function* () {
          const { device } = yield* WebGpu
          const [M, N, K] = [37, 29, 70]
          const a = randn(M * K, 1)
          const b = randn(K * N, 2)
          const bias = randn(N, 3)
          const c = whole(storageBuffer(device, "c", M * N))
          const d = yield* matmul(device, { M, N, K, transA, transB, a: up(device, a), b: up(device, b), c, bias: up(device, bias), rounding: "none", tile })
          run(device, [d])
          const got = yield* down(device, c, M * N)
          expectClose(got, ref.matmul(a, b, M, N, K, { transA, transB, bias }), ATOL, RTOL, "C")
        }))
    }
  }

  // vec4 blocks: each transposition on a shape that fits (odd K in the strided case
  // exercises the zero padding), and one that does not (falls back to scalar loads).
  const vec4Shapes: ReadonlyArray<readonly [number, number, number, boolean, boolean]> = [
    [37, 28, 68, false, false], [36, 28, 70, true, false], [37, 29, 68, false, true], [37, 29, 70, false, false]
  ]
  for (const [M, N, K, transA, transB] of vec4Shapes) {
    it.effect(`vec4 4x4 blocks ${M}x${N}x${K} transA=${transA} transB=${transB} (fits: ${vec4Fits({ M, N, K, transA, transB })}), bf16 too`, () =>
      Effect.gen(function* () {
        const { device } = yield* WebGpu
        const a = randn(M * K, 11)
        const b = randn(K * N, 12)
        const bias = randn(N, 13)
        for (const rounding of ["none", "bf16"] as const) {
          const c = whole(storageBuffer(device, "c", M * N))
          run(device, [yield* matmul(device, { M, N, K, transA, transB, a: up(device, a), b: up(device, b), c, bias: up(device, bias), rounding, tile: vec4Tile })])
          expectClose(yield* down(device, c, M * N), ref.matmul(a, b, M, N, K, { transA, transB, bias, rounding }), ATOL, RTOL, `C ${rounding}`)
        }
      }))
  }

  it.effect("residual, accumulate and fused GELU epilogues", () =>
    Effect.gen(function* () {
      const { device } = yield* WebGpu
      const [M, N, K] = [20, 24, 16]
      const a = randn(M * K, 4)
      const b = randn(K * N, 5)
      const bias = randn(N, 6)
      const r = randn(M * N, 7)
      const base = ref.matmul(a, b, M, N, K, { bias })
      // residual: C = A·B + bias + R
      const c1 = whole(storageBuffer(device, "c1", M * N))
      run(device, [yield* matmul(device, { M, N, K, transA: false, transB: false, a: up(device, a), b: up(device, b), c: c1, bias: up(device, bias), residual: up(device, r), rounding: "none", tile: registerTile })])
      expectClose(yield* down(device, c1), base.map((v, i) => v + r[i]), ATOL, RTOL, "residual")
      // accumulate: C(=R) += A·B
      const c2 = up(device, r)
      run(device, [yield* matmul(device, { M, N, K, transA: false, transB: false, a: up(device, a), b: up(device, b), c: c2, accumulate: true, rounding: "none", tile: sharedTile })])
      expectClose(yield* down(device, c2), ref.matmul(a, b, M, N, K).map((v, i) => v + r[i]), ATOL, RTOL, "accumulate")
      // GELU: C = gelu(A·B + bias), PRE = A·B + bias
      const c3 = whole(storageBuffer(device, "c3", M * N))
      const pre = whole(storageBuffer(device, "pre", M * N))
      run(device, [yield* matmul(device, { M, N, K, transA: false, transB: false, a: up(device, a), b: up(device, b), c: c3, bias: up(device, bias), gelu: { pre }, rounding: "none", tile: registerTile })])
      expectClose(yield* down(device, pre), base, ATOL, RTOL, "pre-activation")
      expectClose(yield* down(device, c3), base.map(ref.gelu), ATOL, RTOL, "gelu")
    }))

  for (const rounding of ["bf16", "fp16"] as const) {
    it.effect(`${rounding} operand rounding matches the rounded reference and differs from fp32`, () =>
      Effect.gen(function* () {
        const { device } = yield* WebGpu
        const [M, N, K] = [16, 16, 64]
        const a = randn(M * K, 8)
        const b = randn(K * N, 9)
        const c = whole(storageBuffer(device, "c", M * N))
        run(device, [yield* matmul(device, { M, N, K, transA: false, transB: false, a: up(device, a), b: up(device, b), c, rounding, tile: registerTile })])
        const got = yield* down(device, c)
        expectClose(got, ref.matmul(a, b, M, N, K, { rounding }), ATOL, RTOL, rounding)
        const exact = ref.matmul(a, b, M, N, K)
        const maxDiff = Math.max(...got.map((v, i) => Math.abs(v - exact[i])))
        // bf16 keeps 8 mantissa bits (≈ 2e-3 relative per operand), fp16 11 bits.
        expect(maxDiff).toBeGreaterThan(rounding === "bf16" ? 1e-3 : 1e-5)
      }))
  }
})
