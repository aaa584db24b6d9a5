/**
 * The run store:
 *
 *   <root>/<experiment>/store.json             format version of the store
 *   <root>/<experiment>/experiment.yaml        resolved spec
 *   <root>/<experiment>/<runId>/identity.json  full config hash (runId is a prefix of it)
 *   <root>/<experiment>/<runId>/claim.json     who trains it now (claims.ts)
 *   <root>/<experiment>/<runId>/config.json
 *   <root>/<experiment>/<runId>/train-log.jsonl
 *   <root>/<experiment>/<runId>/…              the trainer's saved model (TrainedModel.save)
 *   <root>/<experiment>/<runId>/error.json     why the last attempt failed
 *   <root>/<experiment>/<runId>/result.json    written last, atomically = complete
 *   <root>/<experiment>/references/<id>/       reference models, trained once (saved.json: saved completely)
 *   <root>/<experiment>/laws.json, results.jsonl, report.html, report.md
 *
 * Every file is written to a temporary name and renamed into place, so a
 * killed process never leaves a torn file; result.json is written last, so a
 * run without it is not complete and is redone on the next `run`. Files read
 * back are decoded with their schemas (store-schema.ts): a result.json that
 * does not decode, or that belongs to another config, is not complete; it is
 * moved aside (kept for inspection) and the run is redone.
 */
import { Effect, FileSystem, Schema } from "effect"
import * as NodePath from "node:path"
import type { Json, LawFit, RunResult } from "./contracts.ts"
import { StoreError } from "./errors.ts"
import { fullHash } from "./hash.ts"
import { createFileExclusive, writeFileAtomic } from "./atomic-write.ts"
import { jsonProblem } from "./json-value.ts"
import { osCode, osReason } from "./os-error.ts"
import { IdentitySchema, LawsSchema, RunErrorSchema, RunResultSchema, StoreMetaSchema, type RunErrorRecord } from "./store-schema.ts"
import { version } from "./version.ts"

/** Bumped whenever the store's layout or file shapes change incompatibly. */
export const STORE_FORMAT = 2

/** What the store holds for one run. */
export type RunState =
  | { readonly _tag: "Absent" }
  | { readonly _tag: "Complete"; readonly result: RunResult }
  /** A result.json that does not decode or is another config's: moved aside to `keptAs`. */
  | { readonly _tag: "Invalid"; readonly file: string; readonly reason: string; readonly keptAs: string | undefined }
  | { readonly _tag: "Failed"; readonly error: RunErrorRecord }

export interface RunStore {
  readonly dir: string
  readonly runDir: (runId: string) => string
  readonly referenceDir: (id: string) => string
  /**
   * The folder name for a config: `runId` (a prefix of `configHash`) unless
   * that folder already belongs to another config (a short-hash collision),
   * then the next longer prefix that is free or its own.
   */
  readonly resolveRunId: (runId: string, configHash: string) => Effect.Effect<string, StoreError>
  /** Marks a folder as this config's (exclusive create, so two configs never share one). */
  readonly writeIdentity: (runId: string, configHash: string) => Effect.Effect<boolean, StoreError>
  /** What is stored for a run. An invalid result.json is moved aside; `configHash` also checks it is this config's. */
  readonly inspect: (runId: string, configHash?: string) => Effect.Effect<RunState, StoreError>
  /** The stored result of a complete run, if any (an invalid one is moved aside, as by `inspect`). */
  readonly readResult: (runId: string, configHash?: string) => Effect.Effect<RunResult | undefined, StoreError>
  /** Writes `<runId>/result.json` atomically: the run is complete after this. */
  readonly commit: (result: RunResult) => Effect.Effect<void, StoreError>
  /** Atomic write of a JSON file under the experiment folder; a value JSON cannot hold (NaN, a typed array, undefined) is refused, naming its key. */
  readonly writeJson: (relative: string, value: object) => Effect.Effect<void, StoreError>
  /** Writes `<runId>/error.json`. */
  readonly writeError: (record: RunErrorRecord) => Effect.Effect<void, StoreError>
  /** Atomic write of any file under the experiment folder. */
  readonly writeFile: (relative: string, content: string | Uint8Array) => Effect.Effect<string, StoreError>
  readonly appendLine: (relative: string, line: string) => Effect.Effect<void, StoreError>
  readonly readJson: (relative: string) => Effect.Effect<unknown, StoreError>
  /** A file under the experiment folder decoded with `schema`; undefined when absent, a StoreError naming it when invalid. */
  readonly readDecoded: <S extends Schema.ConstraintDecoder<unknown>>(
    relative: string,
    schema: S,
    what?: string
  ) => Effect.Effect<S["Type"] | undefined, StoreError>
  /** laws.json, decoded; undefined when absent, a StoreError when invalid. */
  readonly readLaws: () => Effect.Effect<{ readonly [law: string]: LawFit } | undefined, StoreError>
  readonly exists: (relative: string) => Effect.Effect<boolean, StoreError>
  /** Removes a run's folder (for `--fresh`). */
  readonly clearRun: (runId: string) => Effect.Effect<void, StoreError>
  /** Removes what an earlier attempt of a run wrote (result, error, log, model files), keeping its identity, its claim and results kept aside. */
  readonly resetRun: (runId: string) => Effect.Effect<void, StoreError>
  /** Run folder names (entries with an identity, config or result). */
  readonly runIds: () => Effect.Effect<ReadonlyArray<string>, StoreError>
  /** All complete results in the experiment folder (invalid ones are skipped and listed). */
  readonly scanResults: () => Effect.Effect<
    { readonly results: ReadonlyArray<RunResult>; readonly invalid: ReadonlyArray<{ readonly file: string; readonly reason: string }> },
    StoreError
  >
  readonly allResults: () => Effect.Effect<ReadonlyArray<RunResult>, StoreError>
}

/** A StoreError that keeps the OS reason (ENOSPC, EROFS, EACCES, ENOTDIR...) and the path. */
export const storeError = (path: string, what: string) => (e: unknown) => {
  const code = osCode(e)
  return new StoreError({ path, message: `${what}: ${osReason(e)}`, ...(code ? { code } : {}) })
}

const decodeMessage = (e: unknown): string =>
  String((e as { message?: unknown })?.message ?? e)
    .split("\n")
    .slice(0, 3)
    .join("; ")

export interface RunStoreOptions {
  /** Refuse a store of another format instead of adopting it (workers sharing one store). */
  readonly checkFormat?: boolean
}

export const makeRunStore = (root: string, experiment: string, options: RunStoreOptions = {}): Effect.Effect<RunStore, StoreError, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const dir = NodePath.resolve(root, experiment)
    yield* fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError(storeError(dir, "cannot create the run store folder")))

    const abs = (relative: string) => NodePath.join(dir, relative)

    /** JSON that decodes as written: a value JSON cannot hold (NaN, a typed array, undefined) is refused, naming its key. */
    const writeJson = (relative: string, value: object) => {
      const problem = jsonProblem(value, "")
      return problem === undefined
        ? writeFileAtomic(abs(relative), `${JSON.stringify(value, null, 2)}\n`)
        : Effect.fail(
            new StoreError({
              path: abs(relative),
              message: `not written: ${problem} (stored files are JSON: finite numbers, strings, booleans, null, arrays and plain objects)`
            })
          )
    }

    const readText = (path: string) =>
      fs.readFileString(path).pipe(
        Effect.map((t): string | undefined => t),
        Effect.catch((e) => (osCode(e) === "ENOENT" ? Effect.succeed(undefined) : Effect.fail(storeError(path, "cannot read")(e))))
      )

    const readJsonAt = (path: string) =>
      fs.readFileString(path).pipe(
        Effect.mapError(storeError(path, "cannot read")),
        Effect.flatMap((text) => Effect.try({ try: () => JSON.parse(text) as unknown, catch: storeError(path, "not valid JSON") }))
      )

    /** Parses and decodes a file; a reason when it does not. */
    const decodeFile = <S extends Schema.ConstraintDecoder<unknown>>(
      schema: S,
      text: string
    ): { ok: true; value: S["Type"] } | { ok: false; reason: string } => {
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch (e) {
        return { ok: false, reason: `not valid JSON (${(e as Error).message})` }
      }
      const exit = Schema.decodeUnknownExit(schema)(json)
      return exit._tag === "Success" ? { ok: true, value: exit.value } : { ok: false, reason: decodeMessage(exit.cause) }
    }

    const readDecoded = <S extends Schema.ConstraintDecoder<unknown>>(relative: string, schema: S, what = `a valid ${NodePath.basename(relative)}`) =>
      Effect.gen(function* () {
        const path = abs(relative)
        const text = yield* readText(path)
        if (text === undefined) return undefined
        const d = decodeFile(schema, text)
        if (!d.ok) return yield* new StoreError({ path, message: `not ${what}: ${d.reason}` })
        return d.value
      })

    /** Moves a bad file aside (`<name>.invalid-<time>`) so that it is kept but no longer read. */
    const keepAside = (path: string) => {
      const kept = `${path}.invalid-${new Date().toISOString().replace(/[:.]/g, "-")}`
      return fs.rename(path, kept).pipe(
        Effect.as(kept as string | undefined),
        Effect.orElseSucceed(() => undefined)
      )
    }

    const identityOf = (runId: string) =>
      Effect.gen(function* () {
        const text = yield* readText(abs(NodePath.join(runId, "identity.json")))
        if (text !== undefined) {
          const d = decodeFile(IdentitySchema, text)
          if (d.ok) return d.value.configHash
        }
        // Stores written before identity.json: the hash of the stored config.
        const config = yield* readText(abs(NodePath.join(runId, "config.json")))
        if (config !== undefined) {
          try {
            return fullHash(JSON.parse(config))
          } catch {
            return undefined
          }
        }
        return undefined
      })

    const idLengths = (first: number) => [first, 16, 24, 32, 64].filter((l, i, all) => l >= first && all.indexOf(l) === i)

    const inspect = (runId: string, configHash?: string) =>
      Effect.gen(function* () {
        const path = abs(NodePath.join(runId, "result.json"))
        const text = yield* readText(path)
        if (text !== undefined) {
          const d = decodeFile(RunResultSchema, text)
          const reason = !d.ok
            ? d.reason
            : d.value.runId !== runId
              ? `its runId is "${d.value.runId}", not the folder's "${runId}"`
              : configHash !== undefined && fullHash(d.value.config) !== configHash
                ? `it holds the result of another config (hash ${fullHash(d.value.config).slice(0, 16)}…, expected ${configHash.slice(0, 16)}…)`
                : undefined
          if (reason === undefined && d.ok) return { _tag: "Complete", result: d.value } satisfies RunState as RunState
          return { _tag: "Invalid", file: path, reason: reason!, keptAs: yield* keepAside(path) } satisfies RunState as RunState
        }
        const errorText = yield* readText(abs(NodePath.join(runId, "error.json")))
        if (errorText !== undefined) {
          const d = decodeFile(RunErrorSchema, errorText)
          if (d.ok) return { _tag: "Failed", error: d.value } satisfies RunState as RunState
        }
        return { _tag: "Absent" } satisfies RunState as RunState
      })

    const scanResults = () =>
      Effect.gen(function* () {
        const entries = yield* fs.readDirectory(dir).pipe(Effect.mapError(storeError(dir, "cannot list")))
        const results: Array<RunResult> = []
        const invalid: Array<{ file: string; reason: string }> = []
        for (const entry of entries.sort()) {
          const path = abs(NodePath.join(entry, "result.json"))
          const text = yield* readText(path).pipe(Effect.catch(() => Effect.succeed(undefined)))
          if (text === undefined) continue
          const d = decodeFile(RunResultSchema, text)
          if (d.ok && d.value.runId === entry) results.push(d.value)
          else invalid.push({ file: path, reason: d.ok ? `its runId is "${d.value.runId}", not the folder's "${entry}"` : d.reason })
        }
        return { results, invalid }
      })

    // The store's format: adopted when absent, refused when another one.
    const metaPath = abs("store.json")
    const metaText = yield* readText(metaPath)
    if (metaText === undefined) {
      yield* writeFileAtomic(metaPath, `${JSON.stringify({ format: STORE_FORMAT, writtenBy: `memorize ${version}` }, null, 2)}\n`)
    } else {
      const meta = decodeFile(StoreMetaSchema, metaText)
      if (!meta.ok) return yield* new StoreError({ path: metaPath, message: `not a run store description (${meta.reason})` })
      if (meta.value.format !== STORE_FORMAT && options.checkFormat !== false) {
        return yield* new StoreError({
          path: metaPath,
          message: `this run store has format ${meta.value.format} (written by ${meta.value.writtenBy}); this memorize (${version}) reads format ${STORE_FORMAT}: use the matching version, or another --store`
        })
      }
    }

    const store: RunStore = {
      dir,
      runDir: (runId) => abs(runId),
      referenceDir: (id) => abs(NodePath.join("references", id)),
      resolveRunId: (runId, configHash) =>
        Effect.gen(function* () {
          for (const length of idLengths(runId.length)) {
            const id = configHash.slice(0, length)
            const owner = yield* identityOf(id)
            if (owner === undefined || owner === configHash) return id
          }
          return yield* new StoreError({ path: abs(runId), message: `no free run folder for config ${configHash}` })
        }),
      writeIdentity: (runId, configHash) =>
        Effect.gen(function* () {
          const path = abs(NodePath.join(runId, "identity.json"))
          yield* fs.makeDirectory(abs(runId), { recursive: true }).pipe(Effect.mapError(storeError(abs(runId), "cannot create")))
          return yield* createFileExclusive(path, `${JSON.stringify({ configHash })}\n`)
        }),
      inspect,
      readResult: (runId, configHash) => Effect.map(inspect(runId, configHash), (s) => (s._tag === "Complete" ? s.result : undefined)),
      commit: (result) => writeJson(NodePath.join(result.runId, "result.json"), result),
      writeJson,
      writeError: (record) => writeFileAtomic(abs(NodePath.join(record.runId, "error.json")), `${JSON.stringify(record, null, 2)}\n`),
      writeFile: (relative, content) => writeFileAtomic(abs(relative), content).pipe(Effect.as(abs(relative))),
      appendLine: (relative, line) =>
        Effect.gen(function* () {
          const path = abs(relative)
          yield* fs.makeDirectory(NodePath.dirname(path), { recursive: true })
          yield* fs.writeFileString(path, `${line}\n`, { flag: "a" })
        }).pipe(Effect.mapError(storeError(abs(relative), "cannot append"))),
      readJson: (relative) => readJsonAt(abs(relative)),
      readDecoded,
      readLaws: () => readDecoded("laws.json", LawsSchema, "an object of law fits"),
      exists: (relative) => fs.exists(abs(relative)).pipe(Effect.mapError(storeError(abs(relative), "cannot read"))),
      clearRun: (runId) => fs.remove(abs(runId), { recursive: true, force: true }).pipe(Effect.mapError(storeError(abs(runId), "cannot remove"))),
      resetRun: (runId) =>
        Effect.gen(function* () {
          const entries = yield* fs.readDirectory(abs(runId)).pipe(Effect.orElseSucceed(() => [] as Array<string>))
          // Whatever the last attempt wrote (result, error, log, the trainer's model files) goes; the run's identity, its claim (and the claim's heartbeat temp files) and results kept aside for inspection stay.
          const stale = entries.filter((f) => !f.startsWith("identity.json") && !f.startsWith("claim.json") && !f.includes(".invalid-"))
          yield* Effect.forEach(
            stale,
            (f) =>
              fs
                .remove(abs(NodePath.join(runId, f)), { recursive: true, force: true })
                .pipe(Effect.mapError(storeError(abs(NodePath.join(runId, f)), "cannot remove"))),
            { discard: true }
          )
        }),
      runIds: () =>
        Effect.gen(function* () {
          const entries = yield* fs.readDirectory(dir).pipe(Effect.mapError(storeError(dir, "cannot list")))
          const ids: Array<string> = []
          for (const entry of entries.sort()) {
            if (entry === "references" || entry.startsWith(".")) continue
            for (const f of ["identity.json", "config.json", "result.json"]) {
              if (yield* fs.exists(abs(NodePath.join(entry, f))).pipe(Effect.orElseSucceed(() => false))) {
                ids.push(entry)
                break
              }
            }
          }
          return ids
        }),
      scanResults,
      allResults: () => Effect.map(scanResults(), (s) => s.results)
    }
    return store
  })

/** `JSON.stringify` for JSONL: one line per value. */
export const jsonLine = (value: Json | object): string => JSON.stringify(value)
