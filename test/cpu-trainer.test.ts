/**
 * The native CPU trainer through the real CLI: a sweep trained with
 * --concurrency 2 (two models at once, the cores divided between them) gives
 * bit-identical results to the same sweep run one model at a time with all
 * cores (kernels split work in fixed blocks), and Ctrl-C during training
 * stops the native threads, leaves the run incomplete and exits 130.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { memorize, nodeArgs, writeSpec } from "./cli-helpers.ts"

const sweep = (name: string, maxSteps: number) => `name: ${name}
dataset: { kind: synthetic-uniform, vocab: 64, seqLen: 16, samples: 48, holdout: 8 }
model: { kind: gpt2, layers: 1, dModel: 16, heads: 2 }
train: { kind: cpu, batchSize: 16, lr: 0.02, warmupSteps: 5, maxSteps: ${maxSteps}, logEvery: 10 }
metrics: [ { kind: memorization }, { kind: loss } ]
store: { saveModels: false }
sweep: { grid: { seed: [0, 1], dataset.samples: [24, 48] } }
`

describe("cpu trainer through the CLI", () => {
  it("--concurrency 2 gives bit-identical results to one run at a time", () => {
    const { dir, file } = writeSpec(sweep("cpu-concurrency", 40))
    const one = memorize(["run", file, "--store", "one"], { cwd: dir, timeoutMs: 300_000 })
    expect(one.code, one.stderr).toBe(0)
    const two = memorize(["run", file, "--store", "two", "--concurrency", "2"], { cwd: dir, timeoutMs: 300_000 })
    expect(two.code, two.stderr).toBe(0)
    const a = fs
      .readFileSync(path.join(dir, "one/cpu-concurrency/results.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
    const b = fs
      .readFileSync(path.join(dir, "two/cpu-concurrency/results.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
    const key = (r: { runId: string }) => r.runId
    a.sort((x, y) => key(x).localeCompare(key(y)))
    b.sort((x, y) => key(x).localeCompare(key(y)))
    expect(b.map(key)).toEqual(a.map(key))
    for (let i = 0; i < a.length; i++) {
      expect(b[i].train.finalLoss, a[i].runId).toBe(a[i].train.finalLoss)
      expect(b[i].metrics, a[i].runId).toEqual(a[i].metrics)
      expect(a[i].provenance.model.backend).toBe("cpu")
      // One at a time each model had both cores.
      expect(a[i].provenance.model.threads).toBe(2)
    }
    // Two at a time, models alive together had one core each. (Not every run: a short run can end before the
    // next one's model exists, and the last run can be alone all its life.)
    expect(b.filter((r) => r.provenance.model.threads === 1).length).toBeGreaterThanOrEqual(2)
  }, 600_000)

  it("Ctrl-C during training stops it, leaves the run incomplete and exits 130", async () => {
    const { spawn } = await import("node:child_process")
    const { dir, file } = writeSpec(sweep("cpu-interrupt", 1_000_000))
    const child = spawn(process.execPath, [...nodeArgs(), "run", file], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (d) => {
      stderr += String(d)
    })
    const store = path.join(dir, "runs/cpu-interrupt")
    const training = () =>
      fs.existsSync(store) &&
      fs.readdirSync(store).some((d) => {
        const log = path.join(store, d, "train-log.jsonl")
        return fs.existsSync(log) && fs.readFileSync(log, "utf8").trim().split("\n").length >= 2
      })
    const deadline = Date.now() + 120_000
    while (!training() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    expect(training(), stderr).toBe(true)
    const sent = Date.now()
    child.kill("SIGINT")
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)))
    expect(code).toBe(130)
    expect(Date.now() - sent).toBeLessThan(15_000)
    const runs = fs.readdirSync(store).filter((d) => fs.existsSync(path.join(store, d, "train-log.jsonl")))
    expect(runs.length).toBeGreaterThanOrEqual(1)
    for (const r of runs) expect(fs.existsSync(path.join(store, r, "result.json"))).toBe(false)
    expect(stderr).toMatch(/interrupted/)
  }, 300_000)
})

describe("reference models on the cpu trainer", () => {
  it("are trained once, saved, and reloaded by later runs (TrainerPlugin.reload)", () => {
    const { dir, file } = writeSpec(`name: cpu-reference
dataset: { kind: synthetic-uniform, vocab: 32, seqLen: 8, samples: 16, holdout: 8 }
model: { kind: gpt2, layers: 1, dModel: 8, heads: 2 }
train: { kind: cpu, batchSize: 16, lr: 0.02, maxSteps: 20, logEvery: 10 }
reference:
  dataset: { samples: 64 }
  train: { kind: cpu, batchSize: 16, lr: 0.02, maxSteps: 30, logEvery: 10 }
metrics: [ { kind: memorization }, { kind: loss } ]
store: { saveModels: false }
sweep: { grid: { seed: [0] , dataset.samples: [8, 16] } }
`)
    const r = memorize(["run", file], { cwd: dir, timeoutMs: 300_000 })
    expect(r.code, r.stderr).toBe(0)
    const refs = path.join(dir, "runs/cpu-reference/references")
    const ids = fs.readdirSync(refs)
    expect(ids).toHaveLength(1)
    const saved = JSON.parse(fs.readFileSync(path.join(refs, ids[0], "saved.json"), "utf8")) as { trainer: string }
    expect(saved.trainer).toBe("cpu")
    expect(fs.existsSync(path.join(refs, ids[0], "model.safetensors"))).toBe(true)
    // A second sweep (--fresh: every run again) reloads θ_ref instead of training it: the saved file is not written again.
    const model = path.join(refs, ids[0], "model.safetensors")
    const before = fs.statSync(model).mtimeMs
    const again = memorize(["run", file, "--fresh"], { cwd: dir, timeoutMs: 300_000 })
    expect(again.code, again.stderr).toBe(0)
    expect(fs.statSync(model).mtimeMs).toBe(before)
  }, 300_000)
})
