/**
 * The WebGPU backend of the incremental pass (step-schedule.ts): a GPU
 * buffer per step tensor (every layer's key and value caches, B × T × d,
 * among them), each position's ops compiled on first use, and a step that
 * uploads the B tokens, runs the position and reads its logits back. The
 * ops are compiled as the full pass's are (compile.ts: same kernels, same
 * tiles for the same op), except the attention step (attention-step.ts).
 *
 * Every op but the embedding and the attention is the same at every
 * position, so dispatches are kept per op: a position's list is mostly
 * dispatches already made. The buffers live as long as the scope the plan
 * is made in.
 */
import type { DeviceError } from "@memorize/core"
import { Effect, type Scope } from "effect"
import { type Dispatch, encodeDispatches, type Slice, storageBuffer, submit } from "../device/gpu.ts"
import { paced } from "../device/pacing.ts"
import { awaitGpu } from "../device/webgpu.ts"
import { attentionStep, attentionStepScratch } from "../kernels/attention-step.ts"
import type { OperandRounding } from "../kernels/common.ts"
import type { MatmulTile } from "../kernels/matmul.ts"
import { REDUCE_GROUPS } from "../kernels/reduce.ts"
import { type CompileContext, compileOp, scratchFor } from "./compile.ts"
import type { ParamLayout } from "./layout.ts"
import type { Ref } from "./schedule.ts"
import { gpt2StepSchedule, type StepOp } from "./step-schedule.ts"
import type { Gpt2Shape } from "./weights.ts"

export interface StepPlanInputs {
  readonly device: GPUDevice
  readonly shape: Gpt2Shape
  readonly layout: ParamLayout
  readonly params: GPUBuffer
  readonly rounding: OperandRounding
  readonly tile: MatmulTile
  readonly fuseGelu: boolean
  readonly B: number
  /** Positions the caches hold (≤ n_positions). */
  readonly T: number
}

export interface StepPlan {
  readonly B: number
  readonly T: number
  /**
   * Runs model position `pos` (the caches must hold positions 0…pos − 1 of
   * the same rows) fed `tokens` (B ids below the model's vocabulary: the
   * embedding indexes its table with them unchecked), and writes its logits,
   * B × vocabSize, into `out`.
   */
  readonly run: (pos: number, tokens: Uint32Array, out: Float32Array) => Effect.Effect<void, DeviceError>
}

const MAP_READ = 0x1
const COPY_DST = 0x8

export const makeStepPlan = (inp: StepPlanInputs): Effect.Effect<StepPlan, DeviceError, Scope.Scope> =>
  Effect.gen(function* () {
    const { device, B, T, tile } = inp
    const sched = gpt2StepSchedule({ shape: inp.shape, layout: inp.layout, B, T, fuseGelu: inp.fuseGelu })
    const scratchOf = (op: StepOp) => (op.op === "attentionStep" ? attentionStepScratch(op) : scratchFor(op, tile))
    const logitsBytes = B * inp.shape.vocabSize * 4
    const owned = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const tensors = new Map<string, GPUBuffer>([...sched.tensors].map(([name, n]) => [name, storageBuffer(device, name, n)]))
        return {
          tensors,
          // Shared by every op (dispatches run in order); the last position's ops need the most.
          scratch: storageBuffer(device, "step scratch", Math.max(1, ...sched.ops(T - 1).map(scratchOf))),
          partials: storageBuffer(device, "step partials", REDUCE_GROUPS),
          staging: device.createBuffer({ label: "step logits", size: logitsBytes, usage: MAP_READ | COPY_DST })
        }
      }),
      (o) => Effect.sync(() => [...o.tensors.values(), o.scratch, o.partials, o.staging].forEach((b) => b.destroy()))
    )
    const buffers = new Map([...owned.tensors, ["params", inp.params]])
    const slice = (r: Ref): Slice => ({ buffer: buffers.get(r.tensor)!, offset: r.offset * 4, size: r.size * 4 })
    const cx: CompileContext = {
      device,
      rounding: inp.rounding,
      tile,
      slice,
      scratch: (floats) => ({ buffer: owned.scratch, offset: 0, size: Math.max(1, floats) * 4 }),
      partials: { buffer: owned.partials, offset: 0, size: REDUCE_GROUPS * 4 },
      // No training softmax among a step's ops.
      scaled: () => undefined
    }
    const compile = (op: StepOp): Effect.Effect<ReadonlyArray<Dispatch>, DeviceError> =>
      op.op === "attentionStep"
        ? Effect.map(
            attentionStep(device, {
              ...op,
              rounding: inp.rounding,
              qkv: slice(op.qkv),
              kCache: slice(op.kCache),
              vCache: slice(op.vCache),
              out: slice(op.out),
              scores: cx.scratch(attentionStepScratch(op))
            }),
            (d) => [d]
          )
        : compileOp(cx, op)
    // Dispatches by op (as JSON: ops are plain data), and each position's list.
    const byOp = new Map<string, ReadonlyArray<Dispatch>>()
    const lists: Array<ReadonlyArray<Dispatch>> = []
    const listAt = (pos: number): Effect.Effect<ReadonlyArray<Dispatch>, DeviceError> =>
      lists[pos] !== undefined
        ? Effect.succeed(lists[pos])
        : Effect.map(
            Effect.forEach(sched.ops(pos), (op) => {
              const key = JSON.stringify(op)
              const hit = byOp.get(key)
              return hit !== undefined ? Effect.succeed(hit) : Effect.tap(compile(op), (ds) => Effect.sync(() => byOp.set(key, ds)))
            }),
            (ds) => (lists[pos] = ds.flat())
          )
    const tokens = buffers.get(sched.tokens.tensor)!
    const logits = slice(sched.logits)
    // One kind of work for pacing (pacing.ts): every position runs the same dispatches, the attention a little longer each time.
    const kind = `decode ${B}×${T}`

    const run = (pos: number, fed: Uint32Array, out: Float32Array) =>
      Effect.gen(function* () {
        const list = yield* listAt(pos)
        device.queue.writeBuffer(tokens, 0, fed.buffer, fed.byteOffset, B * 4)
        const enc = device.createCommandEncoder()
        encodeDispatches(enc, list)
        enc.copyBufferToBuffer(logits.buffer, logits.offset, owned.staging, 0, logitsBytes)
        submit(device, enc, list.length, kind)
        yield* paced(
          device,
          awaitGpu(device, "reading a step's logits", () => owned.staging.mapAsync(MAP_READ))
        )
        out.set(new Float32Array(owned.staging.getMappedRange(0, logitsBytes)))
        owned.staging.unmap()
      })
    return { B, T, run }
  })
