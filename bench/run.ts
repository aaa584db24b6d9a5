/**
 * `pnpm bench`: the project's benchmarks, each next to its baseline run in
 * the same script (these machines are noisy, so only same-run ratios mean
 * anything):
 *  - WebGPU GPT-2 training tokens/s and evaluation sequences/s against the
 *    PyTorch implementation of the same model (bench/torch/bench.py, Debian's
 *    python3-torch with OpenBLAS), and matmul GFLOP/s against torch.mm;
 *  - the native CPU GPT-2 (train.kind: cpu) against PyTorch CPU on the same
 *    configs with the same threads (2 by default: --threads N), best of
 *    --reps repetitions each, peak memory of both;
 *  - dataset loading (tokenize + chunk + dedup) tokens/s.
 * Pass --skip-torch / --skip-datasets / --skip-gpu / --skip-cpu to leave parts out.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const argv = process.argv.slice(2)
const args = new Set(argv)
const option = (name: string, fallback: string) => {
  const i = argv.indexOf(name)
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback
}
const tsx = path.join(root, "node_modules/.bin/tsx")
// Debian's python3-torch lives under /usr/bin/python3 (a pyenv python3 on PATH would lack it); PYTHON overrides.
const python = process.env.PYTHON ?? (fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3")

const runScript = (cmd: string, argv: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const r = spawnSync(cmd, argv, { cwd: root, encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 64 << 20 })
  if (r.status !== 0) process.stderr.write(`${cmd} ${argv.join(" ")} exited ${r.status}:\n${r.stderr}\n`)
  return r.stdout ?? ""
}

interface TrainRow {
  readonly key: string
  readonly tokensPerSecond: number
  readonly evalSequencesPerSecond: number
}

/** Rows of the tables printed by packages/gpu-webgpu/bench/train.ts and cpu.ts (same columns). */
const tableRows = (out: string): Array<TrainRow> =>
  [...out.matchAll(/V=(\d+) S=(\d+) L=(\d+) d=(\d+) B=(\d+)\s+\d+\s+(\d+)\s+[\d.]+\s+(\d+)/g)].map((m) => ({
    key: `V=${m[1]} S=${m[2]} L=${m[3]} d=${m[4]} B=${m[5]}`,
    tokensPerSecond: Number(m[6]),
    evalSequencesPerSecond: Number(m[7])
  }))

const torchRows = (out: string) => {
  const lines = out
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, number | string>)
  return {
    train: lines
      .filter((l) => l.bench === "train")
      .map(
        (l): TrainRow => ({
          key: `V=${l.vocab} S=${l.seq_len} L=${l.layers} d=${l.d_model} B=${l.batch}`,
          tokensPerSecond: Number(l.tokens_per_s),
          evalSequencesPerSecond: Number(l.eval_sequences_per_s)
        })
      ),
    matmul: lines.filter((l) => l.bench === "matmul").map((l) => ({ n: Number(l.n), gflops: Number(l.gflops) }))
  }
}

const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(2))

if (!args.has("--skip-gpu")) {
  console.log("== WebGPU GPT-2 (packages/gpu-webgpu/bench/train.ts)")
  const gpuOut = runScript(tsx, ["packages/gpu-webgpu/bench/train.ts", "--steps", "10"])
  console.log(gpuOut)
  if (!args.has("--skip-torch")) {
    console.log("== PyTorch baseline (bench/torch/bench.py, OpenBLAS, 2 threads)")
    const torchOut = runScript(python, ["bench/torch/bench.py", "--seconds", "3"], { OPENBLAS_NUM_THREADS: "1" })
    const torch = torchRows(torchOut)
    if (torch.train.length === 0) {
      console.log("no PyTorch results (apt-get install python3-torch libopenblas0-pthread)\n")
    } else {
      const ours = tableRows(gpuOut)
      console.log("config                          WebGPU tok/s   torch tok/s   ratio   WebGPU eval seq/s   torch eval seq/s   ratio")
      for (const t of torch.train) {
        const o = ours.find((r) => r.key === t.key)
        if (!o) continue
        console.log(
          `${t.key.padEnd(30)} ${fmt(o.tokensPerSecond).padStart(13)} ${fmt(t.tokensPerSecond).padStart(13)} ${(o.tokensPerSecond / t.tokensPerSecond).toFixed(2).padStart(7)} ${fmt(o.evalSequencesPerSecond).padStart(19)} ${fmt(t.evalSequencesPerSecond).padStart(18)} ${(o.evalSequencesPerSecond / t.evalSequencesPerSecond).toFixed(2).padStart(7)}`
        )
      }
      for (const m of torch.matmul) console.log(`torch.mm N=${m.n}: ${fmt(m.gflops)} GFLOP/s (compare the matmul table above)`)
      console.log()
    }
  }
}

if (!args.has("--skip-cpu")) {
  const threads = option("--threads", "2")
  const reps = option("--reps", "3")
  const load = () => fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")
  console.log(`== Native CPU GPT-2 vs PyTorch CPU, ${threads} threads each, best of 2 × ${reps} (load average before: ${load()})`)
  // Interleaved: ours, PyTorch, ours, PyTorch; each side keeps its best, so a burst of load elsewhere hurts neither alone.
  const oursRun = () => runScript(tsx, ["packages/gpu-webgpu/bench/cpu.ts", "--threads", threads, "--reps", reps, "--steps", "10"])
  const torchRun = () =>
    args.has("--skip-torch")
      ? ""
      : runScript(python, ["bench/torch/bench.py", "--seconds", "3", "--threads", threads, "--reps", reps, "--skip-matmul"], { OPENBLAS_NUM_THREADS: "1" })
  const ours1 = oursRun()
  const torch1 = torchRun()
  const ours2 = oursRun()
  const torch2 = torchRun()
  console.log(ours2)
  const bestOf = (a: Array<TrainRow>, b: Array<TrainRow>) =>
    a.map((x) => {
      const y = b.find((r) => r.key === x.key)
      return y === undefined
        ? x
        : {
            key: x.key,
            tokensPerSecond: Math.max(x.tokensPerSecond, y.tokensPerSecond),
            evalSequencesPerSecond: Math.max(x.evalSequencesPerSecond, y.evalSequencesPerSecond)
          }
    })
  const best = bestOf(tableRows(ours1), tableRows(ours2))
  const torchOut = torch1 + "\n" + torch2
  const torchBest = { ...torchRows(torch1), train: bestOf(torchRows(torch1).train, torchRows(torch2).train) }
  const torch = torchBest
  if (torch.train.length === 0) console.log("no PyTorch results (apt-get install python3-torch libopenblas0-pthread)\n")
  else {
    console.log("config                          ours tok/s   torch tok/s   ratio   ours eval seq/s   torch eval seq/s   ratio")
    for (const t of torch.train) {
      const o = best.find((r) => r.key === t.key)
      if (!o) continue
      console.log(
        `${t.key.padEnd(30)} ${fmt(o.tokensPerSecond).padStart(11)} ${fmt(t.tokensPerSecond).padStart(13)} ${(o.tokensPerSecond / t.tokensPerSecond).toFixed(2).padStart(7)} ${fmt(o.evalSequencesPerSecond).padStart(17)} ${fmt(t.evalSequencesPerSecond).padStart(18)} ${(o.evalSequencesPerSecond / t.evalSequencesPerSecond).toFixed(2).padStart(7)}`
      )
    }
    const peak = torchOut
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { peak_rss_mb?: number })
      .reduce((m, l) => Math.max(m, l.peak_rss_mb ?? 0), 0)
    console.log(`peak memory: ours ${/peak RSS (\d+) MiB/.exec(ours2)?.[1] ?? "?"} MiB, PyTorch ${Math.round(peak)} MiB (whole process, all configs)`)
  }
  console.log(`load average after: ${load()}\n`)
}

if (!args.has("--skip-datasets")) {
  console.log("== Datasets (packages/datasets/bench/load.ts)")
  console.log(runScript(tsx, ["packages/datasets/bench/load.ts"]))
}
