/**
 * The native CPU addon (native/: kernels over OpenBLAS and OpenMP, built by
 * scripts/setup.sh with node-gyp). Loaded once per process; a missing or
 * broken build is a typed error saying how to build it.
 */
import { ModelError } from "@memorize/core"
import { Effect } from "effect"
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"

export interface NativeAddon {
  /** Runs a program (program.ts) over the arenas on this thread. */
  readonly run: (arenas: ReadonlyArray<Float32Array>, program: Float64Array, threads: number) => void
  /** The same on libuv's thread pool; the arenas must not be touched until it settles. */
  readonly runAsync: (arenas: ReadonlyArray<Float32Array>, program: Float64Array, threads: number) => Promise<void>
  /** Cores, the BLAS build, and per-opcode milliseconds (index = opcode; zeros unless MEMORIZE_CPU_PROFILE was set when the addon loaded). */
  readonly info: () => { readonly cores: number; readonly blas: string; readonly blasThreads: number; readonly profileMs: ReadonlyArray<number> }
  /** Scratch floats of the fused LM head. */
  readonly headWork: (V: number, d: number, train: boolean) => number
  /** The coder's frequencies (native/quantize.h, bit for bit core's quantize.ts): −1, or the first row the definition refuses. */
  readonly quantize: (logits: Float32Array, rows: number, V: number, P: number, cum: Int32Array, stats: Float64Array, threads: number) => number
}

export const addonPath = fileURLToPath(new URL("../../native/build/Release/memorize_cpu.node", import.meta.url))

let loaded: NativeAddon | undefined

export const nativeAddon: Effect.Effect<NativeAddon, ModelError> = Effect.suspend(() => {
  if (loaded !== undefined) return Effect.succeed(loaded)
  if (!existsSync(addonPath))
    return Effect.fail(
      new ModelError({
        message: `the CPU trainer's native addon is not built (${addonPath}): run scripts/setup.sh (it installs g++ and libopenblas-dev from Debian and builds it), or choose train.kind: webgpu`,
        file: addonPath
      })
    )
  return Effect.try({
    try: () => {
      loaded = createRequire(import.meta.url)(addonPath) as NativeAddon
      return loaded
    },
    catch: (e) =>
      new ModelError({
        message: `cannot load the CPU trainer's native addon: ${e instanceof Error ? e.message : String(e)} (rebuild with scripts/setup.sh)`,
        file: addonPath
      })
  })
})
