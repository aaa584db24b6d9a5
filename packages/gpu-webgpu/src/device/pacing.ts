/**
 * Sleep, do not spin, while the GPU works.
 *
 * Dawn's Node binding keeps polling the device (setImmediate → ProcessEvents)
 * for as long as a promise it handed out (mapAsync, onSubmittedWorkDone) is
 * pending, so a JS thread that waits on the GPU burns a whole core. On a
 * software adapter (lavapipe) that core is one the "GPU" itself needs. So a
 * wait first sleeps on a timer (the event loop idles in the kernel) for most
 * of the time the work submitted since the last wait is predicted to take,
 * and only then asks Dawn for its promise.
 *
 * Predictions are per device and per kind of work (a key the submitter names,
 * e.g. "train 64×64": dispatch costs differ between kinds, a kind repeats one
 * mix): milliseconds per dispatch, learned from waits that covered one kind
 * only. A wait that resolves at once after its sleep probably slept too long:
 * the rate shrinks by `SHRINK`; otherwise it moves halfway to what the wait
 * measured (first submit → work done). Work submitted without a key (timed
 * autotuning, one-off uploads) is never predicted: a wait over it sleeps only
 * until the end an earlier wait predicted for the work queued before it.
 */
import { Effect } from "effect"

/** Share of the predicted time slept before polling starts. */
const SHARE = 0.8
/** Sleeps shorter than this are not worth a timer (Node's timers have ~1 ms resolution). */
const MIN_SLEEP_MS = 2
/** A wait answered within this after the sleep found the work already done. */
const AT_ONCE_MS = 1
const SHRINK = 0.7

interface Pace {
  /** Dispatches submitted since the last completed wait, by kind. */
  readonly pending: Map<string, number>
  /** Whether unnamed work was submitted since the last wait (no prediction then). */
  unnamed: boolean
  /** When the first pending dispatch was submitted (performance.now()). */
  since: number
  /** Learned milliseconds per dispatch, by kind. */
  readonly rates: Map<string, number>
  /**
   * Until when (performance.now()) the work a wait slept for is predicted to
   * run. Waits that start meanwhile sleep until then too: their work is
   * queued behind it. (Several fibers may wait at once, e.g. the models of a
   * pack reading their losses; only the first finds the work pending, and
   * without this the others would poll, spinning a core, all the while.)
   */
  until: number
}

const paces = new WeakMap<GPUDevice, Pace>()
let enabled = true

/** Turns pacing off (the bench's A/B: Dawn's spinning wait) or back on. */
export const setPacing = (on: boolean): void => {
  enabled = on
}

const paceOf = (device: GPUDevice): Pace => {
  let p = paces.get(device)
  if (p === undefined) paces.set(device, (p = { pending: new Map(), unnamed: false, since: 0, rates: new Map(), until: 0 }))
  return p
}

/** Records that `dispatches` dispatches of kind `kind` (undefined: not to be predicted) were just submitted. */
export const noteSubmitted = (device: GPUDevice, dispatches: number, kind?: string): void => {
  const p = paceOf(device)
  if (p.pending.size === 0 && !p.unnamed) p.since = performance.now()
  if (kind === undefined) p.unnamed = true
  else p.pending.set(kind, (p.pending.get(kind) ?? 0) + dispatches)
}

/** Predicted ms of the pending work, or undefined when some of it has no learned rate. */
const predictedMs = (p: Pace): number | undefined => {
  if (p.unnamed) return undefined
  let ms = 0
  for (const [kind, n] of p.pending) {
    const rate = p.rates.get(kind)
    if (rate === undefined) return undefined
    ms += n * rate
  }
  return ms
}

// A plain timer, not Effect.sleep: waits must not depend on the fiber's Clock
// (a TestClock would never fire), only on real time.
const sleepMs = (ms: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

/** Runs a GPU wait after sleeping through most of the pending work's predicted time; learns from it. */
export const paced = <A, E>(device: GPUDevice, wait: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.suspend(() => {
    const p = paceOf(device)
    const predicted = enabled ? predictedMs(p) : undefined
    const kinds = [...p.pending]
    const only = kinds.length === 1 && !p.unnamed ? kinds[0] : undefined
    const since = p.since
    // Work submitted while this wait sleeps is covered by it too: the queue runs in order.
    p.pending.clear()
    p.unnamed = false
    const own = predicted === undefined ? -Infinity : since + SHARE * predicted
    p.until = Math.max(p.until, own)
    const ahead = enabled ? p.until - performance.now() : 0
    // Whether it slept for its own prediction (only then does an answer at once say that prediction was long).
    const slept = ahead >= MIN_SLEEP_MS && own >= p.until
    let asked = 0
    return Effect.andThen(
      ahead >= MIN_SLEEP_MS ? sleepMs(ahead) : Effect.void,
      Effect.suspend(() => {
        asked = performance.now()
        return wait
      })
    ).pipe(
      Effect.tap(() =>
        Effect.sync(() => {
          if (only === undefined) return
          const [kind, n] = only
          const now = performance.now()
          const rate = p.rates.get(kind)
          if (rate !== undefined && slept && now - asked < AT_ONCE_MS) p.rates.set(kind, rate * SHRINK)
          else {
            const measured = (now - since) / n
            p.rates.set(kind, rate === undefined ? measured : 0.5 * (rate + measured))
          }
        })
      )
    )
  })

/** The learned rate of a kind of work (for tests and benches): ms per dispatch, undefined before a wait measured it. */
export const rateOf = (device: GPUDevice, kind: string): number | undefined => paces.get(device)?.rates.get(kind)
