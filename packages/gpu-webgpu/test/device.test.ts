/**
 * The device service: adapter facts for provenance, driver errors as typed
 * DeviceErrors (never a hang), and the per-adapter matmul tile cache.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { bindGroup, pipeline, readFloats, storageBuffer } from "../src/device/gpu.ts"
import { passTimes } from "../src/device/timestamps.ts"
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

  it.effect("GPU timestamps are not rounded (Dawn's timestamp_quantization is off) and time real work", () =>
    Effect.gen(function* () {
      const gpu = yield* WebGpu
      // Requested wherever offered; every adapter this project has met offers it (lavapipe, NVIDIA's Vulkan driver).
      expect(gpu.features.has("timestamp-query"), "the adapter lacks timestamp-query").toBe(true)
      const { device } = gpu
      const n = 1 << 16
      const x = storageBuffer(device, "x", n)
      const code =
        "@group(0) @binding(0) var<storage, read_write> X: array<f32>;\n@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { var s = X[g.x]; for (var i = 0u; i < 64u; i++) { s = s * 1.0001 + 0.5; } X[g.x] = s; }"
      const p = yield* pipeline(device, "spin", code, "main")
      const d = { label: "spin", pipeline: p, bindGroup: bindGroup(device, p, "spin", [[0, x]]), workgroups: [n / 64, 1, 1] as const }
      const times = yield* passTimes(device, [[d], [d, d], [d, d, d, d], [d], [d, d], [d, d, d]], 2)
      x.destroy()
      expect(times.every((t) => Number.isFinite(t) && t > 0)).toBe(true)
      // Rounded timestamps make every duration a multiple of 65,536 ns; six real ones are not all that.
      expect(times.some((t) => t % 65536 !== 0)).toBe(true)
      // Four dispatches take longer than one (1.9 vs 5.4 ms on lavapipe).
      expect(times[2]).toBeGreaterThan(times[0]!)
      // What it cannot time is a typed error, before any GPU work: an empty group, too many groups, no repetitions.
      for (const [groups, reps] of [
        [[[d], []], 1],
        [Array.from({ length: 2049 }, () => [d]), 1],
        [[[d]], 0]
      ] as const) {
        const exit = yield* Effect.exit(passTimes(device, groups, reps))
        expect(JSON.stringify(exit)).toMatch(/DeviceError[\s\S]*timing passes/)
      }
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
