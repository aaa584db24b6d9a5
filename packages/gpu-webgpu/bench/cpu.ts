/**
 * Benchmark (not a test): training tokens/s and evaluation sequences/s of the
 * native CPU GPT-2 (train.kind: cpu) on the configs of bench/torch/bench.py,
 * the best of `--reps` timed runs (these machines are shared and noisy), and
 * the process's peak resident memory.
 *
 *   tsx packages/gpu-webgpu/bench/cpu.ts [--steps 20] [--reps 3] [--threads 2] [--precision fp32]
 */
import { Effect } from "effect"
import { parseArgs } from "node:util"
import { makeCpuGpt2Engine } from "../src/cpu/cpu-model.ts"
import type { Precision } from "../src/kernels/common.ts"
import { initGpt2Weights } from "../src/model/init.ts"
import { trainLoop } from "../src/train/loop.ts"
import { benchShape, benchTokens, benchTrainOptions } from "./setup.ts"

const { values: args } = parseArgs({
  options: {
    steps: { type: "string", default: "20" },
    reps: { type: "string", default: "3" },
    threads: { type: "string" },
    precision: { type: "string", default: "fp32" },
    config: { type: "string" }
  }
})
const steps = Number(args.steps)
const reps = Number(args.reps)
const precision = args.precision as Precision
const threads = args.threads === undefined ? undefined : Number(args.threads)

const configs = [
  { V: 2048, S: 64, L: 1, d: 32, batch: 64 },
  { V: 2048, S: 64, L: 2, d: 64, batch: 64 },
  { V: 256, S: 32, L: 1, d: 16, batch: 128 }
].filter((c) => args.config === undefined || `${c.V},${c.S},${c.L},${c.d},${c.batch}` === args.config)

const main = Effect.gen(function* () {
  const rows: Array<Array<string | number>> = []
  for (const c of configs) {
    yield* Effect.scoped(
      Effect.gen(function* () {
        const shape = benchShape(c)
        const engine = yield* makeCpuGpt2Engine(initGpt2Weights(shape, 0), { precision, ...(threads ? { threads } : {}) })
        const count = c.batch * 8
        const data = { tokens: benchTokens(count * c.S, c.V, 1), count, seqLen: c.S }
        const opts = benchTrainOptions(c.batch, steps)
        yield* trainLoop(engine, data, { ...opts, maxSteps: 2 }, () => Effect.void) // warm-up
        let best = Infinity
        for (let r = 0; r < reps; r++) {
          const out = yield* trainLoop(engine, data, { ...opts, maxSteps: steps }, () => Effect.void)
          best = Math.min(best, out.wallMs / steps)
        }
        // Evaluation: code lengths of one batch of B sequences, as bench.py does.
        const seqs = { vocabSize: c.V, seqLen: c.S, count: c.batch, tokens: data.tokens.subarray(0, c.batch * c.S) }
        yield* engine.codeLengths(seqs)
        let bestEval = Infinity
        for (let r = 0; r < Math.max(5, reps * 3); r++) {
          const t0 = performance.now()
          yield* engine.codeLengths(seqs)
          bestEval = Math.min(bestEval, performance.now() - t0)
        }
        rows.push([
          `V=${c.V} S=${c.S} L=${c.L} d=${c.d} B=${c.batch}`,
          engine.paramCount,
          Math.round((c.batch * c.S) / (best / 1000)),
          best.toFixed(1),
          Math.round(c.batch / (bestEval / 1000))
        ])
      })
    )
  }
  const cells = [["config", "params", "train tok/s", "ms/step", "eval seq/s"], ...rows.map((r) => r.map(String))]
  const w = cells[0].map((_, i) => Math.max(...cells.map((r) => r[i].length)))
  console.log(`CPU GPT-2 (${precision}, threads ${threads ?? "all"}, best of ${reps} × ${steps} steps)`)
  for (const r of cells) console.log(r.map((x, i) => x.padStart(w[i])).join("  "))
  console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`)
})

Effect.runPromise(main).then(
  () => process.exit(0),
  (e) => (console.error(e), process.exit(1))
)
