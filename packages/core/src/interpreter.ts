/**
 * The interpreter: an Experiment becomes one Effect program. For each plan
 * not yet complete: dataset → train (scoped: GPU buffers freed on exit,
 * failure or interrupt) → metrics → commit (result.json, atomic, last).
 * Then the law fits over all complete runs, then the report.
 */
import { Cause, Effect, Layer } from "effect"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { holdClaim, tryClaim, type ClaimOptions } from "./claims.ts"
import { stringify as toYaml } from "yaml"
import type { Dataset, Json, LawFit, MetricValues, RunContext, RunResult, TrainedModel } from "./contracts.ts"
import { LawError, MetricError, RunDefect, type DatasetError, type DeviceError, type ModelError, type StoreError, type TrainError } from "./errors.ts"
import { fullHash, stableHash } from "./hash.ts"
import { Progress, type RunLabel } from "./progress.ts"
import { collectProvenance } from "./provenance.ts"
import { resolvePluginModules, type RegistryShape } from "./registry.ts"
import type { DecodedSection, Experiment, RunPlan, RunSpec } from "./spec/decode.ts"
import { summaryPairs } from "./report/summary.ts"
import { encodeOutput } from "./plugin-output.ts"
import type { OutputSchema } from "./plugin.ts"
import { makePackRendezvous, packChunks, Packing, type PackMember } from "./packing.ts"
import { jsonLine, makeRunStore, type RunStore } from "./store.ts"
import { PLUGINS_FILE, SAVED_MARKER, SavedModelSchema } from "./store-schema.ts"

export interface RunOptions {
  /** Re-run complete runs instead of skipping them. */
  readonly fresh?: boolean
  /** Runs trained at once (only where every trainer allows it). */
  readonly concurrency?: number
  /** Run every n-th plan: plans whose index ≡ k (mod n), 0 ≤ k < n. */
  readonly shard?: { readonly k: number; readonly n: number }
  /** Run store root (default: the spec's `store.root`, relative to the working directory). */
  readonly storeRoot?: string
  /**
   * Worker mode: take unclaimed, incomplete runs until none is left, waiting
   * for runs other processes hold (and taking over those whose holder died);
   * runs that failed (error.json) are left to a plain `run`.
   */
  readonly worker?: boolean
  /** Claim heartbeat and staleness (claims.ts). */
  readonly claims?: ClaimOptions
  /** How often a worker looks again at runs others hold (default 2 s). */
  readonly pollMs?: number
}

export type RunFailureError = DatasetError | TrainError | ModelError | MetricError | DeviceError | StoreError | RunDefect

export interface RunOutcome {
  readonly store: RunStore
  /** Complete results of every plan of the experiment (all shards). */
  readonly results: ReadonlyArray<RunResult>
  readonly failures: ReadonlyArray<{ readonly plan: RunPlan; readonly error: RunFailureError }>
  readonly laws: { readonly [law: string]: LawFit }
  readonly skipped: number
  readonly missing: number
  /** Runs left to other processes (claimed by them when this one looked). */
  readonly heldElsewhere: number
  /** Whether laws.json was written (always, except by a worker while runs remain). */
  readonly lawsWritten: boolean
}

/** The run store root: `--store`, else the spec's `store.root`, relative to the working directory. */
export const storeRootOf = (experiment: Experiment, options: RunOptions): string => NodePath.resolve(options.storeRoot ?? experiment.spec.store.root)

/** The services the plugins used by this experiment need (a GPU device, say), merged. */
export const pluginLayers = (experiment: Experiment): Layer.Layer<any, any, never> => {
  const layers = new Set<Layer.Layer<any, any, never>>()
  for (const plan of experiment.plans) {
    for (const s of sectionsOf(plan.spec)) if (s.plugin.layer) layers.add(s.plugin.layer)
  }
  for (const l of experiment.laws) if (l.plugin.layer) layers.add(l.plugin.layer)
  const list = [...layers]
  return Layer.mergeAll(Layer.empty, ...list)
}

const sectionsOf = (spec: RunSpec): ReadonlyArray<DecodedSection> => [
  spec.dataset,
  spec.model,
  spec.train,
  ...spec.metrics,
  ...(spec.reference ? [spec.reference.dataset, spec.reference.model, spec.reference.train] : [])
]

const labelOf = (plan: RunPlan, total: number, runId = plan.runId): RunLabel => ({
  runId,
  index: plan.index,
  total,
  label: Object.entries(plan.label)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(" ")
})

/** A run's failure as a typed error: its own typed error, or a defect (allocation failure, plugin bug) named as such. */
const failureOf = (runId: string, cause: Cause.Cause<RunFailureError>): RunFailureError => {
  const error = Cause.findErrorOption(cause)
  if (error._tag === "Some") return error.value
  const defect = Cause.squash(cause) as { name?: string; message?: string } | undefined
  const text = defect && typeof defect.message === "string" ? `${defect.name ?? "Error"}: ${defect.message}` : String(defect)
  return new RunDefect({ runId, message: `unexpected failure inside the run: ${text}` })
}

type PlanOutcome = "done" | "skipped" | "failed" | "held" | "left-failed"

export const runExperiment = (experiment: Experiment, registry: RegistryShape, options: RunOptions = {}) =>
  Effect.gen(function* () {
    const progress = yield* Progress
    const store = yield* makeRunStore(storeRootOf(experiment, options), experiment.name)
    yield* store.writeFile("experiment.yaml", toYaml(experiment.resolved))
    // The spec's plugin modules, resolved, so that `memorize report` can load them from the store alone.
    yield* store.writeJson(PLUGINS_FILE, { modules: yield* resolvePluginModules(experiment.spec.plugins, experiment.specDir) })
    const cacheDir = NodePath.resolve(storeRootOf(experiment, options), ".cache")
    // Where the runs run, as of now: the code they execute is what was loaded at the start (provenance.ts).
    const provenance = yield* collectProvenance(experiment.specDir)

    const shard = options.shard
    const selected = experiment.plans.filter((p) => !shard || p.index % shard.n === shard.k)
    const concurrent = experiment.plans.every((p) => p.spec.train.plugin.concurrent === true)
    const concurrency = concurrent ? Math.max(1, options.concurrency ?? 1) : 1
    // Packing (packing.ts) where every selected run's trainer can pack and some config asks for packs of more than one.
    // A size may depend on the trainer's services (the adapter, say), so sizes are resolved once, here.
    const sizes = new Map<number, number>()
    for (const p of selected) {
      const size = p.spec.train.plugin.packing?.size(p.spec.train.config) ?? 1
      sizes.set(p.index, Effect.isEffect(size) ? yield* size : size)
    }
    const packSizeOf = (p: RunPlan) => sizes.get(p.index) ?? 1
    const packed = selected.every((p) => p.spec.train.plugin.packing !== undefined) && selected.some((p) => packSizeOf(p) > 1)
    // Runs may share a pack when their model section and the trainer's shared part of its config are equal.
    const packKey = (p: RunPlan) =>
      stableHash({
        model: p.spec.model.resolved,
        train: { kind: p.spec.train.plugin.name, shared: p.spec.train.plugin.packing?.shared(p.spec.train.config) ?? null }
      })
    if ((options.concurrency ?? 1) > 1 && packed) {
      const most = Math.max(...selected.map(packSizeOf))
      yield* progress.log(
        `--concurrency ${options.concurrency} ignored: trainer "${selected[0]!.spec.train.plugin.name}" trains up to ${most} runs at once as one pack`
      )
    } else if ((options.concurrency ?? 1) > 1 && !concurrent) {
      yield* progress.log(`--concurrency ${options.concurrency} ignored: trainer "${experiment.plans[0]!.spec.train.plugin.name}" runs one model at a time`)
    }

    let skipped = 0
    const failures: Array<{ plan: RunPlan; error: RunFailureError }> = []
    const attempted = new Set<number>()

    // A packed run's member of its chunk's rendezvous leaves when the run ends, whatever the outcome, if it has not gathered.
    const runPlan = (plan: RunPlan, member?: PackMember): Effect.Effect<PlanOutcome, StoreError | DeviceError, any> =>
      member ? Effect.ensuring(runPlanOnce(plan, member), member.leave) : runPlanOnce(plan)

    const runPlanOnce = (plan: RunPlan, member?: PackMember): Effect.Effect<PlanOutcome, StoreError | DeviceError, any> =>
      Effect.gen(function* () {
        const runId = yield* store.resolveRunId(plan.runId, plan.configHash)
        const label = labelOf(plan, experiment.plans.length, runId)
        const state = yield* store.inspect(runId, plan.configHash)
        if (state._tag === "Invalid") {
          yield* progress.log(
            `warning: ${state.file} is not a valid result (${state.reason}); ${state.keptAs ? `kept as ${NodePath.basename(state.keptAs)}, ` : ""}the run is redone`
          )
        }
        const redo = options.fresh === true && !attempted.has(plan.index)
        if (state._tag === "Complete" && !redo) return "skipped" as const
        if (state._tag === "Failed" && options.worker) return "left-failed" as const

        const claim = yield* tryClaim(store, runId, options.claims ?? {})
        if (claim._tag === "Held") return "held" as const
        return yield* Effect.scoped(
          Effect.gen(function* () {
            let step: number | undefined
            yield* holdClaim(store, runId, () => step, options.claims ?? {})
            // Another process may have finished it between our look and our claim.
            const again = yield* store.inspect(runId, plan.configHash)
            if (again._tag === "Complete" && !redo) return "skipped" as const
            if (again._tag === "Failed" && options.worker) return "left-failed" as const
            attempted.add(plan.index)
            if (claim.takenOver) yield* progress.log(`[${runId}] taking over: ${claim.takenOver}`)
            yield* store.writeIdentity(runId, plan.configHash)
            yield* store.resetRun(runId)
            yield* progress.runStarted(label)
            const exit = yield* Effect.exit(
              runOne(
                experiment,
                store,
                { ...plan, runId },
                label,
                cacheDir,
                provenance,
                (s) => {
                  step = s
                },
                member
              )
            )
            if (exit._tag === "Success") {
              yield* progress.runFinished(label, "done", summaryLine(exit.value, registry))
              return "done" as const
            }
            if (Cause.hasInterruptsOnly(exit.cause)) return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
            const error = failureOf(runId, exit.cause)
            const cause = Cause.pretty(exit.cause).split("\n").slice(0, 12).join("\n")
            const written = yield* Effect.result(
              store.writeError({
                runId,
                configHash: plan.configHash,
                tag: error._tag,
                message: error.message,
                cause,
                host: NodeOs.hostname(),
                pid: process.pid,
                at: new Date().toISOString()
              })
            )
            // Not being able to write error.json (full disk) must not hide why the run failed.
            const note = written._tag === "Failure" ? ` (error.json not written: ${written.failure.message})` : ""
            failures.push({ plan: { ...plan, runId }, error })
            yield* progress.runFinished(label, "failed", `${error._tag}: ${error.message}${note}`)
            // Without a device no other run can succeed either.
            if (error._tag === "DeviceError") return yield* error
            return "failed" as const
          })
        )
      })

    // Packed: chunks one after another, the runs of a chunk at once, each a member of the chunk's rendezvous.
    const runPacked = (plans: ReadonlyArray<RunPlan>) =>
      Effect.map(
        Effect.forEach(packChunks(plans, packKey, packSizeOf), (chunk) =>
          Effect.flatMap(makePackRendezvous(chunk.length), (members) =>
            Effect.forEach(chunk, (plan, i) => Effect.map(runPlan(plan, members[i]), (o) => [plan, o] as const), { concurrency: chunk.length })
          )
        ),
        (chunks) => chunks.flat()
      )

    let heldElsewhere = 0
    let pending: ReadonlyArray<RunPlan> = selected
    for (;;) {
      const outcomes = packed
        ? yield* runPacked(pending)
        : yield* Effect.forEach(pending, (plan) => Effect.map(runPlan(plan), (o) => [plan, o] as const), { concurrency })
      skipped += outcomes.filter(([, o]) => o === "skipped").length
      const held = outcomes.filter(([, o]) => o === "held").map(([p]) => p)
      heldElsewhere = held.length
      if (!options.worker || held.length === 0) break
      // A worker waits for runs others hold: they finish, or their holder dies and we take over.
      pending = held
      yield* Effect.sleep(options.pollMs ?? 2000)
    }
    if (heldElsewhere > 0)
      yield* progress.log(`${heldElsewhere} run${heldElsewhere === 1 ? " is" : "s are"} being trained by other processes (see memorize status)`)

    const hashes = new Set(experiment.plans.map((p) => p.configHash))
    const scan = yield* store.scanResults()
    for (const bad of scan.invalid) yield* progress.log(`warning: ${bad.file} is not a valid result (${bad.reason}); it is ignored`)
    const results = scan.results.filter((r) => hashes.has(fullHash(r.config)))
    const laws: Record<string, LawFit> = {}
    for (const law of experiment.laws) {
      const fit = yield* Effect.result(
        storable(
          law.plugin.output,
          law.plugin.make(law.config)(results),
          (problem) => new LawError({ law: law.plugin.name, message: `its fit cannot be stored: ${problem}` })
        )
      )
      laws[law.plugin.name] = fit._tag === "Success" ? fit.success : { error: fit.failure.message }
      if (fit._tag === "Failure") yield* progress.log(`law ${law.plugin.name}: ${fit.failure.message}`)
    }
    // Laws over a partial sweep are written by a plain run (it says so); a worker leaves them to the one that finishes the sweep.
    const lawsWritten = !options.worker || results.length === experiment.plans.length || heldElsewhere === 0
    if (lawsWritten) {
      yield* store.writeJson("laws.json", laws)
      yield* store.writeFile("results.jsonl", results.map((r) => jsonLine(r)).join("\n") + (results.length ? "\n" : ""))
    }
    yield* progress.close
    return {
      store,
      results,
      failures,
      laws,
      skipped,
      missing: experiment.plans.length - results.length,
      heldElsewhere,
      lawsWritten
    } satisfies RunOutcome
  })

/**
 * A plugin's output as the JSON to store (encoded by its output Schema), or
 * refused, naming the key: NaN, a Float64Array or undefined would otherwise be
 * stored as null, `{"0":…}` or nothing.
 */
const storable = <A, E, R, E2>(
  schema: OutputSchema<A> | undefined,
  output: Effect.Effect<A, E, R>,
  refuse: (problem: string) => E2
): Effect.Effect<{ readonly [k: string]: Json }, E | E2, R> =>
  Effect.flatMap(output, (value) => {
    const encoded = encodeOutput(schema, value)
    return encoded.ok ? Effect.succeed(encoded.stored) : Effect.fail(refuse(encoded.problem))
  })

const summaryLine = (r: RunResult, registry: RegistryShape): string => {
  const parts = [`P=${r.model.paramCount}`, `N=${r.dataset.trainCount}`]
  if (r.train) parts.push(`loss ${r.train.finalLoss.toPrecision(4)} after ${r.train.steps} steps (${r.train.stopReason})`)
  return [...parts, ...summaryPairs(r, registry)].join(", ")
}

/**
 * One run, in its own scope: every resource it acquired is released when it
 * ends. A packed run's `member` is its place in its chunk's rendezvous.
 */
const runOne = (
  experiment: Experiment,
  store: RunStore,
  plan: RunPlan,
  label: RunLabel,
  cacheDir: string,
  provenance: { readonly [k: string]: Json },
  onStep: (step: number) => void = () => {},
  member?: PackMember
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const progress = yield* Progress
      const started = Date.now()
      const runDir = store.runDir(plan.runId)
      yield* store.writeFile(NodePath.join(plan.runId, "config.json"), `${JSON.stringify(plan.config, null, 2)}\n`)
      const context: RunContext = { seed: plan.spec.seed, specDir: experiment.specDir, runDir, cacheDir }

      const dataset = yield* plan.spec.dataset.plugin.make(plan.spec.dataset.config)(context)
      const training = trainModel(plan.spec, dataset, context, (event) =>
        Effect.andThen(
          Effect.andThen(
            Effect.sync(() => onStep(event.step)),
            progress.trainProgress(label, event)
          ),
          store.appendLine(NodePath.join(plan.runId, "train-log.jsonl"), jsonLine(event)).pipe(Effect.ignore)
        )
      )
      // Only the main model meets its chunk. Leaving as soon as its training
      // ends (when it trained without gathering) spares the others waiting
      // through its metrics.
      const model = yield* member ? training.pipe(Effect.provideService(Packing, member.packing), Effect.ensuring(member.leave)) : training

      const reference = plan.spec.reference ? yield* referenceModel(plan.spec, store, context) : undefined

      const metrics: Record<string, MetricValues> = {}
      for (const m of plan.spec.metrics) {
        metrics[m.plugin.name] = yield* storable(
          m.plugin.output,
          m.plugin.make(m.config)({ model, dataset, ...(reference ? { reference } : {}), context }),
          (problem) => new MetricError({ metric: m.plugin.name, message: `its values cannot be stored: ${problem}` })
        )
      }
      if (experiment.spec.store.saveModels) yield* model.save(runDir)

      const result: RunResult = {
        runId: plan.runId,
        experiment: experiment.name,
        config: plan.config,
        model: {
          kind: model.description.kind,
          paramCount: model.paramCount,
          vocabSize: model.vocabSize,
          seqLen: model.seqLen,
          precision: model.precision,
          config: model.description.config as { [k: string]: Json }
        },
        dataset: {
          kind: dataset.kind,
          trainCount: dataset.train.count,
          holdoutCount: dataset.holdout.count,
          vocabSize: dataset.vocabSize,
          seqLen: dataset.seqLen,
          entropyBitsPerSequence: dataset.entropyBitsPerSequence ?? null,
          fingerprint: dataset.fingerprint,
          stats: dataset.stats as { [k: string]: Json }
        },
        train: model.train
          ? {
              steps: model.train.steps,
              finalLoss: model.train.finalLoss,
              stopReason: model.train.stopReason,
              wallMs: model.train.wallMs,
              tokensPerSecond: model.train.tokensPerSecond
            }
          : null,
        metrics,
        provenance: {
          ...provenance,
          label: plan.label as Json,
          datasetFingerprint: dataset.fingerprint,
          ...(model.provenance ? { model: model.provenance } : {}),
          ...(reference?.provenance ? { reference: reference.provenance } : {}),
          startedAt: new Date(started).toISOString(),
          wallMs: Date.now() - started
        }
      }
      // Written last: the run is complete only once this rename has happened.
      yield* store.commit(result)
      return result
    })
  )

const trainModel = (
  spec: Pick<RunSpec, "model" | "train">,
  dataset: Dataset,
  context: RunContext,
  onProgress: Parameters<ReturnType<RunSpec["train"]["plugin"]["make"]>>[0]["onProgress"]
) =>
  Effect.gen(function* () {
    const description = spec.model.plugin.make(spec.model.config)({ vocabSize: dataset.vocabSize, seqLen: dataset.seqLen })
    return (yield* spec.train.plugin.make(spec.train.config)({ model: description, dataset, context, onProgress })) as TrainedModel
  })

/**
 * The reference model θ: trained once per distinct reference config and
 * saved under references/<id>/ when its trainer can reload what it saved
 * (`TrainerPlugin.reload`); later runs reload it. saved.json, written after
 * the model, marks a complete save.
 */
const referenceModel = (spec: RunSpec, store: RunStore, context: RunContext) =>
  Effect.gen(function* () {
    const ref = spec.reference!
    const id = stableHash({ seed: spec.seed, dataset: ref.dataset.resolved, model: ref.model.resolved, train: ref.train.resolved })
    const dir = store.referenceDir(id)
    const marker = NodePath.join(NodePath.relative(store.dir, dir), SAVED_MARKER)
    const trainer = ref.train.plugin
    const refContext: RunContext = { ...context, runDir: dir }
    const dataset = yield* ref.dataset.plugin.make(ref.dataset.config)(refContext)
    const input = {
      model: ref.model.plugin.make(ref.model.config)({ vocabSize: dataset.vocabSize, seqLen: dataset.seqLen }),
      dataset,
      context: refContext,
      onProgress: () => Effect.void
    }
    const reload = trainer.reload?.(ref.train.config)
    if (reload === undefined) return yield* trainer.make(ref.train.config)(input)
    const saved = yield* store.readDecoded(marker, SavedModelSchema).pipe(Effect.orElseSucceed(() => undefined))
    if (saved?.trainer === trainer.name) return yield* reload(dir, input)
    const model = yield* trainer.make(ref.train.config)(input)
    // A reference that cannot be saved is trained again next time: slower, never wrong.
    yield* model
      .save(dir)
      .pipe(Effect.andThen(store.writeFile(marker, `${JSON.stringify({ trainer: trainer.name, savedAt: new Date().toISOString() })}\n`)), Effect.ignore)
    return model
  })
