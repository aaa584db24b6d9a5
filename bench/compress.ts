/**
 * Benchmark of verified compression against one evaluation of the same data.
 *
 *   pnpm tsx bench/compress.ts [--sequences 1000] [--seq-len 64] [--vocab 2048] [--layers 1] [--d-model 32]
 *                              [--heads 2] [--batch 256] [--device auto|cpu|webgpu] [--reps 1]
 *
 * A GPT-2 (initGpt2Weights, weights scaled ×8 so its predictions are far
 * from uniform) on the chosen backend; N random sequences of S tokens. Times
 *   - one evaluation: model.codeLengths of all N sequences (after a warm-up);
 *   - compress: encodeSequences, i.e. S nextTokenLogits calls per batch plus
 *     the quantization and arithmetic coding on the CPU;
 *   - decompress: decodeSequences, the same S calls per batch on the decoded
 *     prefixes plus quantization, cumulative tables and decoding;
 * splits each into the time inside the model calls and the coder's own time,
 * checks the round trip, and prints one JSON object (times in seconds, and
 * the ratios to one evaluation).
 */
import { Effect, Layer } from "effect"
import { WebGpu } from "@memorize/gpu-webgpu"
import { compression } from "@memorize/metrics"
import type { TokenSequences } from "@memorize/core"
import { chooseDevice, type Device, openGpt2 } from "../packages/gpu-webgpu/src/model/open.ts"
import type { Gpt2Shape, Gpt2Weights, HostTensor } from "../packages/gpu-webgpu/src/model/weights.ts"
import { initGpt2Weights } from "../packages/gpu-webgpu/src/reference/gpt2.ts"

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
const shape: Gpt2Shape = {
  vocabSize: V,
  seqLen: S,
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

const program = Effect.gen(function*() {
  const backend = yield* chooseDevice(device)
  const model = yield* openGpt2(sharpened(initGpt2Weights(shape, 0)), { precision: "fp32", bos: false, device: backend })
  const seqs = randomSequences()
  // Time spent inside the model's nextTokenLogits, to split the coder's own time out.
  let modelMs = 0
  let calls = 0
  const source: compression.LogitsSource = {
    nextTokenLogits: (s, t) =>
      Effect.gen(function*() {
        const t0 = yield* now
        const out = yield* model.nextTokenLogits(s, t)
        modelMs += (yield* now) - t0
        calls++
        return out
      })
  }
  yield* model.codeLengths(seqs) // warm-up: plans, uploads
  const best = { eval: Infinity, compress: Infinity, compressModel: 0, decompress: Infinity, decompressModel: 0 }
  let bits = 0
  let codeLength = 0
  let compressCalls = 0
  for (let r = 0; r < reps; r++) {
    const e0 = yield* now
    const lengths = yield* model.codeLengths(seqs)
    best.eval = Math.min(best.eval, ((yield* now) - e0) / 1000)
    codeLength = lengths.reduce((a, b) => a + b, 0)

    modelMs = 0
    calls = 0
    const c0 = yield* now
    const encoded = yield* compression.encodeSequences(source, seqs, { batch, freqBits: 24 })
    const c = ((yield* now) - c0) / 1000
    if (c < best.compress) {
      best.compress = c
      best.compressModel = modelMs / 1000
    }
    compressCalls = calls
    bits = encoded.codes.reduce((a, w) => a + w.bitLength, 0)

    modelMs = 0
    const d0 = yield* now
    const decoded = yield* compression.decodeSequences(source, encoded.codes, seqs, { batch, freqBits: 24 })
    const d = ((yield* now) - d0) / 1000
    if (d < best.decompress) {
      best.decompress = d
      best.decompressModel = modelMs / 1000
    }
    for (let i = 0; i < seqs.tokens.length; i++) {
      if (decoded.tokens[i] !== seqs.tokens[i]) return yield* Effect.die(new Error(`round trip failed at token ${i}`))
    }
  }
  return {
    backend,
    shape: { V, S, layers: shape.layers, dModel: shape.dModel },
    sequences: N,
    batch,
    reps,
    modelCallsPerDirection: compressCalls,
    evalSeconds: best.eval,
    compressSeconds: best.compress,
    compressModelSeconds: best.compressModel,
    compressCoderSeconds: best.compress - best.compressModel,
    decompressSeconds: best.decompress,
    decompressModelSeconds: best.decompressModel,
    decompressCoderSeconds: best.decompress - best.decompressModel,
    compressOverEval: best.compress / best.eval,
    decompressOverEval: best.decompress / best.eval,
    roundTripOverEval: (best.compress + best.decompress) / best.eval,
    codeLengthBitsPerSequence: codeLength / N,
    compressedBitsPerSequence: bits / N,
    roundTrip: "exact"
  }
})

const gpu = device === "cpu" ? Layer.empty : WebGpu.layer
const result = await Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(gpu)))
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
process.exit(0)
