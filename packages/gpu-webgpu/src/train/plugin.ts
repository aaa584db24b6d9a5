/**
 * The `webgpu` trainer plugin: trains the `gpt2` model on the process's
 * WebGPU device (AdamW, schedules, accumulation, stopping rules; see loop.ts)
 * and returns a TrainedModel whose evaluation runs on the same GPU buffers.
 *
 *   train: { kind: webgpu, precision: bf16, batchSize: 2048, lr: 1e-3, maxSteps: 20000,
 *            stop: { plateau: { window: 500, minDelta: 1e-4 } } }
 */
import { definePlugin, type DeviceError, TrainError, type TrainInput, withDefault } from "@memorize/core"
import { Effect, Schema } from "effect"
import { adapterProvenance, WebGpu } from "../device/webgpu.ts"
import { makeGpuGpt2Engine } from "../model/gpu-model.ts"
import { initGpt2Weights } from "../model/init.ts"
import { pickKernels, tileName } from "./autotune.ts"
import { gpt2Target, reloadSaved, trainedModel, trainFields } from "./config.ts"
import { trainLoop } from "./loop.ts"

export const WebGpuTrainerConfig = Schema.Struct({
  ...trainFields,
  autotune: withDefault(
    Schema.Boolean.annotate({
      description: "time matmul tile shapes (and the bias+GELU fusion) once per GPU adapter, cached under the cache folder; false: fixed defaults"
    }),
    true
  )
})
export type WebGpuTrainerConfig = typeof WebGpuTrainerConfig.Type

const train = (config: WebGpuTrainerConfig) => (input: TrainInput) =>
  Effect.gen(function* () {
    const { bos, shape } = yield* gpt2Target(input, "webgpu")
    const gpu = yield* WebGpu
    if (config.precision === "fp16" && !gpu.features.has("shader-f16"))
      return yield* Effect.fail(
        new TrainError({
          message: `precision fp16 needs the shader-f16 feature, which adapter "${gpu.adapterInfo.description || gpu.adapterInfo.vendor}" lacks; use bf16 or fp32, or train.kind: cpu`
        })
      )
    const seed = config.seed ?? input.context.seed
    const { tile, fuseGelu } = yield* pickKernels(gpu, input.context.cacheDir, config.autotune)
    const engine = yield* makeGpuGpt2Engine(initGpt2Weights(shape, seed), { precision: config.precision, bos, tile, fuseGelu })
    const outcome = yield* trainLoop(engine, input.dataset.train, { ...config, seed }, input.onProgress)
    return trainedModel(input, engine, outcome, {
      backend: "webgpu",
      adapter: adapterProvenance(gpu),
      matmulTile: { name: tileName(tile), ...tile },
      fusedBiasGelu: fuseGelu,
      seed
    })
  }).pipe(
    // A broken device is reported as a training failure naming the driver's message.
    Effect.catchTag("DeviceError", (e: DeviceError) => Effect.fail(new TrainError({ message: `GPU: ${e.message}` })))
  )

export const webgpuTrainerPlugin = definePlugin({
  kind: "trainer",
  name: "webgpu",
  description: "Trains GPT-2 on a WebGPU device (Dawn): AdamW, warmup + constant/cosine/linear schedule, fp32/bf16/bf16-params/fp16",
  config: WebGpuTrainerConfig,
  layer: WebGpu.layer,
  make: train,
  reload: (c) => reloadSaved(c.precision, "webgpu")
})
