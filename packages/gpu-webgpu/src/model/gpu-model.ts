/**
 * GPT-2 on the GPU: parameters in one flat buffer, per-batch-size plans
 * (plan.ts), an incremental pass over key/value caches (step-plan.ts), the
 * batch primitives (gpu-backend.ts) behind the evaluation methods of a TrainedModel (code lengths, per-token
 * log-probs, a next-token stepper, greedy generation). Imported checkpoints go through
 * the same code: anything that yields Gpt2Weights is evaluated identically.
 *
 * First token: without BOS it cannot be predicted and is counted at log2 V
 * bits (V the data's vocabulary); `bos: true` adds a BOS token (id V, model
 * vocabulary V+1) and every token is predicted.
 */
import { type DeviceError, ModelError } from "@memorize/core"
import { Effect, Scope } from "effect"
import { finish, readFloats, storageBuffer } from "../device/gpu.ts"
import { isSoftwareAdapter, WebGpu } from "../device/webgpu.ts"
import { operandRounding, type Precision } from "../kernels/common.ts"
import { type MatmulTile, registerTile, sharedTile } from "../kernels/matmul.ts"
import type { Trainable } from "../train/loop.ts"
import type { BatchArrays } from "./batch.ts"
import { gpt2Evaluation, type Gpt2Model } from "./evaluation.ts"
import { gpuBatchBackend } from "./gpu-backend.ts"
import { gpuStepper } from "./gpu-stepper.ts"
import { flattenWeights, paramLayout, type ParamLayout, unflattenWeights } from "./layout.ts"
import { pooledDecoders } from "./gpu-decoder.ts"
import { hostQuantize } from "./host-quantize.ts"
import { makePlan, type Plan, writeInputs, writeTrainingBatch } from "./plan.ts"
import { makeStepPlan } from "./step-plan.ts"
import { validateWeights } from "./validate.ts"
import { gpt2ParamCount, type Gpt2Shape, type Gpt2Weights } from "./weights.ts"

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

/**
 * The largest micro-batch of T-position rows a model of this shape may run:
 * its largest buffer (logits [T, V], attention tables [H, T, T], MLP [T, 4d]
 * per sequence) under the binding limit (and 256 MiB), and all its
 * activations (schedule.ts: forward ≈ V + L·(16d + H·T) floats per position,
 * backward scratch ≈ 14d + H·T) under 2 GiB.
 */
export const microBatchLimit =
  (device: GPUDevice, shape: Gpt2Shape) =>
  (T: number): number => {
    const { vocabSize: V, dModel: d, heads: H, layers: L } = shape
    const largest = Math.max(T * V, H * T * T, T * 4 * d)
    const perSeq = T * (V + L * (16 * d + H * T) + 24 * d + H * T + 8)
    const byBinding = Math.min(device.limits.maxStorageBufferBindingSize, 256 * 2 ** 20) / 4 / largest
    const byTotal = (2 * 2 ** 30) / 4 / perSeq
    return Math.max(1, Math.floor(Math.min(byBinding, byTotal)))
  }

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
      return yield* Effect.fail(
        new ModelError({ message: `precision fp16 needs the shader-f16 feature, which adapter "${gpu.adapterInfo.description}" lacks` })
      )
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

    const maxMicroBatch = microBatchLimit(device, shape)

    const plans = new Map<string, Plan>()
    const plan = (B: number, T: number) =>
      Effect.suspend(() => {
        const key = `${B}x${T}`
        const hit = plans.get(key)
        if (hit) return Effect.succeed(hit)
        return makePlan({ device, shape, layout, params, grads, rounding, tile, fuseGelu, B, T }).pipe(
          Effect.tap((p) =>
            Effect.sync(() => {
              plans.set(key, p)
              owned.push(...p.buffers)
            })
          )
        )
      })

    /** Inputs and targets of a batch (all evaluation needs). */
    const uploadInputs = (p: Plan, b: Pick<BatchArrays, "tokens" | "targets">): void => writeInputs(device, p, b)
    /** Inputs, targets and the token index (training). */
    const upload = (p: Plan, b: Pick<BatchArrays, "tokens" | "targets">): void => writeTrainingBatch(device, p, b, shape.vocabSize)

    // The incremental pass (arithmetic coding, generation): one row per sequence and position over key/value caches,
    // its plans pooled by shape and freed with the model.
    const modelScope = yield* Effect.scope
    const decoder = pooledDecoders(shape.vocabSize, (B, T) =>
      Scope.provide(modelScope)(makeStepPlan({ device, shape, layout, params, rounding, tile, fuseGelu, B, T }))
    )

    // The coder's frequencies of the logits a step reads back: native where the CPU addon is built.
    const quantize = yield* hostQuantize(isSoftwareAdapter(gpu.adapterInfo))

    const backend = gpuBatchBackend({ device, shape, plan, uploadInputs, maxMicroBatch, decoder, quantize })
    const evaluation = gpt2Evaluation(shape, bos, backend)

    const stepper = gpuStepper({ device, layout, params, grads, precision, plan, upload })

    const exportWeights = () => Effect.map(readFloats(device, params, layout.total), (all) => unflattenWeights(layout, shape, all))

    yield* finish(device)
    return {
      shape,
      precision,
      bos,
      dataVocab,
      paramCount: gpt2ParamCount(shape),
      ...evaluation,
      exportWeights,
      device,
      layout,
      params,
      grads,
      tile,
      plan,
      upload,
      maxMicroBatch,
      stepper
    } satisfies GpuGpt2Engine
  })

/** A GPT-2 on the GPU with the evaluation methods of a TrainedModel. */
export const makeGpuGpt2 = (
  weights: Gpt2Weights,
  options: { readonly precision: Precision; readonly bos?: boolean }
): Effect.Effect<GpuGpt2, DeviceError | ModelError, Scope.Scope | WebGpu> => makeGpuGpt2Engine(weights, options)
