/**
 * The GPU work for one micro-batch size B: activation buffers and prepared
 * dispatch lists (forward, loss, backward). Built once per B and reused, so
 * a step only uploads tokens and encodes the lists.
 */
import type { DeviceError } from "@memorize/core"
import { Effect } from "effect"
import { type Dispatch, type Slice, storageBuffer } from "../device/gpu.ts"
import { attentionBackward, attentionForward } from "../kernels/attention.ts"
import type { OperandRounding } from "../kernels/common.ts"
import { embeddingBackward, embeddingForward } from "../kernels/embedding.ts"
import { geluBackward, geluForward } from "../kernels/gelu.ts"
import { layerNormBackwardInput, layerNormBackwardParams, layerNormForward } from "../kernels/layernorm.ts"
import { matmul, type MatmulSpec, type MatmulTile } from "../kernels/matmul.ts"
import { columnSum, REDUCE_GROUPS, totalSum } from "../kernels/reduce.ts"
import { sequenceBits, softmaxCrossEntropy } from "../kernels/softmax-ce.ts"
import type { ParamLayout } from "./layout.ts"
import type { Gpt2Shape } from "./weights.ts"

export interface PlanInputs {
  readonly device: GPUDevice
  readonly shape: Gpt2Shape
  readonly layout: ParamLayout
  readonly params: GPUBuffer
  readonly grads: GPUBuffer
  readonly rounding: OperandRounding
  readonly tile: MatmulTile
  /** Bias+GELU in the fc matmul's epilogue (else a separate GELU pass). */
  readonly fuseGelu: boolean
  readonly B: number
  /** Positions per row (≤ n_positions). */
  readonly T: number
}

export interface Plan {
  readonly B: number
  readonly T: number
  readonly tokens: Slice
  readonly targets: Slice
  readonly rowStart: Slice
  readonly rowIdx: Slice
  readonly logits: Slice
  readonly logp2: Slice
  readonly bits: Slice
  /** Σ loss (nats) of the micro-batches since the last clear. */
  readonly lossSum: Slice
  readonly forward: ReadonlyArray<Dispatch>
  /** Loss without gradient, log2 p and per-sequence bits. */
  readonly evaluate: ReadonlyArray<Dispatch>
  /** Loss with gradient (scale set by setGradScale), loss accumulation, backward into the gradient buffer. */
  readonly backward: ReadonlyArray<Dispatch>
  readonly setGradScale: (scale: number) => void
  readonly buffers: ReadonlyArray<GPUBuffer>
}

export const makePlan = (inp: PlanInputs): Effect.Effect<Plan, DeviceError> =>
  Effect.gen(function* () {
    const { device, shape, layout, B } = inp
    const S = inp.T
    const d = shape.dModel
    const V = shape.vocabSize
    const H = shape.heads
    const L = shape.layers
    const N = B * S
    const eps = shape.layerNormEps
    const buffers: Array<GPUBuffer> = []
    const alloc = (label: string, n: number): Slice => {
      const buffer = storageBuffer(device, label, n)
      buffers.push(buffer)
      return { buffer, offset: 0, size: n * 4 }
    }
    const g = (name: string) => slotOf(inp.grads, name)
    const slotOf = (buf: GPUBuffer, name: string): Slice => {
      const s = layout.slots.get(name)
      if (s === undefined) throw new Error(`no tensor ${name} in the layout`)
      return { buffer: buf, offset: s.offset * 4, size: s.size * 4 }
    }
    const w = (name: string) => slotOf(inp.params, name)
    // Only the first T rows of the position table are used (an imported model may have more).
    const wpe: Slice = { ...w("wpe.weight"), size: S * d * 4 }
    const dwpe: Slice = { ...g("wpe.weight"), size: S * d * 4 }
    const mm = (s: Omit<MatmulSpec, "rounding" | "tile">, label: string) => matmul(device, { ...s, rounding: inp.rounding, tile: inp.tile }, label)
    const head = shape.tiedHead ? "wte.weight" : "lm_head.weight"

    const tokens = alloc("tokens", N)
    const targets = alloc("targets", N)
    const rowStart = alloc("rowStart", V + 1)
    const rowIdx = alloc("rowIdx", N)
    const xs = Array.from({ length: L + 1 }, (_, l) => alloc(`x${l}`, N * d))
    const layers = Array.from({ length: L }, (_, l) => ({
      ln1: alloc(`ln1.${l}`, N * d), st1: alloc(`st1.${l}`, 2 * N), qkv: alloc(`qkv.${l}`, N * 3 * d),
      att: alloc(`att.${l}`, N * d), probs: alloc(`P.${l}`, B * H * S * S), xmid: alloc(`xmid.${l}`, N * d),
      ln2: alloc(`ln2.${l}`, N * d), st2: alloc(`st2.${l}`, 2 * N), pre: alloc(`pre.${l}`, N * 4 * d), h: alloc(`h.${l}`, N * 4 * d)
    }))
    const lnf = alloc("lnf", N * d)
    const stf = alloc("stf", 2 * N)
    const logits = alloc("logits", N * V)
    const loss = alloc("loss", N)
    const logp2 = alloc("logp2", N)
    const bits = alloc("bits", B)
    const lossSum = alloc("lossSum", 1)
    const partials = alloc("partials", REDUCE_GROUPS)
    // Backward scratch, shared by all layers (dres is the residual-stream gradient, updated in place).
    const dres = alloc("dres", N * d)
    const dln = alloc("dln", N * d)
    const d4 = alloc("d4", N * 4 * d)
    const dpre = alloc("dpre", N * 4 * d)
    const datt = alloc("datt", N * d)
    const dqkv = alloc("dqkv", N * 3 * d)
    const dscores = alloc("dS", B * H * S * S)

    const forward: Array<Dispatch> = [yield* embeddingForward(device, { N, T: S, d, V, tokens, wte: w("wte.weight"), wpe, x: xs[0] })]
    for (let l = 0; l < L; l++) {
      const a = layers[l]
      const p = `h.${l}.`
      forward.push(
        yield* layerNormForward(device, { rows: N, d, eps, x: xs[l], g: w(p + "ln_1.weight"), b: w(p + "ln_1.bias"), y: a.ln1, stats: a.st1 }),
        yield* mm({ M: N, N: 3 * d, K: d, transA: false, transB: false, a: a.ln1, b: w(p + "attn.c_attn.weight"), bias: w(p + "attn.c_attn.bias"), c: a.qkv }, "qkv"),
        yield* attentionForward(device, { B, T: S, d, H, rounding: inp.rounding, qkv: a.qkv, out: a.att, probs: a.probs }),
        yield* mm({ M: N, N: d, K: d, transA: false, transB: false, a: a.att, b: w(p + "attn.c_proj.weight"), bias: w(p + "attn.c_proj.bias"), residual: xs[l], c: a.xmid }, "attn-proj"),
        yield* layerNormForward(device, { rows: N, d, eps, x: a.xmid, g: w(p + "ln_2.weight"), b: w(p + "ln_2.bias"), y: a.ln2, stats: a.st2 }),
        ...(inp.fuseGelu
          ? [yield* mm({ M: N, N: 4 * d, K: d, transA: false, transB: false, a: a.ln2, b: w(p + "mlp.c_fc.weight"), bias: w(p + "mlp.c_fc.bias"), gelu: { pre: a.pre }, c: a.h }, "fc")]
          : [
            yield* mm({ M: N, N: 4 * d, K: d, transA: false, transB: false, a: a.ln2, b: w(p + "mlp.c_fc.weight"), bias: w(p + "mlp.c_fc.bias"), c: a.pre }, "fc"),
            yield* geluForward(device, { n: N * 4 * d, x: a.pre, y: a.h })
          ]),
        yield* mm({ M: N, N: d, K: 4 * d, transA: false, transB: false, a: a.h, b: w(p + "mlp.c_proj.weight"), bias: w(p + "mlp.c_proj.bias"), residual: a.xmid, c: xs[l + 1] }, "mlp-proj")
      )
    }
    forward.push(
      yield* layerNormForward(device, { rows: N, d, eps, x: xs[L], g: w("ln_f.weight"), b: w("ln_f.bias"), y: lnf, stats: stf }),
      yield* mm({ M: N, N: V, K: d, transA: false, transB: true, a: lnf, b: w(head), c: logits }, "lm-head")
    )

    const evaluate = [
      yield* softmaxCrossEntropy(device, { rows: N, V, logits, targets, loss, logp2 }),
      yield* sequenceBits(device, { sequences: B, T: S, logp2, bits })
    ]

    const ce = yield* softmaxCrossEntropy(device, { rows: N, V, logits, targets, loss, logp2, gradScale: 1 })
    const backward: Array<Dispatch> = [ce, ...(yield* totalSum(device, { n: N, x: loss, out: lossSum, partials, square: false, accumulate: true }))]
    // Head (logits now hold dL/dlogits): d(head) += dlogitsᵀ·lnf, dlnf = dlogits·head.
    backward.push(
      yield* mm({ M: V, N: d, K: N, transA: true, transB: false, a: logits, b: lnf, c: g(head), accumulate: true }, "d-head"),
      yield* mm({ M: N, N: d, K: V, transA: false, transB: false, a: logits, b: w(head), c: dln }, "d-lnf"),
      yield* layerNormBackwardInput(device, { rows: N, d, x: xs[L], g: w("ln_f.weight"), stats: stf, dy: dln, dx: dres, accumulate: false }),
      yield* layerNormBackwardParams(device, { rows: N, d, x: xs[L], stats: stf, dy: dln, dg: g("ln_f.weight"), db: g("ln_f.bias") })
    )
    for (let l = L - 1; l >= 0; l--) {
      const a = layers[l]
      const p = `h.${l}.`
      backward.push(
        // MLP: x_{l+1} = xmid + h·W2 + b2, h = gelu(pre), pre = ln2·W1 + b1
        yield* mm({ M: N, N: 4 * d, K: d, transA: false, transB: true, a: dres, b: w(p + "mlp.c_proj.weight"), c: d4 }, "d-h"),
        yield* mm({ M: 4 * d, N: d, K: N, transA: true, transB: false, a: a.h, b: dres, c: g(p + "mlp.c_proj.weight"), accumulate: true }, "d-W2"),
        yield* columnSum(device, { rows: N, cols: d, x: dres, out: g(p + "mlp.c_proj.bias"), accumulate: true }),
        yield* geluBackward(device, { n: N * 4 * d, x: a.pre, dy: d4, dx: dpre }),
        yield* mm({ M: N, N: d, K: 4 * d, transA: false, transB: true, a: dpre, b: w(p + "mlp.c_fc.weight"), c: dln }, "d-ln2"),
        yield* mm({ M: d, N: 4 * d, K: N, transA: true, transB: false, a: a.ln2, b: dpre, c: g(p + "mlp.c_fc.weight"), accumulate: true }, "d-W1"),
        yield* columnSum(device, { rows: N, cols: 4 * d, x: dpre, out: g(p + "mlp.c_fc.bias"), accumulate: true }),
        yield* layerNormBackwardInput(device, { rows: N, d, x: a.xmid, g: w(p + "ln_2.weight"), stats: a.st2, dy: dln, dx: dres, accumulate: true }),
        yield* layerNormBackwardParams(device, { rows: N, d, x: a.xmid, stats: a.st2, dy: dln, dg: g(p + "ln_2.weight"), db: g(p + "ln_2.bias") }),
        // Attention: xmid = x_l + att·Wp + bp, att = attn(qkv), qkv = ln1·Wa + ba
        yield* mm({ M: N, N: d, K: d, transA: false, transB: true, a: dres, b: w(p + "attn.c_proj.weight"), c: datt }, "d-att"),
        yield* mm({ M: d, N: d, K: N, transA: true, transB: false, a: a.att, b: dres, c: g(p + "attn.c_proj.weight"), accumulate: true }, "d-Wp"),
        yield* columnSum(device, { rows: N, cols: d, x: dres, out: g(p + "attn.c_proj.bias"), accumulate: true }),
        ...(yield* attentionBackward(device, { B, T: S, d, H, rounding: inp.rounding, qkv: a.qkv, probs: a.probs, dout: datt, dscores, dqkv })),
        yield* mm({ M: N, N: d, K: 3 * d, transA: false, transB: true, a: dqkv, b: w(p + "attn.c_attn.weight"), c: dln }, "d-ln1"),
        yield* mm({ M: d, N: 3 * d, K: N, transA: true, transB: false, a: a.ln1, b: dqkv, c: g(p + "attn.c_attn.weight"), accumulate: true }, "d-Wa"),
        yield* columnSum(device, { rows: N, cols: 3 * d, x: dqkv, out: g(p + "attn.c_attn.bias"), accumulate: true }),
        yield* layerNormBackwardInput(device, { rows: N, d, x: xs[l], g: w(p + "ln_1.weight"), stats: a.st1, dy: dln, dx: dres, accumulate: true }),
        yield* layerNormBackwardParams(device, { rows: N, d, x: xs[l], stats: a.st1, dy: dln, dg: g(p + "ln_1.weight"), db: g(p + "ln_1.bias") })
      )
    }
    backward.push(...(yield* embeddingBackward(device, { N, T: S, d, V, dx: dres, rowStart, rowIdx, dwte: g("wte.weight"), dwpe })))

    const scaleWord = new Float32Array(1)
    const setGradScale = (scale: number) => {
      scaleWord[0] = scale
      device.queue.writeBuffer(ce.uniform!, 8, scaleWord)
    }
    return { B, T: S, tokens, targets, rowStart, rowIdx, logits, logp2, bits, lossSum, forward, evaluate, backward, setGradScale, buffers }
  })
