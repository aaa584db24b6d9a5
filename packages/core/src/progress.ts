/**
 * Progress of an experiment run. On a TTY: an overall bar and one bar per
 * active run (step, loss, tokens/s, ETA), redrawn in place. Elsewhere: plain
 * log lines (run start/end and every tenth of training).
 */
import { Context, Effect, Layer } from "effect"
import type { ProgressEvent } from "./contracts.ts"

export interface RunLabel {
  readonly runId: string
  readonly index: number
  readonly total: number
  readonly label: string
}

export interface ProgressShape {
  readonly runStarted: (run: RunLabel) => Effect.Effect<void>
  readonly trainProgress: (run: RunLabel, event: ProgressEvent) => Effect.Effect<void>
  readonly runFinished: (run: RunLabel, outcome: "done" | "skipped" | "failed", note?: string) => Effect.Effect<void>
  readonly log: (line: string) => Effect.Effect<void>
  /** Clears bars before the final summary is printed. */
  readonly close: Effect.Effect<void>
}

export class Progress extends Context.Service<Progress, ProgressShape>()("memorize/Progress") {
  /** Bars on a TTY, plain lines otherwise (stderr, so stdout stays parseable). */
  static readonly layer = Layer.sync(Progress, () =>
    process.stderr.isTTY ? ttyProgress(process.stderr) : plainProgress((l) => process.stderr.write(`${l}\n`))
  )
  /** No output at all (tests, library use). */
  static readonly silent = Layer.succeed(Progress, {
    runStarted: () => Effect.void,
    trainProgress: () => Effect.void,
    runFinished: () => Effect.void,
    log: () => Effect.void,
    close: Effect.void
  })
}

const fmt = (n: number, digits = 3) => (Number.isFinite(n) ? n.toPrecision(digits) : String(n))
const duration = (ms: number) => {
  if (!Number.isFinite(ms) || ms < 0) return "?"
  const s = Math.round(ms / 1000)
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`
    : s >= 60
      ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`
      : `${s}s`
}
const eta = (e: ProgressEvent) => (e.step > 0 ? (e.elapsedMs / e.step) * (e.maxSteps - e.step) : NaN)
const describeEvent = (e: ProgressEvent) =>
  `step ${e.step}/${e.maxSteps} loss ${fmt(e.loss, 4)} lr ${fmt(e.lr, 2)} ${Math.round(e.tokensPerSecond)} tok/s ETA ${duration(eta(e))}`

export const plainProgress = (write: (line: string) => void): ProgressShape => {
  const lastDecile = new Map<string, number>()
  const prefix = (r: RunLabel) => `[${r.index + 1}/${r.total} ${r.runId}${r.label ? ` ${r.label}` : ""}]`
  return {
    runStarted: (r) => Effect.sync(() => write(`${prefix(r)} started`)),
    trainProgress: (r, e) =>
      Effect.sync(() => {
        const decile = Math.floor((10 * e.step) / Math.max(1, e.maxSteps))
        if ((lastDecile.get(r.runId) ?? -1) < decile) {
          lastDecile.set(r.runId, decile)
          write(`${prefix(r)} ${describeEvent(e)}`)
        }
      }),
    runFinished: (r, outcome, note) => Effect.sync(() => write(`${prefix(r)} ${outcome}${note ? `: ${note}` : ""}`)),
    log: (line) => Effect.sync(() => write(line)),
    close: Effect.void
  }
}

const bar = (fraction: number, width = 24) => {
  const filled = Math.max(0, Math.min(width, Math.round(fraction * width)))
  return `${"█".repeat(filled)}${"░".repeat(width - filled)}`
}

export const ttyProgress = (stream: NodeJS.WriteStream): ProgressShape => {
  const active = new Map<string, { run: RunLabel; line: string }>()
  let finished = 0
  let total = 0
  let drawn = 0
  const redraw = () => {
    const lines = [`${bar(total ? finished / total : 0)} ${finished}/${total} runs`, ...[...active.values()].map((a) => a.line)]
    const cols = stream.columns ?? 120
    let out = drawn > 0 ? `\x1b[${drawn}F` : ""
    for (const l of lines) out += `\x1b[2K${l.slice(0, cols - 1)}\n`
    out += "\x1b[J"
    stream.write(out)
    drawn = lines.length
  }
  const above = (text: string) => {
    stream.write((drawn > 0 ? `\x1b[${drawn}F\x1b[J` : "") + `${text}\n`)
    drawn = 0
    redraw()
  }
  return {
    runStarted: (r) =>
      Effect.sync(() => {
        total = r.total
        active.set(r.runId, { run: r, line: `  ${r.runId} ${r.label} preparing` })
        redraw()
      }),
    trainProgress: (r, e) =>
      Effect.sync(() => {
        active.set(r.runId, { run: r, line: `  ${r.runId} ${bar(e.step / Math.max(1, e.maxSteps), 16)} ${describeEvent(e)}` })
        redraw()
      }),
    runFinished: (r, outcome, note) =>
      Effect.sync(() => {
        total = r.total
        finished++
        active.delete(r.runId)
        above(`[${r.index + 1}/${r.total} ${r.runId}${r.label ? ` ${r.label}` : ""}] ${outcome}${note ? `: ${note}` : ""}`)
      }),
    log: (line) => Effect.sync(() => above(line)),
    close: Effect.sync(() => {
      if (drawn > 0) stream.write(`\x1b[${drawn}F\x1b[J`)
      drawn = 0
    })
  }
}
