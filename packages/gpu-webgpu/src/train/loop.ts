/**
 * The training loop on the GPU: gradient accumulation over micro-batches,
 * global-norm clipping and AdamW in one dispatch each, the loss kept on the
 * GPU and read back every `logEvery` steps (a read-back per step is slow),
 * plateau / target-loss stopping, and divergence reported with its step.
 */
import { type DeviceError, type ProgressEvent, TrainError, type TrainSummary } from "@memorize/core"
import { Effect, type Scope } from "effect"
import { encodeDispatches, readFloats, type Slice, storageBuffer } from "../device/gpu.ts"
import { adamw } from "../kernels/adamw.ts"
import { REDUCE_GROUPS, totalSum } from "../kernels/reduce.ts"
import type { GpuGpt2Engine } from "../model/gpu-model.ts"
import { batchSampler } from "./sampler.ts"
import { learningRate, type Schedule } from "./schedule.ts"

export interface TrainOptions {
  readonly batchSize: number
  readonly lr: number
  readonly beta1: number
  readonly beta2: number
  readonly eps: number
  readonly weightDecay: number
  readonly warmupSteps: number
  readonly schedule: Schedule
  readonly maxSteps: number
  /** Global gradient-norm clip (0: off). */
  readonly gradClip: number
  readonly stop: { readonly plateau?: { readonly window: number; readonly minDelta: number }; readonly targetLoss?: number }
  readonly logEvery: number
  readonly seed: number
  /** Sequences per forward/backward pass (gradient accumulation up to batchSize); default: as many as fit. */
  readonly microBatch?: number
}

export interface TrainOutcome extends TrainSummary {
  /** Mean training loss (nats/token) of every step. */
  readonly losses: Float64Array
  /** Sequences per forward/backward pass, and passes per step. */
  readonly microBatch: number
  readonly accumulation: number
}

const mean = (xs: ArrayLike<number>, from: number, to: number) => {
  let s = 0
  for (let i = from; i < to; i++) s += xs[i]
  return s / (to - from)
}

export const trainLoop = (
  engine: GpuGpt2Engine,
  data: { readonly tokens: Uint32Array; readonly count: number; readonly seqLen: number },
  o: TrainOptions,
  onProgress: (e: ProgressEvent) => Effect.Effect<void>
): Effect.Effect<TrainOutcome, TrainError | DeviceError, Scope.Scope> =>
  Effect.gen(function* () {
    const { device, layout } = engine
    const S = data.seqLen
    if (data.count === 0) return yield* Effect.fail(new TrainError({ message: "no training sequences" }))
    if (S + (engine.bos ? 1 : 0) > engine.shape.seqLen)
      return yield* Effect.fail(new TrainError({ message: `sequences of ${S} tokens${engine.bos ? " + BOS" : ""} exceed the model's ${engine.shape.seqLen} positions` }))
    const batch = Math.min(o.batchSize, data.count)
    const fits = engine.maxMicroBatch(S + (engine.bos ? 1 : 0))
    const accum = Math.ceil(batch / Math.min(fits, o.microBatch ?? fits))
    const micro = Math.ceil(batch / accum)
    const T = S + (engine.bos ? 1 : 0)
    const plan = yield* engine.plan(micro, T)
    const k = Math.max(1, o.logEvery)

    const sl = (b: GPUBuffer, n: number): Slice => ({ buffer: b, offset: 0, size: n * 4 })
    const scratch = [storageBuffer(device, "m", layout.total), storageBuffer(device, "v", layout.total), storageBuffer(device, "normSq", 1),
      storageBuffer(device, "partials", REDUCE_GROUPS), storageBuffer(device, "lossLog", k)]
    yield* Effect.addFinalizer(() => Effect.sync(() => scratch.forEach((b) => b.destroy())))
    const [m, v, normSq, partials, lossLog] = scratch
    const grads = sl(engine.grads, layout.total)
    const opt = yield* adamw(device, {
      n: layout.total, decayEnd: layout.decayEnd, params: sl(engine.params, layout.total), grads, m: sl(m, layout.total), v: sl(v, layout.total),
      normSq: sl(normSq, 1), roundParamsBf16: engine.precision === "bf16-params"
    })
    const norm = yield* totalSum(device, { n: layout.total, x: grads, out: sl(normSq, 1), partials: sl(partials, REDUCE_GROUPS), square: true, accumulate: false })
    const update = [...(o.gradClip > 0 ? norm : []), opt.dispatch]

    const sample = batchSampler(data.count, batch, o.seed)
    const losses = new Float64Array(o.maxSteps)
    const predictedPerStep = new Float64Array(o.maxSteps)
    const hyper = { lr: o.lr, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay, clip: o.gradClip }
    const started = Date.now()
    let stopReason: TrainSummary["stopReason"] = "maxSteps"
    let steps = 0
    let lastRead = 0

    /** Reads the losses of steps [lastRead, steps) and checks them. */
    const drain = Effect.gen(function* () {
      if (steps === lastRead) return
      const raw = yield* readFloats(device, sl(lossLog, k), k)
      for (let s = lastRead; s < steps; s++) {
        const l = raw[s % k] / predictedPerStep[s]
        if (!Number.isFinite(l)) return yield* Effect.fail(new TrainError({ message: `training diverged: loss is ${l} at step ${s + 1} (lr ${learningRate(o.lr, s, o.warmupSteps, o.maxSteps, o.schedule)})`, step: s + 1 }))
        losses[s] = l
      }
      lastRead = steps
      const elapsedMs = Date.now() - started
      yield* onProgress({
        step: steps, maxSteps: o.maxSteps, loss: losses[steps - 1], lr: learningRate(o.lr, steps - 1, o.warmupSteps, o.maxSteps, o.schedule),
        tokensPerSecond: (steps * batch * S) / Math.max(1e-3, elapsedMs / 1000), elapsedMs
      })
    })

    while (steps < o.maxSteps) {
      const rows = sample()
      const chunks: Array<ReadonlyArray<number>> = []
      for (let a = 0; a < accum; a++) chunks.push(rows.slice(a * micro, (a + 1) * micro))
      const predicted = rows.length * (T - 1)
      predictedPerStep[steps] = predicted
      plan.setGradScale(1 / predicted)
      for (let a = 0; a < chunks.length; a++) {
        engine.upload(plan, data.tokens, S, chunks[a])
        const enc = device.createCommandEncoder()
        if (a === 0) {
          enc.clearBuffer(engine.grads)
          enc.clearBuffer(plan.lossSum.buffer)
        }
        encodeDispatches(enc, [...plan.forward, ...plan.backward])
        device.queue.submit([enc.finish()])
      }
      opt.setStep({ ...hyper, lr: learningRate(o.lr, steps, o.warmupSteps, o.maxSteps, o.schedule) }, steps + 1)
      const enc = device.createCommandEncoder()
      encodeDispatches(enc, update)
      enc.copyBufferToBuffer(plan.lossSum.buffer, 0, lossLog, (steps % k) * 4, 4)
      device.queue.submit([enc.finish()])
      steps++
      if (steps % k === 0 || steps === o.maxSteps) {
        yield* drain
        const last = losses[steps - 1]
        if (o.stop.targetLoss !== undefined && last <= o.stop.targetLoss) {
          stopReason = "targetLoss"
          break
        }
        const p = o.stop.plateau
        if (p !== undefined && steps >= 2 * p.window && mean(losses, steps - 2 * p.window, steps - p.window) - mean(losses, steps - p.window, steps) < p.minDelta) {
          stopReason = "plateau"
          break
        }
      }
    }
    yield* drain
    const wallMs = Date.now() - started
    return {
      steps, finalLoss: losses[steps - 1], stopReason, wallMs,
      tokensPerSecond: (steps * batch * S) / Math.max(1e-3, wallMs / 1000),
      losses: losses.slice(0, steps),
      microBatch: micro,
      accumulation: accum
    } satisfies TrainOutcome
  })
