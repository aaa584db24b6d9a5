/**
 * The WebGPU device as a scoped service: one adapter + device per process
 * (core builds the trainer plugin's layer once), destroyed at release.
 *
 * Driver problems become typed `DeviceError`s instead of hangs: device loss
 * and uncaptured validation errors are recorded per device and every GPU
 * wait (`awaitGpu`) races against them.
 */
import { DeviceError } from "@memorize/core"
import { Context, Effect, Layer } from "effect"
import { create, globals } from "webgpu"

export interface AdapterInfo {
  readonly vendor: string
  readonly architecture: string
  readonly device: string
  readonly description: string
}

export interface WebGpuShape {
  readonly device: GPUDevice
  readonly adapterInfo: AdapterInfo
  readonly features: ReadonlySet<string>
}

/** Optional features we use when the adapter has them. */
export const wantedFeatures = ["shader-f16", "subgroups", "timestamp-query"] as const

const noAdapterHelp =
  "no WebGPU adapter found. Dawn needs a Vulkan driver: a GPU driver, or Mesa's lavapipe (software Vulkan) " +
  ">= 24, e.g. `apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1` on Debian 12; " +
  "`. scripts/setup.sh` installs it. Also set XDG_RUNTIME_DIR."

/**
 * Dawn's GPU object must stay reachable for the whole process: if it is
 * garbage-collected Dawn crashes. Module-level, created once.
 */
let dawnGpu: GPU | undefined
const getGpu = (): GPU => {
  if (dawnGpu === undefined) {
    Object.assign(globalThis, globals)
    // timestamp_quantization (on by default, a browser's guard against timing attacks) zeroes the low 16 bits of
    // GPU timestamps: every pass would time as 0 or 65.5 µs, and kernels of a few µs could not be profiled.
    dawnGpu = create(["enable-dawn-features=disable_robustness", "disable-dawn-features=timestamp_quantization"])
  }
  return dawnGpu
}

/** What went wrong on a device, if anything (loss or an uncaptured error). */
const deviceProblems = new WeakMap<GPUDevice, { message?: string; lost: Promise<string> }>()

const watchDevice = (device: GPUDevice): void => {
  const entry: { message?: string; lost: Promise<string> } = {
    lost: device.lost.then((info) => {
      const msg = `WebGPU device lost (${info.reason}): ${info.message}`
      if (entry.message === undefined) entry.message = msg
      return msg
    })
  }
  device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
    if (entry.message === undefined) entry.message = `WebGPU error: ${ev.error.message}`
  }
  deviceProblems.set(device, entry)
}

/** Fails with the first recorded device problem, if any. */
export const checkDevice = (device: GPUDevice): Effect.Effect<void, DeviceError> =>
  Effect.suspend(() => {
    const p = deviceProblems.get(device)
    return p?.message !== undefined ? Effect.fail(new DeviceError({ message: p.message })) : Effect.void
  })

/**
 * Waits for a GPU promise (mapAsync, onSubmittedWorkDone...), failing with a
 * DeviceError when it rejects, when the device is lost meanwhile, or when an
 * uncaptured error was recorded.
 */
export const awaitGpu = <A>(device: GPUDevice, what: string, f: () => Promise<A>): Effect.Effect<A, DeviceError> =>
  Effect.tryPromise({
    try: () => {
      const lost = deviceProblems.get(device)?.lost
      const op = f()
      return lost === undefined ? op : Promise.race([op, lost.then((m) => Promise.reject(new Error(m)))])
    },
    catch: (e) => new DeviceError({ message: `${what}: ${e instanceof Error ? e.message : String(e)}` })
  }).pipe(Effect.tap(() => checkDevice(device)))

/** Runs `f` inside a validation error scope; a validation error becomes a DeviceError naming `what`. */
export const withValidation = <A>(device: GPUDevice, what: string, f: () => A): Effect.Effect<A, DeviceError> =>
  Effect.gen(function* () {
    device.pushErrorScope("validation")
    let value: A
    try {
      value = f()
    } catch (e) {
      yield* awaitGpu(device, what, () => device.popErrorScope())
      return yield* Effect.fail(new DeviceError({ message: `${what}: ${e instanceof Error ? e.message : String(e)}` }))
    }
    const err = yield* awaitGpu(device, what, () => device.popErrorScope())
    if (err !== null) return yield* Effect.fail(new DeviceError({ message: `${what}: ${err.message}` }))
    return value
  })

const acquire = Effect.gen(function* () {
  const gpu = yield* Effect.try({
    try: getGpu,
    catch: (e) => new DeviceError({ message: `cannot start Dawn (webgpu): ${String(e)}` })
  })
  const adapter = yield* Effect.tryPromise({
    try: () => gpu.requestAdapter({ powerPreference: "high-performance" }),
    catch: (e) => new DeviceError({ message: `requestAdapter failed: ${String(e)}. ${noAdapterHelp}` })
  })
  if (adapter === null) return yield* Effect.fail(new DeviceError({ message: noAdapterHelp }))
  const requiredFeatures = wantedFeatures.filter((f) => adapter.features.has(f)) as Array<GPUFeatureName>
  // Ask for the adapter's own limits: the defaults (128 MiB buffers, 4 storage buffers...) are too small.
  const l = adapter.limits
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY
  }
  const device = yield* Effect.tryPromise({
    try: () => adapter.requestDevice({ requiredFeatures, requiredLimits }),
    catch: (e) => new DeviceError({ message: `requestDevice failed on ${adapter.info.description || adapter.info.vendor}: ${String(e)}` })
  })
  watchDevice(device)
  const info = adapter.info
  const adapterInfo: AdapterInfo = {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description
  }
  return { device, adapterInfo, features: new Set<string>([...device.features]) } satisfies WebGpuShape
})

/** Whether an adapter runs on the CPU (lavapipe, llvmpipe, SwiftShader): register tiles win there, and the native CPU backend beats it. */
export const isSoftwareAdapter = (info: { readonly vendor: string; readonly architecture: string; readonly description: string }): boolean =>
  /mesa|llvmpipe|lavapipe|swiftshader|software/i.test(`${info.vendor} ${info.architecture} ${info.description}`)

export class WebGpu extends Context.Service<WebGpu, WebGpuShape>()("memorize/WebGpu") {
  static readonly layer: Layer.Layer<WebGpu, DeviceError> = Layer.effect(
    WebGpu,
    Effect.acquireRelease(acquire, (g) => Effect.sync(() => g.device.destroy()))
  )
}

/** Limits worth recording next to a run's results. */
const recordedLimits = [
  "maxBufferSize",
  "maxStorageBufferBindingSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupsPerDimension"
] as const

/** Adapter facts for a run's provenance (plain JSON). */
export const adapterProvenance = (
  gpu: WebGpuShape
): {
  readonly vendor: string
  readonly architecture: string
  readonly description: string
  readonly device: string
  readonly features: ReadonlyArray<string>
  readonly limits: { readonly [k: string]: number }
} => {
  const limits: Record<string, number> = {}
  for (const k of recordedLimits) limits[k] = gpu.device.limits[k]
  return {
    vendor: gpu.adapterInfo.vendor,
    architecture: gpu.adapterInfo.architecture,
    description: gpu.adapterInfo.description,
    device: gpu.adapterInfo.device,
    features: [...gpu.features].sort(),
    limits
  }
}

/** A string that identifies the adapter (autotune cache key). */
export const adapterKey = (info: AdapterInfo): string => [info.vendor, info.architecture, info.device, info.description].join("|")
