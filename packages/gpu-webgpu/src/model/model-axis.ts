/**
 * A model axis for any prepared dispatch: the same kernel over K models
 * whose tensors sit at a fixed stride in the same buffers (a pack, pack.ts).
 * Workgroup z runs over models × the dispatch's own z (its split-K chunks),
 * and every storage array index is shifted by the model's base. Each model's
 * arithmetic is the dispatch's own, in the same order, so a model computes
 * in a pack the bits it computes alone; the kernels themselves stay written
 * for one model.
 */
import type { DeviceError } from "@memorize/core"
import { Effect } from "effect"
import { bindGroup, type Dispatch, pipeline, type Slice } from "../device/gpu.ts"

const STORAGE = /@group\(0\)\s*@binding\((\d+)\)\s*var<storage,\s*(read|read_write)>\s*(\w+)\s*:\s*array<\s*(f32|u32|i32|vec4<f32>)\s*>\s*;/g

/** Where binding `binding` reads instead: binding `host`, `shift` words on (a region of the host's buffer). */
export interface Alias {
  readonly host: number
  readonly shift: number
}

/** The bindings a kernel declares read_write. */
const writableBindings = (code: string): ReadonlySet<number> =>
  new Set([...code.matchAll(STORAGE)].filter((m) => m[2] === "read_write").map((m) => Number(m[1])))

/** The index of the bracket closing the one at `open`. */
const closing = (code: string, open: number, pair: "()" | "{}"): number => {
  let depth = 0
  for (let i = open; i < code.length; i++) {
    if (code[i] === pair[0]) depth++
    else if (code[i] === pair[1] && --depth === 0) return i
  }
  throw new Error(`unbalanced ${pair} in kernel`)
}

/**
 * The kernel's WGSL with a model axis on entry point `entry`: model m =
 * workgroup z / zPer, and storage binding b indexed from m · strides[b]
 * (4-byte words; bindings without a stride are shared by all models).
 * Bindings in `aliases` are dropped and read through their host binding
 * (two regions of one buffer, widened over the models, would overlap, which
 * WebGPU refuses for writable bindings).
 */
export const modelAxisCode = (
  code: string,
  entry: string,
  zPer: number,
  strides: ReadonlyMap<number, number>,
  aliases: ReadonlyMap<number, Alias> = new Map()
): string => {
  const declared = [...code.matchAll(STORAGE)].map((m) => ({
    binding: Number(m[1]),
    writable: m[2] === "read_write",
    name: m[3]!,
    vec4: m[4] === "vec4<f32>",
    text: m[0]
  }))
  const byBinding = new Map(declared.map((a) => [a.binding, a]))
  const arrays = declared.map((a) => {
    const alias = aliases.get(a.binding)
    if (alias === undefined) return { ...a, array: a.name, shift: 0 }
    const host = byBinding.get(alias.host)
    if (host === undefined || host.vec4 !== a.vec4) throw new Error(`binding ${a.binding} (${a.name}) cannot be read through binding ${alias.host}`)
    return { ...a, array: host.name, shift: alias.shift }
  })
  const head = new RegExp(`@workgroup_size\\(([^)]*)\\)\\s*fn\\s+${entry}\\s*\\(`).exec(code)
  if (head === null) throw new Error(`entry point ${entry} not found`)
  const size = head[1]!.split(",").map((s) => s.trim())
  // Model and chunk share workgroup z, which needs one invocation per workgroup along z.
  if (size.length === 3 && size[2] !== "1") throw new Error(`entry point ${entry} has a workgroup size ${size[2]} along z`)
  const open = head.index + head[0].length - 1
  const close = closing(code, open, "()")
  const params = code.slice(open + 1, close)
  const builtin = (kind: string) => new RegExp(`@builtin\\(${kind}\\)\\s*(\\w+)\\s*:`).exec(params)?.[1]
  const wg = builtin("workgroup_id")
  const gid = builtin("global_invocation_id")
  const nwg = builtin("num_workgroups")
  const bodyOpen = code.indexOf("{", close)
  const bodyClose = closing(code, bodyOpen, "{}")
  let body = code.slice(bodyOpen + 1, bodyClose)
  // The kernel's own z is its position within one model's slab of workgroups.
  for (const name of [wg, gid]) if (name !== undefined) body = body.replace(new RegExp(`\\b${name}\\.z\\b`, "g"), `(${name}.z % ${zPer}u)`)
  if (nwg !== undefined) body = body.replace(new RegExp(`\\b${nwg}\\.z\\b`, "g"), `${zPer}u`)
  const model = wg ?? "pack_wg"
  const bases = arrays.map((a) => {
    const words = strides.get(a.binding) ?? 0
    if (a.vec4 && words % 4 !== 0) throw new Error(`binding ${a.binding} (${a.name}): a vec4 array needs a stride that is a multiple of 4 words`)
    const unit = a.vec4 ? 4 : 1
    return `pack_${a.name} = ${a.shift / unit}u + pack_m * ${words / unit}u;`
  })
  const prologue = `\n  let pack_m = ${model}.z / ${zPer}u;\n  ${bases.join("\n  ")}`
  const extra = wg === undefined ? `${params.trim().length > 0 ? ", " : ""}@builtin(workgroup_id) pack_wg: vec3u` : ""
  let out = `${code.slice(0, close)}${extra}${code.slice(close, bodyOpen + 1)}${prologue}${body}${code.slice(bodyClose)}`
  // One pass over all names: an alias's rewrite names its host, which a later pass would shift again.
  const byName = new Map(arrays.map((a) => [a.name, a]))
  if (arrays.length > 0)
    out = out.replace(new RegExp(`\\b(${arrays.map((a) => a.name).join("|")})\\[`, "g"), (_, name: string) => `${byName.get(name)!.array}[pack_${name} + `)
  for (const a of arrays) {
    if (a.array === a.name) continue
    out = out.replace(a.text, "")
    // The host is written through when its alias is.
    const host = byName.get(a.array)!
    if (a.writable && !host.writable) out = out.replace(host.text, host.text.replace("var<storage, read>", "var<storage, read_write>"))
  }
  // Declared before the bindings, after any `enable` directive (which must come first).
  const privates = arrays.map((a) => `var<private> pack_${a.name}: u32;`).join("\n")
  const first = out.indexOf("@group(")
  return `${out.slice(0, first)}${privates}\n${out.slice(first)}`
}

/**
 * A prepared dispatch rebuilt over `models` models: each storage binding on a
 * buffer with a per-model stride (`stride`, in 4-byte words) widened to cover
 * every model, and workgroup z multiplied. Encode it with `forModels` to run
 * the first n models only.
 */
export const modelAxisDispatch = (
  device: GPUDevice,
  d: Dispatch,
  models: number,
  stride: (buffer: GPUBuffer) => number | undefined
): Effect.Effect<Dispatch, DeviceError> =>
  Effect.gen(function* () {
    const src = d.source
    if (src === undefined) return yield* Effect.die(new Error(`dispatch ${d.label} was built without its source`))
    const zPer = d.workgroups[2]
    const strides = new Map<number, number>()
    const aliases = new Map<number, Alias>()
    // Storage bindings on per-model buffers, by buffer. Widened over every model they overlap, which WebGPU allows
    // for read-only bindings only: where the kernel writes through one of them, all become one binding.
    const groups = new Map<GPUBuffer, Array<readonly [number, Slice]>>()
    for (const [b, r] of src.resources) {
      if (!("buffer" in r) || stride(r.buffer) === undefined) continue
      const g = groups.get(r.buffer) ?? []
      g.push([b, r])
      groups.set(r.buffer, g)
    }
    const writable = writableBindings(src.code)
    const hosts = new Map<number, Slice>()
    for (const [buffer, g] of groups) {
      const words = stride(buffer)!
      for (const [b] of g) strides.set(b, words)
      if (!g.some(([b]) => writable.has(b))) {
        for (const [b, r] of g) hosts.set(b, { ...r, size: r.size + (models - 1) * words * 4 })
        continue
      }
      const [hostBinding, first] = g.reduce((a, x) => (x[1].offset < a[1].offset ? x : a))
      const end = Math.max(...g.map(([, r]) => r.offset + r.size))
      hosts.set(hostBinding, { buffer, offset: first.offset, size: end - first.offset + (models - 1) * words * 4 })
      for (const [b, r] of g) if (b !== hostBinding) aliases.set(b, { host: hostBinding, shift: (r.offset - first.offset) / 4 })
    }
    const resources = src.resources.filter(([b]) => !aliases.has(b)).map(([b, r]): readonly [number, GPUBuffer | Slice] => [b, hosts.get(b) ?? r])
    const code = modelAxisCode(src.code, src.entry, zPer, strides, aliases)
    const pl = yield* pipeline(device, `${d.label}×models`, code, src.entry)
    return {
      label: d.label,
      pipeline: pl,
      bindGroup: bindGroup(device, pl, d.label, resources),
      workgroups: [d.workgroups[0], d.workgroups[1], zPer * models],
      zPerModel: zPer,
      ...(d.uniform ? { uniform: d.uniform } : {})
    } satisfies Dispatch
  })

/** The dispatches restricted to the first `n` models of their pack (dispatches without a model axis unchanged). */
export const forModels = (dispatches: ReadonlyArray<Dispatch>, n: number): ReadonlyArray<Dispatch> =>
  dispatches.map((d) => (d.zPerModel === undefined ? d : { ...d, workgroups: [d.workgroups[0], d.workgroups[1], d.zPerModel * n] }))
