/**
 * Benchmark of `memorize eval` against PyTorch's evaluation of the same checkpoint.
 *
 *   pnpm tsx bench/eval.ts [--sequences 512] [--reps 2] [--seconds 2] [--threads 2] [--eval-batch 256] [--skip-torch]
 *   (PYTHON=/usr/bin/python3 by default: the interpreter with torch, see bench/torch/bench.py)
 *
 * Writes two GPT-2 checkpoints (V = 50,257, n_positions = S = 64; 1 layer
 * d = 128 and 4 layers d = 256, initGpt2Weights) to a temporary folder, then
 * for each:
 *   - times `memorize eval`'s own code in-process (prepareEval: load the
 *     checkpoint and read the token file; runEval: upload to the GPU adapter,
 *     build the plans, evaluate every sequence) on N sequences of 64 tokens,
 *     best of --reps runs;
 *   - runs `bench/torch/bench.py --eval-checkpoint DIR` (float32 forward +
 *     log-softmax on --eval-batch-sequence batches, steady state after 2
 *     warm-up batches, --threads CPU threads);
 *   - checks that both agree on bench.py's probe sequences (its float64 bits);
 * and prints sequences/s of each and the ratio ours / PyTorch. The two run
 * one after the other in the same process tree, so a loaded machine slows
 * both alike; compare ratios, not absolute numbers, across machines.
 */
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { adapterProvenance, WebGpu } from "@memorize/gpu-webgpu"
import { evaluate, type EvalOptions, prepareEval, runEval } from "@memorize/eval"
import { saveCheckpoint } from "../packages/gpu-webgpu/src/checkpoint/index.ts"
import type { Gpt2Shape } from "../packages/gpu-webgpu/src/model/weights.ts"
import { initGpt2Weights } from "../packages/gpu-webgpu/src/model/init.ts"

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback
}
const N = Number(arg("sequences", "512"))
const seconds = arg("seconds", "2")
const threads = arg("threads", "2")
const evalBatch = arg("eval-batch", "256")
const reps = Number(arg("reps", "2"))
const skipTorch = process.argv.includes("--skip-torch")
const python = process.env.PYTHON ?? "/usr/bin/python3"
const repo = path.resolve(import.meta.dirname, "..")

const V = 50_257
const S = 64
const configs: ReadonlyArray<{ readonly name: string; readonly shape: Gpt2Shape }> = [
  { name: "L1-d128", shape: { vocabSize: V, nPositions: S, layers: 1, dModel: 128, heads: 2, layerNormEps: 1e-5, activation: "gelu_new", tiedHead: true } },
  { name: "L4-d256", shape: { vocabSize: V, nPositions: S, layers: 4, dModel: 256, heads: 4, layerNormEps: 1e-5, activation: "gelu_new", tiedHead: true } }
]

const writeLines = (file: string, rows: ReadonlyArray<ReadonlyArray<number>>) => fs.writeFileSync(file, rows.map((r) => JSON.stringify(r)).join("\n") + "\n")

/** bench.py's probe: x[n, t] = (131 n + 31 t + (n t mod 7)) mod V. */
const probe = Array.from({ length: 4 }, (_, n) => Array.from({ length: S }, (_, t) => (131 * n + 31 * t + ((n * t) % 7)) % V))

const time = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const t0 = performance.now()
    const value = yield* self
    return { ms: performance.now() - t0, value }
  })

const program = Effect.gen(function* () {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "memorize-bench-eval-"))
  const gpu = yield* WebGpu
  const { vendor, architecture, description } = adapterProvenance(gpu)
  console.error(`adapter: ${JSON.stringify({ vendor, architecture, description })}`)
  // Random ids (uniform over V), a fixed seed: every config sees the same sequences.
  let state = 12345
  const next = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0
    return state
  }
  const tokens = path.join(root, "tokens.jsonl")
  writeLines(
    tokens,
    Array.from({ length: N }, () => Array.from({ length: S }, () => next() % V))
  )
  const probeFile = path.join(root, "probe.jsonl")
  writeLines(probeFile, probe)

  const rows: Array<Record<string, unknown>> = []
  for (const c of configs) {
    const dir = path.join(root, c.name)
    yield* saveCheckpoint(dir, initGpt2Weights(c.shape, 7))
    const options: EvalOptions = { model: dir, tokens }
    let best = { prepareMs: Infinity, runMs: Infinity }
    for (let rep = 0; rep < reps; rep++) {
      const prepared = yield* time(prepareEval(options))
      const run = yield* time(runEval(prepared.value, options))
      if (prepared.ms + run.ms < best.prepareMs + best.runMs) best = { prepareMs: prepared.ms, runMs: run.ms }
    }
    const ours = N / (best.runMs / 1000)
    const oursEndToEnd = N / ((best.prepareMs + best.runMs) / 1000)
    const probeBits = Array.from((yield* evaluate({ model: dir, tokens: probeFile })).members.bits)

    let torch: Record<string, any> | undefined
    if (!skipTorch) {
      const r = spawnSync(
        python,
        [path.join(repo, "bench/torch/bench.py"), "--eval-checkpoint", dir, "--seconds", seconds, "--threads", threads, "--eval-batch", evalBatch],
        {
          encoding: "utf8",
          env: { ...process.env, OPENBLAS_NUM_THREADS: threads, OMP_NUM_THREADS: threads },
          timeout: 600_000
        }
      )
      const line = r.stdout.split("\n").find((l) => l.includes("eval-checkpoint"))
      if (r.status !== 0 || line === undefined) console.error(`bench.py failed (${r.status}): ${r.stderr.slice(-2000)}`)
      else torch = JSON.parse(line)
    }
    const torchProbe: Array<number> | undefined = torch?.probe_code_lengths_bits_float64
    const maxProbeDiff = torchProbe === undefined ? null : Math.max(...probeBits.map((b, i) => Math.abs(b - torchProbe[i])))
    const row = {
      bench: "memorize-eval",
      config: c.name,
      layers: c.shape.layers,
      dModel: c.shape.dModel,
      vocab: V,
      seqLen: S,
      sequences: N,
      prepare_s: best.prepareMs / 1000,
      eval_s: best.runMs / 1000,
      sequences_per_s: ours,
      sequences_per_s_with_load: oursEndToEnd,
      torch_sequences_per_s: torch?.sequences_per_s ?? null,
      torch_threads: torch?.threads ?? null,
      ratio_vs_torch: torch === undefined ? null : ours / torch.sequences_per_s,
      ratio_with_load_vs_torch: torch === undefined ? null : oursEndToEnd / torch.sequences_per_s,
      probe_max_abs_diff_bits_vs_torch_float64: maxProbeDiff,
      probe_bits: probeBits
    }
    rows.push(row)
    console.log(JSON.stringify(row))
  }
  const f = (x: unknown, d = 1) => (typeof x === "number" ? x.toFixed(d) : "—")
  console.error("\nconfig     memorize eval seq/s (with load)   PyTorch seq/s   ratio (with load)   probe |Δbits| vs torch float64")
  for (const r of rows) {
    console.error(
      `${String(r.config).padEnd(10)} ${f(r.sequences_per_s).padStart(10)} (${f(r.sequences_per_s_with_load)})`.padEnd(44) +
        `${f(r.torch_sequences_per_s).padStart(10)}      ${f(r.ratio_vs_torch, 3)} (${f(r.ratio_with_load_vs_torch, 3)})      ${r.probe_max_abs_diff_bits_vs_torch_float64 ?? "—"}`
    )
  }
  fs.rmSync(root, { recursive: true, force: true })
})

Effect.runPromise(program.pipe(Effect.provide(WebGpu.layer))).then(
  () => process.exit(0),
  (e) => {
    console.error(String(e))
    process.exit(1)
  }
)
