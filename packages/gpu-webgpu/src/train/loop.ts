/**
 * The training loop, shared by every backend: seeded batch order, gradient
 * accumulation over micro-batches, the learning-rate schedule, loss read
 * back every `logEvery` steps (a GPU read-back per step is slow), plateau /
 * target-loss stopping, and divergence reported with its step. A backend
 * supplies a Stepper: one optimiser step over given micro-batches.
 */
import { type DeviceError, type ProgressEvent, TrainError, type TrainSummary } from "@memorize/core"
import { Effect, type Scope } from "effect"
import type { AdamWHyper } from "../kernels/adamw.ts"
import { type BatchArrays, fillBatch } from "../model/batch.ts"
import type { Gpt2Shape } from "../model/weights.ts"
import { batchSampler } from "./sampler.ts"
import { learningRate, type Schedule } from "./schedule.ts"

/** AdamW settings of one step (`step` is 1-based, for the bias corrections). */
export interface AdamStep extends AdamWHyper {
  readonly step: number
}

/** One backend's optimiser step. */
export interface Stepper {
  /**
   * Zeroes the gradients, runs forward + backward over each micro-batch
   * (gradients summed, the loss scaled by `gradScale`), clips and applies
   * AdamW, and keeps the step's summed loss (nats) at `slot` of a ring.
   */
  readonly step: (microBatches: ReadonlyArray<BatchArrays>, gradScale: number, adam: AdamStep, slot: number) => Effect.Effect<void, DeviceError | TrainError>
  /** The ring of summed losses. */
  readonly losses: () => Effect.Effect<Float32Array, DeviceError>
}

/** What the loop needs of a model being trained. */
export interface Trainable {
  readonly shape: Gpt2Shape
  readonly bos: boolean
  /** Largest micro-batch of T-position rows that fits. */
  readonly maxMicroBatch: (T: number) => number
  /** A stepper for micro-batches of `micro` rows of T positions and a loss ring of `ring` steps. */
  readonly stepper: (micro: number, T: number, ring: number) => Effect.Effect<Stepper, DeviceError | TrainError, Scope.Scope>
}

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

/** Rows per forward/backward pass and passes per step for a batch of `batch` rows, at most `fits` (and `microBatch` when set) per pass. */
export const microBatching = (batch: number, fits: number, microBatch: number | undefined): { readonly micro: number; readonly accum: number } => {
  const accum = Math.ceil(batch / Math.min(fits, microBatch ?? fits))
  return { micro: Math.ceil(batch / accum), accum }
}

export const trainLoop = (
  model: Trainable,
  data: { readonly tokens: Uint32Array; readonly count: number; readonly seqLen: number },
  o: TrainOptions,
  onProgress: (e: ProgressEvent) => Effect.Effect<void>
): Effect.Effect<TrainOutcome, TrainError | DeviceError, Scope.Scope> =>
  Effect.gen(function* () {
    const S = data.seqLen
    if (data.count === 0) return yield* Effect.fail(new TrainError({ message: "no training sequences" }))
    const T = S + (model.bos ? 1 : 0)
    if (T > model.shape.nPositions)
      return yield* Effect.fail(
        new TrainError({ message: `sequences of ${S} tokens${model.bos ? " + BOS" : ""} exceed the model's ${model.shape.nPositions} positions` })
      )
    const batch = Math.min(o.batchSize, data.count)
    const { micro, accum } = microBatching(batch, model.maxMicroBatch(T), o.microBatch)
    const k = Math.max(1, o.logEvery)
    const stepper = yield* model.stepper(micro, T, k)
    const bos = model.bos ? model.shape.vocabSize - 1 : undefined

    const sample = batchSampler(data.count, batch, o.seed)
    const losses = new Float64Array(o.maxSteps)
    const predictedPerStep = new Float64Array(o.maxSteps)
    const hyper = { beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay, clip: o.gradClip }
    const started = Date.now()
    let stopReason: TrainSummary["stopReason"] = "maxSteps"
    let steps = 0
    let lastRead = 0

    /** Reads the losses of steps [lastRead, steps) and checks them. */
    const drain = Effect.gen(function* () {
      if (steps === lastRead) return
      const raw = yield* stepper.losses()
      for (let s = lastRead; s < steps; s++) {
        const l = raw[s % k] / predictedPerStep[s]
        if (!Number.isFinite(l))
          return yield* Effect.fail(
            new TrainError({
              message: `training diverged: loss is ${l} at step ${s + 1} (lr ${learningRate(o.lr, s, o.warmupSteps, o.maxSteps, o.schedule)})`,
              step: s + 1
            })
          )
        losses[s] = l
      }
      lastRead = steps
      const elapsedMs = Date.now() - started
      yield* onProgress({
        step: steps,
        maxSteps: o.maxSteps,
        loss: losses[steps - 1],
        lr: learningRate(o.lr, steps - 1, o.warmupSteps, o.maxSteps, o.schedule),
        tokensPerSecond: (steps * batch * S) / Math.max(1e-3, elapsedMs / 1000),
        elapsedMs
      })
    })

    while (steps < o.maxSteps) {
      const rows = sample()
      const chunks: Array<BatchArrays> = []
      for (let a = 0; a < accum; a++) chunks.push(fillBatch(data.tokens, S, rows.slice(a * micro, (a + 1) * micro), micro, bos))
      const predicted = rows.length * (T - 1)
      predictedPerStep[steps] = predicted
      yield* stepper.step(chunks, 1 / predicted, { ...hyper, lr: learningRate(o.lr, steps, o.warmupSteps, o.maxSteps, o.schedule), step: steps + 1 }, steps % k)
      steps++
      if (steps % k === 0 || steps === o.maxSteps) {
        yield* drain
        const last = losses[steps - 1]
        if (o.stop.targetLoss !== undefined && last <= o.stop.targetLoss) {
          stopReason = "targetLoss"
          break
        }
        const p = o.stop.plateau
        if (
          p !== undefined &&
          steps >= 2 * p.window &&
          mean(losses, steps - 2 * p.window, steps - p.window) - mean(losses, steps - p.window, steps) < p.minDelta
        ) {
          stopReason = "plateau"
          break
        }
      }
    }
    yield* drain
    const wallMs = Date.now() - started
    return {
      steps,
      finalLoss: losses[steps - 1],
      stopReason,
      wallMs,
      tokensPerSecond: (steps * batch * S) / Math.max(1e-3, wallMs / 1000),
      losses: losses.slice(0, steps),
      microBatch: micro,
      accumulation: accum
    } satisfies TrainOutcome
  })
