/**
 * GPU time of groups of dispatches from timestamp queries (the adapter's
 * `timestamp-query` feature, which device/webgpu.ts requests where offered):
 * each group in a compute pass of its own with timestamps at its start and
 * end, all groups in one submit, the fastest of `reps` submits per group.
 * Dawn rounds timestamps to 65.5 µs unless its `timestamp_quantization` is
 * off, which device/webgpu.ts turns off, so kernels of a few µs can be timed.
 */
import { DeviceError } from "@memorize/core"
import { Effect } from "effect"
import { type Dispatch, encodeDispatches } from "./gpu.ts"
import { awaitGpu } from "./webgpu.ts"

const QUERY_RESOLVE = 0x200
const COPY_SRC = 0x4
const COPY_DST = 0x8
const MAP_READ = 0x1
/** WebGPU's most queries in one query set: two per group. */
const MAX_QUERIES = 4096

/** Nanoseconds of each group (at least one dispatch each, at most 2,048 groups), fastest of `reps`. */
export const passTimes = (device: GPUDevice, groups: ReadonlyArray<ReadonlyArray<Dispatch>>, reps: number): Effect.Effect<Array<number>, DeviceError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const n = groups.length
      // Refused here, as typed errors: Dawn would throw a TypeError (no feature) or raise an uncaptured validation
      // error that poisons the device (too many queries), and an empty pass writes no timestamps (it would read 0).
      const problem = !device.features.has("timestamp-query")
        ? "this device has no timestamp-query feature"
        : 2 * n > MAX_QUERIES
          ? `${n} groups need ${2 * n} timestamp queries, more than ${MAX_QUERIES}`
          : groups.some((g) => g.length === 0)
            ? "a group without dispatches has no pass to time"
            : !(Number.isInteger(reps) && reps >= 1)
              ? `repetitions must be a positive integer, not ${reps}`
              : undefined
      if (problem !== undefined) return yield* Effect.fail(new DeviceError({ message: `timing passes: ${problem}` }))
      const querySet = yield* Effect.acquireRelease(
        Effect.sync(() => device.createQuerySet({ type: "timestamp", count: 2 * n })),
        (q) => Effect.sync(() => q.destroy())
      )
      const buffer = (usage: number) =>
        Effect.acquireRelease(
          Effect.sync(() => device.createBuffer({ size: 16 * n, usage })),
          (b) => Effect.sync(() => b.destroy())
        )
      const resolved = yield* buffer(QUERY_RESOLVE | COPY_SRC)
      const staging = yield* buffer(MAP_READ | COPY_DST)
      const best = new Array<number>(n).fill(Number.POSITIVE_INFINITY)
      for (let r = 0; r < reps; r++) {
        const enc = device.createCommandEncoder()
        groups.forEach((g, i) => {
          encodeDispatches(enc, g, { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 })
        })
        enc.resolveQuerySet(querySet, 0, 2 * n, resolved, 0)
        enc.copyBufferToBuffer(resolved, 0, staging, 0, 16 * n)
        device.queue.submit([enc.finish()])
        yield* awaitGpu(device, "reading GPU timestamps", () => staging.mapAsync(MAP_READ))
        const t = new BigUint64Array(staging.getMappedRange())
        // Timestamps may go backwards (WebGPU allows it): such a pair reads 0, not a negative time.
        for (let i = 0; i < n; i++) best[i] = Math.min(best[i]!, Math.max(0, Number(t[2 * i + 1]! - t[2 * i]!)))
        staging.unmap()
      }
      return best
    })
  )
