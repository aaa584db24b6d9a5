/**
 * The coder's quantization (`BatchBackend.quantize`) for a backend whose
 * logits come back to the host anyway (WebGPU's incremental pass reads each
 * step's logits): the CPU addon's native loops (native/quantize.cc, bit for
 * bit core's quantize.ts) where the addon is built, else none, and the coder
 * runs the TypeScript definition (the same frequencies, slower).
 *
 * Threads: every core, since the GPU idles while the coder quantizes a step;
 * but one on a software adapter, whose own worker threads share those cores:
 * on lavapipe (2 loaded cores) two OpenMP threads took 6× as long as one.
 */
import { Effect, Option } from "effect"
import { nativeAddon } from "../cpu/native.ts"
import type { BatchBackend } from "./evaluation.ts"

export const hostQuantize = (softwareAdapter: boolean): Effect.Effect<BatchBackend["quantize"]> =>
  Effect.map(Effect.option(nativeAddon), (addon) =>
    Option.match(addon, {
      onNone: () => undefined,
      onSome: (native) => {
        const threads = softwareAdapter ? 1 : native.info().cores
        return (logits: Float32Array, rows: number, vocab: number, freqBits: number, cum: Int32Array, stats: Float64Array) =>
          native.quantize(logits, rows, vocab, freqBits, cum, stats, threads)
      }
    })
  )
