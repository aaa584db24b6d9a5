/**
 * Matmul tile autotune: times each candidate tile shape once per adapter
 * and caches the winner (JSON under the cache folder, keyed by adapter).
 * On CPU adapters (lavapipe) register tiles win by ~10×; on real GPUs
 * shared-memory tiles do — measured here rather than guessed.
 */
import type { DeviceError } from "@memorize/core"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { finish, run, storageBuffer } from "../device/gpu.ts"
import { adapterKey, type WebGpuShape } from "../device/webgpu.ts"
import { matmul, type MatmulTile, registerTile, sharedTile, vec4Tile } from "../kernels/matmul.ts"

export const tileCandidates: ReadonlyArray<MatmulTile> = [
  vec4Tile,
  { kind: "vec4", tm: 4, tn: 4, wx: 16, wy: 16, bk: 0 },
  registerTile,
  { kind: "register", tm: 4, tn: 4, wx: 16, wy: 16, bk: 0 },
  { kind: "register", tm: 2, tn: 4, wx: 8, wy: 8, bk: 0 },
  { kind: "register", tm: 1, tn: 1, wx: 16, wy: 16, bk: 0 },
  sharedTile,
  { kind: "shared", tm: 4, tn: 4, wx: 8, wy: 8, bk: 16 },
  { kind: "shared", tm: 2, tn: 2, wx: 16, wy: 16, bk: 16 },
  { kind: "shared", tm: 1, tn: 1, wx: 16, wy: 16, bk: 16 }
]

export const tileName = (t: MatmulTile): string => `${t.kind} ${t.tm}x${t.tn} wg ${t.wx}x${t.wy}${t.kind === "shared" ? ` bk ${t.bk}` : ""}`

/** GFLOP/s of an n×n×n matmul with this tile (median of `reps` timed runs after one warm-up). */
export const timeMatmul = (device: GPUDevice, tile: MatmulTile, n: number, reps: number): Effect.Effect<number, DeviceError> =>
  Effect.gen(function* () {
    const bufs = [storageBuffer(device, "a", n * n), storageBuffer(device, "b", n * n), storageBuffer(device, "c", n * n)]
    const sl = (b: GPUBuffer) => ({ buffer: b, offset: 0, size: n * n * 4 })
    const d = yield* matmul(device, { M: n, N: n, K: n, transA: false, transB: false, a: sl(bufs[0]), b: sl(bufs[1]), c: sl(bufs[2]), rounding: "none", tile })
    run(device, [d])
    yield* finish(device)
    const times: Array<number> = []
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now()
      run(device, [d])
      yield* finish(device)
      times.push(performance.now() - t0)
    }
    bufs.forEach((b) => b.destroy())
    times.sort((a, b) => a - b)
    return (2 * n ** 3) / (times[Math.floor(times.length / 2)] / 1000) / 1e9
  })

const isCpu = (g: WebGpuShape) => /mesa|llvmpipe|lavapipe|swiftshader|software/i.test(`${g.adapterInfo.vendor} ${g.adapterInfo.architecture} ${g.adapterInfo.description}`)

interface CacheFile {
  readonly [adapter: string]: { readonly tile: MatmulTile; readonly gflops: { readonly [name: string]: number } }
}

const readCache = (file: string): CacheFile => {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as CacheFile
  } catch {
    return {}
  }
}

/** Times every candidate and returns them fastest first. */
export const autotune = (gpu: WebGpuShape, n = 256): Effect.Effect<ReadonlyArray<readonly [MatmulTile, number]>, DeviceError> =>
  Effect.gen(function* () {
    const out: Array<readonly [MatmulTile, number]> = []
    for (const t of tileCandidates) out.push([t, yield* timeMatmul(gpu.device, t, n, 3)])
    return out.sort((a, b) => b[1] - a[1])
  })

/**
 * The tile to use on this adapter: the cached autotune result, else a fresh
 * autotune (written to `<cacheDir>/webgpu-matmul-tiles.json`; a cache that
 * cannot be written only costs a re-tune), or the heuristic when disabled.
 */
export const pickTile = (gpu: WebGpuShape, cacheDir: string, enabled: boolean): Effect.Effect<MatmulTile, DeviceError> =>
  Effect.gen(function* () {
    if (!enabled) return isCpu(gpu) ? registerTile : sharedTile
    const file = path.join(cacheDir, "webgpu-matmul-tiles.json")
    const key = adapterKey(gpu.adapterInfo)
    const cached = readCache(file)[key]
    if (cached !== undefined) return cached.tile
    const ranked = yield* autotune(gpu)
    const entry = { tile: ranked[0][0], gflops: Object.fromEntries(ranked.map(([t, g]) => [tileName(t), Math.round(g * 100) / 100])) }
    try {
      fs.mkdirSync(cacheDir, { recursive: true })
      const tmp = `${file}.${process.pid}.tmp`
      fs.writeFileSync(tmp, JSON.stringify({ ...readCache(file), [key]: entry }, null, 2))
      fs.renameSync(tmp, file)
    } catch {
      // Best effort: an unwritable cache only means tuning again next time.
    }
    return entry.tile
  })
