/**
 * Many models of one shape trained at once on one GPU (issue: a sweep's runs
 * would otherwise leave it idle one after another). The pack holds `slots`
 * models in one set of buffers (a plan with a model axis, plan.ts and
 * model-axis.ts); each member runs its own train/loop.ts, with its own data,
 * sampler, schedule, Adam state and stopping, through a Stepper that waits
 * until every member in a slot has asked for its step and then runs the
 * step of all of them in one pass. A member that stops leaves: the last slot's
 * model moves into its slot (so the models in training are always the first
 * n, and a pass costs n models), and a member waiting for a slot takes the
 * last one. Each model's arithmetic is that of training it alone, so a
 * member's weights are bit for bit those of its run alone.
 */
import { type DeviceError, TrainError } from "@memorize/core"
import { Deferred, Effect, type Scope } from "effect"
import { encodeDispatches, readFloats, type Slice, storageBuffer, submit } from "../device/gpu.ts"
import { adamw, type AdamWKernel } from "../kernels/adamw.ts"
import { operandRounding, type Precision } from "../kernels/common.ts"
import type { MatmulTile } from "../kernels/matmul.ts"
import { REDUCE_GROUPS, totalSum } from "../kernels/reduce.ts"
import type { AdamStep, Stepper, Trainable } from "../train/loop.ts"
import type { BatchArrays } from "./batch.ts"
import { flattenWeights, paramLayout, unflattenWeights } from "./layout.ts"
import { submitPasses } from "./gpu-stepper.ts"
import { forModels, modelAxisDispatch } from "./model-axis.ts"
import { scratchFor } from "./compile.ts"
import { makePlan, type Plan, strideWords, writeTrainingBatch } from "./plan.ts"
import { gpt2Schedule } from "./schedule.ts"
import type { Gpt2Shape, Gpt2Weights } from "./weights.ts"

export interface PackOptions {
  readonly shape: Gpt2Shape
  readonly precision: Precision
  readonly bos: boolean
  readonly tile: MatmulTile
  readonly fuseGelu: boolean
  /** Models in training at once; more members wait for a slot. */
  readonly slots: number
  /** Members that will join (the first step waits until the slots are filled from them). */
  readonly members: number
  /** Largest micro-batch a model alone would use (the members' loops pick the same one). */
  readonly maxMicroBatch: (T: number) => number
}

/** A member of a pack: what train/loop.ts trains, and its weights once trained. */
export interface PackMember extends Trainable {
  readonly exportWeights: () => Effect.Effect<Gpt2Weights, DeviceError>
  /** Leaves the pack (idempotent; also when the member's scope closes). */
  readonly leave: Effect.Effect<void>
}

export interface Pack {
  /** Models in training at once. */
  readonly slots: number
  /** Waits for a slot, puts these initial weights and fresh Adam moments there, and returns the member. */
  readonly join: (weights: Gpt2Weights) => Effect.Effect<PackMember, never, Scope.Scope>
}

interface Request {
  readonly chunks: ReadonlyArray<BatchArrays>
  readonly gradScale: number
  readonly adam: AdamStep
  readonly ring: GPUBuffer
  readonly ringSlot: number
  readonly done: Deferred.Deferred<void, TrainError>
}

interface Member {
  slot: number
  request: Request | undefined
  left: boolean
}

/** Words per model of the one-word gradient norm (each model's at its own 256-byte binding offset). */
const NORM_WORDS = strideWords(1)

/** Bytes the pack's models may take in all: WebGPU does not tell an adapter's memory, so a budget well inside any data-centre GPU's. */
export const PACK_BUDGET_BYTES = 16 * 2 ** 30

/**
 * How many of `wanted` models of this shape fit in one pack for micro-batches
 * of micro × T: each per-model buffer of the plan (activations, reduction and
 * split-K scratch, parameters), K copies long, within the adapter's buffer
 * and binding limits, and all of them within PACK_BUDGET_BYTES.
 */
export const packSlots = (
  device: GPUDevice,
  s: { readonly shape: Gpt2Shape; readonly tile: MatmulTile; readonly fuseGelu: boolean; readonly micro: number; readonly T: number },
  wanted: number
): number => {
  const layout = paramLayout(s.shape)
  const sched = gpt2Schedule({ shape: s.shape, layout, B: s.micro, T: s.T, fuseGelu: s.fuseGelu })
  const ops = [...sched.forward, ...sched.logitsOps, ...sched.evaluate, ...sched.backward]
  const scratch = Math.max(1, ...ops.map((op) => scratchFor(op, s.tile)))
  const words = [...sched.tensors.values(), scratch, REDUCE_GROUPS, layout.total].map(strideWords)
  const perModel = 4 * (3 * layout.total + words.reduce((a, b) => a + b, 0))
  const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize)
  return Math.max(1, Math.min(wanted, Math.floor(limit / (4 * Math.max(...words))), Math.floor(PACK_BUDGET_BYTES / perModel)))
}

export const makePack = (device: GPUDevice, o: PackOptions): Effect.Effect<Pack, DeviceError, Scope.Scope> =>
  Effect.gen(function* () {
    const K = o.slots
    const layout = paramLayout(o.shape)
    const n = layout.total
    const owned: Array<GPUBuffer> = []
    /** Frees the pack's GPU memory (idempotent). */
    const release = () => {
      for (const b of owned) b.destroy()
      owned.length = 0
    }
    yield* Effect.addFinalizer(() => Effect.sync(release))
    const buffer = (label: string, words: number) => {
      const b = storageBuffer(device, label, words)
      owned.push(b)
      return b
    }
    const params = buffer("pack:params", K * n)
    const grads = buffer("pack:grads", K * n)
    const m = buffer("pack:m", K * n)
    const v = buffer("pack:v", K * n)
    const normSq = buffer("pack:normSq", K * NORM_WORDS)
    const normPartials = buffer("pack:normPartials", K * REDUCE_GROUPS)
    const moving = buffer("pack:moving", n)
    const at = (b: GPUBuffer, slot: number, words: number, size = words): Slice => ({ buffer: b, offset: slot * words * 4, size: size * 4 })
    const strides = new Map<GPUBuffer, number>([
      [grads, n],
      [normSq, NORM_WORDS],
      [normPartials, REDUCE_GROUPS]
    ])
    const norm = yield* Effect.flatMap(
      totalSum(device, {
        n,
        x: at(grads, 0, n),
        out: at(normSq, 0, NORM_WORDS, 1),
        partials: at(normPartials, 0, REDUCE_GROUPS),
        square: true,
        accumulate: false
      }),
      (ds) => Effect.forEach(ds, (d) => modelAxisDispatch(device, d, K, (b) => strides.get(b)))
    )
    // AdamW per slot: each model has its own learning rate and step count this step; a dispatch covers one model's n parameters.
    const adam: ReadonlyArray<AdamWKernel> = yield* Effect.forEach(
      Array.from({ length: K }, (_, s) => s),
      (s) =>
        adamw(device, {
          n,
          decayEnd: layout.decayEnd,
          params: at(params, s, n),
          grads: at(grads, s, n),
          m: at(m, s, n),
          v: at(v, s, n),
          normSq: at(normSq, s, NORM_WORDS, 1),
          roundParamsBf16: o.precision === "bf16-params"
        })
    )

    // One plan for the pack, made once: members ask for it at once, and each copy would hold K models' activations.
    let plan: { readonly micro: number; readonly T: number; readonly made: Deferred.Deferred<Plan, DeviceError> } | undefined
    let current: Plan | undefined
    const planFor = (micro: number, T: number): Effect.Effect<Plan, DeviceError | TrainError> =>
      Effect.suspend((): Effect.Effect<Plan, DeviceError | TrainError> => {
        if (plan !== undefined)
          return plan.micro === micro && plan.T === T
            ? Deferred.await(plan.made)
            : Effect.fail(new TrainError({ message: `a pack trains one micro-batch shape: ${plan.micro}×${plan.T}, not ${micro}×${T}` }))
        const made = Deferred.makeUnsafe<Plan, DeviceError>()
        plan = { micro, T, made }
        const make = makePlan({
          device,
          shape: o.shape,
          layout,
          params,
          grads,
          rounding: operandRounding(o.precision),
          tile: o.tile,
          fuseGelu: o.fuseGelu,
          B: micro,
          T,
          models: K
        }).pipe(
          Effect.tap((p) =>
            Effect.sync(() => {
              current = p
              owned.push(...p.buffers)
            })
          )
        )
        // Uninterruptible: the other members wait for this plan.
        return Effect.andThen(Effect.uninterruptible(Effect.flatMap(Effect.exit(make), (exit) => Deferred.done(made, exit))), Deferred.await(made))
      })

    const active: Array<Member> = []
    /** Slots in use or handed to a member about to enter. */
    let taken = 0
    /** Members that have not joined yet. */
    let coming = o.members
    const waiting: Array<Deferred.Deferred<void>> = []
    // Pacing learns per kind of work; a pass costs what its models in training cost.
    const kindOf = (count: number) => `pack ${o.shape.vocabSize}×${o.shape.dModel} ×${count}`

    /**
     * Once every model in a slot has asked for its step: the step of all of
     * them. A throw (a Dawn call refusing its arguments) fails every member's
     * step instead of leaving the others waiting for an answer.
     */
    const stepIfReady = () => {
      const requests = active.map((a) => a.request)
      try {
        stepAll()
      } catch (e) {
        for (const r of requests) if (r !== undefined) Deferred.doneUnsafe(r.done, Effect.die(e))
      }
    }

    const stepAll = () => {
      // Not before every member that can have a slot is in it: a member's fiber may not have run yet.
      const filling = taken > active.length || (coming > 0 && taken < K)
      if (filling || active.length === 0 || active.some((a) => a.request === undefined)) return
      const requests = active.map((a) => a.request!)
      for (const a of active) a.request = undefined
      const p = current!
      const accum = requests[0]!.chunks.length
      const odd = requests.findIndex((r) => r.chunks.length !== accum || r.gradScale !== requests[0]!.gradScale)
      if (odd >= 0) {
        const error = new TrainError({ message: "a pack's models must share the batch: their micro-batches differ" })
        for (const r of requests) Deferred.doneUnsafe(r.done, Effect.fail(error))
        return
      }
      const count = active.length
      p.setGradScale(requests[0]!.gradScale)
      submitPasses(
        device,
        p,
        grads,
        forModels([...p.forward, ...p.backward], count),
        accum,
        (c) => requests.forEach((r, s) => writeTrainingBatch(device, p, r.chunks[c]!, o.shape.vocabSize, s)),
        kindOf(count)
      )
      requests.forEach((r, s) => adam[s]!.setStep(r.adam, r.adam.step))
      const clip = requests.some((r) => r.adam.clip > 0)
      const update = [...(clip ? forModels(norm, count) : []), ...requests.map((_, s) => adam[s]!.dispatch)]
      const enc = device.createCommandEncoder()
      encodeDispatches(enc, update)
      requests.forEach((r, s) => enc.copyBufferToBuffer(p.lossSum.buffer, p.lossSum.offset + s * p.stride(p.lossSum.buffer) * 4, r.ring, r.ringSlot * 4, 4))
      submit(device, enc, update.length, kindOf(count))
      for (const r of requests) Deferred.doneUnsafe(r.done, Effect.void)
    }

    /** A slot freed passes straight to the first member waiting (it stays taken), else it is free. */
    const freeSlot = () => {
      const next = waiting.shift()
      if (next !== undefined) Deferred.doneUnsafe(next, Effect.void)
      else taken--
      stepIfReady()
    }

    /** Copies one slot's parameters and Adam moments to another (through `moving`: a buffer cannot be copied onto itself). */
    const move = (from: number, to: number) => {
      const enc = device.createCommandEncoder()
      for (const b of [params, m, v]) {
        enc.copyBufferToBuffer(b, from * n * 4, moving, 0, n * 4)
        enc.copyBufferToBuffer(moving, 0, b, to * n * 4, n * 4)
      }
      device.queue.submit([enc.finish()])
    }

    const leave = (me: Member) =>
      Effect.sync(() => {
        if (me.left) return
        me.left = true
        if (me.request) Deferred.doneUnsafe(me.request.done, Effect.fail(new TrainError({ message: "left its pack while stepping" })))
        const last = active.length - 1
        const lastMember = active[last]!
        if (me.slot !== last) {
          move(last, me.slot)
          lastMember.slot = me.slot
          active[me.slot] = lastMember
        }
        active.pop()
        freeSlot()
        // The last member out frees the buffers now: the runs' evaluations, which follow, have engines of their own.
        if (active.length === 0 && coming === 0 && taken === 0) release()
      })

    const enter = (weights: Gpt2Weights): Member => {
      const me: Member = { slot: active.length, request: undefined, left: false }
      active.push(me)
      device.queue.writeBuffer(params, me.slot * n * 4, flattenWeights(layout, weights, o.precision === "bf16-params"))
      const enc = device.createCommandEncoder()
      enc.clearBuffer(m, me.slot * n * 4, n * 4)
      enc.clearBuffer(v, me.slot * n * 4, n * 4)
      device.queue.submit([enc.finish()])
      return me
    }

    const join = (weights: Gpt2Weights): Effect.Effect<PackMember, never, Scope.Scope> =>
      // Uninterruptible but for the wait for a slot: a member counted in, or put in a slot, always has its way out.
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          coming--
          if (taken < K) taken++
          else {
            const turn = yield* Deferred.make<void>()
            waiting.push(turn)
            yield* restore(Deferred.await(turn)).pipe(
              Effect.onInterrupt(() =>
                Effect.sync(() => {
                  const i = waiting.indexOf(turn)
                  // Interrupted after its turn came: the slot it was handed goes on.
                  if (i >= 0) waiting.splice(i, 1)
                  else freeSlot()
                })
              )
            )
          }
          const me = enter(weights)
          yield* Effect.addFinalizer(() => leave(me))
          const stepper = (micro: number, T: number, ring: number): Effect.Effect<Stepper, DeviceError | TrainError, Scope.Scope> =>
            Effect.gen(function* () {
              yield* planFor(micro, T)
              const lossLog = storageBuffer(device, "lossLog", ring)
              yield* Effect.addFinalizer(() => Effect.sync(() => lossLog.destroy()))
              return {
                step: (chunks, gradScale, adamStep, ringSlot) =>
                  Effect.gen(function* () {
                    if (me.left) return yield* Effect.fail(new TrainError({ message: "stepped after leaving its pack" }))
                    const done = yield* Deferred.make<void, TrainError>()
                    me.request = { chunks, gradScale, adam: adamStep, ring: lossLog, ringSlot, done }
                    stepIfReady()
                    // Interrupted while the others step: this model leaves, so they do not wait for it.
                    yield* Deferred.await(done).pipe(Effect.onInterrupt(() => leave(me)))
                  }),
                losses: () => readFloats(device, { buffer: lossLog, offset: 0, size: ring * 4 }, ring)
              } satisfies Stepper
            })
          return {
            shape: o.shape,
            bos: o.bos,
            maxMicroBatch: o.maxMicroBatch,
            stepper,
            exportWeights: () =>
              Effect.suspend(() => Effect.map(readFloats(device, at(params, me.slot, n)), (flat) => unflattenWeights(layout, o.shape, flat))),
            leave: leave(me)
          } satisfies PackMember
        })
      )
    return { join, slots: K }
  })
