/**
 * The WebGPU backend of the GPT-2 schedule (schedule.ts): a GPU buffer per
 * tensor and each op turned into prepared dispatches (compile.ts). Built once per
 * micro-batch size B and reused, so a step only uploads tokens and encodes
 * the lists.
 */
import type { DeviceError } from "@memorize/core"
import { Effect } from "effect"
import { type Dispatch, type Slice, storageBuffer } from "../device/gpu.ts"
import type { OperandRounding } from "../kernels/common.ts"
import type { MatmulTile } from "../kernels/matmul.ts"
import { tokenIndex } from "../kernels/embedding.ts"
import { REDUCE_GROUPS } from "../kernels/reduce.ts"
import type { BatchArrays } from "./batch.ts"
import { type CompileContext, compileOp, scratchFor } from "./compile.ts"
import type { ParamLayout } from "./layout.ts"
import { modelAxisDispatch } from "./model-axis.ts"
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
  /**
   * Models trained together (pack.ts; default 1): every tensor of the plan is
   * held once per model at a fixed stride, `params` and `grads` hold one
   * layout per model, and each dispatch runs over the models (model-axis.ts).
   */
  readonly models?: number
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
  /** Words from one model's copy of a plan buffer to the next (0 for a one-model plan). */
  readonly stride: (buffer: GPUBuffer) => number
}

/** Words per model of a tensor in a pack: whole 256-byte blocks, so each model's copy can be bound on its own (pack.ts binds per-slot regions). */
export const strideWords = (n: number) => Math.ceil(Math.max(1, n) / 64) * 64

export const makePlan = (inp: PlanInputs): Effect.Effect<Plan, DeviceError> =>
  Effect.gen(function* () {
    const { device } = inp
    const models = inp.models ?? 1
    const sched = gpt2Schedule({ shape: inp.shape, layout: inp.layout, B: inp.B, T: inp.T, fuseGelu: inp.fuseGelu })
    const buffers: Array<GPUBuffer> = []
    const strides = new Map<GPUBuffer, number>([
      [inp.params, inp.layout.total],
      [inp.grads, inp.layout.total]
    ])
    /** A buffer holding `n` words per model. */
    const perModel = (name: string, n: number): GPUBuffer => {
      const words = models === 1 ? n : strideWords(n)
      const buffer = storageBuffer(device, name, models * words)
      strides.set(buffer, words)
      buffers.push(buffer)
      return buffer
    }
    const owned = new Map<string, GPUBuffer>([
      ["params", inp.params],
      ["grads", inp.grads]
    ])
    for (const [name, n] of sched.tensors) owned.set(name, perModel(name, n))
    const partials = perModel("partials", REDUCE_GROUPS)
    // Scratch of the two-pass reductions (partial sums), shared by every op: dispatches run in order.
    const allOps = [...sched.forward, ...sched.logitsOps, ...sched.evaluate, ...sched.backward]
    const scratchFloats = Math.max(1, ...allOps.map((op) => scratchFor(op, inp.tile)))
    const scratchBuffer = perModel("scratch", scratchFloats)
    const scratch = (floats: number): Slice => ({ buffer: scratchBuffer, offset: 0, size: Math.max(1, floats) * 4 })
    const sl = (r: Ref): Slice => ({ buffer: owned.get(r.tensor)!, offset: r.offset * 4, size: r.size * 4 })
    const scaled: Array<GPUBuffer> = []
    const cx: CompileContext = {
      device,
      rounding: inp.rounding,
      tile: inp.tile,
      slice: sl,
      scratch,
      partials: { buffer: partials, offset: 0, size: REDUCE_GROUPS * 4 },
      // The loss normaliser lives in the training softmax's uniform (set per step).
      scaled: (u) => scaled.push(u)
    }
    const stride = (b: GPUBuffer) => (models === 1 ? 0 : (strides.get(b) ?? 0))
    const compileAll = (ops: ReadonlyArray<Op>) =>
      Effect.flatMap(
        Effect.forEach(ops, (op) => compileOp(cx, op)),
        (ds) => (models === 1 ? Effect.succeed(ds.flat()) : Effect.forEach(ds.flat(), (d) => modelAxisDispatch(device, d, models, (b) => strides.get(b))))
      )

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
      B: sched.B,
      T: sched.T,
      tokens: sl(sched.tokens),
      targets: sl(sched.targets),
      rowStart: sl(sched.rowStart),
      rowIdx: sl(sched.rowIdx),
      logits: sl(sched.logits),
      logp2: sl(sched.logp2),
      bits: sl(sched.bits),
      lossSum: sl(sched.lossSum),
      forward,
      logitsPass,
      evaluate,
      backward,
      setGradScale,
      buffers,
      stride
    }
  })

/** Writes a batch's inputs and targets into model `model`'s copy of a plan's tensors (0 for a one-model plan). */
export const writeInputs = (device: GPUDevice, p: Plan, b: Pick<BatchArrays, "tokens" | "targets">, model = 0): void => {
  const put = (s: Slice, data: Uint32Array) => device.queue.writeBuffer(s.buffer, s.offset + model * p.stride(s.buffer) * 4, data)
  put(p.tokens, b.tokens)
  put(p.targets, b.targets)
}

/** writeInputs and the token index the embedding's backward reads (training). */
export const writeTrainingBatch = (device: GPUDevice, p: Plan, b: Pick<BatchArrays, "tokens" | "targets">, vocabSize: number, model = 0): void => {
  writeInputs(device, p, b, model)
  const idx = tokenIndex(b.tokens, vocabSize)
  device.queue.writeBuffer(p.rowStart.buffer, p.rowStart.offset + model * p.stride(p.rowStart.buffer) * 4, idx.rowStart)
  device.queue.writeBuffer(p.rowIdx.buffer, p.rowIdx.offset + model * p.stride(p.rowIdx.buffer) * 4, idx.rowIdx)
}
