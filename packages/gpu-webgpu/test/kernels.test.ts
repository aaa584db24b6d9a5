/**
 * Every non-matmul kernel against its float64 oracle (test/oracle/ops.ts).
 * Tolerances: f32 arithmetic on O(1) values with sums of ≤ a few hundred
 * terms; exp/log/tanh on lavapipe are accurate to a few ulp.
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { run, storageBuffer } from "../src/device/gpu.ts"
import { WebGpu } from "../src/device/webgpu.ts"
import { adamw } from "../src/kernels/adamw.ts"
import { attentionBackward, attentionForward, MAX_HEAD_WIDTH } from "../src/kernels/attention.ts"
import { embeddingBackward, embeddingBackwardScratch, embeddingForward, tokenIndex } from "../src/kernels/embedding.ts"
import { geluBackward, geluForward } from "../src/kernels/gelu.ts"
import { layerNormBackwardInput, layerNormBackwardParams, layerNormForward, layerNormParamsScratch } from "../src/kernels/layernorm.ts"
import { columnSum, columnSumScratch, lanesFor, REDUCE_GROUPS, rowBlocking, totalSum } from "../src/kernels/reduce.ts"
import { NO_TARGET, sequenceBits, softmaxCrossEntropy } from "../src/kernels/softmax-ce.ts"
import * as ref from "./oracle/ops.ts"
import { down, expectClose, randInts, randn, up } from "./helpers.ts"

const buf = (device: GPUDevice, n: number) => ({ buffer: storageBuffer(device, "out", n), offset: 0, size: n * 4 })

layer(WebGpu.layer)("kernels vs the float64 oracle", (it) => {
  // Row blocks of 4 (19 rows: a partial last block) and the default blocking.
  for (const block of [4, undefined]) {
    it.effect(`layernorm forward and backward (input, gain, bias; row block ${block ?? "default"})`, () =>
      Effect.gen(function* () {
        const { device } = yield* WebGpu
        const [rows, d, eps] = [19, 24, 1e-5]
        const x = randn(rows * d, 1, 2)
        const g = randn(d, 2)
        const b = randn(d, 3)
        const dy = randn(rows * d, 4)
        const base = randn(rows * d, 5)
        const [X, G, Bb, DY] = [up(device, x), up(device, g), up(device, b), up(device, dy)]
        const y = buf(device, rows * d)
        const stats = buf(device, rows * 2)
        const dx = up(device, base)
        const dgb = up(device, new Float32Array(d).fill(0.5))
        const dbb = up(device, new Float32Array(d).fill(0.5))
        const partials = buf(device, layerNormParamsScratch(rows, d, block))
        run(device, [
          yield* layerNormForward(device, { rows, d, eps, x: X, g: G, b: Bb, y, stats }),
          yield* layerNormBackwardInput(device, { rows, d, x: X, g: G, stats, dy: DY, dx, accumulate: true }),
          ...(yield* layerNormBackwardParams(device, { rows, d, x: X, stats, dy: DY, dg: dgb, db: dbb, partials, ...(block ? { block } : {}) }))
        ])
        const want = ref.layerNorm(x, g, b, rows, d, eps)
        const wantB = ref.layerNormBackward(x, g, dy, rows, d, eps)
        expectClose(yield* down(device, y), want.y, 1e-5, 1e-4, "y")
        expectClose(
          yield* down(device, dx),
          wantB.dx.map((v, i) => v + base[i]),
          1e-5,
          1e-4,
          "dx (accumulated)"
        )
        expectClose(
          yield* down(device, dgb),
          wantB.dg.map((v) => v + 0.5),
          1e-5,
          1e-4,
          "dg (accumulated)"
        )
        expectClose(
          yield* down(device, dbb),
          wantB.db.map((v) => v + 0.5),
          1e-5,
          1e-4,
          "db (accumulated)"
        )
      })
    )
  }

  it.effect("layernorm gain/bias gradients over many rows (several lanes per output, partial blocks)", () =>
    Effect.gen(function* () {
      const { device } = yield* WebGpu
      const [rows, d, eps] = [1031, 40, 1e-5]
      const x = randn(rows * d, 31, 2)
      const g = randn(d, 32)
      const dy = randn(rows * d, 33)
      const X = up(device, x)
      const stats = buf(device, rows * 2)
      const dgb = buf(device, d)
      const dbb = buf(device, d)
      for (const block of [7, undefined]) {
        const partials = buf(device, layerNormParamsScratch(rows, d, block))
        run(device, [
          yield* layerNormForward(device, { rows, d, eps, x: X, g: up(device, g), b: up(device, g), y: buf(device, rows * d), stats }),
          ...(yield* layerNormBackwardParams(device, { rows, d, x: X, stats, dy: up(device, dy), dg: dgb, db: dbb, partials, ...(block ? { block } : {}) }))
        ])
      }
      const wantB = ref.layerNormBackward(x, g, dy, rows, d, eps)
      expectClose(
        yield* down(device, dgb),
        wantB.dg.map((v) => 2 * v),
        1e-4,
        1e-4,
        "dg (twice)"
      )
      expectClose(
        yield* down(device, dbb),
        wantB.db.map((v) => 2 * v),
        1e-4,
        1e-4,
        "db (twice)"
      )
    })
  )

  it.effect("gelu forward and backward", () =>
    Effect.gen(function* () {
      const { device } = yield* WebGpu
      const n = 1000
      const x = randn(n, 6, 6)
      const dy = randn(n, 7)
      const y = buf(device, n)
      const dx = buf(device, n)
      run(device, [yield* geluForward(device, { n, x: up(device, x), y }), yield* geluBackward(device, { n, x: up(device, x), dy: up(device, dy), dx })])
      expectClose(yield* down(device, y), Array.from(x, ref.gelu), 1e-6, 1e-5, "gelu")
      expectClose(
        yield* down(device, dx),
        Array.from(x, (v, i) => dy[i] * ref.geluGrad(v)),
        1e-5,
        1e-5,
        "gelu' (f32 loses 1 ± tanh in the far tail: atol 1e-5)"
      )
    })
  )

  // [B, T, d, H]: one block and tile; two row blocks and two key tiles (T = 45 > 32); a head
  // too wide for a 32-row tile (d/H = 160: tiles of 25 rows, T = 60 spans three); 70,000
  // workgroups, past the 65,535 of one grid dimension (the grid spills into y).
  const attentionShapes = [
    [2, 7, 12, 3],
    [1, 45, 8, 1],
    [1, 60, 160, 1],
    [70000, 1, 2, 1]
  ] as const
  for (const rounding of ["none", "bf16"] as const) {
    for (const [B, T, d, H] of attentionShapes) {
      it.effect(`causal attention forward (${rounding}) and backward, B=${B} T=${T} d=${d} H=${H}`, () =>
        Effect.gen(function* () {
          const { device } = yield* WebGpu
          const qkv = randn(B * T * 3 * d, 8, 1.5)
          const dout = randn(B * T * d, 9)
          const QKV = up(device, qkv)
          const out = buf(device, B * T * d)
          const probs = buf(device, B * H * T * T)
          const dscores = buf(device, B * H * T * T)
          const dqkv = buf(device, B * T * 3 * d)
          const shape = { B, T, d, H, rounding }
          run(device, [
            yield* attentionForward(device, { ...shape, qkv: QKV, out, probs }),
            ...(yield* attentionBackward(device, { ...shape, rounding: "none", qkv: QKV, probs, dout: up(device, dout), dscores, dqkv }))
          ])
          const want = ref.attention(qkv, B, T, d, H, rounding)
          expectClose(yield* down(device, probs), want.P, 1e-6, 1e-4, "P")
          expectClose(yield* down(device, out), want.out, 1e-5, 1e-4, "out")
          if (rounding === "none") expectClose(yield* down(device, dqkv), ref.attentionBackward(qkv, dout, B, T, d, H), 1e-5, 1e-4, "dqkv")
          else {
            const exact = ref.attention(qkv, B, T, d, H).out
            const got = yield* down(device, out)
            expect(got.reduce((m, v, i) => Math.max(m, Math.abs(v - exact[i])), 0)).toBeGreaterThan(1e-4)
          }
        })
      )
    }
  }

  it.effect("attention refuses a head wider than its kernel holds, naming the width", () =>
    Effect.gen(function* () {
      const { device } = yield* WebGpu
      const [B, T, d, H] = [1, 2, 2 * (MAX_HEAD_WIDTH + 1), 2]
      const e = yield* Effect.flip(
        attentionForward(device, {
          B,
          T,
          d,
          H,
          rounding: "none",
          qkv: buf(device, B * T * 3 * d),
          out: buf(device, B * T * d),
          probs: buf(device, B * H * T * T)
        })
      )
      expect(e._tag).toBe("DeviceError")
      expect(e.message).toContain(`${d}/${H} = ${MAX_HEAD_WIDTH + 1}`)
    })
  )

  it.effect("softmax cross-entropy: loss, log2 p, gradient, no-target rows, per-sequence bits", () =>
    Effect.gen(function* () {
      const { device } = yield* WebGpu
      const [seqs, T, V] = [3, 5, 37]
      const rows = seqs * T
      const logits = randn(rows * V, 10, 4)
      const targets = randInts(rows, V, 11)
      for (let s = 0; s < seqs; s++) targets[s * T + T - 1] = NO_TARGET
      const L = up(device, logits)
      const loss = buf(device, rows)
      const logp2 = buf(device, rows)
      const bits = buf(device, seqs)
      const scale = 1 / 12
      run(device, [
        yield* softmaxCrossEntropy(device, { rows, V, logits: L, targets: up(device, targets), loss, logp2, gradScale: scale }),
        yield* sequenceBits(device, { sequences: seqs, T, logp2, bits })
      ])
      const want = ref.softmaxCrossEntropy(logits, targets, rows, V, scale)
      expectClose(yield* down(device, loss), want.loss, 1e-5, 1e-5, "loss")
      expectClose(yield* down(device, logp2), want.logp2, 1e-5, 1e-5, "log2 p")
      expectClose(yield* down(device, L), want.grad, 1e-7, 1e-5, "grad")
      const wantBits = Array.from({ length: seqs }, (_, s) => -want.logp2.slice(s * T, s * T + T).reduce((a, b) => a + b, 0))
      expectClose(yield* down(device, bits), wantBits, 1e-4, 1e-5, "bits")
    })
  )

  // A workgroup per row: V below, at and well above the 256 invocations (strided slices,
  // the tree over all 256), the widest row kept in registers (4,096) and one past it (read
  // twice), a peaked row, no-target rows, and a rerun that repeats bit for bit.
  for (const V of [5, 256, 2049, 4096, 4097]) {
    it.effect(`softmax cross-entropy, a workgroup per row: V=${V}, deterministic`, () =>
      Effect.gen(function* () {
        const { device } = yield* WebGpu
        const rows = 9
        const logits = randn(rows * V, 50 + V, 6)
        logits[3 * V + (V >> 1)] = 40
        const targets = randInts(rows, V, 51)
        targets[2] = NO_TARGET
        targets[3] = V >> 1
        const scale = 1 / 7
        const want = ref.softmaxCrossEntropy(logits, targets, rows, V, scale)
        const got: Array<Float32Array> = []
        for (let rep = 0; rep < 2; rep++) {
          const L = up(device, logits)
          const loss = buf(device, rows)
          const logp2 = buf(device, rows)
          run(device, [yield* softmaxCrossEntropy(device, { rows, V, logits: L, targets: up(device, targets), loss, logp2, gradScale: scale })])
          const [l, g, p2] = [yield* down(device, loss), yield* down(device, L), yield* down(device, logp2)]
          expectClose(l, want.loss, 1e-5, 1e-5, "loss")
          expectClose(p2, want.logp2, 1e-5, 1e-5, "log2 p")
          expectClose(g, want.grad, 1e-7, 1e-5, "grad")
          got.push(Float32Array.from([...l, ...g]))
        }
        expect(Array.from(got[1])).toEqual(Array.from(got[0]))
      })
    )
  }

  it.effect("embedding gather and deterministic scatter-add", () =>
    Effect.gen(function* () {
      const { device } = yield* WebGpu
      const [B, T, d, V] = [3, 6, 8, 11]
      const N = B * T
      const tokens = randInts(N, V, 13)
      const wte = randn(V * d, 14)
      const wpe = randn(T * d, 15)
      const dx = randn(N * d, 16)
      const { rowStart, rowIdx } = tokenIndex(tokens, V)
      const x = buf(device, N * d)
      const dwte = up(device, new Float32Array(V * d).fill(1))
      const dwpe = up(device, new Float32Array(T * d).fill(1))
      const shape = { N, T, d, V }
      run(device, [
        yield* embeddingForward(device, { ...shape, tokens: up(device, tokens), wte: up(device, wte), wpe: up(device, wpe), x }),
        ...(yield* embeddingBackward(device, {
          ...shape,
          dx: up(device, dx),
          rowStart: up(device, rowStart),
          rowIdx: up(device, rowIdx),
          dwte,
          dwpe,
          partials: buf(device, embeddingBackwardScratch(shape))
        }))
      ])
      expectClose(yield* down(device, x), ref.embedding(tokens, wte, wpe, T, d), 1e-6, 1e-6, "x")
      const want = ref.embeddingBackward(tokens, dx, V, T, d)
      expectClose(
        yield* down(device, dwte),
        want.dwte.map((v) => v + 1),
        1e-6,
        1e-5,
        "dwte"
      )
      expectClose(
        yield* down(device, dwpe),
        want.dwpe.map((v) => v + 1),
        1e-6,
        1e-5,
        "dwpe"
      )
    })
  )

  it.effect("reductions: column sums, sum, sum of squares", () =>
    Effect.gen(function* () {
      const { device } = yield* WebGpu
      const [rows, cols] = [33, 17]
      const x = randn(rows * cols, 17)
      const X = up(device, x)
      const cs = buf(device, cols)
      const sum = up(device, new Float32Array([2]))
      const sq = buf(device, 1)
      const partials = buf(device, REDUCE_GROUPS)
      run(device, [
        ...(yield* columnSum(device, { rows, cols, x: X, out: cs, partials: buf(device, columnSumScratch(rows, cols)), accumulate: false })),
        ...(yield* totalSum(device, { n: rows * cols, x: X, out: sum, partials, square: false, accumulate: true })),
        ...(yield* totalSum(device, { n: rows * cols, x: X, out: sq, partials: buf(device, REDUCE_GROUPS), square: true, accumulate: false }))
      ])
      expectClose(yield* down(device, cs), ref.colSum(x, rows, cols), 1e-5, 1e-5, "colsum")
      expectClose(yield* down(device, sum, 1), [2 + x.reduce((a, b) => a + b, 0)], 1e-4, 1e-5, "sum")
      expectClose(yield* down(device, sq, 1), [ref.sumSquares(x)], 1e-4, 1e-5, "sumsq")
    })
  )

  // Shapes for each second-pass lane count (64 lanes: ≤ 256 outputs, 16: ≤ 4096, 4: more),
  // blocks that do not divide the rows, accumulation, and a first pass that repeats bit for bit.
  const colShapes: ReadonlyArray<readonly [number, number, number | undefined]> = [
    [4096, 32, undefined],
    [1000, 130, 9],
    [301, 5000, undefined],
    [7, 3, 1],
    [70, 5, 64]
  ]
  for (const [rows, cols, block] of colShapes) {
    it.effect(
      `column sums in two passes: ${rows}x${cols}, row block ${block ?? rowBlocking(rows, cols).block} (lanes ${lanesFor(cols)}), accumulated, deterministic`,
      () =>
        Effect.gen(function* () {
          const { device } = yield* WebGpu
          const x = randn(rows * cols, 40 + cols)
          const base = randn(cols, 41)
          const X = up(device, x)
          const outs = [up(device, base), up(device, base)]
          const partials = buf(device, columnSumScratch(rows, cols, block))
          for (const out of outs)
            run(device, [...(yield* columnSum(device, { rows, cols, x: X, out, partials, accumulate: true, ...(block ? { block } : {}) }))])
          const want = ref.colSum(x, rows, cols).map((v, c) => v + base[c])
          const [a, b] = [yield* down(device, outs[0]), yield* down(device, outs[1])]
          expectClose(a, want, 1e-4, 1e-5, "colsum (accumulated)")
          expect(Array.from(b)).toEqual(Array.from(a))
        })
    )
  }

  for (const roundParams of [false, true]) {
    it.effect(`AdamW with global-norm clipping and decay boundary (bf16 params: ${roundParams})`, () =>
      Effect.gen(function* () {
        const { device } = yield* WebGpu
        const n = 300
        const decayEnd = 200
        const p0 = randn(n, 18)
        const g = randn(n, 19, 3)
        const P = up(device, p0)
        const G = up(device, g)
        const M = buf(device, n)
        const V = buf(device, n)
        const normSq = buf(device, 1)
        const h = { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clip: 1 }
        const k = yield* adamw(device, { n, decayEnd, params: P, grads: G, m: M, v: V, normSq, roundParamsBf16: roundParams })
        const norm = yield* totalSum(device, { n, x: G, out: normSq, partials: buf(device, REDUCE_GROUPS), square: true, accumulate: false })
        const p = Float64Array.from(p0)
        const m = new Float64Array(n)
        const v = new Float64Array(n)
        for (let step = 1; step <= 3; step++) {
          k.setStep(h, step)
          run(device, [...norm, k.dispatch])
          ref.adamw(p, g, m, v, { ...h, step }, decayEnd)
          if (roundParams) for (let i = 0; i < n; i++) p[i] = ref.roundBf16(p[i])
        }
        expectClose(yield* down(device, M), m, 1e-6, 1e-4, "m")
        expectClose(yield* down(device, V), v, 1e-7, 1e-4, "v")
        // bf16: a rounding tie broken differently by an f32 ulp moves a value by one bf16 ulp (2^-8 relative).
        expectClose(yield* down(device, P), p, 1e-5, roundParams ? 8e-3 : 1e-5, "params")
      })
    )
  }
})
