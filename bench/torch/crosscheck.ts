/**
 * Cross-check of the checkpoint writer and the float64 oracle GPT-2 against
 * an independent PyTorch implementation (bench.py):
 *
 *   pnpm tsx bench/torch/crosscheck.ts /tmp/xcheck
 *   for c in tied-gelu_new untied-gelu; do
 *     /usr/bin/python3 bench/torch/bench.py --eval-checkpoint /tmp/xcheck/$c --seconds 0.5 --eval-batch 32
 *   done
 *
 * This script saves two checkpoints (tied head + GELU tanh; untied head + exact
 * GELU) with sharpened random weights, reloads them, and prints the oracle's
 * code lengths (bits) of bench.py's probe sequences
 * x[n, t] = (131 n + 31 t + (n t mod 7)) mod V. bench.py prints
 * `probe_code_lengths_bits_float64` for the same sequences: the two must agree
 * to ~1e-10 relative.
 */
import { Effect } from "effect"
import * as nodePath from "node:path"
import { loadCheckpoint, saveCheckpoint } from "../../packages/gpu-webgpu/src/checkpoint/index.ts"
import type { Gpt2Shape, HostTensor } from "../../packages/gpu-webgpu/src/model/weights.ts"
import { initGpt2Weights, oracleCodeLengths } from "../../packages/gpu-webgpu/test/oracle/gpt2.ts"

const cases: ReadonlyArray<{ readonly name: string; readonly shape: Gpt2Shape }> = [
  {
    name: "tied-gelu_new",
    shape: { vocabSize: 97, nPositions: 64, layers: 2, dModel: 32, heads: 4, layerNormEps: 1e-5, activation: "gelu_new", tiedHead: true }
  },
  { name: "untied-gelu", shape: { vocabSize: 50, nPositions: 40, layers: 1, dModel: 16, heads: 2, layerNormEps: 1e-5, activation: "gelu", tiedHead: false } }
]

const root = process.argv[2] ?? "/tmp/memorize-xcheck"
const program = Effect.gen(function* () {
  for (const c of cases) {
    const w0 = initGpt2Weights(c.shape, 11)
    // Sharpen: GPT-2's init is nearly uniform, which would hide most errors.
    const tensors = new Map<string, HostTensor>()
    for (const [n, t] of w0.tensors) {
      tensors.set(n, { shape: t.shape, data: n.includes("ln_") ? t.data.map((x, i) => x + 0.1 * Math.sin(i)) : t.data.map((x) => x * 25) })
    }
    const dir = nodePath.join(root, c.name)
    yield* saveCheckpoint(dir, { shape: c.shape, tensors })
    const w = yield* loadCheckpoint(dir)
    const S = Math.min(64, c.shape.nPositions)
    const V = c.shape.vocabSize
    const tokens = new Uint32Array(4 * S)
    for (let n = 0; n < 4; n++) for (let t = 0; t < S; t++) tokens[n * S + t] = (131 * n + 31 * t + ((n * t) % 7)) % V
    const bits = oracleCodeLengths(w, { vocabSize: V, seqLen: S, count: 4, tokens })
    console.log(JSON.stringify({ checkpoint: dir, oracle_code_lengths_bits: [...bits] }))
  }
})

Effect.runPromise(program).catch((e) => {
  console.error(String(e))
  process.exitCode = 1
})
