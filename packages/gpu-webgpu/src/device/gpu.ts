/**
 * Small helpers over a GPUDevice: buffers, cached compute pipelines, bind
 * groups, dispatch lists and read-back. Kernel wrappers build `Dispatch`es
 * once per shape (pipelines, uniforms and bind groups cached) so that a
 * training step only encodes a prepared list.
 */
import type { DeviceError } from "@memorize/core"
import { Effect } from "effect"
import { awaitGpu, withValidation } from "./webgpu.ts"
import { noteSubmitted, paced } from "./pacing.ts"

/** A range of a storage buffer (what a binding sees). */
export interface Slice {
  readonly buffer: GPUBuffer
  readonly offset: number
  readonly size: number
}

export const whole = (buffer: GPUBuffer): Slice => ({ buffer, offset: 0, size: buffer.size })

/**
 * A binding of `s` that may start at any 4-byte offset: the slice widened
 * back to the device's binding-offset alignment (usually 256 bytes), and
 * `shift`, how many floats into that binding `s` starts. For kernels that
 * read a region at an arbitrary offset (one row of a table).
 */
export const alignedBinding = (device: GPUDevice, s: Slice): { readonly slice: Slice; readonly shift: number } => {
  const align = device.limits.minStorageBufferOffsetAlignment
  const start = Math.floor(s.offset / align) * align
  return { slice: { buffer: s.buffer, offset: start, size: s.size + s.offset - start }, shift: (s.offset - start) / 4 }
}

export interface Dispatch {
  readonly label: string
  readonly pipeline: GPUComputePipeline
  readonly bindGroup: GPUBindGroup
  readonly workgroups: readonly [number, number, number]
  /** The dispatch's own uniform buffer, for kernels whose parameters change between submits. */
  readonly uniform?: GPUBuffer
  /** What it was built from, so that model/model-axis.ts can rebuild it over a pack of models. */
  readonly source?: DispatchSource
  /** Over a pack (model-axis.ts): workgroups along z of one model; z runs over the models. */
  readonly zPerModel?: number
}

/** A dispatch's WGSL, entry point and bindings (binding number → uniform buffer or storage slice). */
export interface DispatchSource {
  readonly code: string
  readonly entry: string
  readonly resources: ReadonlyArray<readonly [number, GPUBuffer | Slice]>
}

export const STORAGE = 0x80 | 0x4 | 0x8 // STORAGE | COPY_SRC | COPY_DST

/** Storage buffer of `floats` 4-byte elements (at least 4 bytes), zero-filled. */
export const storageBuffer = (device: GPUDevice, label: string, elements: number): GPUBuffer =>
  device.createBuffer({ label, size: Math.max(16, Math.ceil((elements * 4) / 16) * 16), usage: STORAGE })

/** Storage buffer holding `data`. */
export const uploadBuffer = (device: GPUDevice, label: string, data: Float32Array | Uint32Array): GPUBuffer => {
  const buf = storageBuffer(device, label, data.length)
  device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength)
  return buf
}

/** A uniform buffer with fixed contents (u32/f32 words, 16-byte padded). */
export const uniformBuffer = (device: GPUDevice, label: string, words: ReadonlyArray<{ u: number } | { f: number }>): GPUBuffer => {
  const n = Math.max(4, Math.ceil(words.length / 4) * 4)
  const buf = device.createBuffer({ label, size: n * 4, usage: 0x40 | 0x8, mappedAtCreation: true }) // UNIFORM | COPY_DST
  const ab = buf.getMappedRange()
  const u = new Uint32Array(ab)
  const f = new Float32Array(ab)
  words.forEach((w, i) => {
    if ("u" in w) u[i] = w.u >>> 0
    else f[i] = w.f
  })
  buf.unmap()
  return buf
}

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>()

/** A compute pipeline for (code, entry point), compiled once per device. */
export const pipeline = (device: GPUDevice, label: string, code: string, entryPoint: string): Effect.Effect<GPUComputePipeline, DeviceError> =>
  Effect.suspend(() => {
    let cache = pipelines.get(device)
    if (cache === undefined) pipelines.set(device, (cache = new Map()))
    const key = `${entryPoint}\n${code}`
    const hit = cache.get(key)
    if (hit !== undefined) return Effect.succeed(hit)
    return withValidation(device, `compiling kernel ${label}:${entryPoint}`, () =>
      device.createComputePipeline({
        label: `${label}:${entryPoint}`,
        layout: "auto",
        compute: { module: device.createShaderModule({ label, code }), entryPoint }
      })
    ).pipe(Effect.tap((p) => Effect.sync(() => cache.set(key, p))))
  })

/** Bind group for group 0: `resources[i]` goes to binding i (uniform or storage slice). */
export const bindGroup = (
  device: GPUDevice,
  p: GPUComputePipeline,
  label: string,
  resources: ReadonlyArray<readonly [number, GPUBuffer | Slice]>
): GPUBindGroup =>
  device.createBindGroup({
    label,
    layout: p.getBindGroupLayout(0),
    entries: resources.map(([binding, r]) => ({
      binding,
      resource: "buffer" in r ? { buffer: r.buffer, offset: r.offset, size: r.size } : { buffer: r }
    }))
  })

/** Records dispatches into one compute pass (with GPU timestamps at its start and end, if asked). */
export const encodeDispatches = (encoder: GPUCommandEncoder, dispatches: ReadonlyArray<Dispatch>, timestampWrites?: GPUComputePassTimestampWrites): void => {
  if (dispatches.length === 0) return
  const pass = encoder.beginComputePass(timestampWrites === undefined ? undefined : { timestampWrites })
  for (const d of dispatches) {
    pass.setPipeline(d.pipeline)
    pass.setBindGroup(0, d.bindGroup)
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2])
  }
  pass.end()
}

/**
 * Submits dispatches (one encoder, one pass). `kind` names the work for
 * pacing.ts (waits sleep through predicted work of a named kind); leave it
 * out where waits are timed (autotuning).
 */
export const run = (device: GPUDevice, dispatches: ReadonlyArray<Dispatch>, kind?: string): void => {
  const enc = device.createCommandEncoder()
  encodeDispatches(enc, dispatches)
  submit(device, enc, dispatches.length, kind)
}

/** Submits an encoder holding `dispatches` dispatches of kind `kind` (see `run`). */
export const submit = (device: GPUDevice, encoder: GPUCommandEncoder, dispatches: number, kind?: string): void => {
  device.queue.submit([encoder.finish()])
  noteSubmitted(device, dispatches, kind)
}

/** Copies `size` bytes of a buffer to the host. */
export const readBytes = (device: GPUDevice, src: GPUBuffer, offset: number, size: number): Effect.Effect<ArrayBuffer, DeviceError> =>
  Effect.gen(function* () {
    const padded = Math.ceil(size / 4) * 4
    const staging = device.createBuffer({ size: Math.max(4, padded), usage: 0x1 | 0x8 }) // MAP_READ | COPY_DST
    const enc = device.createCommandEncoder()
    enc.copyBufferToBuffer(src, offset, staging, 0, padded)
    device.queue.submit([enc.finish()])
    yield* paced(
      device,
      awaitGpu(device, "reading a GPU buffer", () => staging.mapAsync(0x1))
    )
    const out = staging.getMappedRange().slice(0, size)
    staging.unmap()
    staging.destroy()
    return out
  })

export const readFloats = (device: GPUDevice, src: Slice | GPUBuffer, count?: number): Effect.Effect<Float32Array, DeviceError> => {
  const s = "buffer" in src ? src : whole(src)
  const n = count ?? s.size / 4
  return readBytes(device, s.buffer, s.offset, n * 4).pipe(Effect.map((b) => new Float32Array(b)))
}

/** Workgroup grid for `n` invocations of a 1-D kernel (spills into y past the per-dimension limit). */
export const grid1d = (n: number, wgSize: number): readonly [number, number, number] => {
  const groups = Math.max(1, Math.ceil(n / wgSize))
  if (groups <= 65535) return [groups, 1, 1]
  return [65535, Math.ceil(groups / 65535), 1]
}

/** Waits until all submitted work is done (or the device fails). */
export const finish = (device: GPUDevice): Effect.Effect<void, DeviceError> =>
  paced(
    device,
    awaitGpu(device, "waiting for the GPU", () => device.queue.onSubmittedWorkDone())
  )

/** Fills a `{{NAME}}` template with values. */
export const fill = (template: string, values: Readonly<Record<string, string | number>>): string =>
  template.replace(/\{\{(\w+)\}\}/g, (_, k: string) => {
    const v = values[k]
    if (v === undefined) throw new Error(`template value ${k} missing`)
    return String(v)
  })

export type UniformWord = { u: number } | { f: number }

/** One prepared dispatch: compiles (cached) the entry point, writes its uniform, binds its buffers. */
export const makeDispatch = (
  device: GPUDevice,
  d: {
    readonly label: string
    readonly code: string
    readonly entry: string
    readonly uniform: ReadonlyArray<UniformWord>
    readonly bindings: ReadonlyArray<readonly [number, Slice]>
    readonly workgroups: readonly [number, number, number]
  }
): Effect.Effect<Dispatch, DeviceError> =>
  Effect.map(pipeline(device, d.label, d.code, d.entry), (pl) => {
    const uniform = uniformBuffer(device, `${d.label}:params`, d.uniform)
    const resources: ReadonlyArray<readonly [number, GPUBuffer | Slice]> = [[0, uniform], ...d.bindings]
    return {
      label: `${d.label}:${d.entry}`,
      pipeline: pl,
      bindGroup: bindGroup(device, pl, d.label, resources),
      workgroups: d.workgroups,
      source: { code: d.code, entry: d.entry, resources },
      uniform
    }
  })
