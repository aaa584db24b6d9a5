/**
 * GPT-2 on the GPU: parameters in one flat buffer, per-batch-size plans
 * (plan.ts), and the evaluation methods of a TrainedModel (code lengths,
 * per-token log-probs, greedy generation). Imported checkpoints go through
 * the same code: anything that yields Gpt2Weights is evaluated identically.
 *
 * First token: without BOS it cannot be predicted and is counted at log2 V
 * bits (V the data's vocabulary); `bos: true` adds a BOS token (id V, model
 * vocabulary V+1) and every token is predicted.
 */
import { DeviceError, ModelError, type TokenSequences } from "@memorize/core"
import { Effect, type Scope } from "effect"
import { type Dispatch, encodeDispatches, finish, readFloats, readU32, storageBuffer, type Slice } from "../device/gpu.ts"
import { WebGpu } from "../device/webgpu.ts"
import { argmaxAt } from "../kernels/argmax.ts"
import { operandRounding, type Precision } from "../kernels/common.ts"
import { tokenIndex } from "../kernels/embedding.ts"
import { type MatmulTile, registerTile, sharedTile } from "../kernels/matmul.ts"
import { roundBf16 } from "../reference/ops.ts"
import { fillBatch } from "./batch.ts"
import { paramLayout, type ParamLayout } from "./layout.ts"
import { makePlan, type Plan } from "./plan.ts"
import { gpt2ParamCount, type Gpt2Shape, type Gpt2Weights, type HostTensor } from "./weights.ts"

export type { Precision } from "../kernels/common.ts"

export interface GpuGpt2Options {
  readonly precision: Precision
  readonly bos?: boolean
  /** Matmul tile; default: register tiles on CPU adapters, shared-memory tiles elsewhere (see autotune.ts). */
  readonly tile?: MatmulTile
  /** Bias+GELU fused into the fc matmul (default true; autotune.ts measures which pays on an adapter). */
  readonly fuseGelu?: boolean
}

export interface GpuGpt2 {
  readonly shape: Gpt2Shape
  readonly precision: Precision
  readonly bos: boolean
  /** The data's vocabulary (the model's, less the BOS token). */
  readonly dataVocab: number
  readonly paramCount: number
  readonly codeLengths: (seqs: TokenSequences) => Effect.Effect<Float64Array, ModelError>
  readonly tokenLogProbs: (seqs: TokenSequences) => Effect.Effect<Float64Array, ModelError>
  readonly generate: (prefixes: TokenSequences, length: number) => Effect.Effect<Uint32Array, ModelError>
  readonly exportWeights: () => Effect.Effect<Gpt2Weights, DeviceError>
}

/** What the trainer needs beyond the evaluation API. */
export interface GpuGpt2Engine extends GpuGpt2 {
  readonly device: GPUDevice
  readonly layout: ParamLayout
  readonly params: GPUBuffer
  readonly grads: GPUBuffer
  readonly tile: MatmulTile
  /** The plan for B rows of T positions (cached). */
  readonly plan: (B: number, T: number) => Effect.Effect<Plan, DeviceError>
  /** Uploads inputs/targets (+ token index) of these rows of `source` (sequences of S tokens) into the plan; returns predicted positions. */
  readonly upload: (plan: Plan, source: Uint32Array, S: number, rows: ReadonlyArray<number>) => number
  /** Largest micro-batch of T-position rows whose buffers fit the device's binding limit. */
  readonly maxMicroBatch: (T: number) => number
}

const isCpuAdapter = (info: { vendor: string; architecture: string; description: string }) =>
  /mesa|llvmpipe|lavapipe|swiftshader|software/i.test(`${info.vendor} ${info.architecture} ${info.description}`)

const toModelError = (what: string) => (e: DeviceError) => new ModelError({ message: `${what}: ${e.message}` })

const validate = (w: Gpt2Weights): ModelError | undefined => {
  const s = w.shape
  if (s.activation !== "gelu_new") return new ModelError({ message: `activation "${s.activation}" is not supported on the GPU (only gelu_new, GPT-2's)` })
  if (s.dModel % s.heads !== 0) return new ModelError({ message: `dModel ${s.dModel} is not divisible by heads ${s.heads}` })
  const layout = paramLayout(s)
  for (const [name, slot] of layout.slots) {
    const t = w.tensors.get(name)
    if (t === undefined) return new ModelError({ message: `missing tensor ${name}`, tensor: name })
    if (t.data.length !== slot.size || t.shape.join(",") !== slot.shape.join(","))
      return new ModelError({ message: `tensor ${name} has shape [${t.shape.join(", ")}], expected [${slot.shape.join(", ")}]`, tensor: name })
  }
  return undefined
}

export const makeGpuGpt2Engine = (
  weights: Gpt2Weights,
  options: GpuGpt2Options
): Effect.Effect<GpuGpt2Engine, DeviceError | ModelError, Scope.Scope | WebGpu> =>
  Effect.gen(function* () {
    const gpu = yield* WebGpu
    const device = gpu.device
    const invalid = validate(weights)
    if (invalid !== undefined) return yield* Effect.fail(invalid)
    const shape = weights.shape
    const bos = options.bos ?? false
    const dataVocab = bos ? shape.vocabSize - 1 : shape.vocabSize
    const precision = options.precision
    if (precision === "fp16" && !gpu.features.has("shader-f16"))
      return yield* Effect.fail(new ModelError({ message: `precision fp16 needs the shader-f16 feature, which adapter "${gpu.adapterInfo.description}" lacks` }))
    const rounding = operandRounding(precision)
    const roundParams = precision === "bf16-params"
    const tile = options.tile ?? (isCpuAdapter(gpu.adapterInfo) ? registerTile : sharedTile)
    const layout = paramLayout(shape)

    const owned: Array<GPUBuffer> = []
    yield* Effect.addFinalizer(() => Effect.sync(() => owned.forEach((b) => b.destroy())))
    const flat = new Float32Array(layout.total)
    for (const [name, slot] of layout.slots) {
      const data = weights.tensors.get(name)!.data
      if (roundParams) for (let i = 0; i < data.length; i++) flat[slot.offset + i] = roundBf16(data[i])
      else flat.set(data, slot.offset)
    }
    const params = storageBuffer(device, "params", layout.total)
    const grads = storageBuffer(device, "grads", layout.total)
    owned.push(params, grads)
    device.queue.writeBuffer(params, 0, flat)

    // A micro-batch must keep its largest buffer (logits [T, V], attention tables
    // [H, T, T], MLP [T, 4d] per sequence) under the binding limit (and 256 MiB),
    // and all its activations (plan.ts: forward ≈ V + L·(16d + H·T) floats per
    // position, backward scratch ≈ 14d + H·T) under 2 GiB.
    const maxMicroBatch = (T: number) => {
      const { vocabSize: V, dModel: d, heads: H, layers: L } = shape
      const largest = Math.max(T * V, H * T * T, T * 4 * d)
      const perSeq = T * (V + L * (16 * d + H * T) + 24 * d + H * T + 8)
      const byBinding = Math.min(device.limits.maxStorageBufferBindingSize, 256 * 2 ** 20) / 4 / largest
      const byTotal = (2 * 2 ** 30) / 4 / perSeq
      return Math.max(1, Math.floor(Math.min(byBinding, byTotal)))
    }

    const plans = new Map<string, Plan>()
    const plan = (B: number, T: number) =>
      Effect.suspend(() => {
        const key = `${B}x${T}`
        const hit = plans.get(key)
        if (hit) return Effect.succeed(hit)
        return makePlan({ device, shape, layout, params, grads, rounding, tile, fuseGelu: options.fuseGelu ?? true, B, T }).pipe(
          Effect.tap((p) => Effect.sync(() => {
            plans.set(key, p)
            owned.push(...p.buffers)
          }))
        )
      })

    const upload = (p: Plan, source: Uint32Array, S: number, rows: ReadonlyArray<number>): number => {
      const b = fillBatch(source, S, rows, p.B, bos ? dataVocab : undefined)
      const idx = tokenIndex(b.tokens, shape.vocabSize)
      const q = device.queue
      q.writeBuffer(p.tokens.buffer, 0, b.tokens)
      q.writeBuffer(p.targets.buffer, 0, b.targets)
      q.writeBuffer(p.rowStart.buffer, 0, idx.rowStart)
      q.writeBuffer(p.rowIdx.buffer, 0, idx.rowIdx)
      return b.predicted
    }

    const lead = bos ? 1 : 0
    const evalBatch = (T: number) => Math.min(maxMicroBatch(T), 256)

    const checkSeqs = (seqs: TokenSequences, what: string): Effect.Effect<void, ModelError> => {
      if (seqs.seqLen + lead > shape.seqLen)
        return Effect.fail(new ModelError({ message: `${what}: sequences of ${seqs.seqLen} tokens${bos ? " + BOS" : ""} exceed the model's ${shape.seqLen} positions` }))
      if (seqs.vocabSize > dataVocab)
        return Effect.fail(new ModelError({ message: `${what}: vocabulary ${seqs.vocabSize} exceeds the model's ${dataVocab}` }))
      return Effect.void
    }

    /** log2 p of each position's target, [count, T] in model positions. */
    const logProbsRaw = (seqs: TokenSequences) =>
      Effect.gen(function* () {
        const T = seqs.seqLen + lead
        const out = new Float32Array(seqs.count * T)
        const B = Math.min(evalBatch(T), Math.max(1, seqs.count))
        const p = yield* plan(B, T)
        for (let start = 0; start < seqs.count; start += B) {
          const rows = Array.from({ length: Math.min(B, seqs.count - start) }, (_, i) => start + i)
          upload(p, seqs.tokens, seqs.seqLen, rows)
          const enc = device.createCommandEncoder()
          encodeDispatches(enc, [...p.forward, ...p.evaluate])
          device.queue.submit([enc.finish()])
          out.set(yield* readFloats(device, p.logp2, rows.length * T), start * T)
        }
        return out
      })

    const tokenLogProbs = (seqs: TokenSequences) =>
      Effect.gen(function* () {
        yield* checkSeqs(seqs, "tokenLogProbs")
        const S = seqs.seqLen
        const T = S + lead
        const raw = yield* logProbsRaw(seqs).pipe(Effect.mapError(toModelError("tokenLogProbs")))
        const out = new Float64Array(seqs.count * S)
        // Without BOS the first token is unpredictable: uniform over the data's V.
        const uniform = -Math.log2(seqs.vocabSize)
        for (let b = 0; b < seqs.count; b++) {
          if (bos) for (let t = 0; t < S; t++) out[b * S + t] = raw[b * T + t]
          else {
            out[b * S] = uniform
            for (let t = 1; t < S; t++) out[b * S + t] = raw[b * T + t - 1]
          }
        }
        return out
      })

    const codeLengths = (seqs: TokenSequences) =>
      Effect.map(tokenLogProbs(seqs), (lp) => {
        const S = seqs.seqLen
        const out = new Float64Array(seqs.count)
        for (let b = 0; b < seqs.count; b++) {
          let s = 0
          for (let t = 0; t < S; t++) s -= lp[b * S + t]
          out[b] = s
        }
        return out
      })

    const generate = (prefixes: TokenSequences, length: number) =>
      Effect.gen(function* () {
        const T = shape.seqLen
        const P = prefixes.seqLen
        if (prefixes.vocabSize > dataVocab)
          return yield* Effect.fail(new ModelError({ message: `generate: vocabulary ${prefixes.vocabSize} exceeds the model's ${dataVocab}` }))
        if (P + lead < 1 || length < 0 || P + lead + length - 1 > T)
          return yield* Effect.fail(new ModelError({ message: `generate: prefix ${P} + ${length} new tokens${bos ? " + BOS" : ""} does not fit the model's ${T} positions` }))
        const out = new Uint32Array(prefixes.count * length)
        if (length === 0 || prefixes.count === 0) return out
        const B = Math.min(evalBatch(T), prefixes.count)
        const p = yield* plan(B, T).pipe(Effect.mapError(toModelError("generate")))
        const next = storageBuffer(device, "next", B)
        owned.push(next)
        const nextSlice: Slice = { buffer: next, offset: 0, size: B * 4 }
        const argmaxes = new Map<number, Dispatch>()
        for (let start = 0; start < prefixes.count; start += B) {
          const n = Math.min(B, prefixes.count - start)
          const tokens = new Uint32Array(B * T)
          for (let b = 0; b < n; b++) {
            if (bos) tokens[b * T] = dataVocab
            tokens.set(prefixes.tokens.subarray((start + b) * P, (start + b + 1) * P), b * T + lead)
          }
          for (let k = 0; k < length; k++) {
            const pos = lead + P + k - 1
            device.queue.writeBuffer(p.tokens.buffer, 0, tokens)
            let am = argmaxes.get(pos)
            if (am === undefined) {
              am = yield* argmaxAt(device, { B, T, V: dataVocab, pos, logits: p.logits, out: nextSlice }).pipe(Effect.mapError(toModelError("generate")))
              argmaxes.set(pos, am)
            }
            const enc = device.createCommandEncoder()
            encodeDispatches(enc, [...p.forward, am])
            device.queue.submit([enc.finish()])
            const chosen = yield* readU32(device, next, B).pipe(Effect.mapError(toModelError("generate")))
            for (let b = 0; b < n; b++) {
              out[(start + b) * length + k] = chosen[b]
              if (pos + 1 < T) tokens[b * T + pos + 1] = chosen[b]
            }
          }
        }
        return out
      })

    const exportWeights = () =>
      Effect.gen(function* () {
        const all = yield* readFloats(device, params, layout.total)
        const tensors = new Map<string, HostTensor>()
        for (const [name, slot] of layout.slots) tensors.set(name, { shape: slot.shape, data: all.slice(slot.offset, slot.offset + slot.size) })
        return { shape, tensors } satisfies Gpt2Weights
      })

    yield* finish(device)
    return {
      shape, precision, bos, dataVocab,
      paramCount: gpt2ParamCount(shape),
      codeLengths, tokenLogProbs, generate, exportWeights,
      device, layout, params, grads, tile, plan, upload, maxMicroBatch
    } satisfies GpuGpt2Engine
  })

/** A GPT-2 on the GPU with the evaluation methods of a TrainedModel. */
export const makeGpuGpt2 = (
  weights: Gpt2Weights,
  options: { readonly precision: Precision; readonly bos?: boolean }
): Effect.Effect<GpuGpt2, DeviceError | ModelError, Scope.Scope | WebGpu> => makeGpuGpt2Engine(weights, options)
