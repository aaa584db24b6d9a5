/**
 * The `webgpu` trainer plugin: trains the `gpt2` model on the process's
 * WebGPU device (AdamW, schedules, accumulation, stopping rules; see loop.ts)
 * and returns a TrainedModel whose evaluation runs on the same GPU buffers.
 *
 *   train: { kind: webgpu, precision: bf16, batchSize: 2048, lr: 1e-3, maxSteps: 20000,
 *            stop: { plateau: { window: 500, minDelta: 1e-4 } } }
 */
import { definePlugin, type DeviceError, gatherPack, Packing, TrainError, type TrainInput, withDefault } from "@memorize/core"
import { Effect, Option, Schema } from "effect"
import { adapterProvenance, isSoftwareAdapter, WebGpu } from "../device/webgpu.ts"
import { makeGpuGpt2Engine, microBatchLimit } from "../model/gpu-model.ts"
import { initGpt2Weights } from "../model/init.ts"
import { makePack, packSlots } from "../model/pack.ts"
import { pickKernels, tileName } from "./autotune.ts"
import { gpt2Target, reloadSaved, trainedModel, trainFields } from "./config.ts"
import { microBatching, trainLoop } from "./loop.ts"

/** Runs per pack with `pack: auto` on a GPU: the interpreter's chunk; the adapter's limits then decide how many train at once (packSlots). */
const AUTO_PACK = 32

export const WebGpuTrainerConfig = Schema.Struct({
  ...trainFields,
  autotune: withDefault(
    Schema.Boolean.annotate({
      description: "time matmul tile shapes (and the bias+GELU fusion) once per GPU adapter, cached under the cache folder; false: fixed defaults"
    }),
    true
  ),
  // Optional rather than defaulted: a default would enter every resolved config, and so change the id of every run already stored.
  pack: Schema.optional(
    Schema.Union([Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)), Schema.Literal("auto")]).annotate({
      description:
        "sweep runs of one model shape and precision trained at once as one pack (they may differ in seed, data, lr, schedule, steps and stop rule; each run's result is what it gives alone). Default auto: up to 32 on a GPU, as many as its buffer limits allow; 1 on a software adapter (lavapipe), where a pack measured only 1.08-1.17x its runs one after another"
    })
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
    const kernels = { precision: config.precision, bos, tile, fuseGelu }
    const provenance = { backend: "webgpu", adapter: adapterProvenance(gpu), matmulTile: { name: tileName(tile), ...tile }, fusedBiasGelu: fuseGelu, seed }
    const packing = yield* Effect.serviceOption(Packing)
    // Alone: outside a pack, by choice, or with no data (the loop then says so).
    if (Option.isNone(packing) || config.pack === 1 || input.dataset.train.count === 0) {
      const engine = yield* makeGpuGpt2Engine(initGpt2Weights(shape, seed), kernels)
      const outcome = yield* trainLoop(engine, input.dataset.train, { ...config, seed }, input.onProgress)
      return trainedModel(input, engine, outcome, provenance)
    }
    // In a pack: the runs of this chunk with the same shape, kernels and micro-batching train as one (model/pack.ts).
    const data = input.dataset.train
    const T = data.seqLen + (bos ? 1 : 0)
    const fits = microBatchLimit(gpu.device, shape)
    const batch = Math.min(config.batchSize, data.count)
    const { micro } = microBatching(batch, fits(T), config.microBatch)
    const wanted = config.pack === undefined || config.pack === "auto" ? AUTO_PACK : config.pack
    const key = JSON.stringify({ shape, kernels, batch, micro, T })
    const slots = (size: number) => packSlots(gpu.device, { shape, tile, fuseGelu, micro, T }, Math.min(size, wanted))
    // Gathered, a run must join: the pack's first step waits for every member it expects (only the gathering may be interrupted).
    const { group, member } = yield* Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        const group = yield* restore(
          gatherPack(key, (size) => makePack(gpu.device, { shape, ...kernels, slots: slots(size), members: size, maxMicroBatch: fits }))
        )
        return { group, member: yield* group.shared.join(initGpt2Weights(shape, seed)) }
      })
    )
    const outcome = yield* trainLoop(member, data, { ...config, seed }, input.onProgress)
    const weights = yield* member.exportWeights()
    yield* member.leave
    // Evaluated alone, from the weights its pack trained (bit for bit those of training it alone).
    const engine = yield* makeGpuGpt2Engine(weights, kernels)
    return trainedModel(input, engine, outcome, { ...provenance, pack: { runs: group.size, index: group.index, slots: group.shared.slots } })
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
  reload: (c) => reloadSaved(c.precision, "webgpu"),
  packing: {
    // auto: no packs on a software adapter (lavapipe): a CPU gains little from them (1.08-1.17x, bench/results/pack-lavapipe-2core.txt).
    size: (c) => (c.pack === undefined || c.pack === "auto" ? Effect.map(WebGpu, (gpu) => (isSoftwareAdapter(gpu.adapterInfo) ? 1 : AUTO_PACK)) : c.pack),
    // Runs may differ in these and still share a pack; everything else of the config must match (pack too: a run
    // with pack 1 trains without gathering, and would hold up a chunk of runs that gather).
    shared: ({ seed: _seed, lr: _lr, warmupSteps: _warmup, schedule: _schedule, maxSteps: _steps, stop: _stop, logEvery: _log, ...rest }) => rest
  }
})
