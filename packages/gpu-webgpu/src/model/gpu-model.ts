/**
 * GPT-2 on the GPU: parameters in one flat buffer, per-batch-size plans
 * (plan.ts), an incremental pass over key/value caches (step-plan.ts), and
 * the evaluation methods of a TrainedModel (code lengths, per-token
 * log-probs, a next-token stepper, greedy generation). Imported checkpoints go through
 * the same code: anything that yields Gpt2Weights is evaluated identically.
 *
 * First token: without BOS it cannot be predicted and is counted at log2 V
 * bits (V the data's vocabulary); `bos: true` adds a BOS token (id V, model
 * vocabulary V+1) and every token is predicted.
 */
import { DeviceError, ModelError } from "@memorize/core"
import { Effect, Scope } from "effect"
import { type Dispatch, encodeDispatches, finish, readFloats, readU32, run, type Slice, storageBuffer, submit } from "../device/gpu.ts"
import { isSoftwareAdapter, WebGpu } from "../device/webgpu.ts"
import { adamw } from "../kernels/adamw.ts"
import { argmaxAt } from "../kernels/argmax.ts"
import { operandRounding, type Precision } from "../kernels/common.ts"
import { tokenIndex } from "../kernels/embedding.ts"
import { type MatmulTile, registerTile, sharedTile } from "../kernels/matmul.ts"
import { REDUCE_GROUPS, totalSum } from "../kernels/reduce.ts"
import type { Stepper, Trainable } from "../train/loop.ts"
import type { BatchArrays } from "./batch.ts"
import { type BatchBackend, gpt2Evaluation, type Gpt2Model } from "./evaluation.ts"
import { flattenWeights, paramLayout, type ParamLayout, unflattenWeights } from "./layout.ts"
import { pooledDecoders } from "./gpu-decoder.ts"
import { hostQuantize } from "./host-quantize.ts"
import { makePlan, type Plan } from "./plan.ts"
import { makeStepPlan } from "./step-plan.ts"
import { validateWeights } from "./validate.ts"
import { gpt2ParamCount, type Gpt2Weights } from "./weights.ts"

export type { Precision } from "../kernels/common.ts"

export interface GpuGpt2Options {
  readonly precision: Precision
  readonly bos?: boolean
  /** Matmul tile; default: register tiles on CPU adapters, shared-memory tiles elsewhere (see autotune.ts). */
  readonly tile?: MatmulTile
  /** Bias+GELU fused into the fc matmul (default true; autotune.ts measures which pays on an adapter). */
  readonly fuseGelu?: boolean
}

export interface GpuGpt2 extends Gpt2Model {
  readonly exportWeights: () => Effect.Effect<Gpt2Weights, DeviceError>
}

/** What the trainer needs beyond the evaluation API. */
export interface GpuGpt2Engine extends GpuGpt2, Trainable {
  readonly device: GPUDevice
  readonly layout: ParamLayout
  readonly params: GPUBuffer
  readonly grads: GPUBuffer
  readonly tile: MatmulTile
  /** The plan for B rows of T positions (cached). */
  readonly plan: (B: number, T: number) => Effect.Effect<Plan, DeviceError>
  /** Uploads a batch's tokens, targets and token index into the plan. */
  readonly upload: (plan: Plan, batch: Pick<BatchArrays, "tokens" | "targets">) => void
}


const toModelError = (what: string) => (e: DeviceError) => new ModelError({ message: `${what}: ${e.message}` })

export const makeGpuGpt2Engine = (
  weights: Gpt2Weights,
  options: GpuGpt2Options
): Effect.Effect<GpuGpt2Engine, DeviceError | ModelError, Scope.Scope | WebGpu> =>
  Effect.gen(function* () {
    const gpu = yield* WebGpu
    const device = gpu.device
    const invalid = validateWeights(weights)
    if (invalid !== undefined) return yield* Effect.fail(invalid)
    const shape = weights.shape
    const bos = options.bos ?? false
    const dataVocab = bos ? shape.vocabSize - 1 : shape.vocabSize
    const precision = options.precision
    if (precision === "fp16" && !gpu.features.has("shader-f16"))
      return yield* Effect.fail(new ModelError({ message: `precision fp16 needs the shader-f16 feature, which adapter "${gpu.adapterInfo.description}" lacks` }))
    const rounding = operandRounding(precision)
    const tile = options.tile ?? (isSoftwareAdapter(gpu.adapterInfo) ? registerTile : sharedTile)
    const fuseGelu = options.fuseGelu ?? true
    const layout = paramLayout(shape)

    const owned: Array<GPUBuffer> = []
    yield* Effect.addFinalizer(() => Effect.sync(() => owned.forEach((b) => b.destroy())))
    const params = storageBuffer(device, "params", layout.total)
    const grads = storageBuffer(device, "grads", layout.total)
    owned.push(params, grads)
    device.queue.writeBuffer(params, 0, flattenWeights(layout, weights, precision === "bf16-params"))

    // A micro-batch must keep its largest buffer (logits [T, V], attention tables
    // [H, T, T], MLP [T, 4d] per sequence) under the binding limit (and 256 MiB),
    // and all its activations (schedule.ts: forward ≈ V + L·(16d + H·T) floats per
    // position, backward scratch ≈ 14d + H·T) under 2 GiB.
    const maxMicroBatch = (T: number) => {
      const { vocabSize: V, dModel: d, heads: H, layers: L } = shape
      const largest = Math.max(T * V, H * T * T, T * 4 * d)
      const perSeq = T * (V + L * (16 * d + H * T) + 24 * d + H * T + 8)
      const byBinding = Math.min(device.limits.maxStorageBufferBindingSize, 256 * 2 ** 20) / 4 / largest
      const byTotal = (2 * 2 ** 30) / 4 / perSeq
      return Math.max(1, Math.floor(Math.min(byBinding, byTotal)))
    }

    const plans = new Map<string, Plan>()
    const plan = (B: number, T: number) =>
      Effect.suspend(() => {
        const key = `${B}x${T}`
        const hit = plans.get(key)
        if (hit) return Effect.succeed(hit)
        return makePlan({ device, shape, layout, params, grads, rounding, tile, fuseGelu, B, T }).pipe(
          Effect.tap((p) => Effect.sync(() => {
            plans.set(key, p)
            owned.push(...p.buffers)
          }))
        )
      })

    /** Inputs and targets of a batch (all evaluation needs). */
    const uploadInputs = (p: Plan, b: Pick<BatchArrays, "tokens" | "targets">): void => {
      device.queue.writeBuffer(p.tokens.buffer, 0, b.tokens)
      device.queue.writeBuffer(p.targets.buffer, 0, b.targets)
    }
    /** Inputs, targets and the token index the embedding's backward reads (training). */
    const upload = (p: Plan, b: Pick<BatchArrays, "tokens" | "targets">): void => {
      uploadInputs(p, b)
      const idx = tokenIndex(b.tokens, shape.vocabSize)
      device.queue.writeBuffer(p.rowStart.buffer, 0, idx.rowStart)
      device.queue.writeBuffer(p.rowIdx.buffer, 0, idx.rowIdx)
    }

    // The incremental pass (arithmetic coding, generation): one row per sequence and position over key/value caches,
    // its plans pooled by shape and freed with the model.
    const modelScope = yield* Effect.scope
    const decoder = pooledDecoders(shape.vocabSize, (B, T) =>
      Scope.provide(modelScope)(makeStepPlan({ device, shape, layout, params, rounding, tile, fuseGelu, B, T })))

    // The coder's frequencies of the logits a step reads back: native where the CPU addon is built.
    const quantize = yield* hostQuantize(isSoftwareAdapter(gpu.adapterInfo))

    const argmaxes = new Map<string, { next: Slice; dispatch: Dispatch }>()
    const backend: BatchBackend = {
      maxMicroBatch,
      logProbs: (B, T, tokens, targets) =>
        Effect.gen(function* () {
          const p = yield* plan(B, T)
          uploadInputs(p, { tokens, targets })
          run(device, [...p.forward, ...p.evaluate], `evaluate ${B}×${T}`)
          return yield* readFloats(device, p.logp2, B * T)
        }).pipe(Effect.mapError(toModelError("evaluate"))),
      logitsAt: (B, T, tokens, pos) =>
        Effect.gen(function* () {
          const p = yield* plan(B, T)
          device.queue.writeBuffer(p.tokens.buffer, 0, tokens)
          run(device, [...p.forward, ...p.logitsPass], `logits ${B}×${T}`)
          const V = shape.vocabSize
          const all = yield* readFloats(device, p.logits, B * T * V)
          const out = new Float32Array(B * V)
          for (let b = 0; b < B; b++) out.set(all.subarray((b * T + pos) * V, (b * T + pos + 1) * V), b * V)
          return out
        }).pipe(Effect.mapError(toModelError("nextTokenLogits"))),
      argmaxAt: (B, T, tokens, pos, V) =>
        Effect.gen(function* () {
          const p = yield* plan(B, T)
          const key = `${B}x${T}@${pos}`
          let am = argmaxes.get(key)
          if (am === undefined) {
            const buffer = storageBuffer(device, "next", B)
            owned.push(buffer)
            const next: Slice = { buffer, offset: 0, size: B * 4 }
            am = { next, dispatch: yield* argmaxAt(device, { B, T, V, stride: shape.vocabSize, pos, logits: p.logits, out: next }) }
            argmaxes.set(key, am)
          }
          device.queue.writeBuffer(p.tokens.buffer, 0, tokens)
          run(device, [...p.forward, ...p.logitsPass, am.dispatch], `logits ${B}×${T}`)
          return yield* readU32(device, am.next.buffer, B)
        }).pipe(Effect.mapError(toModelError("generate"))),
      decoder,
      ...(quantize !== undefined ? { quantize } : {})
    }
    const evaluation = gpt2Evaluation(shape, bos, backend)

    const stepper = (micro: number, T: number, ring: number) =>
      Effect.gen(function* () {
        const p = yield* plan(micro, T)
        const sl = (b: GPUBuffer, n: number): Slice => ({ buffer: b, offset: 0, size: n * 4 })
        const scratch = [storageBuffer(device, "m", layout.total), storageBuffer(device, "v", layout.total), storageBuffer(device, "normSq", 1),
          storageBuffer(device, "partials", REDUCE_GROUPS), storageBuffer(device, "lossLog", ring)]
        yield* Effect.addFinalizer(() => Effect.sync(() => scratch.forEach((b) => b.destroy())))
        const [m, v, normSq, partials, lossLog] = scratch
        const all = sl(grads, layout.total)
        // One kind of work for pacing: a step repeats the same mix of dispatches.
        const kind = `train ${micro}×${T}`
        const opt = yield* adamw(device, {
          n: layout.total, decayEnd: layout.decayEnd, params: sl(params, layout.total), grads: all, m: sl(m, layout.total), v: sl(v, layout.total),
          normSq: sl(normSq, 1), roundParamsBf16: precision === "bf16-params"
        })
        const norm = yield* totalSum(device, { n: layout.total, x: all, out: sl(normSq, 1), partials: sl(partials, REDUCE_GROUPS), square: true, accumulate: false })
        return {
          step: (chunks, gradScale, adam, slot) =>
            Effect.sync(() => {
              p.setGradScale(gradScale)
              chunks.forEach((c, a) => {
                upload(p, c)
                const enc = device.createCommandEncoder()
                if (a === 0) {
                  enc.clearBuffer(grads)
                  enc.clearBuffer(p.lossSum.buffer)
                }
                const work = [...p.forward, ...p.backward]
                encodeDispatches(enc, work)
                submit(device, enc, work.length, kind)
              })
              opt.setStep(adam, adam.step)
              const enc = device.createCommandEncoder()
              const update = [...(adam.clip > 0 ? norm : []), opt.dispatch]
              encodeDispatches(enc, update)
              enc.copyBufferToBuffer(p.lossSum.buffer, 0, lossLog, slot * 4, 4)
              submit(device, enc, update.length, kind)
            }),
          losses: () => readFloats(device, sl(lossLog, ring), ring)
        } satisfies Stepper
      })

    const exportWeights = () =>
      Effect.map(readFloats(device, params, layout.total), (all) => unflattenWeights(layout, shape, all))

    yield* finish(device)
    return {
      shape, precision, bos, dataVocab,
      paramCount: gpt2ParamCount(shape),
      ...evaluation, exportWeights,
      device, layout, params, grads, tile, plan, upload, maxMicroBatch, stepper
    } satisfies GpuGpt2Engine
  })

/** A GPT-2 on the GPU with the evaluation methods of a TrainedModel. */
export const makeGpuGpt2 = (
  weights: Gpt2Weights,
  options: { readonly precision: Precision; readonly bos?: boolean }
): Effect.Effect<GpuGpt2, DeviceError | ModelError, Scope.Scope | WebGpu> => makeGpuGpt2Engine(weights, options)
