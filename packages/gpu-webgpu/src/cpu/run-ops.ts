/**
 * Runs schedule ops on named host arrays through the native addon: one arena
 * holding copies of the given tensors, the ops encoded against it, the
 * arrays copied back. For kernel tests and kernel benchmarks; models use
 * cpu-model.ts, which keeps its tensors in place.
 */
import type { OperandRounding } from "../kernels/common.ts"
import type { NativeAddon } from "./native.ts"
import { place, programBuilder } from "./program.ts"

export type HostArrays = Record<string, Float32Array | Uint32Array>

/** The whole of a named tensor, as a schedule Ref. */
export const whole = (tensors: HostArrays, name: string) => ({ tensor: name, offset: 0, size: tensors[name].length })

export const runOps = (
  native: NativeAddon,
  tensors: HostArrays,
  build: (p: ReturnType<typeof programBuilder>) => void,
  options: { readonly rounding?: OperandRounding; readonly threads?: number; readonly matmulScratch?: number; readonly headWork?: number } = {}
): HostArrays => {
  const entries: Array<readonly [string, number]> = Object.entries(tensors).map(([n, a]) => [n, a.length] as const)
  entries.push(["matmulScratch", options.matmulScratch ?? 0], ["headWork", options.headWork ?? 0])
  const { placements, total } = place(0, entries)
  const arena = new Float32Array(total)
  const words = new Uint32Array(arena.buffer)
  for (const [name, a] of Object.entries(tensors)) {
    const at = placements.get(name)!.offset
    if (a instanceof Uint32Array) words.set(a, at)
    else arena.set(a, at)
  }
  const p = programBuilder({ placements, arenaSizes: [total], rounding: options.rounding ?? "none", matmulScratch: "matmulScratch", headWork: "headWork" })
  build(p)
  native.run([arena], p.build(), options.threads ?? 1)
  const out: HostArrays = {}
  for (const [name, a] of Object.entries(tensors)) {
    const at = placements.get(name)!.offset
    out[name] = a instanceof Uint32Array ? words.slice(at, at + a.length) : arena.slice(at, at + a.length)
  }
  return out
}
