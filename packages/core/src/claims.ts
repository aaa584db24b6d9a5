/**
 * Run claims: a process trains a run only while it holds `<runId>/claim.json`,
 * so any number of processes (on any number of machines sharing the store's
 * file system) train each run once.
 *
 * - Claiming is an exclusive create (O_CREAT|O_EXCL, atomic on local file
 *   systems and on NFSv3+): of several processes exactly one succeeds.
 * - The holder refreshes `heartbeatAt` (and its current step) every
 *   `heartbeatMs`, by atomic rename, only while the claim is still its own.
 * - A claim is stale when its holder is a dead process on this host, or its
 *   heartbeat is older than `staleMs` (a holder on another machine that died).
 *   A stale claim is taken over through an exclusive create of a "break" file
 *   named after that exact claim state, so of several processes that saw the
 *   same stale claim only one removes it; the others find the new claim.
 * - The claim is removed when the run ends (complete or failed).
 */
import { createFileExclusive, writeFileAtomic } from "./atomic-write.ts"
import { Effect, Fiber, FileSystem, Schema, type Scope } from "effect"
import { randomBytes } from "node:crypto"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { StoreError } from "./errors.ts"
import { osCode } from "./os-error.ts"
import { storeError, type RunStore } from "./store.ts"
import { ClaimSchema, type Claim } from "./store-schema.ts"

export interface ClaimOptions {
  /** Heartbeat period (default 10 s). */
  readonly heartbeatMs?: number
  /** A claim whose heartbeat is older than this is stale (default 120 s). */
  readonly staleMs?: number
}

/** This process's identity as a claim holder: host, pid and a random tag (pids are reused). */
export const holderId = `${NodeOs.hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`

const defaults = (o: ClaimOptions) => ({
  heartbeatMs: o.heartbeatMs ?? Number(process.env["MEMORIZE_HEARTBEAT_MS"] ?? 10_000),
  staleMs: o.staleMs ?? Number(process.env["MEMORIZE_STALE_MS"] ?? 120_000)
})

/** Whether process `pid` runs on this host (signal 0 checks without sending anything). */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as { code?: string }).code === "EPERM"
  }
}

/** Why a claim is stale, or undefined when its holder may still be working. */
export const staleReason = (claim: Claim, staleMs: number, now = Date.now()): string | undefined => {
  if (claim.host === NodeOs.hostname() && !alive(claim.pid)) return `holder ${claim.holder} (pid ${claim.pid}) is no longer running`
  const age = now - Date.parse(claim.heartbeatAt)
  if (!(age <= staleMs)) return `no heartbeat from ${claim.holder} for ${Math.round(age / 1000)} s`
  return undefined
}

export type ClaimAttempt = { readonly _tag: "Claimed"; readonly takenOver?: string } | { readonly _tag: "Held"; readonly claim: Claim }

const claimPath = (store: RunStore, runId: string) => NodePath.join(store.runDir(runId), "claim.json")

/** The current claim of a run, if any (an unreadable one counts as none being valid: it is stale). */
export const readClaim = (store: RunStore, runId: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = claimPath(store, runId)
    const text = yield* fs.readFileString(path).pipe(
      Effect.map((t): string | undefined => t),
      Effect.catch((e) => (osCode(e) === "ENOENT" ? Effect.succeed(undefined) : Effect.fail(storeError(path, "cannot read")(e))))
    )
    if (text === undefined) return { _tag: "None" } as const
    try {
      const exit = Schema.decodeUnknownExit(ClaimSchema)(JSON.parse(text))
      if (exit._tag === "Success") return { _tag: "Claim", claim: exit.value, text } as const
    } catch {
      // fall through
    }
    return { _tag: "Corrupt", text } as const
  })

const newClaim = (): Claim => {
  const now = new Date().toISOString()
  return { holder: holderId, host: NodeOs.hostname(), pid: process.pid, claimedAt: now, heartbeatAt: now }
}

/** Tries to claim a run once: Claimed, or Held by a live holder. */
export const tryClaim = (store: RunStore, runId: string, options: ClaimOptions = {}) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const { staleMs } = defaults(options)
    const path = claimPath(store, runId)
    yield* fs.makeDirectory(store.runDir(runId), { recursive: true }).pipe(Effect.mapError(storeError(store.runDir(runId), "cannot create")))
    let takenOver: string | undefined
    for (let attempt = 0; attempt < 5; attempt++) {
      const created = yield* createFileExclusive(path, `${JSON.stringify(newClaim())}\n`).pipe(
        Effect.mapError((e) => new StoreError({ path, message: `cannot claim: ${e.message}`, ...(e.code ? { code: e.code } : {}) }))
      )
      if (created) return { _tag: "Claimed", ...(takenOver ? { takenOver } : {}) } satisfies ClaimAttempt as ClaimAttempt
      const current = yield* readClaim(store, runId)
      if (current._tag === "None") continue
      if (current._tag === "Claim") {
        const reason = staleReason(current.claim, staleMs)
        if (reason === undefined) return { _tag: "Held", claim: current.claim } satisfies ClaimAttempt as ClaimAttempt
        takenOver = reason
      } else {
        takenOver = "unreadable claim"
      }
      // Break exactly this stale state: one process wins the exclusive create and removes the claim.
      const token = Buffer.from(current.text).toString("base64url").slice(-24)
      const breakPath = `${path}.break-${token}`
      const won = yield* createFileExclusive(breakPath, holderId).pipe(Effect.orElseSucceed(() => false))
      if (won) {
        const still = yield* readClaim(store, runId)
        if (still._tag !== "None" && still.text === current.text) yield* fs.remove(path, { force: true }).pipe(Effect.ignore)
        yield* fs.remove(breakPath, { force: true }).pipe(Effect.ignore)
      } else {
        yield* Effect.sleep(50)
      }
    }
    const current = yield* readClaim(store, runId)
    if (current._tag === "Claim") return { _tag: "Held", claim: current.claim } satisfies ClaimAttempt as ClaimAttempt
    return yield* new StoreError({ path, message: "could not claim the run (the claim file keeps changing)" })
  })

/** Removes this process's claim of a run (never another holder's). */
export const releaseClaim = (store: RunStore, runId: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const current = yield* readClaim(store, runId).pipe(Effect.orElseSucceed(() => ({ _tag: "None" }) as const))
    if (current._tag === "Claim" && current.claim.holder === holderId) yield* fs.remove(claimPath(store, runId), { force: true }).pipe(Effect.ignore)
  })

/**
 * Holds a claim for the current scope: a heartbeat fiber refreshes it (with
 * the step `progress()` reports), and the claim is released when the scope
 * closes, whatever the outcome.
 */
export const holdClaim = (store: RunStore, runId: string, progress: () => number | undefined, options: ClaimOptions = {}) =>
  Effect.gen(function* () {
    const { heartbeatMs } = defaults(options)
    const path = claimPath(store, runId)
    const beat = Effect.gen(function* () {
      const current = yield* readClaim(store, runId)
      // Taken over (we were thought dead): leave the new holder alone.
      if (current._tag !== "Claim" || current.claim.holder !== holderId) return
      const step = progress()
      const next: Claim = { ...current.claim, heartbeatAt: new Date().toISOString(), ...(step !== undefined ? { step } : {}) }
      yield* writeFileAtomic(path, `${JSON.stringify(next)}\n`)
    }).pipe(Effect.ignore)
    // A beat is uninterruptible and the heartbeat is stopped before the release: a
    // write in flight would otherwise rename the claim back after it was removed.
    const heartbeat = yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(heartbeatMs), Effect.uninterruptible(beat))))
    yield* Effect.addFinalizer(() => Effect.andThen(Fiber.interrupt(heartbeat), releaseClaim(store, runId).pipe(Effect.ignore)))
  }) as Effect.Effect<void, never, FileSystem.FileSystem | Scope.Scope>
