/**
 * Benchmark of verified compression against one evaluation of the same data.
 *
 *   pnpm tsx bench/compress.ts [--sequences 1000] [--seq-len 64] [--vocab 2048] [--layers 1] [--d-model 32]
 *                              [--heads 2] [--batch 256] [--device auto|cpu|webgpu] [--reps 1] [--path step|full]
 *                              [--quantize model|ts]
 *
 * A GPT-2 (initGpt2Weights, weights scaled ×8 so its predictions are far
 * from uniform) on the chosen backend; N random sequences of S tokens. Times
 *   - one evaluation: model.codeLengths of all N sequences (after a warm-up);
 *   - compress: encodeSequences, i.e. S steps per batch of the model's
 *     next-token stepper plus the quantization and arithmetic coding;
 *   - decompress: decodeSequences, the same S steps per batch on the decoded
 *     tokens plus quantization, cumulative tables and decoding;
 * splits each into the time inside the model's steps and the coder's own
 * time, checks the round trip, and prints one JSON object: wall seconds (the
 * fastest of --reps), the ratios to one evaluation, the same in process CPU
 * seconds (all threads; steadier than wall time on a shared machine), and
 * the 1-minute load average before and after.
 *
 * --path step (default) uses the model's nextTokenStepper (on both backends
 * the incremental pass over key/value caches); --path full steps through
 * nextTokenLogits, a full pass per position (what every backend did before).
 *
 * --quantize model (default) lets the coder use the stepper's own quantizer
 * where it has one (NextTokenStepper.quantize: the CPU addon's native loops,
 * on both backends where the addon is built); --quantize ts hides it, so the
 * coder runs the TypeScript definition. Both give the same frequencies; the
 * quantization counts as the coder's time.
 */
import { Effect, Layer } from "effect"
import * as os from "node:os"
import { WebGpu } from "@memorize/gpu-webgpu"
import { compression } from "@memorize/metrics"
import { type NextTokenStepper, nextTokenStepperOf, type TokenSequences } from "@memorize/core"
import { chooseDevice, type Device, openGpt2 } from "../packages/gpu-webgpu/src/model/open.ts"
import type { Gpt2Shape, Gpt2Weights, HostTensor } from "../packages/gpu-webgpu/src/model/weights.ts"
import { initGpt2Weights } from "../packages/gpu-webgpu/src/model/init.ts"

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback
}
const N = Number(arg("sequences", "1000"))
const S = Number(arg("seq-len", "64"))
const V = Number(arg("vocab", "2048"))
const batch = Number(arg("batch", "256"))
const reps = Number(arg("reps", "1"))
const device = arg("device", "auto") as Device
const path = arg("path", "step")
if (path !== "step" && path !== "full") throw new Error(`--path ${path}: expected step or full`)
const quantize = arg("quantize", "model")
if (quantize !== "model" && quantize !== "ts") throw new Error(`--quantize ${quantize}: expected model or ts`)
const shape: Gpt2Shape = {
  vocabSize: V,
  nPositions: S,
  layers: Number(arg("layers", "1")),
  dModel: Number(arg("d-model", "32")),
  heads: Number(arg("heads", "2")),
  layerNormEps: 1e-5,
  activation: "gelu_new",
  tiedHead: true
}

const sharpened = (w: Gpt2Weights): Gpt2Weights => {
  const tensors = new Map<string, HostTensor>()
  for (const [n, t] of w.tensors) tensors.set(n, { shape: t.shape, data: n.includes("ln_") || n.endsWith(".bias") ? t.data : t.data.map((x) => x * 8) })
  return { shape: w.shape, tensors }
}

const randomSequences = (): TokenSequences => {
  const tokens = new Uint32Array(N * S)
  let x = 12345
  for (let i = 0; i < tokens.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    tokens[i] = (x >>> 8) % V
  }
  return { vocabSize: V, seqLen: S, count: N, tokens }
}

const now = Effect.sync(() => performance.now())

const program = Effect.gen(function* () {
  const backend = yield* chooseDevice(device)
  const model = yield* openGpt2(sharpened(initGpt2Weights(shape, 0)), { precision: "fp32", bos: false, device: backend })
  const seqs = randomSequences()
  // Time spent inside the model's steps (making a stepper included), to split the coder's own time out.
  let modelMs = 0
  let calls = 0
  const timed = <A, E>(e: Effect.Effect<A, E>) =>
    Effect.gen(function* () {
      const t0 = yield* now
      const out = yield* e
      modelMs += (yield* now) - t0
      return out
    })
  const source: compression.LogitsSource = {
    nextTokenStepper: (shape) =>
      Effect.map(
        timed(path === "step" ? model.nextTokenStepper(shape) : Effect.succeed(nextTokenStepperOf(model.nextTokenLogits, shape))),
        (stepper): NextTokenStepper => ({
          next: (t, previous) => {
            calls++
            return timed(stepper.next(t, previous))
          },
          ...(quantize === "model" && stepper.quantize !== undefined ? { quantize: stepper.quantize } : {})
        })
      )
  }
  /** Wall and process CPU seconds (every thread: the CPU backend evaluates on its OpenMP threads) of an effect. */
  const measure = <A, E>(e: Effect.Effect<A, E>) =>
    Effect.gen(function* () {
      const cpu0 = process.cpuUsage()
      const t0 = yield* now
      const value = yield* e
      const wall = ((yield* now) - t0) / 1000
      const cpu = process.cpuUsage(cpu0)
      return { value, wall, cpu: (cpu.user + cpu.system) / 1e6 }
    })
  yield* model.codeLengths(seqs) // warm-up: plans, uploads
  const inf = { wall: Infinity, cpu: Infinity, model: 0 }
  const best = { eval: { ...inf }, compress: { ...inf }, decompress: { ...inf } }
  /** Keeps the fastest wall time (with its model share) and, separately, the least CPU time. */
  const keep = (slot: { wall: number; cpu: number; model: number }, m: { wall: number; cpu: number }) => {
    if (m.wall < slot.wall) Object.assign(slot, { wall: m.wall, model: modelMs / 1000 })
    slot.cpu = Math.min(slot.cpu, m.cpu)
  }
  let bits = 0
  let codeLength = 0
  let compressCalls = 0
  const loadBefore = os.loadavg()[0]
  for (let r = 0; r < reps; r++) {
    const ev = yield* measure(model.codeLengths(seqs))
    keep(best.eval, ev)
    codeLength = ev.value.reduce((a, b) => a + b, 0)

    modelMs = 0
    calls = 0
    const enc = yield* measure(compression.encodeSequences(source, seqs, { batch, freqBits: 24 }))
    keep(best.compress, enc)
    compressCalls = calls
    bits = enc.value.codes.reduce((a, w) => a + w.bitLength, 0)

    modelMs = 0
    const dec = yield* measure(compression.decodeSequences(source, enc.value.codes, seqs, { batch, freqBits: 24 }))
    keep(best.decompress, dec)
    for (let i = 0; i < seqs.tokens.length; i++) {
      if (dec.value.tokens[i] !== seqs.tokens[i]) return yield* Effect.die(new Error(`round trip failed at token ${i}`))
    }
  }
  const { eval: ev, compress: c, decompress: d } = best
  return {
    backend,
    path,
    quantize,
    shape: { V, S, layers: shape.layers, dModel: shape.dModel },
    sequences: N,
    batch,
    reps,
    loadAverage1m: { before: loadBefore, after: os.loadavg()[0] },
    stepsPerDirection: compressCalls,
    evalSeconds: ev.wall,
    compressSeconds: c.wall,
    compressModelSeconds: c.model,
    compressCoderSeconds: c.wall - c.model,
    decompressSeconds: d.wall,
    decompressModelSeconds: d.model,
    decompressCoderSeconds: d.wall - d.model,
    compressOverEval: c.wall / ev.wall,
    decompressOverEval: d.wall / ev.wall,
    roundTripOverEval: (c.wall + d.wall) / ev.wall,
    cpuSeconds: { eval: ev.cpu, compress: c.cpu, decompress: d.cpu, roundTripOverEval: (c.cpu + d.cpu) / ev.cpu },
    codeLengthBitsPerSequence: codeLength / N,
    compressedBitsPerSequence: bits / N,
    roundTrip: "exact"
  }
})

const gpu = device === "cpu" ? Layer.empty : WebGpu.layer
const result = await Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(gpu)))
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
process.exit(0)
