/**
 * Reading an experiment folder back for `memorize report`: its complete runs,
 * its laws.json, the plugin modules its spec loaded (plugins.json) and the
 * spec's description (experiment.yaml), each decoded (a laws.json that is not
 * an object of law fits is an error naming the file, not an empty report),
 * and the runs' training curves.
 */
import { Effect, FileSystem, Schema } from "effect"
import { parse as parseYaml } from "yaml"
import * as NodePath from "node:path"
import type { LawFit, RunResult } from "../contracts.ts"
import { SpecError, StoreError } from "../errors.ts"
import { PLUGINS_FILE, PluginsRecordSchema } from "../store-schema.ts"
import { makeRunStore, type RunStore } from "../store.ts"
import { type Curve, readCurves } from "./curves.ts"

export interface LoadedExperiment {
  readonly dir: string
  readonly name: string
  readonly store: RunStore
  readonly results: ReadonlyArray<RunResult>
  readonly laws: { readonly [law: string]: LawFit }
  /** Absolute paths of the third-party plugin modules the experiment's spec loaded. */
  readonly pluginModules: ReadonlyArray<string>
  /** The stored spec's description, if it has one. */
  readonly description: string | undefined
  /** The complete runs' training curves (train-log.jsonl). */
  readonly curves: ReadonlyArray<Curve>
}

/** What the report reads of the stored (resolved) spec; the rest was checked when it was written. */
const StoredSpecHead = Schema.Struct({ description: Schema.optional(Schema.String) })

const storedDescription = (file: string, text: string) =>
  Effect.try({
    try: () => Schema.decodeUnknownSync(StoredSpecHead)(parseYaml(text)).description,
    catch: (e) => new StoreError({ path: file, message: `not a valid stored spec: ${String((e as { message?: unknown })?.message ?? e).split("\n")[0]}` })
  })

export const loadExperimentFolder = (dir: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const abs = NodePath.resolve(dir)
    if (!(yield* fs.exists(NodePath.join(abs, "experiment.yaml")).pipe(Effect.orElseSucceed(() => false)))) {
      return yield* new SpecError({ file: dir, issues: [{ path: "", message: `"${dir}" is not an experiment folder of a run store (no experiment.yaml)` }] })
    }
    const store = yield* makeRunStore(NodePath.dirname(abs), NodePath.basename(abs))
    const results = yield* store.allResults()
    // No laws.json: the spec fitted no laws (or none has been fitted yet).
    const laws = (yield* store.readLaws()) ?? {}
    // No plugins.json: a store written before it was recorded, or a run not yet started.
    const plugins = yield* store.readDecoded(PLUGINS_FILE, PluginsRecordSchema)
    const specFile = NodePath.join(abs, "experiment.yaml")
    const specText = yield* fs.readFileString(specFile).pipe(Effect.mapError((e) => new StoreError({ path: specFile, message: `cannot read: ${e.message}` })))
    const description = yield* storedDescription(specFile, specText)
    const curves = yield* readCurves(store, results)
    return {
      dir: abs,
      name: NodePath.basename(abs),
      store,
      results,
      laws,
      pluginModules: plugins?.modules.map((m) => m.path) ?? [],
      description,
      curves
    } satisfies LoadedExperiment
  })
