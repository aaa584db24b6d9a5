/**
 * Reading an experiment folder back for `memorize report`: its complete runs
 * and its laws.json, decoded (a laws.json that is not an object of law fits
 * is an error naming the file, not an empty report).
 */
import { Effect, FileSystem, Schema } from "effect"
import * as NodePath from "node:path"
import type { LawFit, RunResult } from "../contracts.ts"
import { SpecError, StoreError } from "../errors.ts"
import { makeRunStore, type RunStore } from "../store.ts"

/** laws.json: law name → its fit (an object; a failed fit is `{ error }`). */
export const LawsFile = Schema.Record(Schema.String, Schema.Record(Schema.String, Schema.Json))

export interface LoadedExperiment {
  readonly dir: string
  readonly name: string
  readonly store: RunStore
  readonly results: ReadonlyArray<RunResult>
  readonly laws: { readonly [law: string]: LawFit }
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
    const lawsFile = NodePath.join(abs, "laws.json")
    // No laws.json: the spec fitted no laws (or none has been fitted yet).
    const laws = (yield* store.exists("laws.json"))
      ? yield* store.readJson("laws.json").pipe(
        Effect.flatMap((u) => Schema.decodeUnknownEffect(LawsFile)(u)),
        Effect.mapError((e) => e._tag === "StoreError" ? e : new StoreError({ path: lawsFile, message: `not an object of law fits: ${e.message}` }))
      )
      : {}
    return { dir: abs, name: NodePath.basename(abs), store, results, laws: laws as { readonly [law: string]: LawFit } } satisfies LoadedExperiment
  })
