/**
 * The interpreter: an Experiment becomes one Effect program. For each plan
 * not yet complete: dataset → train (scoped: GPU buffers freed on exit,
 * failure or interrupt) → metrics → commit (result.json, atomic, last).
 * Then the law fits over all complete runs, then the report.
 */
import { Effect, FileSystem, Layer, Schema } from "effect"
import * as NodePath from "node:path"
import { stringify as toYaml } from "yaml"
import type { Dataset, Json, LawFit, RunContext, RunResult, TrainedModel } from "./contracts.ts"
import type { DatasetError, DeviceError, MetricError, ModelError, StoreError, TrainError } from "./errors.ts"
import { stableHash } from "./hash.ts"
import { Progress, type RunLabel } from "./progress.ts"
import { collectProvenance } from "./provenance.ts"
import type { RegistryShape } from "./registry.ts"
import type { DecodedSection, Experiment, RunPlan, RunSpec } from "./spec/decode.ts"
import { jsonLine, makeRunStore, type RunStore } from "./store.ts"

export interface RunOptions {
  /** Re-run complete runs instead of skipping them. */
  readonly fresh?: boolean
  /** Runs trained at once (only where every trainer allows it). */
  readonly concurrency?: number
  /** Run every n-th plan: plans whose index ≡ k (mod n), 0 ≤ k < n. */
  readonly shard?: { readonly k: number; readonly n: number }
  /** Run store root (default: the spec's `store.root`, relative to the working directory). */
  readonly storeRoot?: string
}

export type RunFailureError = DatasetError | TrainError | ModelError | MetricError | DeviceError | StoreError

export interface RunOutcome {
  readonly store: RunStore
  /** Complete results of every plan of the experiment (all shards). */
  readonly results: ReadonlyArray<RunResult>
  readonly failures: ReadonlyArray<{ readonly plan: RunPlan; readonly error: RunFailureError }>
  readonly laws: { readonly [law: string]: LawFit }
  readonly skipped: number
  readonly missing: number
}

/** The run store root: `--store`, else the spec's `store.root`, relative to the working directory. */
export const storeRootOf = (experiment: Experiment, options: RunOptions): string =>
  NodePath.resolve(options.storeRoot ?? experiment.spec.store.root)

/** The services the plugins used by this experiment need (a GPU device, say), merged. */
export const pluginLayers = (experiment: Experiment): Layer.Layer<any, any, never> => {
  const layers = new Set<Layer.Layer<any, any, never>>()
  for (const plan of experiment.plans) {
    for (const s of sectionsOf(plan.spec)) if (s.plugin.layer) layers.add(s.plugin.layer)
  }
  for (const l of experiment.laws) if (l.plugin.layer) layers.add(l.plugin.layer)
  const list = [...layers]
  return list.length === 0 ? (Layer.empty as unknown as Layer.Layer<any, any, never>) : Layer.mergeAll(...(list as [Layer.Layer<any, any, never>]))
}

const sectionsOf = (spec: RunSpec): ReadonlyArray<DecodedSection> => [
  spec.dataset, spec.model, spec.train, ...spec.metrics,
  ...(spec.reference ? [spec.reference.dataset, spec.reference.model, spec.reference.train] : [])
]

const labelOf = (plan: RunPlan, total: number): RunLabel => ({
  runId: plan.runId,
  index: plan.index,
  total,
  label: Object.entries(plan.label).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ")
})

export const runExperiment = (experiment: Experiment, registry: RegistryShape, options: RunOptions = {}) =>
  Effect.gen(function*() {
    const progress = yield* Progress
    const store = yield* makeRunStore(storeRootOf(experiment, options), experiment.name)
    yield* store.writeFile("experiment.yaml", toYaml(experiment.resolved))
    const cacheDir = NodePath.resolve(storeRootOf(experiment, options), ".cache")

    const shard = options.shard
    const selected = experiment.plans.filter((p) => !shard || p.index % shard.n === shard.k)
    const concurrent = experiment.plans.every((p) => p.spec.train.plugin.concurrent === true)
    const concurrency = concurrent ? Math.max(1, options.concurrency ?? 1) : 1
    if ((options.concurrency ?? 1) > 1 && !concurrent) {
      yield* progress.log(`--concurrency ${options.concurrency} ignored: trainer "${experiment.plans[0]!.spec.train.plugin.name}" runs one model at a time`)
    }

    let skipped = 0
    const failures: Array<{ plan: RunPlan; error: RunFailureError }> = []
    yield* Effect.forEach(selected, (plan) =>
      Effect.gen(function*() {
        const label = labelOf(plan, experiment.plans.length)
        const existing = yield* store.readResult(plan.runId)
        if (existing && !options.fresh) {
          skipped++
          yield* progress.runFinished(label, "skipped", "already complete")
          return
        }
        yield* store.clearRun(plan.runId)
        yield* progress.runStarted(label)
        const outcome = yield* Effect.result(runOne(experiment, registry, store, plan, label, cacheDir))
        if (outcome._tag === "Failure") {
          const error = outcome.failure
          failures.push({ plan, error })
          yield* store.writeFile(NodePath.join(plan.runId, "error.json"), `${JSON.stringify({ tag: error._tag, message: error.message }, null, 2)}\n`)
          yield* progress.runFinished(label, "failed", `${error._tag}: ${error.message}`)
          // Without a device no other run can succeed either.
          if (error._tag === "DeviceError") return yield* error
        } else {
          yield* progress.runFinished(label, "done", summaryLine(outcome.success))
        }
      }), { concurrency, discard: true })

    const planIds = new Set(experiment.plans.map((p) => p.runId))
    const results = (yield* store.allResults()).filter((r) => planIds.has(r.runId))
    const laws: Record<string, LawFit> = {}
    for (const law of experiment.laws) {
      const fit = yield* Effect.result(law.plugin.make(law.config)(results))
      laws[law.plugin.name] = fit._tag === "Success" ? fit.success : { error: fit.failure.message }
      if (fit._tag === "Failure") yield* progress.log(`law ${law.plugin.name}: ${fit.failure.message}`)
    }
    yield* store.writeFile("laws.json", `${JSON.stringify(laws, null, 2)}\n`)
    yield* store.writeFile("results.jsonl", results.map((r) => jsonLine(r)).join("\n") + (results.length ? "\n" : ""))
    yield* progress.close
    return {
      store,
      results,
      failures,
      laws,
      skipped,
      missing: experiment.plans.length - results.length
    } satisfies RunOutcome
  })

const summaryLine = (r: RunResult): string => {
  const mem = r.metrics["memorization"] as { totalBits?: number } | undefined
  const parts = [`P=${r.model.paramCount}`, `N=${r.dataset.trainCount}`]
  if (r.train) parts.push(`loss ${r.train.finalLoss.toPrecision(4)} after ${r.train.steps} steps (${r.train.stopReason})`)
  if (typeof mem?.totalBits === "number") parts.push(`memorized ${Math.round(mem.totalBits)} bits (${(mem.totalBits / r.model.paramCount).toFixed(3)} bits/param)`)
  return parts.join(", ")
}

/** One run, in its own scope: every resource it acquired is released when it ends. */
const runOne = (
  experiment: Experiment,
  registry: RegistryShape,
  store: RunStore,
  plan: RunPlan,
  label: RunLabel,
  cacheDir: string
) =>
  Effect.scoped(Effect.gen(function*() {
    const progress = yield* Progress
    const started = Date.now()
    const runDir = store.runDir(plan.runId)
    yield* store.writeFile(NodePath.join(plan.runId, "config.json"), `${JSON.stringify(plan.config, null, 2)}\n`)
    const context: RunContext = { seed: plan.spec.seed, specDir: experiment.specDir, runDir, cacheDir }

    const dataset = yield* plan.spec.dataset.plugin.make(plan.spec.dataset.config)(context)
    const model = yield* trainModel(plan.spec, dataset, context, (event) =>
      Effect.andThen(progress.trainProgress(label, event), store.appendLine(NodePath.join(plan.runId, "train-log.jsonl"), jsonLine(event)).pipe(Effect.ignore)))

    const reference = plan.spec.reference
      ? yield* referenceModel(plan.spec, registry, store, context)
      : undefined

    const metrics: Record<string, Json> = {}
    for (const m of plan.spec.metrics) {
      metrics[m.plugin.name] = (yield* m.plugin.make(m.config)({
        model,
        dataset,
        ...(reference ? { reference } : {}),
        context
      })) as Json
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
        ? { steps: model.train.steps, finalLoss: model.train.finalLoss, stopReason: model.train.stopReason, wallMs: model.train.wallMs, tokensPerSecond: model.train.tokensPerSecond }
        : null,
      metrics: metrics as RunResult["metrics"],
      provenance: {
        ...(yield* collectProvenance(experiment.specDir)),
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
  }))

const trainModel = (
  spec: Pick<RunSpec, "model" | "train">,
  dataset: Dataset,
  context: RunContext,
  onProgress: Parameters<ReturnType<RunSpec["train"]["plugin"]["make"]>>[0]["onProgress"]
) =>
  Effect.gen(function*() {
    const description = spec.model.plugin.make(spec.model.config)({ vocabSize: dataset.vocabSize, seqLen: dataset.seqLen })
    return (yield* spec.train.plugin.make(spec.train.config)({ model: description, dataset, context, onProgress })) as TrainedModel
  })

/**
 * The reference model θ: trained once per distinct reference config and
 * saved under references/<id>/; later runs load the saved model with the
 * `checkpoint` trainer when one is registered.
 */
const referenceModel = (spec: RunSpec, registry: RegistryShape, store: RunStore, context: RunContext) =>
  Effect.gen(function*() {
    const ref = spec.reference!
    const id = stableHash({ seed: spec.seed, dataset: ref.dataset.resolved, model: ref.model.resolved, train: ref.train.resolved })
    const dir = store.referenceDir(id)
    const fs = yield* FileSystem.FileSystem
    const loader = registry.find("trainer", "checkpoint")
    const saved = yield* fs.exists(NodePath.join(dir, "model.safetensors")).pipe(Effect.orElseSucceed(() => false))
    const refContext: RunContext = { ...context, runDir: dir }
    const dataset = yield* ref.dataset.plugin.make(ref.dataset.config)(refContext)
    if (saved && loader) {
      const config = yield* Effect.orDie(Effect.try(() => Schema.decodeUnknownSync(loader.config)({ path: dir })))
      const description = ref.model.plugin.make(ref.model.config)({ vocabSize: dataset.vocabSize, seqLen: dataset.seqLen })
      return (yield* loader.make(config)({ model: description, dataset, context: refContext, onProgress: () => Effect.void })) as TrainedModel
    }
    const model = yield* trainModel(ref, dataset, refContext, () => Effect.void)
    if (ref.train.plugin.name !== "checkpoint") {
      yield* model.save(dir).pipe(Effect.catchTag("ModelError", () => Effect.void))
    }
    return model
  })
