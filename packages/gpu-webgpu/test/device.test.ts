/**
 * The device service: adapter facts for provenance, driver errors as typed
 * DeviceErrors (never a hang), and the per-adapter matmul tile cache.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pipeline, readFloats, storageBuffer } from "../src/device/gpu.ts"
import { adapterKey, adapterProvenance, WebGpu } from "../src/device/webgpu.ts"
import { registerTile, sharedTile, vec4Tile } from "../src/kernels/matmul.ts"
import { pickTile, tileCandidates } from "../src/train/autotune.ts"

layer(WebGpu.layer)("WebGpu device service", (it) => {
  it.effect("records adapter vendor, architecture, description, features and limits", () =>
    Effect.gen(function* () {
      const gpu = yield* WebGpu
      const p = adapterProvenance(gpu)
      expect(typeof p.vendor).toBe("string")
      expect(p.vendor.length + p.description.length).toBeGreaterThan(0)
      expect(p.limits.maxStorageBufferBindingSize).toBeGreaterThan(0)
      expect(p.features).toEqual([...p.features].sort())
      // Optional features are requested when the adapter has them.
      expect(p.features.every((f) => gpu.features.has(f))).toBe(true)
      expect(JSON.parse(JSON.stringify(p))).toEqual(p)
    })
  )

  it.effect("a kernel that does not compile is a DeviceError with the compiler's message", () =>
    Effect.gen(function* () {
      const { device } = yield* WebGpu
      const exit = yield* Effect.exit(pipeline(device, "broken", "@compute @workgroup_size(1) fn main() { let x: f32 = undefined_thing; }", "main"))
      expect(Exit.isFailure(exit)).toBe(true)
      const text = JSON.stringify(exit)
      expect(text).toMatch(/DeviceError/)
      expect(text).toMatch(/broken/)
      expect(text).toMatch(/undefined_thing/)
    })
  )

  it.effect("a lost device fails reads with a DeviceError instead of hanging", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { device } = yield* WebGpu
        const buf = storageBuffer(device, "x", 16)
        device.destroy()
        const exit = yield* Effect.exit(readFloats(device, buf, 4).pipe(Effect.timeout("10 seconds")))
        expect(Exit.isFailure(exit)).toBe(true)
        expect(JSON.stringify(exit)).toMatch(/DeviceError/)
      }).pipe(Effect.provide(Layer.fresh(WebGpu.layer)))
    )
  )

  it.effect("matmul tile: autotuned once per adapter, then read from the cache", () =>
    Effect.gen(function* () {
      const gpu = yield* WebGpu
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memorize-tiles-"))
      const file = path.join(dir, "webgpu-matmul-tiles.json")
      // Two candidates keep the test short on a CPU adapter (the full set is timed in production).
      const candidates = [registerTile, vec4Tile]
      const tile = yield* pickTile(gpu, dir, true, candidates)
      expect(candidates).toContainEqual(tile)
      const cache = JSON.parse(fs.readFileSync(file, "utf8"))
      const entry = cache[adapterKey(gpu.adapterInfo)]
      expect(entry.tile).toEqual(tile)
      expect(Object.keys(entry.gflops).length).toBe(candidates.length)
      expect(Object.values(entry.gflops).every((g) => typeof g === "number" && g > 0)).toBe(true)
      // The bias+GELU fusion is measured too, and the faster variant chosen.
      expect(entry.fuseGelu).toBe(entry.geluMs.fused <= entry.geluMs.split)
      // A cached choice is used as is (no re-tune): plant another tile and read it back.
      const planted = sharedTile
      fs.writeFileSync(file, JSON.stringify({ [adapterKey(gpu.adapterInfo)]: { tile: planted, gflops: {} } }))
      expect(yield* pickTile(gpu, dir, true, candidates)).toEqual(planted)
      expect(tileCandidates).toContainEqual(planted)
    })
  )
})
