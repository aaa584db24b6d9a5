/**
 * Puts a GPT-2 on a backend: `cpu` (the native addon), `webgpu`, or `auto`:
 * WebGPU on a real GPU, the native CPU backend where WebGPU would run in
 * software (lavapipe) or not at all, when the addon is built. The WebGPU
 * device is taken from the context when present, never required for `cpu`.
 */
import { type DeviceError, ModelError } from "@memorize/core"
import { Effect, Option, type Scope } from "effect"
import { makeCpuGpt2Engine } from "../cpu/cpu-model.ts"
import { nativeAddon } from "../cpu/native.ts"
import { isSoftwareAdapter, WebGpu } from "../device/webgpu.ts"
import type { Precision } from "../kernels/common.ts"
import type { Gpt2Model } from "./evaluation.ts"
import { makeGpuGpt2 } from "./gpu-model.ts"
import type { Gpt2Weights } from "./weights.ts"

export type Device = "auto" | "cpu" | "webgpu"
export const devices: ReadonlyArray<Device> = ["auto", "cpu", "webgpu"]

/** The backend `auto` resolves to here. */
export const chooseDevice = (device: Device): Effect.Effect<"cpu" | "webgpu"> =>
  Effect.gen(function* () {
    if (device !== "auto") return device
    const gpu = yield* Effect.serviceOption(WebGpu)
    if (Option.isNone(gpu)) return "cpu"
    if (!isSoftwareAdapter(gpu.value.adapterInfo)) return "webgpu"
    // A software adapter: the native backend when its addon loads.
    return Option.isSome(yield* Effect.option(nativeAddon)) ? "cpu" : "webgpu"
  })

export const openGpt2 = (
  weights: Gpt2Weights,
  options: { readonly precision: Precision; readonly bos: boolean; readonly device: Device }
): Effect.Effect<Gpt2Model & { readonly device: "cpu" | "webgpu" }, ModelError | DeviceError, Scope.Scope> =>
  Effect.gen(function* () {
    const device = yield* chooseDevice(options.device)
    if (device === "cpu") return { ...(yield* makeCpuGpt2Engine(weights, options)), device }
    const gpu = yield* Effect.serviceOption(WebGpu)
    if (Option.isNone(gpu)) return yield* Effect.fail(new ModelError({ message: "device webgpu: no WebGPU adapter in this process (use device cpu)" }))
    return { ...(yield* makeGpuGpt2(weights, options).pipe(Effect.provideService(WebGpu, gpu.value))), device }
  })
