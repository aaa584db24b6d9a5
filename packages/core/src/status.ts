/**
 * `memorize status`: where a (distributed) sweep stands, read from the run
 * store alone (no spec, no plugins): which runs are complete, claimed (by
 * whom, since when, at which step, stale or not), failed, or waiting.
 */
import { Effect, FileSystem } from "effect"
import * as NodePath from "node:path"
import { parse as parseYaml } from "yaml"
import { readClaim, staleReason } from "./claims.ts"
import { makeRunStore } from "./store.ts"
import type { Claim } from "./store-schema.ts"

export interface RunStatus {
  readonly runId: string
  readonly state: "complete" | "claimed" | "stale-claim" | "failed" | "waiting" | "invalid"
  readonly claim?: Claim
  readonly note?: string
}

export interface StoreStatus {
  readonly dir: string
  /** Runs the stored spec expands to, when the store says (experiment.yaml has no count: runs seen). */
  readonly runs: ReadonlyArray<RunStatus>
  readonly counts: Readonly<Record<RunStatus["state"], number>>
}

export const storeStatus = (dir: string, staleMs = Number(process.env["MEMORIZE_STALE_MS"] ?? 120_000)) =>
  Effect.gen(function* () {
    const store = yield* makeRunStore(NodePath.dirname(dir), NodePath.basename(dir), { checkFormat: false })
    const runs: Array<RunStatus> = []
    for (const runId of yield* store.runIds()) {
      const claim = yield* readClaim(store, runId).pipe(Effect.orElseSucceed(() => ({ _tag: "None" }) as const))
      // Looking must not move files: a status of an invalid result is reported, not repaired.
      const resultText = yield* store.exists(NodePath.join(runId, "result.json"))
      const state = resultText
        ? yield* store.readJson(NodePath.join(runId, "result.json")).pipe(
            Effect.map(() => "ok"),
            Effect.orElseSucceed(() => "bad")
          )
        : "none"
      if (state === "ok") {
        runs.push({ runId, state: "complete" })
      } else if (claim._tag === "Claim") {
        const stale = staleReason(claim.claim, staleMs)
        runs.push({ runId, state: stale ? "stale-claim" : "claimed", claim: claim.claim, ...(stale ? { note: stale } : {}) })
      } else if (state === "bad") {
        runs.push({ runId, state: "invalid", note: "result.json does not parse" })
      } else if (yield* store.exists(NodePath.join(runId, "error.json"))) {
        const error = (yield* store.readJson(NodePath.join(runId, "error.json")).pipe(Effect.orElseSucceed(() => ({})))) as { tag?: string; message?: string }
        runs.push({ runId, state: "failed", note: `${error.tag ?? "error"}: ${error.message ?? "?"}` })
      } else {
        runs.push({ runId, state: "waiting" })
      }
    }
    const counts = { complete: 0, claimed: 0, "stale-claim": 0, failed: 0, waiting: 0, invalid: 0 }
    for (const r of runs) counts[r.state]++
    return { dir, runs, counts, total: yield* plannedRuns(store.dir) } satisfies StoreStatus & { total: number | undefined }
  })

/** How many runs the stored spec has: the product of its grid axes times its zip length. */
const plannedRuns = (dir: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(NodePath.join(dir, "experiment.yaml")).pipe(Effect.orElseSucceed(() => ""))
    try {
      const spec = parseYaml(text) as { sweep?: { grid?: Record<string, Array<unknown>>; zip?: Record<string, Array<unknown>> } } | null
      const grid = Object.values(spec?.sweep?.grid ?? {}).reduce((n, v) => n * v.length, 1)
      const zip = Object.values(spec?.sweep?.zip ?? {})[0]?.length ?? 1
      return grid * zip
    } catch {
      return undefined
    }
  })

const ago = (iso: string) => {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000))
  return s >= 3600 ? `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m ago` : s >= 60 ? `${Math.floor(s / 60)}m${s % 60}s ago` : `${s}s ago`
}

export const formatStatus = (status: StoreStatus & { total?: number | undefined }): string => {
  const c = status.counts
  const seen = status.runs.length
  const waiting = c.waiting + (status.total !== undefined ? Math.max(0, status.total - seen) : 0)
  const lines = [
    `${status.dir}: ${c.complete}${status.total !== undefined ? `/${status.total}` : ""} complete, ${c.claimed} claimed, ${c["stale-claim"]} stale claims, ${c.failed} failed, ${waiting} waiting${c.invalid ? `, ${c.invalid} invalid` : ""}${
      // Runs of an earlier version of the spec stay in the folder (nothing written is lost): a count above the total says why.
      status.total !== undefined && seen > status.total
        ? ` (the folder holds ${seen} runs, ${seen - status.total} more than the stored spec expands to: runs of an earlier version of it)`
        : ""
    }`
  ]
  for (const r of status.runs) {
    if (r.state === "complete" || r.state === "waiting") continue
    const who = r.claim
      ? ` by ${r.claim.holder} since ${r.claim.claimedAt} (heartbeat ${ago(r.claim.heartbeatAt)}${r.claim.step !== undefined ? `, step ${r.claim.step}` : ""})`
      : ""
    lines.push(`  ${r.runId}  ${r.state}${who}${r.note ? `  ${r.note}` : ""}`)
  }
  return lines.join("\n")
}
