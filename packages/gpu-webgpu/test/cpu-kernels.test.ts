/**
 * Every native CPU kernel (native/kernels.cc) against its float64 oracle
 * (test/oracle/ops.ts), through the same schedule ops the model runs, on
 * shapes that cross the kernels' block boundaries (GEMM blocks of 256 × 512,
 * head chunks of 64 rows in 4 slots). Tolerances as kernels.test.ts: f32
 * arithmetic on O(1) values. The incremental pass's attention step (over a
 * key/value cache, position by position) against full causal attention.
 * Also: results do not depend on the thread count.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { nativeAddon } from "../src/cpu/native.ts"
import { type HostArrays, runOps, whole } from "../src/cpu/run-ops.ts"
import type { OperandRounding } from "../src/kernels/common.ts"
import { tokenIndex } from "../src/kernels/embedding.ts"
import type { AttentionStepOp } from "../src/model/step-schedule.ts"
import * as ref from "./oracle/ops.ts"
import { expectClose, randInts, randn } from "./helpers.ts"

const native = Effect.runSync(nativeAddon)

describe("native CPU kernels vs the float64 oracle", () => {
  it("layernorm forward and backward (input accumulated, gain, bias)", () => {
    const [rows, d, eps] = [300, 24, 1e-5]
    const t: HostArrays = {
      x: randn(rows * d, 1, 2),
      g: randn(d, 2),
      b: randn(d, 3),
      dy: randn(rows * d, 4),
      dx: randn(rows * d, 5),
      y: new Float32Array(rows * d),
      stats: new Float32Array(2 * rows),
      dg: new Float32Array(d).fill(0.5),
      db: new Float32Array(d).fill(0.5)
    }
    const w = (n: string) => whole(t, n)
    const out = runOps(
      native,
      t,
      (p) =>
        p.ops([
          { op: "layerNorm", rows, d, eps, x: w("x"), g: w("g"), b: w("b"), y: w("y"), stats: w("stats") },
          { op: "layerNormBackwardInput", rows, d, x: w("x"), g: w("g"), stats: w("stats"), dy: w("dy"), dx: w("dx"), accumulate: true },
          { op: "layerNormBackwardParams", rows, d, x: w("x"), stats: w("stats"), dy: w("dy"), dg: w("dg"), db: w("db") }
        ]),
      { threads: 2 }
    )
    const want = ref.layerNorm(t.x, t.g, t.b, rows, d, eps)
    const wantB = ref.layerNormBackward(t.x, t.g, t.dy, rows, d, eps)
    expectClose(out.y, want.y, 1e-5, 1e-4, "y")
    expectClose(
      out.dx,
      wantB.dx.map((v, i) => v + t.dx[i]),
      1e-5,
      1e-4,
      "dx (accumulated)"
    )
    expectClose(
      out.dg,
      wantB.dg.map((v) => v + 0.5),
      1e-4,
      1e-4,
      "dg (accumulated)"
    )
    expectClose(
      out.db,
      wantB.db.map((v) => v + 0.5),
      1e-4,
      1e-4,
      "db (accumulated)"
    )
  })

  it("gelu forward and backward (vectorised tanh through exp)", () => {
    const n = 100_000
    const t: HostArrays = { x: randn(n, 6, 8), dy: randn(n, 7), y: new Float32Array(n), dx: new Float32Array(n) }
    const out = runOps(
      native,
      t,
      (p) =>
        p.ops([
          { op: "gelu", n, x: whole(t, "x"), y: whole(t, "y") },
          { op: "geluBackward", n, x: whole(t, "x"), dy: whole(t, "dy"), dx: whole(t, "dx") }
        ]),
      { threads: 2 }
    )
    expectClose(out.y, Array.from(t.x, ref.gelu), 1e-6, 1e-5, "gelu")
    expectClose(
      out.dx,
      Array.from(t.x, (v, i) => t.dy[i] * ref.geluGrad(v)),
      1e-5,
      1e-5,
      "gelu'"
    )
  })

  for (const rounding of ["none", "bf16", "fp16"] as const) {
    it(`causal attention forward and backward (${rounding})`, () => {
      const [B, T, d, H] = [3, 70, 12, 3]
      const t: HostArrays = {
        qkv: randn(B * T * 3 * d, 8, 1.5),
        dout: randn(B * T * d, 9),
        out: new Float32Array(B * T * d),
        probs: new Float32Array(B * H * T * T),
        dS: new Float32Array(B * H * T * T),
        dqkv: new Float32Array(B * T * 3 * d)
      }
      const w = (n: string) => whole(t, n)
      const out = runOps(
        native,
        t,
        (p) =>
          p.ops([
            { op: "attention", B, T, d, H, qkv: w("qkv"), out: w("out"), probs: w("probs") },
            { op: "attentionBackward", B, T, d, H, qkv: w("qkv"), probs: w("probs"), dout: w("dout"), dscores: w("dS"), dqkv: w("dqkv") }
          ]),
        { rounding, threads: 2 }
      )
      const want = ref.attention(t.qkv, B, T, d, H, rounding)
      const tol = rounding === "none" ? [1e-5, 1e-4] : [2e-2, 2e-2]
      expectClose(out.out, want.out, tol[0], tol[1], `out (${rounding})`)
      if (rounding === "none") expectClose(out.dqkv, ref.attentionBackward(t.qkv, t.dout, B, T, d, H), 1e-4, 1e-3, "dqkv")
    })
  }

  /** attentionStep at positions 0…T−1 over caches that persist from op to op: the q|k|v of position t for B rows is slice t of `qkv` (laid out [t][b]), its output slice t of `out`. */
  const attentionSteps = (B: number, T: number, d: number, H: number): Array<AttentionStepOp> =>
    Array.from({ length: T }, (_, pos) => ({
      op: "attentionStep",
      B,
      T,
      pos,
      d,
      H,
      qkv: { tensor: "qkv", offset: pos * B * 3 * d, size: B * 3 * d },
      kCache: { tensor: "k", offset: 0, size: B * T * d },
      vCache: { tensor: "v", offset: 0, size: B * T * d },
      out: { tensor: "out", offset: pos * B * d, size: B * d }
    }))
  /** [b][t] rows of width w (the full pass's layout) from [t][b] rows (the steps'). */
  const byPosition = (x: ArrayLike<number>, B: number, T: number, w: number) =>
    Float64Array.from({ length: B * T * w }, (_, i) => {
      const [b, t, e] = [Math.floor(i / (T * w)), Math.floor(i / w) % T, i % w]
      return x[(t * B + b) * w + e]
    })

  for (const rounding of ["none", "bf16", "fp16"] as const) {
    it(`attention step over a key/value cache, position by position, is causal attention (${rounding})`, () => {
      const [B, T, d, H] = [5, 37, 12, 3]
      const t: HostArrays = {
        qkv: randn(T * B * 3 * d, 50, 1.5),
        k: new Float32Array(B * T * d),
        v: new Float32Array(B * T * d),
        out: new Float32Array(T * B * d)
      }
      const out = runOps(native, t, (p) => p.ops(attentionSteps(B, T, d, H)), { rounding, threads: 2 })
      // The oracle reads the full pass's layout: sequence-major rows of q|k|v.
      const want = ref.attention(byPosition(t.qkv, B, T, 3 * d), B, T, d, H, rounding)
      const tol = rounding === "none" ? [1e-5, 1e-4] : [2e-2, 2e-2]
      expectClose(byPosition(out.out, B, T, d), want.out, tol[0], tol[1], `out (${rounding})`)
      // The cache holds every position's k and v (rounded as the kernel's operands).
      const rnd = ref.rounder(rounding)
      const kv = byPosition(t.qkv, B, T, 3 * d)
      expect(Array.from(out.k)).toEqual(Array.from(out.k, (_, i) => rnd(kv[Math.floor(i / d) * 3 * d + d + (i % d)])))
      expect(Array.from(out.v)).toEqual(Array.from(out.v, (_, i) => rnd(kv[Math.floor(i / d) * 3 * d + 2 * d + (i % d)])))
    })
  }

  it("attention step: a position outside the cache or tensors of the wrong sizes are refused before anything runs", () => {
    const [B, T, d, H] = [2, 4, 8, 2]
    const t: HostArrays = { qkv: randn(T * B * 3 * d, 51), k: new Float32Array(B * T * d), v: new Float32Array(B * T * d), out: new Float32Array(T * B * d) }
    const [step] = attentionSteps(B, T, d, H)
    expect(() => runOps(native, t, (p) => p.op({ ...step, pos: T }))).toThrow(/attentionStep at position 4 of 4 with tensors of the wrong sizes/)
    expect(() => runOps(native, t, (p) => p.op({ ...step, B: 3 }))).toThrow(/wrong sizes for 3 rows/)
  })

  const combos = [
    [false, false],
    [false, true],
    [true, false],
    [true, true]
  ] as const
  for (const rounding of ["none", "bf16", "fp16"] as const satisfies ReadonlyArray<OperandRounding>) {
    it(`matmul, every transposition, across 256 × 512 blocks, bias/residual/GELU/accumulate epilogues (${rounding})`, () => {
      const [M, N, K] = [270, 530, 24]
      for (const [transA, transB] of combos) {
        const t: HostArrays = {
          a: randn(M * K, 10, 1.5),
          b: randn(K * N, 11, 1.5),
          bias: randn(N, 12),
          r: randn(M * N, 13),
          c: randn(M * N, 14),
          pre: new Float32Array(M * N),
          c2: randn(M * N, 15)
        }
        const w = (n: string) => whole(t, n)
        const out = runOps(
          native,
          t,
          (p) =>
            p.ops([
              {
                op: "matmul",
                label: "t",
                M,
                N,
                K,
                transA,
                transB,
                a: w("a"),
                b: w("b"),
                bias: w("bias"),
                residual: w("r"),
                gelu: { pre: w("pre") },
                c: w("c")
              },
              { op: "matmul", label: "t", M, N, K, transA, transB, a: w("a"), b: w("b"), c: w("c2"), accumulate: true }
            ]),
          { rounding, threads: 2, matmulScratch: M * K + K * N }
        )
        const prod = ref.matmul(t.a, t.b, M, N, K, { transA, transB, rounding })
        const what = `${transA ? "Aᵀ" : "A"}·${transB ? "Bᵀ" : "B"} ${rounding}`
        const pre = prod.map((v, i) => v + t.bias[i % N] + t.r[i])
        expectClose(out.pre, pre, 1e-4, 1e-4, `${what}: pre-activation`)
        expectClose(out.c, pre.map(ref.gelu), 1e-4, 1e-4, `${what}: GELU`)
        expectClose(
          out.c2,
          prod.map((v, i) => v + t.c2[i]),
          1e-4,
          1e-4,
          `${what}: accumulated`
        )
      }
    })
  }

  for (const rounding of ["none", "bf16"] as const) {
    it(`fused LM head + softmax cross-entropy: loss, log2 p, dx, dW over 4 slots of 64-row chunks (${rounding})`, () => {
      const [rows, V, d] = [333, 50, 8]
      const targets = randInts(rows, V, 16)
      for (let r = 0; r < rows; r += 7) targets[r] = ref.NO_TARGET
      const scale = 1 / 200
      const t: HostArrays = {
        x: randn(rows * d, 17, 2),
        w: randn(V * d, 18, 2),
        targets,
        loss: new Float32Array(rows),
        logp2: new Float32Array(rows),
        dx: new Float32Array(rows * d),
        dw: randn(V * d, 19),
        scale: Float32Array.of(scale),
        lossE: new Float32Array(rows),
        logp2E: new Float32Array(rows)
      }
      const w = (n: string) => whole(t, n)
      const out = runOps(
        native,
        t,
        (p) =>
          p.ops([
            { op: "head", rows, V, d, x: w("x"), w: w("w"), targets: w("targets"), loss: w("lossE"), logp2: w("logp2E"), logits: w("x") },
            {
              op: "head",
              rows,
              V,
              d,
              x: w("x"),
              w: w("w"),
              targets: w("targets"),
              loss: w("loss"),
              logp2: w("logp2"),
              logits: w("x"),
              grad: { dx: w("dx"), dw: w("dw"), scale: w("scale") }
            }
          ]),
        { rounding, threads: 2, headWork: native.headWork(V, d, true) }
      )
      const rnd = ref.rounder(rounding)
      const logits = ref.matmul(t.x, t.w, rows, V, d, { transB: true, rounding })
      const ce = ref.softmaxCrossEntropy(logits, targets, rows, V, scale)
      const tol = rounding === "none" ? 1e-4 : 1e-2
      expectClose(out.lossE, ce.loss, 1e-5, 1e-4, "loss (evaluation)")
      expectClose(out.loss, ce.loss, 1e-5, 1e-4, "loss (training)")
      expectClose(out.logp2, ce.logp2, 1e-5, 1e-4, "log2 p")
      const g = ce.grad.map(rnd)
      expectClose(out.dx, ref.matmul(g, t.w, rows, d, V, { rounding }), 1e-6, tol, "dx = dlogits·W")
      expectClose(
        out.dw,
        ref.matmul(g, t.x, V, d, rows, { transA: true, rounding }).map((v, i) => v + t.dw[i]),
        1e-6,
        tol,
        "dW += dlogitsᵀ·x"
      )
    })
  }

  it("embedding forward and backward (CSR gather), column sums, total sums, sequence bits", () => {
    const [B, T, d, V] = [5, 9, 12, 20]
    const N = B * T
    const tokens = randInts(N, V, 20)
    const idx = tokenIndex(tokens, V)
    const t: HostArrays = {
      tokens,
      wte: randn(V * d, 21),
      wpe: randn(T * d, 22),
      x: new Float32Array(N * d),
      dx: randn(N * d, 23),
      rowStart: idx.rowStart,
      rowIdx: idx.rowIdx,
      dwte: randn(V * d, 24),
      dwpe: randn(T * d, 25),
      cs: randn(d, 26),
      sum: Float32Array.of(0.25),
      sq: Float32Array.of(0),
      bits: new Float32Array(B),
      lp: randn(N, 27)
    }
    const w = (n: string) => whole(t, n)
    const out = runOps(
      native,
      t,
      (p) =>
        p.ops([
          { op: "embed", N, T, d, V, tokens: w("tokens"), wte: w("wte"), wpe: w("wpe"), x: w("x") },
          { op: "embedBackward", N, T, d, V, dx: w("dx"), rowStart: w("rowStart"), rowIdx: w("rowIdx"), dwte: w("dwte"), dwpe: w("dwpe") },
          { op: "columnSum", rows: N, cols: d, x: w("dx"), out: w("cs"), accumulate: true },
          { op: "totalSum", n: N * d, x: w("dx"), out: w("sum"), square: false, accumulate: true },
          { op: "totalSum", n: N * d, x: w("dx"), out: w("sq"), square: true, accumulate: false },
          { op: "sequenceBits", sequences: B, T, logp2: w("lp"), bits: w("bits") }
        ]),
      { threads: 2 }
    )
    expectClose(out.x, ref.embedding(tokens, t.wte, t.wpe, T, d), 1e-6, 1e-6, "x")
    const eb = ref.embeddingBackward(tokens, t.dx, V, T, d)
    expectClose(
      out.dwte,
      eb.dwte.map((v, i) => v + t.dwte[i]),
      1e-5,
      1e-5,
      "dwte (accumulated)"
    )
    expectClose(
      out.dwpe,
      eb.dwpe.map((v, i) => v + t.dwpe[i]),
      1e-5,
      1e-5,
      "dwpe (accumulated)"
    )
    expectClose(
      out.cs,
      ref.colSum(t.dx, N, d).map((v, i) => v + t.cs[i]),
      1e-5,
      1e-5,
      "column sums (accumulated)"
    )
    expectClose(out.sum, [Array.from(t.dx).reduce((a, b) => a + b, 0.25)], 1e-5, 1e-6, "sum (accumulated)")
    expectClose(out.sq, [ref.sumSquares(t.dx)], 1e-5, 1e-6, "sum of squares")
    expectClose(
      out.bits,
      Array.from({ length: B }, (_, b) => -Array.from(t.lp.subarray(b * T, (b + 1) * T)).reduce((a, c) => a + c, 0)),
      1e-5,
      1e-5,
      "sequence bits"
    )
  })

  for (const roundParams of [false, true]) {
    it(`AdamW with global-norm clipping and decoupled decay${roundParams ? ", parameters stored in bf16" : ""}`, () => {
      const n = 5000
      const decayEnd = 3000
      const t: HostArrays = {
        params: randn(n, 30),
        grads: randn(n, 31, 0.1),
        m: randn(n, 32, 0.01),
        v: Float32Array.from(randn(n, 33, 0.01), Math.abs),
        normSq: new Float32Array(1),
        hyper: Float32Array.of(1e-2, 0.9, 0.95, 1e-8, 0.1, 1 - 0.9 ** 3, 1 - 0.95 ** 3, 0.5)
      }
      const w = (k: string) => whole(t, k)
      const out = runOps(
        native,
        t,
        (p) => {
          p.op({ op: "totalSum", n, x: w("grads"), out: w("normSq"), square: true, accumulate: false })
          p.adamw({ n, decayEnd, params: w("params"), grads: w("grads"), m: w("m"), v: w("v"), normSq: w("normSq"), hyper: w("hyper"), roundParams })
        },
        { threads: 2 }
      )
      const P = Float64Array.from(t.params)
      const M = Float64Array.from(t.m)
      const Vv = Float64Array.from(t.v)
      ref.adamw(P, t.grads, M, Vv, { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, step: 3, clip: 0.5 }, decayEnd)
      expectClose(out.m, M, 1e-7, 1e-4, "m")
      expectClose(out.v, Vv, 1e-9, 1e-4, "v")
      if (roundParams) {
        expectClose(out.params, P.map(ref.roundBf16), 1e-6, 8e-3, "params (bf16)")
        expect(
          Array.from(out.params).every((x) => x === ref.roundBf16(x)),
          "every stored parameter is a bfloat16 value"
        ).toBe(true)
      } else expectClose(out.params, P, 1e-6, 1e-4, "params")
    })
  }

  it("the same results, bit for bit, on 1 and 2 threads (fixed work blocks)", () => {
    const [M, N, K] = [300, 600, 96]
    const [rows, V, d] = [700, 300, 16]
    const t: HostArrays = {
      a: randn(M * K, 40),
      b: randn(K * N, 41),
      c: new Float32Array(M * N),
      x: randn(rows * d, 42),
      w: randn(V * d, 43),
      targets: randInts(rows, V, 44),
      loss: new Float32Array(rows),
      logp2: new Float32Array(rows),
      dx: new Float32Array(rows * d),
      dw: new Float32Array(V * d),
      scale: Float32Array.of(0.01),
      s: new Float32Array(1)
    }
    const w = (n: string) => whole(t, n)
    // Attention steps big enough for the kernel to run on several threads (4·B·d·(pos + 1) ≥ 2·10⁵ from pos 24 on).
    const [Bs, Ts, ds, Hs] = [64, 40, 32, 4]
    Object.assign(t, {
      qkv: randn(Ts * Bs * 3 * ds, 45),
      k: new Float32Array(Bs * Ts * ds),
      v: new Float32Array(Bs * Ts * ds),
      out: new Float32Array(Ts * Bs * ds)
    })
    const run = (threads: number) =>
      runOps(
        native,
        t,
        (p) =>
          p.ops([
            { op: "matmul", label: "t", M, N, K, transA: false, transB: false, a: w("a"), b: w("b"), c: w("c") },
            {
              op: "head",
              rows,
              V,
              d,
              x: w("x"),
              w: w("w"),
              targets: w("targets"),
              loss: w("loss"),
              logp2: w("logp2"),
              logits: w("x"),
              grad: { dx: w("dx"), dw: w("dw"), scale: w("scale") }
            },
            { op: "totalSum", n: M * N, x: w("c"), out: w("s"), square: true, accumulate: false },
            ...attentionSteps(Bs, Ts, ds, Hs)
          ]),
        { threads, headWork: native.headWork(V, d, true) }
      )
    const one = run(1)
    const two = run(2)
    for (const k of ["c", "loss", "dx", "dw", "s", "out", "k", "v"])
      expect(Buffer.from(two[k].buffer).equals(Buffer.from(one[k].buffer)), `${k} identical`).toBe(true)
  })
})
