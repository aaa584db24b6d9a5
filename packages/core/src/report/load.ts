/**
 * Reading an experiment folder back for `memorize report`: its complete runs,
 * its laws.json and the plugin modules its spec loaded (plugins.json), each
 * decoded (a laws.json that is not an object of law fits is an error naming
 * the file, not an empty report).
 */
import { Effect, FileSystem } from "effect"
import * as NodePath from "node:path"
import type { LawFit, RunResult } from "../contracts.ts"
import { SpecError } from "../errors.ts"
import { PLUGINS_FILE, PluginsRecordSchema } from "../store-schema.ts"
import { makeRunStore, type RunStore } from "../store.ts"

export interface LoadedExperiment {
  readonly dir: string
  readonly name: string
  readonly store: RunStore
  readonly results: ReadonlyArray<RunResult>
  readonly laws: { readonly [law: string]: LawFit }
  /** Absolute paths of the third-party plugin modules the experiment's spec loaded. */
  readonly pluginModules: ReadonlyArray<string>
}

export const loadExperimentFolder = (dir: string) =>
  Effect.gen(function*() {
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
    return {
      dir: abs,
      name: NodePath.basename(abs),
      store,
      results,
      laws,
      pluginModules: plugins?.modules.map((m) => m.path) ?? []
    } satisfies LoadedExperiment
  })
