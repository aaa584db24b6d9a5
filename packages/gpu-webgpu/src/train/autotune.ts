/**
 * Matmul tile autotune: times each candidate tile shape once per adapter
 * and caches the winner (JSON under the cache folder, keyed by adapter).
 * On CPU adapters (lavapipe) register tiles win by ~10×; on real GPUs
 * shared-memory tiles do — measured here rather than guessed.
 */
import type { DeviceError } from "@memorize/core"
import { Effect, Semaphore } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { type Dispatch, finish, run, storageBuffer } from "../device/gpu.ts"
import { adapterKey, isSoftwareAdapter, type WebGpuShape } from "../device/webgpu.ts"
import { geluForward } from "../kernels/gelu.ts"
import { matmul, type MatmulTile, registerTile, sharedTile, vec4Tile } from "../kernels/matmul.ts"

export const tileCandidates: ReadonlyArray<MatmulTile> = [
  vec4Tile,
  { kind: "vec4", tm: 4, tn: 4, wx: 16, wy: 16, bk: 0 },
  registerTile,
  { kind: "register", tm: 4, tn: 4, wx: 16, wy: 16, bk: 0 },
  { kind: "register", tm: 2, tn: 4, wx: 8, wy: 8, bk: 0 },
  sharedTile,
  { kind: "shared", tm: 4, tn: 4, wx: 8, wy: 8, bk: 16 },
  { kind: "shared", tm: 2, tn: 2, wx: 16, wy: 16, bk: 16 },
  { kind: "shared", tm: 1, tn: 1, wx: 16, wy: 16, bk: 16 }
]

export const tileName = (t: MatmulTile): string => `${t.kind} ${t.tm}x${t.tn} wg ${t.wx}x${t.wy}${t.kind === "shared" ? ` bk ${t.bk}` : ""}`

export interface MatmulShape {
  readonly M: number
  readonly N: number
  readonly K: number
  readonly transA: boolean
  readonly transB: boolean
}

/** Fastest of `reps` timed runs (ms) after one warm-up: the run least disturbed by other load. */
export const timeMatmulShape = (device: GPUDevice, tile: MatmulTile, s: MatmulShape, reps: number): Effect.Effect<number, DeviceError> =>
  Effect.gen(function* () {
    const mk = (n: number) => ({ buffer: storageBuffer(device, "bench", n), offset: 0, size: n * 4 })
    const a = mk(s.M * s.K),
      b = mk(s.K * s.N),
      c = mk(s.M * s.N)
    const d = yield* matmul(device, { ...s, a, b, c, rounding: "none", tile })
    run(device, [d])
    yield* finish(device)
    let best = Infinity
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now()
      run(device, [d])
      yield* finish(device)
      best = Math.min(best, performance.now() - t0)
    }
    ;[a, b, c].forEach((x) => x.buffer.destroy())
    return best
  })

/** GFLOP/s of an n×n×n matmul with this tile. */
export const timeMatmul = (device: GPUDevice, tile: MatmulTile, n: number, reps: number): Effect.Effect<number, DeviceError> =>
  Effect.map(timeMatmulShape(device, tile, { M: n, N: n, K: n, transA: false, transB: false }, reps), (ms) => (2 * n ** 3) / (ms / 1000) / 1e9)

/**
 * What the tiles are ranked on: the model's matmul shapes, not only square
 * ones — activations × weights (rows ≫ K), the tied head (N = vocabulary,
 * B transposed) and weight gradients (K = rows, A transposed). Small
 * shapes for slow (CPU) adapters, large ones where the small set runs in
 * microseconds and would measure launch overhead.
 */
export const tuneShapes = (large: boolean): ReadonlyArray<MatmulShape> =>
  large
    ? [
        { M: 8192, N: 2048, K: 128, transA: false, transB: true },
        { M: 512, N: 128, K: 8192, transA: true, transB: false },
        { M: 8192, N: 512, K: 128, transA: false, transB: false },
        { M: 1024, N: 1024, K: 1024, transA: false, transB: false }
      ]
    : [
        { M: 1024, N: 256, K: 32, transA: false, transB: true },
        { M: 128, N: 32, K: 1024, transA: true, transB: false },
        { M: 1024, N: 128, K: 32, transA: false, transB: false },
        { M: 256, N: 256, K: 256, transA: false, transB: false }
      ]

const isCpu = (g: WebGpuShape) => isSoftwareAdapter(g.adapterInfo)

/** What autotune picks for an adapter. */
export interface KernelChoice {
  readonly tile: MatmulTile
  /** Whether bias+GELU in the matmul epilogue beat matmul followed by a GELU pass. */
  readonly fuseGelu: boolean
}

interface CacheEntry {
  readonly tile: MatmulTile
  readonly gflops: { readonly [name: string]: number }
  readonly fuseGelu?: boolean
  readonly geluMs?: { readonly fused: number; readonly split: number }
}
interface CacheFile {
  readonly [adapter: string]: CacheEntry
}

/**
 * Fused bias+GELU epilogue vs the same matmul then a GELU pass, on the fc
 * layer's shape ([rows, d]·[d, 4d]); fastest of `reps` runs each, in ms.
 */
export const timeGeluFusion = (device: GPUDevice, tile: MatmulTile, large: boolean, reps = 5): Effect.Effect<{ fused: number; split: number }, DeviceError> =>
  Effect.gen(function* () {
    const [M, N, K] = large ? [16384, 1024, 256] : [4096, 256, 64]
    const mk = (n: number) => ({ buffer: storageBuffer(device, "bench", n), offset: 0, size: n * 4 })
    const a = mk(M * K),
      b = mk(K * N),
      bias = mk(N),
      pre = mk(M * N),
      out = mk(M * N)
    const base = { M, N, K, transA: false, transB: false, a, b, bias, rounding: "none" as const, tile }
    const fused = [yield* matmul(device, { ...base, c: out, gelu: { pre } })]
    const split = [yield* matmul(device, { ...base, c: pre }), yield* geluForward(device, { n: M * N, x: pre, y: out })]
    const time = (ds: ReadonlyArray<Dispatch>) =>
      Effect.gen(function* () {
        run(device, ds)
        yield* finish(device)
        let best = Infinity
        for (let i = 0; i < reps; i++) {
          const t0 = performance.now()
          run(device, ds)
          yield* finish(device)
          best = Math.min(best, performance.now() - t0)
        }
        return best
      })
    const result = { fused: yield* time(fused), split: yield* time(split) }
    ;[a, b, bias, pre, out].forEach((x) => x.buffer.destroy())
    return result
  })

const readCache = (file: string): CacheFile => {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as CacheFile
  } catch {
    return {}
  }
}

/** Times every candidate on the tuning shapes; returns them fastest first, with their GFLOP/s over the whole set. */
export const autotune = (
  gpu: WebGpuShape,
  candidates: ReadonlyArray<MatmulTile> = tileCandidates
): Effect.Effect<ReadonlyArray<readonly [MatmulTile, number]>, DeviceError> =>
  Effect.gen(function* () {
    const rank = (shapes: ReadonlyArray<MatmulShape>, reps: number) =>
      Effect.gen(function* () {
        const flops = shapes.reduce((a, s) => a + 2 * s.M * s.N * s.K, 0)
        const out: Array<readonly [MatmulTile, number]> = []
        for (const t of candidates) {
          let ms = 0
          for (const s of shapes) ms += yield* timeMatmulShape(gpu.device, t, s, reps)
          out.push([t, flops / (ms / 1000) / 1e9])
        }
        return out.sort((a, b) => b[1] - a[1])
      })
    const small = yield* rank(tuneShapes(false), 2)
    // Above ~50 GFLOP/s the small set takes microseconds: rank again on the large one.
    return small[0][1] > 50 ? yield* rank(tuneShapes(true), 5) : small
  })

/**
 * The kernels to use on this adapter: the cached autotune result, else a
 * fresh autotune (written to `<cacheDir>/webgpu-matmul-tiles.json`; a cache
 * that cannot be written only costs a re-tune), or the heuristic when
 * disabled (register tiles on CPU adapters, shared-memory tiles elsewhere).
 */
export const pickKernels = (
  gpu: WebGpuShape,
  cacheDir: string,
  enabled: boolean,
  candidates: ReadonlyArray<MatmulTile> = tileCandidates
): Effect.Effect<KernelChoice, DeviceError> =>
  // One at a time per device: the runs of a pack ask at once, and tuning side by side would time each other's kernels
  // (and could pick different tiles); the first tunes, the rest then find its cache.
  Semaphore.withPermit(tuningLock(gpu.device))(pickKernelsNow(gpu, cacheDir, enabled, candidates))

const tuningLocks = new WeakMap<GPUDevice, Semaphore.Semaphore>()
const tuningLock = (device: GPUDevice): Semaphore.Semaphore => {
  let lock = tuningLocks.get(device)
  if (lock === undefined) tuningLocks.set(device, (lock = Semaphore.makeUnsafe(1)))
  return lock
}

const pickKernelsNow = (
  gpu: WebGpuShape,
  cacheDir: string,
  enabled: boolean,
  candidates: ReadonlyArray<MatmulTile>
): Effect.Effect<KernelChoice, DeviceError> =>
  Effect.gen(function* () {
    if (!enabled) return { tile: isCpu(gpu) ? registerTile : sharedTile, fuseGelu: true }
    const file = path.join(cacheDir, "webgpu-matmul-tiles.json")
    const key = adapterKey(gpu.adapterInfo)
    const cached = readCache(file)[key]
    if (cached !== undefined) return { tile: cached.tile, fuseGelu: cached.fuseGelu ?? true }
    const ranked = yield* autotune(gpu, candidates)
    const tile = ranked[0][0]
    const geluMs = yield* timeGeluFusion(gpu.device, tile, ranked[0][1] > 50)
    const round = (x: number) => Math.round(x * 1000) / 1000
    const entry: CacheEntry = {
      tile,
      gflops: Object.fromEntries(ranked.map(([t, g]) => [tileName(t), Math.round(g * 100) / 100])),
      fuseGelu: geluMs.fused <= geluMs.split,
      geluMs: { fused: round(geluMs.fused), split: round(geluMs.split) }
    }
    try {
      fs.mkdirSync(cacheDir, { recursive: true })
      const tmp = `${file}.${process.pid}.tmp`
      fs.writeFileSync(tmp, JSON.stringify({ ...readCache(file), [key]: entry }, null, 2))
      fs.renameSync(tmp, file)
    } catch {
      // Best effort: an unwritable cache only means tuning again next time.
    }
    return { tile, fuseGelu: entry.fuseGelu ?? true }
  })

/** Just the tile of pickKernels. */
export const pickTile = (
  gpu: WebGpuShape,
  cacheDir: string,
  enabled: boolean,
  candidates: ReadonlyArray<MatmulTile> = tileCandidates
): Effect.Effect<MatmulTile, DeviceError> => Effect.map(pickKernels(gpu, cacheDir, enabled, candidates), (k) => k.tile)
