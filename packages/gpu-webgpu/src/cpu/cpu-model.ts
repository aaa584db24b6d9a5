/**
 * GPT-2 on the CPU: the shared schedule (schedule.ts) run by the native addon
 * (OpenBLAS GEMMs, C++ kernels, OpenMP threads). Parameters live in one
 * Float32Array in the ParamLayout; a plan per micro-batch size holds the
 * activations. Evaluation goes through the shared evaluation.ts and training
 * through the shared loop (this file supplies its Stepper). The incremental
 * pass (step-schedule.ts: one position at a time over key/value caches) is
 * this backend's `decoder`, so arithmetic coding and generation cost about
 * one evaluation instead of a full pass per position.
 *
 * Threads: `threads` cores per model, divided among the CPU models alive in
 * the process (a sweep with --concurrency N trains N at once). Every kernel
 * splits work in fixed blocks, so results do not depend on the thread count.
 */
import { ModelError, TrainError } from "@memorize/core"
import { Effect, type Scope } from "effect"
import { operandRounding, type Precision } from "../kernels/common.ts"
import { tokenIndex } from "../kernels/embedding.ts"
import type { BatchArrays } from "../model/batch.ts"
import { type BatchBackend, type BatchDecoder, feedProblem, gpt2Evaluation, type Gpt2Model } from "../model/evaluation.ts"
import { flattenWeights, paramLayout, type ParamLayout, unflattenWeights } from "../model/layout.ts"
import { gpt2Schedule, type Op, type Ref, type Schedule, tensorsOf } from "../model/schedule.ts"
import { gpt2StepSchedule } from "../model/step-schedule.ts"
import { validateWeights } from "../model/validate.ts"
import { gpt2ParamCount, type Gpt2Weights } from "../model/weights.ts"
import type { Stepper, Trainable } from "../train/loop.ts"
import { type NativeAddon, nativeAddon } from "./native.ts"
import { matmulScratchFloats, type Placement, place, programBuilder } from "./program.ts"

export interface CpuGpt2Options {
  readonly precision: Precision
  readonly bos?: boolean
  /** Cores for this model (default: all); shared among the CPU models alive at once. */
  readonly threads?: number
}

export interface CpuGpt2Engine extends Gpt2Model, Trainable {
  readonly layout: ParamLayout
  /** The flat parameters (the engine's own memory; read-only to callers). */
  readonly params: Float32Array
  /** The flat gradient of the loss of one batch of T-position rows, scaled by `scale` (no update): for tests and analyses. */
  readonly gradient: (batch: BatchArrays, T: number, scale: number) => Effect.Effect<Float32Array, ModelError>
  readonly native: NativeAddon
  /** The fewest threads any of this model's native calls ran with so far (the cores divided among the models alive). */
  readonly threadsUsed: () => number
}

/** CPU models alive in this process (threads are divided among them). */
let alive = 0

const ARENA_PARAMS = 0
const ARENA_TRAIN = 1
const ARENA_PLAN = 2
const noArena = new Float32Array(16)

/** Allocates, naming what and how much on failure (an out-of-memory is that run's error, not the process's). */
const allocate = (what: string, floats: number): Effect.Effect<Float32Array, ModelError> =>
  Effect.try({
    try: () => new Float32Array(floats),
    catch: (e) =>
      new ModelError({
        message: `cannot allocate ${what}: ${floats.toLocaleString("en-US")} floats (${((floats * 4) / 2 ** 30).toFixed(2)} GiB): ${e instanceof Error ? e.message : String(e)}`
      })
  })

interface CpuPlan {
  readonly sched: Schedule
  readonly arena: Float32Array
  readonly words: Uint32Array
  readonly at: (r: Ref) => number
  readonly forwardEvaluate: Float64Array
  readonly forwardLogits: (pos: number) => Float64Array
  /** Zero grads + loss sum, forward, backward (first micro-batch of a step), or forward + backward. */
  readonly train?: { readonly first: Float64Array; readonly next: Float64Array }
  readonly gather: Placement
  readonly rowLogits: Placement
}

export const makeCpuGpt2Engine = (weights: Gpt2Weights, options: CpuGpt2Options): Effect.Effect<CpuGpt2Engine, ModelError, Scope.Scope> =>
  Effect.gen(function* () {
    const native = yield* nativeAddon
    const invalid = validateWeights(weights)
    if (invalid !== undefined) return yield* Effect.fail(invalid)
    const shape = weights.shape
    const bos = options.bos ?? false
    const precision = options.precision
    const rounding = operandRounding(precision)
    const layout = paramLayout(shape)
    const cores = Math.max(1, options.threads ?? native.info().cores)
    yield* Effect.acquireRelease(
      Effect.sync(() => alive++),
      () => Effect.sync(() => alive--)
    )
    const threads = () => Math.max(1, Math.floor(cores / Math.max(1, alive)))

    const params = yield* allocate("the parameters", layout.total)
    params.set(flattenWeights(layout, weights, precision === "bf16-params"))
    const V = shape.vocabSize
    const d = shape.dModel

    // Training state (arena 1): gradients, Adam moments, norm, hyper-parameters; made on first use.
    let trainArena: { arena: Float32Array; placements: Map<string, Placement> } | undefined
    const trainState = Effect.suspend(() => {
      if (trainArena !== undefined) return Effect.succeed(trainArena)
      const { placements, total } = place(ARENA_TRAIN, [
        ["grads", layout.total],
        ["m", layout.total],
        ["v", layout.total],
        ["normSq", 1],
        ["hyper", 8]
      ])
      return Effect.map(allocate("the gradients and Adam moments", total), (arena) => (trainArena = { arena, placements }))
    })

    const plans = new Map<string, CpuPlan>()
    const plan = (B: number, T: number, train: boolean): Effect.Effect<CpuPlan, ModelError> =>
      Effect.gen(function* () {
        const key = `${B}x${T}${train ? "t" : ""}`
        const hit = plans.get(key)
        if (hit !== undefined) return hit
        const sched = gpt2Schedule({ shape, layout, B, T, fuseGelu: true })
        const head = layout.slots.get(shape.tiedHead ? "wte.weight" : "lm_head.weight")!
        // Logits of one position (generation, arithmetic coding): that row of every sequence gathered, then one (B × d)·Wᵀ GEMM.
        const positionLogits: Op = {
          op: "matmul",
          label: "lm-head",
          M: B,
          N: V,
          K: d,
          transA: false,
          transB: true,
          a: { tensor: "gather", offset: 0, size: B * d },
          b: { tensor: "params", offset: head.offset, size: head.size },
          c: { tensor: "rowLogits", offset: 0, size: B * V }
        }
        const all = [...sched.forward, ...sched.evaluate, ...(train ? sched.backward : []), positionLogits]
        const used = tensorsOf(all, { fusedHead: true })
        const sizes: Array<readonly [string, number]> = [...sched.tensors].filter(([n]) => used.has(n))
        sizes.push(["matmulScratch", matmulScratchFloats(all, rounding)], ["headWork", native.headWork(V, d, train)], ["gather", B * d], ["rowLogits", B * V])
        const { placements, total } = place(ARENA_PLAN, sizes)
        const arena = yield* allocate(`activations for ${B} rows of ${T} positions`, total)
        const train0 = train ? yield* trainState : undefined
        placements.set("params", { arena: ARENA_PARAMS, offset: 0, size: layout.total })
        if (train0 !== undefined) placements.set("grads", train0.placements.get("grads")!)
        const arenaSizes = [params.length, train0?.arena.length ?? noArena.length, arena.length]
        const cx = { placements, arenaSizes, rounding, matmulScratch: "matmulScratch", headWork: "headWork" }
        const build = (f: (p: ReturnType<typeof programBuilder>) => void) => {
          const p = programBuilder(cx)
          f(p)
          return p.build()
        }
        const forwardEvaluate = build((p) => p.ops([...sched.forward, ...sched.evaluate]))
        const gather = placements.get("gather")!
        const rowLogits = placements.get("rowLogits")!
        const logitsPrograms = new Map<number, Float64Array>()
        const forwardLogits = (pos: number) => {
          let prog = logitsPrograms.get(pos)
          if (prog === undefined) {
            prog = build((p) => {
              p.ops(sched.forward)
              for (let b = 0; b < B; b++) p.copy({ ...sched.lnf, offset: (b * T + pos) * d, size: d }, { tensor: "gather", offset: b * d, size: d })
              p.op(positionLogits)
            })
            logitsPrograms.set(pos, prog)
          }
          return prog
        }
        const trainPrograms = train
          ? {
              first: build((p) => {
                p.zero({ tensor: "grads", offset: 0, size: layout.total })
                p.zero(sched.lossSum)
                p.ops([...sched.forward, ...sched.backward])
              }),
              next: build((p) => p.ops([...sched.forward, ...sched.backward]))
            }
          : undefined
        const at = (r: Ref) => placements.get(r.tensor)!.offset + r.offset
        const made: CpuPlan = {
          sched,
          arena,
          words: new Uint32Array(arena.buffer),
          at,
          forwardEvaluate,
          forwardLogits,
          gather,
          rowLogits,
          ...(trainPrograms ? { train: trainPrograms } : {})
        }
        plans.set(key, made)
        return made
      })

    let fewest = Number.POSITIVE_INFINITY
    const threadsNow = () => {
      const t = threads()
      fewest = Math.min(fewest, t)
      return t
    }
    const failed = (what: string) => (e: unknown) => new ModelError({ message: `${what} on the CPU: ${e instanceof Error ? e.message : String(e)}` })
    const run = (p: CpuPlan, program: Float64Array, what: string) =>
      Effect.tryPromise({ try: () => native.runAsync([params, trainArena?.arena ?? noArena, p.arena], program, threadsNow()), catch: failed(what) })
    const runSync = (arenas: ReadonlyArray<Float32Array>, program: Float64Array, what: string) =>
      Effect.try({ try: () => native.run(arenas, program, threadsNow()), catch: failed(what) })
    const writeTokens = (p: CpuPlan, tokens: Uint32Array) => p.words.set(tokens, p.at(p.sched.tokens))
    const writeBatch = (p: CpuPlan, b: Pick<BatchArrays, "tokens" | "targets">) => {
      writeTokens(p, b.tokens)
      p.words.set(b.targets, p.at(p.sched.targets))
      // The token index (rows grouped by token) is only read by the embedding's backward.
      if (p.train === undefined) return
      const idx = tokenIndex(b.tokens, V)
      p.words.set(idx.rowStart, p.at(p.sched.rowStart))
      p.words.set(idx.rowIdx, p.at(p.sched.rowIdx))
    }

    // Activations per sequence (schedule.ts) plus the head's chunks; memory, not a binding limit, bounds the batch.
    const maxMicroBatch = (T: number) => {
      const { heads: H, layers: L } = shape
      const perSeq = T * (L * (16 * d + H * T) + 24 * d + H * T + 8 + V / 64)
      return Math.max(1, Math.floor((2 * 2 ** 30) / 4 / perSeq))
    }

    const logitsAt = (B: number, T: number, tokens: Uint32Array, pos: number) =>
      Effect.gen(function* () {
        const p = yield* plan(B, T, false)
        writeTokens(p, tokens)
        yield* run(p, p.forwardLogits(pos), "logits")
        return p.arena.slice(p.rowLogits.offset, p.rowLogits.offset + B * V)
      })
    // The incremental pass over B rows of at most T positions: its own arena (step activations, key/value caches), a program per position made on first use.
    // A step is about a millisecond of work, run on this thread: on libuv's pool each would first wait for a pool thread to wake, which on a
    // loaded machine costs as much again (and the coder between steps is synchronous anyway). Its logits are read in place, not copied.
    const decoder = (B: number, T: number) =>
      Effect.gen(function* () {
        const sched = gpt2StepSchedule({ shape, layout, B, T, fuseGelu: true })
        const { placements, total } = place(ARENA_PLAN, [...sched.tensors, ["matmulScratch", matmulScratchFloats(sched.ops(0), rounding)]])
        const arena = yield* allocate(`the incremental pass for ${B} rows of ${T} positions`, total)
        placements.set("params", { arena: ARENA_PARAMS, offset: 0, size: layout.total })
        const arenas = [params, noArena, arena]
        const cx = { placements, arenaSizes: arenas.map((a) => a.length), rounding, matmulScratch: "matmulScratch" }
        const programs: Array<Float64Array> = []
        const tokensAt = placements.get("tokens")!.offset
        const logitsAt = placements.get("logits")!.offset
        const words = new Uint32Array(arena.buffer)
        let pos = 0
        return {
          step: (tokens) =>
            Effect.gen(function* () {
              const problem = feedProblem(B, T, V, pos, tokens)
              if (problem !== undefined) return yield* Effect.fail(new ModelError({ message: problem }))
              let program = programs[pos]
              if (program === undefined) {
                const p = programBuilder(cx)
                p.ops(sched.ops(pos))
                program = programs[pos] = p.build()
              }
              words.set(tokens, tokensAt)
              yield* runSync(arenas, program, "incremental step")
              pos++
              return arena.subarray(logitsAt, logitsAt + B * V)
            })
        } satisfies BatchDecoder
      })

    const backend: BatchBackend = {
      maxMicroBatch,
      logProbs: (B, T, tokens, targets) =>
        Effect.gen(function* () {
          const p = yield* plan(B, T, false)
          writeBatch(p, { tokens, targets })
          yield* run(p, p.forwardEvaluate, "evaluation")
          const at = p.at(p.sched.logp2)
          return p.arena.slice(at, at + B * T)
        }),
      logitsAt,
      decoder,
      // The coder's quantization in native loops: most of its time in TypeScript (README, "Verified compression").
      quantize: (logits, rows, Vd, freqBits, cum, stats) => native.quantize(logits, rows, Vd, freqBits, cum, stats, threadsNow())
    }
    const evaluation = gpt2Evaluation(shape, bos, backend)

    const backwardPass = (p: CpuPlan, chunks: ReadonlyArray<Pick<BatchArrays, "tokens" | "targets">>, scale: number) =>
      Effect.gen(function* () {
        p.arena[p.at(p.sched.gradScale)] = scale
        for (let a = 0; a < chunks.length; a++) {
          writeBatch(p, chunks[a])
          yield* run(p, a === 0 ? p.train!.first : p.train!.next, "training step")
        }
      })

    const stepper = (micro: number, T: number, ring: number) =>
      Effect.gen(function* () {
        const p = yield* plan(micro, T, true)
        const state = yield* trainState
        const placements = new Map([...state.placements, ["params", { arena: ARENA_PARAMS, offset: 0, size: layout.total }] as const])
        const ref = (name: string): Ref => ({ tensor: name, offset: 0, size: placements.get(name)!.size })
        const prog = (clip: boolean) => {
          const b = programBuilder({ placements, arenaSizes: [params.length, state.arena.length, p.arena.length], rounding })
          if (clip) b.op({ op: "totalSum", n: layout.total, x: ref("grads"), out: ref("normSq"), square: true, accumulate: false })
          b.adamw({
            n: layout.total,
            decayEnd: layout.decayEnd,
            params: ref("params"),
            grads: ref("grads"),
            m: ref("m"),
            v: ref("v"),
            normSq: ref("normSq"),
            hyper: ref("hyper"),
            roundParams: precision === "bf16-params"
          })
          return b.build()
        }
        const update = { clip: prog(true), plain: prog(false) }
        const hyperAt = state.placements.get("hyper")!.offset
        const losses = new Float32Array(ring)
        return {
          step: (chunks, gradScale, adam, slot) =>
            Effect.gen(function* () {
              yield* backwardPass(p, chunks, gradScale)
              losses[slot] = p.arena[p.at(p.sched.lossSum)]
              state.arena.set(
                [adam.lr, adam.beta1, adam.beta2, adam.eps, adam.weightDecay, 1 - adam.beta1 ** adam.step, 1 - adam.beta2 ** adam.step, adam.clip],
                hyperAt
              )
              yield* run(p, adam.clip > 0 ? update.clip : update.plain, "optimiser step")
            }).pipe(Effect.mapError((e) => new TrainError({ message: e.message }))),
          losses: () => Effect.succeed(losses.slice())
        } satisfies Stepper
      })

    const gradient = (batch: BatchArrays, T: number, scale: number) =>
      Effect.gen(function* () {
        const p = yield* plan(batch.tokens.length / T, T, true)
        yield* backwardPass(p, [batch], scale)
        const g = trainArena!.placements.get("grads")!
        return trainArena!.arena.slice(g.offset, g.offset + layout.total)
      })

    return {
      shape,
      precision,
      bos,
      dataVocab: bos ? V - 1 : V,
      paramCount: gpt2ParamCount(shape),
      ...evaluation,
      exportWeights: () => Effect.succeed(unflattenWeights(layout, shape, params)),
      maxMicroBatch,
      stepper: (micro: number, T: number, ring: number): Effect.Effect<Stepper, TrainError> =>
        Effect.mapError(stepper(micro, T, ring), (e) => new TrainError({ message: e.message })),
      layout,
      params,
      gradient,
      native,
      threadsUsed: () => (Number.isFinite(fewest) ? fewest : threads())
    } satisfies CpuGpt2Engine
  })
