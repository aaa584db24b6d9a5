/**
 * The WebGPU backend of the GPT-2 schedule (schedule.ts): a GPU buffer per
 * tensor and each op turned into prepared dispatches. Built once per
 * micro-batch size B and reused, so a step only uploads tokens and encodes
 * the lists.
 */
import type { DeviceError } from "@memorize/core"
import { Effect } from "effect"
import { type Dispatch, type Slice, storageBuffer } from "../device/gpu.ts"
import { attentionBackward, attentionForward } from "../kernels/attention.ts"
import type { OperandRounding } from "../kernels/common.ts"
import { embeddingBackward, embeddingBackwardScratch, embeddingForward } from "../kernels/embedding.ts"
import { geluBackward, geluForward } from "../kernels/gelu.ts"
import { layerNormBackwardInput, layerNormBackwardParams, layerNormForward, layerNormParamsScratch } from "../kernels/layernorm.ts"
import { fillTile, matmul, type MatmulSpec, matmulSplitK, type MatmulTile, splitKPlan } from "../kernels/matmul.ts"
import { columnSum, columnSumScratch, REDUCE_GROUPS, totalSum } from "../kernels/reduce.ts"
import { sequenceBits, softmaxCrossEntropy } from "../kernels/softmax-ce.ts"
import type { ParamLayout } from "./layout.ts"
import { gpt2Schedule, type Op, type Ref } from "./schedule.ts"
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
  /** After forward: every position's logits. */
  readonly logitsPass: ReadonlyArray<Dispatch>
  /** Loss without gradient, log2 p and per-sequence bits. */
  readonly evaluate: ReadonlyArray<Dispatch>
  /** Loss with gradient (scale set by setGradScale), loss accumulation, backward into the gradient buffer. */
  readonly backward: ReadonlyArray<Dispatch>
  readonly setGradScale: (scale: number) => void
  readonly buffers: ReadonlyArray<GPUBuffer>
}

type GemmShape = { readonly M: number; readonly N: number; readonly K: number; readonly transA: boolean; readonly transB: boolean }

/** The head's gradient GEMMs (when it has a gradient): dW += dlogitsᵀ·x, dx = dlogits·W. */
const headGemms = (op: Extract<Op, { op: "head" }>): { readonly dw: GemmShape; readonly dx: GemmShape } => ({
  dw: { M: op.V, N: op.d, K: op.rows, transA: true, transB: false },
  dx: { M: op.rows, N: op.d, K: op.V, transA: false, transB: false }
})

/** Scratch floats of a GEMM split along K (0 when it is not split: it has an epilogue, enough tiles, or a short K). */
const splitScratch = (s: GemmShape, tile: MatmulTile, epilogue: boolean): number => {
  const split = epilogue ? undefined : splitKPlan({ ...s, tile })
  return split === undefined ? 0 : split.splits * s.M * s.N
}

/** Floats of shared scratch an op's WebGPU dispatches need (partial sums of two-pass reductions, split-K partial products). */
const scratchFor = (op: Op, tile: MatmulTile): number => {
  switch (op.op) {
    case "columnSum":
      return columnSumScratch(op.rows, op.cols)
    case "layerNormBackwardParams":
      return layerNormParamsScratch(op.rows, op.d)
    case "embedBackward":
      return embeddingBackwardScratch(op)
    case "matmul":
      return splitScratch(op, tile, op.bias !== undefined || op.residual !== undefined || op.gelu !== undefined)
    case "head": {
      if (op.grad === undefined) return 0
      const g = headGemms(op)
      return Math.max(splitScratch(g.dw, tile, false), splitScratch(g.dx, tile, false))
    }
    default:
      return 0
  }
}

export const makePlan = (inp: PlanInputs): Effect.Effect<Plan, DeviceError> =>
  Effect.gen(function* () {
    const { device } = inp
    const sched = gpt2Schedule({ shape: inp.shape, layout: inp.layout, B: inp.B, T: inp.T, fuseGelu: inp.fuseGelu })
    const buffers: Array<GPUBuffer> = []
    const owned = new Map<string, GPUBuffer>([["params", inp.params], ["grads", inp.grads]])
    for (const [name, n] of sched.tensors) {
      const buffer = storageBuffer(device, name, n)
      buffers.push(buffer)
      owned.set(name, buffer)
    }
    const partials = storageBuffer(device, "partials", REDUCE_GROUPS)
    buffers.push(partials)
    // Scratch of the two-pass reductions (partial sums), shared by every op: dispatches run in order.
    const allOps = [...sched.forward, ...sched.logitsOps, ...sched.evaluate, ...sched.backward]
    const scratchFloats = Math.max(1, ...allOps.map((op) => scratchFor(op, inp.tile)))
    const scratchBuffer = storageBuffer(device, "scratch", scratchFloats)
    buffers.push(scratchBuffer)
    const scratch = (floats: number): Slice => ({ buffer: scratchBuffer, offset: 0, size: Math.max(1, floats) * 4 })
    const sl = (r: Ref): Slice => ({ buffer: owned.get(r.tensor)!, offset: r.offset * 4, size: r.size * 4 })
    const { rounding, tile } = inp
    // The loss normaliser lives in the training softmax's uniform (set per step).
    const scaled: Array<GPUBuffer> = []

    /** One GEMM dispatch, on a smaller tile where the tile's workgroups are too few (fillTile; same bits). */
    const single = (spec: MatmulSpec, label: string): Effect.Effect<Dispatch, DeviceError> =>
      matmul(device, { ...spec, tile: fillTile(spec, spec.tile) }, label)
    /** A GEMM without epilogue: split along K where its tiles are too few and K is long (splitKPlan), else one dispatch. */
    const gemm = (spec: Omit<MatmulSpec, "bias" | "residual" | "gelu">, label: string): Effect.Effect<ReadonlyArray<Dispatch>, DeviceError> => {
      const split = splitKPlan(spec)
      return split === undefined
        ? Effect.map(single(spec, label), (d) => [d])
        : matmulSplitK(device, spec, split, scratch(split.splits * spec.M * spec.N), label)
    }

    const compile = (op: Op): Effect.Effect<ReadonlyArray<Dispatch>, DeviceError> =>
      Effect.gen(function* () {
        switch (op.op) {
          case "embed":
            return [yield* embeddingForward(device, { ...op, tokens: sl(op.tokens), wte: sl(op.wte), wpe: sl(op.wpe), x: sl(op.x) })]
          case "embedBackward":
            return yield* embeddingBackward(device, { ...op, dx: sl(op.dx), rowStart: sl(op.rowStart), rowIdx: sl(op.rowIdx), dwte: sl(op.dwte), dwpe: sl(op.dwpe), partials: scratch(scratchFor(op, tile)) })
          case "layerNorm":
            return [yield* layerNormForward(device, { ...op, x: sl(op.x), g: sl(op.g), b: sl(op.b), y: sl(op.y), stats: sl(op.stats) })]
          case "layerNormBackwardInput":
            return [yield* layerNormBackwardInput(device, { ...op, x: sl(op.x), g: sl(op.g), stats: sl(op.stats), dy: sl(op.dy), dx: sl(op.dx) })]
          case "layerNormBackwardParams":
            return yield* layerNormBackwardParams(device, {
              ...op, x: sl(op.x), stats: sl(op.stats), dy: sl(op.dy), dg: sl(op.dg), db: sl(op.db), partials: scratch(scratchFor(op, tile))
            })
          case "matmul":
            if (op.bias === undefined && op.residual === undefined && op.gelu === undefined) {
              return yield* gemm({
                M: op.M, N: op.N, K: op.K, transA: op.transA, transB: op.transB, a: sl(op.a), b: sl(op.b), c: sl(op.c),
                ...(op.accumulate ? { accumulate: true } : {}), rounding, tile
              }, op.label)
            }
            return [yield* single({
              M: op.M, N: op.N, K: op.K, transA: op.transA, transB: op.transB, a: sl(op.a), b: sl(op.b), c: sl(op.c),
              ...(op.bias ? { bias: sl(op.bias) } : {}), ...(op.residual ? { residual: sl(op.residual) } : {}),
              ...(op.gelu ? { gelu: { pre: sl(op.gelu.pre) } } : {}), ...(op.accumulate ? { accumulate: true } : {}), rounding, tile
            }, op.label)]
          case "gelu":
            return [yield* geluForward(device, { n: op.n, x: sl(op.x), y: sl(op.y) })]
          case "geluBackward":
            return [yield* geluBackward(device, { n: op.n, x: sl(op.x), dy: sl(op.dy), dx: sl(op.dx) })]
          case "attention":
            return [yield* attentionForward(device, { ...op, rounding, qkv: sl(op.qkv), out: sl(op.out), probs: sl(op.probs) })]
          case "attentionBackward":
            return yield* attentionBackward(device, { ...op, rounding, qkv: sl(op.qkv), probs: sl(op.probs), dout: sl(op.dout), dscores: sl(op.dscores), dqkv: sl(op.dqkv) })
          case "columnSum":
            return yield* columnSum(device, { ...op, x: sl(op.x), out: sl(op.out), partials: scratch(scratchFor(op, tile)) })
          case "totalSum":
            return yield* totalSum(device, { ...op, x: sl(op.x), out: sl(op.out), partials: { buffer: partials, offset: 0, size: REDUCE_GROUPS * 4 } })
          case "sequenceBits":
            return [yield* sequenceBits(device, { ...op, logp2: sl(op.logp2), bits: sl(op.bits) })]
          case "head": {
            // Not fused here: logits = x·Wᵀ, softmax-CE (gradient over the logits), then the two gradient GEMMs.
            const { rows: N, V, d } = op
            const logits = sl(op.logits)
            const out: Array<Dispatch> = [
              yield* single({ M: N, N: V, K: d, transA: false, transB: true, a: sl(op.x), b: sl(op.w), c: logits, rounding, tile }, "lm-head")
            ]
            const ce = yield* softmaxCrossEntropy(device, { rows: N, V, logits, targets: sl(op.targets), loss: sl(op.loss), logp2: sl(op.logp2), ...(op.grad ? { gradScale: 1 } : {}) })
            out.push(ce)
            if (op.grad) {
              scaled.push(ce.uniform!)
              const g = headGemms(op)
              out.push(
                ...(yield* gemm({ ...g.dw, a: logits, b: sl(op.x), c: sl(op.grad.dw), accumulate: true, rounding, tile }, "d-head")),
                ...(yield* gemm({ ...g.dx, a: logits, b: sl(op.w), c: sl(op.grad.dx), rounding, tile }, "d-lnf"))
              )
            }
            return out
          }
        }
      })
    const compileAll = (ops: ReadonlyArray<Op>) => Effect.map(Effect.forEach(ops, compile), (ds) => ds.flat())

    const forward = yield* compileAll(sched.forward)
    const logitsPass = yield* compileAll(sched.logitsOps)
    const evaluate = yield* compileAll(sched.evaluate)
    const backward = yield* compileAll(sched.backward)

    const scaleWord = new Float32Array(1)
    const setGradScale = (scale: number) => {
      scaleWord[0] = scale
      for (const u of scaled) device.queue.writeBuffer(u, 8, scaleWord)
    }
    return {
      B: sched.B, T: sched.T, tokens: sl(sched.tokens), targets: sl(sched.targets), rowStart: sl(sched.rowStart), rowIdx: sl(sched.rowIdx),
      logits: sl(sched.logits), logp2: sl(sched.logp2), bits: sl(sched.bits), lossSum: sl(sched.lossSum),
      forward, logitsPass, evaluate, backward, setGradScale, buffers
    }
  })
