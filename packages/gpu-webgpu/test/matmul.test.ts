import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { run, storageBuffer, whole } from "../src/device/gpu.ts"
import { WebGpu } from "../src/device/webgpu.ts"
import {
  fillTile,
  matmul,
  matmulSplitK,
  registerTile,
  sharedTile,
  SPLITK_TARGET_WORKGROUPS,
  splitKPlan,
  type MatmulTile,
  vec4Fits,
  vec4Tile
} from "../src/kernels/matmul.ts"
import * as ref from "./oracle/ops.ts"
import { down, expectClose, randn, up } from "./helpers.ts"

// Tolerance: f32 accumulation over K ≤ 70 terms of size ≤ 1 → well under 1e-4 relative.
const ATOL = 1e-5
const RTOL = 1e-4

layer(WebGpu.layer)("matmul kernel vs the float64 oracle", (it) => {
  const tiles: ReadonlyArray<readonly [string, MatmulTile]> = [
    ["register 4x4", registerTile],
    ["register 2x1", { ...registerTile, tm: 2, tn: 1, wx: 4, wy: 4 }],
    ["shared 64x64", sharedTile],
    ["shared 16x16", { kind: "shared", tm: 1, tn: 1, wx: 16, wy: 16, bk: 8 }]
  ]
  for (const [name, tile] of tiles) {
    for (const [transA, transB] of [
      [false, false],
      [true, false],
      [false, true]
    ] as const) {
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
        })
      )
    }
  }

  // vec4 blocks: each transposition on a shape that fits (odd K in the strided case
  // exercises the zero padding), and one that does not (falls back to scalar loads).
  const vec4Shapes: ReadonlyArray<readonly [number, number, number, boolean, boolean]> = [
    [37, 28, 68, false, false],
    [36, 28, 70, true, false],
    [37, 29, 68, false, true],
    [37, 29, 70, false, false]
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
          run(device, [
            yield* matmul(device, { M, N, K, transA, transB, a: up(device, a), b: up(device, b), c, bias: up(device, bias), rounding, tile: vec4Tile })
          ])
          expectClose(yield* down(device, c, M * N), ref.matmul(a, b, M, N, K, { transA, transB, bias, rounding }), ATOL, RTOL, `C ${rounding}`)
        }
      })
    )
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
      run(device, [
        yield* matmul(device, {
          M,
          N,
          K,
          transA: false,
          transB: false,
          a: up(device, a),
          b: up(device, b),
          c: c1,
          bias: up(device, bias),
          residual: up(device, r),
          rounding: "none",
          tile: registerTile
        })
      ])
      expectClose(
        yield* down(device, c1),
        base.map((v, i) => v + r[i]),
        ATOL,
        RTOL,
        "residual"
      )
      // accumulate: C(=R) += A·B
      const c2 = up(device, r)
      run(device, [
        yield* matmul(device, {
          M,
          N,
          K,
          transA: false,
          transB: false,
          a: up(device, a),
          b: up(device, b),
          c: c2,
          accumulate: true,
          rounding: "none",
          tile: sharedTile
        })
      ])
      expectClose(
        yield* down(device, c2),
        ref.matmul(a, b, M, N, K).map((v, i) => v + r[i]),
        ATOL,
        RTOL,
        "accumulate"
      )
      // GELU: C = gelu(A·B + bias), PRE = A·B + bias
      const c3 = whole(storageBuffer(device, "c3", M * N))
      const pre = whole(storageBuffer(device, "pre", M * N))
      run(device, [
        yield* matmul(device, {
          M,
          N,
          K,
          transA: false,
          transB: false,
          a: up(device, a),
          b: up(device, b),
          c: c3,
          bias: up(device, bias),
          gelu: { pre },
          rounding: "none",
          tile: registerTile
        })
      ])
      expectClose(yield* down(device, pre), base, ATOL, RTOL, "pre-activation")
      expectClose(yield* down(device, c3), base.map(ref.gelu), ATOL, RTOL, "gelu")
    })
  )

  for (const rounding of ["bf16", "fp16"] as const) {
    it.effect(`${rounding} operand rounding matches the rounded oracle and differs from fp32`, () =>
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
      })
    )
  }

  // Split-K: K cut into chunks (the last one short), partial products into scratch,
  // summed in chunk order into C (accumulated, as the weight gradients are).
  // Tolerance: K = 1000 terms of size ≤ 1 in f32.
  const splitTiles: ReadonlyArray<readonly [string, MatmulTile]> = [
    ["register 4x4", registerTile],
    ["vec4", vec4Tile],
    ["shared 64x64", sharedTile],
    ["shared bk 8", { kind: "shared", tm: 2, tn: 2, wx: 8, wy: 8, bk: 8 }]
  ]
  for (const [name, tile] of splitTiles) {
    for (const [transA, transB] of [
      [true, false],
      [false, false],
      [false, true]
    ] as const) {
      it.effect(`split-K ${name} transA=${transA} transB=${transB}: 36x28, K=1000 in chunks of 44, accumulated, bf16 too, deterministic`, () =>
        Effect.gen(function* () {
          const { device } = yield* WebGpu
          const [M, N, K] = [36, 28, 1000]
          const split = { chunk: 44, splits: Math.ceil(K / 44) }
          const a = randn(M * K, 21)
          const b = randn(K * N, 22)
          const c0 = randn(M * N, 23)
          for (const rounding of ["none", "bf16"] as const) {
            const outs = [up(device, c0), up(device, c0)]
            for (const c of outs) {
              const scratch = whole(storageBuffer(device, "scratch", split.splits * M * N))
              run(device, [
                ...(yield* matmulSplitK(
                  device,
                  { M, N, K, transA, transB, a: up(device, a), b: up(device, b), c, accumulate: true, rounding, tile },
                  split,
                  scratch
                ))
              ])
            }
            const want = ref.matmul(a, b, M, N, K, { transA, transB, rounding }).map((v, i) => v + c0[i])
            const got = yield* down(device, outs[0], M * N)
            expectClose(got, want, 1e-4, 1e-4, `C ${rounding}`)
            expect(Array.from(yield* down(device, outs[1], M * N))).toEqual(Array.from(got))
          }
        })
      )
    }
  }

  it.effect("split-K plan: the model's weight-gradient GEMMs reach the target workgroups; short K and big outputs are not split", () =>
    Effect.sync(() => {
      for (const tile of [registerTile, vec4Tile, sharedTile]) {
        // V=2048 S=64 d=32 B=64: K = B·T = 4096 (d-W1, d-W2, d-Wa, d-Wp, d-head), and d-lnf (K = V).
        for (const [M, N, K, transA] of [
          [32, 128, 4096, true],
          [128, 32, 4096, true],
          [32, 96, 4096, true],
          [32, 32, 4096, true],
          [2048, 32, 4096, true],
          [4096, 32, 2048, false]
        ] as const) {
          const split = splitKPlan({ M, N, K, transA, transB: false, tile })!
          expect(split, `${M}x${N}x${K}`).toBeDefined()
          const [x, y] = [Math.ceil(N / (tile.tn * tile.wx)), Math.ceil(M / (tile.tm * tile.wy))]
          expect(x * y * split.splits).toBeGreaterThanOrEqual(Math.min(SPLITK_TARGET_WORKGROUPS, x * y * Math.floor(K / 16)))
          expect(split.chunk % 4).toBe(0)
          expect((split.splits - 1) * split.chunk).toBeLessThan(K)
        }
        expect(splitKPlan({ M: 4096, N: 128, K: 32, transA: false, transB: true, tile })).toBeUndefined()
        expect(splitKPlan({ M: 4096, N: 2048, K: 4096, transA: false, transB: false, tile })).toBeUndefined()
      }
    })
  )

  // Small-N GEMMs (the model's attn-proj / qkv / d-ln2 shapes, scaled down) get a tile with more
  // workgroups; each output's K loop is the same, so the bits must not change.
  for (const [name, tile] of [
    ["register", registerTile],
    ["vec4", vec4Tile],
    ["shared", sharedTile]
  ] as const) {
    it.effect(`fillTile (${name}): more workgroups for a small-N GEMM, the same bits, with bias and residual`, () =>
      Effect.gen(function* () {
        const { device } = yield* WebGpu
        const [M, N, K] = [516, 36, 32]
        const small = fillTile({ M, N, K, transA: false, transB: false }, tile, 64)
        const wg = (t: MatmulTile) => Math.ceil(N / (t.tn * t.wx)) * Math.ceil(M / (t.tm * t.wy))
        expect(wg(small)).toBeGreaterThan(wg(tile))
        expect(small.kind).toBe(tile.kind)
        const a = randn(M * K, 31)
        const b = randn(K * N, 32)
        const bias = randn(N, 33)
        const r = randn(M * N, 34)
        const outs = [] as Array<Float32Array>
        for (const t of [tile, small]) {
          const c = whole(storageBuffer(device, "c", M * N))
          run(device, [
            yield* matmul(device, {
              M,
              N,
              K,
              transA: false,
              transB: false,
              a: up(device, a),
              b: up(device, b),
              c,
              bias: up(device, bias),
              residual: up(device, r),
              rounding: "none",
              tile: t
            })
          ])
          outs.push(yield* down(device, c, M * N))
        }
        expectClose(
          outs[1],
          ref.matmul(a, b, M, N, K, { bias }).map((v, i) => v + r[i]),
          ATOL,
          RTOL,
          "C"
        )
        expect(Array.from(outs[1])).toEqual(Array.from(outs[0]))
      })
    )
  }
})
