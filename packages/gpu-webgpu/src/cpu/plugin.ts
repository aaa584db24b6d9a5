/**
 * The `cpu` trainer plugin: trains the `gpt2` model natively on the CPU
 * (OpenBLAS GEMMs, C++ kernels, OpenMP threads; see cpu-model.ts) with the
 * same schedule, loop, settings and checkpoints as the webgpu trainer.
 *
 *   train: { kind: cpu, precision: bf16, batchSize: 128, lr: 2e-2, maxSteps: 3000, threads: 2 }
 */
import { definePlugin, PositiveInt, TrainError, type TrainInput } from "@memorize/core"
import { Effect, Schema } from "effect"
import { initGpt2Weights } from "../model/init.ts"
import { gpt2Target, reloadSaved, trainedModel, trainFields } from "../train/config.ts"
import { trainLoop } from "../train/loop.ts"
import { makeCpuGpt2Engine } from "./cpu-model.ts"

export const CpuTrainerConfig = Schema.Struct({
  ...trainFields,
  /** Cores for one model (default: all), divided among the models training at once (--concurrency). */
  threads: Schema.optional(
    PositiveInt.annotate({
      description: "CPU threads for this run (default: the machine's cores, divided among the runs training at once); results do not depend on it"
    })
  )
})
export type CpuTrainerConfig = typeof CpuTrainerConfig.Type

const train = (config: CpuTrainerConfig) => (input: TrainInput) =>
  Effect.gen(function* () {
    const { bos, shape } = yield* gpt2Target(input, "cpu")
    const seed = config.seed ?? input.context.seed
    const engine = yield* makeCpuGpt2Engine(initGpt2Weights(shape, seed), {
      precision: config.precision,
      bos,
      ...(config.threads ? { threads: config.threads } : {})
    }).pipe(Effect.mapError((e) => new TrainError({ message: e.message })))
    const outcome = yield* trainLoop(engine, input.dataset.train, { ...config, seed }, input.onProgress)
    const info = engine.native.info()
    return trainedModel(input, engine, outcome, { backend: "cpu", blas: info.blas, cores: info.cores, threads: engine.threadsUsed(), seed })
  })

export const cpuTrainerPlugin = definePlugin({
  kind: "trainer",
  name: "cpu",
  description: "Trains GPT-2 natively on the CPU (OpenBLAS + C++ kernels): AdamW, warmup + constant/cosine/linear schedule, fp32/bf16/bf16-params/fp16",
  config: CpuTrainerConfig,
  // Models share the cores (cpu-model.ts divides them), so a sweep may train several at once.
  concurrent: true,
  make: train,
  reload: (c) => reloadSaved(c.precision, "cpu")
})
