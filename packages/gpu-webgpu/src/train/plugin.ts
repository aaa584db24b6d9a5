/**
 * The `webgpu` trainer plugin: trains the `gpt2` model on the process's
 * WebGPU device (AdamW, schedules, accumulation, stopping rules; see loop.ts)
 * and returns a TrainedModel whose evaluation runs on the same GPU buffers.
 *
 *   train: { kind: webgpu, precision: bf16, batchSize: 2048, lr: 1e-3, maxSteps: 20000,
 *            stop: { plateau: { window: 500, minDelta: 1e-4 } } }
 */
import {
  definePlugin, DeviceError, ModelError, NonNegativeInt, PositiveInt, PositiveNumber, TrainError, type TrainedModel, type TrainInput, withDefault
} from "@memorize/core"
import { Effect, Schema } from "effect"
import { saveCheckpoint } from "../checkpoint/index.ts"
import { adapterProvenance, WebGpu } from "../device/webgpu.ts"
import { precisions } from "../kernels/common.ts"
import { makeGpuGpt2Engine } from "../model/gpu-model.ts"
import { initGpt2Weights } from "../model/init.ts"
import { Gpt2ModelConfig, gpt2ShapeFor } from "../model/plugin.ts"
import { pickKernels, tileName } from "./autotune.ts"
import { trainLoop } from "./loop.ts"

const Unit = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThan(1))
const NonNegative = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))

export const WebGpuTrainerConfig = Schema.Struct({
  /** fp32; bf16 (bf16 matmul operands, f32 accumulation and master weights); bf16-params (parameters stored in bf16); fp16 (needs shader-f16). */
  precision: withDefault(Schema.Literals(precisions), "fp32"),
  batchSize: withDefault(PositiveInt, 64),
  lr: withDefault(PositiveNumber, 1e-3),
  beta1: withDefault(Unit, 0.9),
  beta2: withDefault(Unit, 0.999),
  eps: withDefault(PositiveNumber, 1e-8),
  weightDecay: withDefault(NonNegative, 0),
  warmupSteps: withDefault(NonNegativeInt, 0),
  schedule: withDefault(Schema.Literals(["constant", "cosine", "linear"]), "constant"),
  maxSteps: withDefault(PositiveInt, 1000),
  /** Global gradient-norm clip; 0 turns clipping off. */
  gradClip: withDefault(NonNegative, 1),
  stop: withDefault(
    Schema.Struct({
      plateau: Schema.optional(Schema.Struct({ window: PositiveInt, minDelta: NonNegative })),
      targetLoss: Schema.optional(NonNegative)
    }),
    {}
  ),
  /** Loss read-back and progress every this many steps. */
  logEvery: withDefault(PositiveInt, 10),
  /** Sequences per forward/backward pass; the batch is accumulated over passes. Default: as many as fit the device. */
  microBatch: Schema.optional(PositiveInt),
  /** Defaults to the run's seed. */
  seed: Schema.optional(Schema.Int),
  /** Time matmul tile shapes (and the bias+GELU fusion) once per adapter, cached under the cache folder. */
  autotune: withDefault(Schema.Boolean, true)
})
export type WebGpuTrainerConfig = typeof WebGpuTrainerConfig.Type

const decodeModelConfig = Schema.decodeUnknownEffect(Gpt2ModelConfig)

const train = (config: WebGpuTrainerConfig) => (input: TrainInput) =>
  Effect.gen(function* () {
    if (input.model.kind !== "gpt2")
      return yield* Effect.fail(new TrainError({ message: `the webgpu trainer trains "gpt2" models, not "${input.model.kind}"` }))
    const mc = yield* decodeModelConfig(input.model.config).pipe(
      Effect.mapError((e) => new TrainError({ message: `gpt2 model config: ${e.message}` }))
    )
    const gpu = yield* WebGpu
    if (config.precision === "fp16" && !gpu.features.has("shader-f16"))
      return yield* Effect.fail(new TrainError({ message: `precision fp16 needs the shader-f16 feature, which adapter "${gpu.adapterInfo.description || gpu.adapterInfo.vendor}" lacks; use bf16 or fp32` }))
    const ds = input.dataset
    const shape = gpt2ShapeFor(mc, ds)
    const seed = config.seed ?? input.context.seed
    const { tile, fuseGelu } = yield* pickKernels(gpu, input.context.cacheDir, config.autotune)
    const engine = yield* makeGpuGpt2Engine(initGpt2Weights(shape, seed), { precision: config.precision, bos: mc.bos, tile, fuseGelu })
    const outcome = yield* trainLoop(engine, ds.train, { ...config, seed }, input.onProgress)
    const { losses: _losses, microBatch, accumulation, ...summary } = outcome
    return {
      provenance: {
        adapter: adapterProvenance(gpu),
        matmulTile: { name: tileName(tile), ...tile },
        fusedBiasGelu: fuseGelu,
        microBatch,
        gradientAccumulation: accumulation,
        seed
      },
      description: input.model,
      paramCount: engine.paramCount,
      precision: config.precision,
      vocabSize: ds.vocabSize,
      seqLen: ds.seqLen,
      train: summary,
      codeLengths: engine.codeLengths,
      tokenLogProbs: engine.tokenLogProbs,
      generate: engine.generate,
      save: (dir: string) =>
        engine.exportWeights().pipe(
          Effect.mapError((e) => new ModelError({ message: `cannot download the weights to save them: ${e.message}`, file: dir })),
          Effect.flatMap((w) => saveCheckpoint(dir, w))
        )
    } satisfies TrainedModel
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
  make: train
})
