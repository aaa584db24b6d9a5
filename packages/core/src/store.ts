/**
 * The run store (layout in design.md):
 *
 *   <root>/<experiment>/experiment.yaml        resolved spec
 *   <root>/<experiment>/<runId>/config.json
 *   <root>/<experiment>/<runId>/train-log.jsonl
 *   <root>/<experiment>/<runId>/model.safetensors
 *   <root>/<experiment>/<runId>/result.json    written last, atomically = complete
 *   <root>/<experiment>/references/<id>/       reference models, trained once
 *   <root>/<experiment>/laws.json, results.jsonl, report.html, report.md
 *
 * Every file is written to a temporary name and renamed into place, so a
 * killed process never leaves a torn file; result.json is written last, so a
 * run without it is not complete and is redone on the next `run`.
 */
import { Effect, FileSystem } from "effect"
import * as NodePath from "node:path"
import type { Json, RunResult } from "./contracts.ts"
import { StoreError } from "./errors.ts"

export interface RunStore {
  readonly dir: string
  readonly runDir: (runId: string) => string
  readonly referenceDir: (id: string) => string
  /** The stored result of a complete run, if any. */
  readonly readResult: (runId: string) => Effect.Effect<RunResult | undefined, StoreError>
  /** Writes `<runId>/result.json` atomically: the run is complete after this. */
  readonly commit: (result: RunResult) => Effect.Effect<void, StoreError>
  /** Atomic write of any file under the experiment folder. */
  readonly writeFile: (relative: string, content: string | Uint8Array) => Effect.Effect<string, StoreError>
  readonly appendLine: (relative: string, line: string) => Effect.Effect<void, StoreError>
  readonly readJson: (relative: string) => Effect.Effect<unknown, StoreError>
  readonly exists: (relative: string) => Effect.Effect<boolean, StoreError>
  /** Removes a run's folder (for `--fresh`). */
  readonly clearRun: (runId: string) => Effect.Effect<void, StoreError>
  /** All complete results in the experiment folder. */
  readonly allResults: () => Effect.Effect<ReadonlyArray<RunResult>, StoreError>
}

const storeError = (path: string, what: string) => (e: unknown) =>
  new StoreError({ path, message: `${what}: ${(e as { message?: string })?.message ?? String(e)}` })

export const makeRunStore = (root: string, experiment: string): Effect.Effect<RunStore, StoreError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = NodePath.resolve(root, experiment)
    yield* fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError(storeError(dir, "cannot create the run store folder")))

    const abs = (relative: string) => NodePath.join(dir, relative)

    const writeAtomic = (path: string, content: string | Uint8Array) =>
      Effect.gen(function*() {
        yield* fs.makeDirectory(NodePath.dirname(path), { recursive: true })
        const tmp = `${path}.tmp-${process.pid}-${Date.now().toString(36)}`
        if (typeof content === "string") yield* fs.writeFileString(tmp, content)
        else yield* fs.writeFile(tmp, content)
        yield* fs.rename(tmp, path)
      }).pipe(Effect.mapError(storeError(path, "cannot write")))

    const readJsonAt = (path: string) =>
      fs.readFileString(path).pipe(
        Effect.mapError(storeError(path, "cannot read")),
        Effect.flatMap((text) =>
          Effect.try({ try: () => JSON.parse(text) as unknown, catch: storeError(path, "not valid JSON") }))
      )

    const readResult = (runId: string) =>
      Effect.gen(function*() {
        const path = abs(NodePath.join(runId, "result.json"))
        const present = yield* fs.exists(path).pipe(Effect.mapError(storeError(path, "cannot read")))
        if (!present) return undefined
        return (yield* readJsonAt(path)) as RunResult
      })

    const store: RunStore = {
      dir,
      runDir: (runId) => abs(runId),
      referenceDir: (id) => abs(NodePath.join("references", id)),
      readResult,
      commit: (result) => writeAtomic(abs(NodePath.join(result.runId, "result.json")), `${JSON.stringify(result, null, 2)}\n`),
      writeFile: (relative, content) => writeAtomic(abs(relative), content).pipe(Effect.as(abs(relative))),
      appendLine: (relative, line) =>
        Effect.gen(function*() {
          const path = abs(relative)
          yield* fs.makeDirectory(NodePath.dirname(path), { recursive: true })
          yield* fs.writeFileString(path, `${line}\n`, { flag: "a" })
        }).pipe(Effect.mapError(storeError(abs(relative), "cannot append"))),
      readJson: (relative) => readJsonAt(abs(relative)),
      exists: (relative) => fs.exists(abs(relative)).pipe(Effect.mapError(storeError(abs(relative), "cannot read"))),
      clearRun: (runId) => fs.remove(abs(runId), { recursive: true, force: true }).pipe(Effect.mapError(storeError(abs(runId), "cannot remove"))),
      allResults: () =>
        Effect.gen(function*() {
          const entries = yield* fs.readDirectory(dir).pipe(Effect.mapError(storeError(dir, "cannot list")))
          const results: Array<RunResult> = []
          for (const entry of entries.sort()) {
            const r = yield* readResult(entry).pipe(Effect.catchTag("StoreError", () => Effect.succeed(undefined)))
            if (r) results.push(r)
          }
          return results
        })
    }
    return store
  })

/** `JSON.stringify` for JSONL: one line per value. */
export const jsonLine = (value: Json | object): string => JSON.stringify(value)
