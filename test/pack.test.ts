/**
 * Many-model packs through the real CLI on the WebGPU trainer (lavapipe in
 * CI): a sweep whose runs differ in seed, dataset size and learning rate,
 * trained in packs of 4, gives every run the result it gets trained alone
 * (pack: 1), bit for bit, each in its own folder; a run whose result is
 * removed is trained again alone, in a pack of one, to the same result; and
 * Ctrl-C while a pack trains stops all its runs, incomplete, exit 130. Needs
 * a WebGPU adapter: without one the runs fail and so does the test.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { memorize, nodeArgs, writeSpec } from "./cli-helpers.ts"

const spec = `name: packs
dataset: { kind: synthetic-uniform, vocab: 32, seqLen: 8, samples: 16, holdout: 8 }
model: { kind: gpt2, layers: 1, dModel: 16, heads: 2 }
train: { kind: webgpu, batchSize: 8, lr: 0.02, warmupSteps: 3, schedule: cosine, maxSteps: 24, logEvery: 6, autotune: false }
metrics: [ { kind: memorization }, { kind: loss } ]
store: { saveModels: false }
sweep: { grid: { seed: [0, 1], dataset.samples: [16, 24], train.lr: [0.01, 0.03] } }
`

interface Row {
  readonly runId: string
  readonly provenance: { readonly label: Record<string, unknown>; readonly model: { readonly pack?: { readonly runs: number; readonly index: number } } }
  readonly train: { readonly finalLoss: number; readonly steps: number; readonly stopReason: string }
  readonly metrics: unknown
}

const results = (dir: string, store: string): Array<Row> =>
  fs
    .readFileSync(path.join(dir, store, "packs/results.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Row)
    .sort((a, b) => JSON.stringify(a.provenance.label).localeCompare(JSON.stringify(b.provenance.label)))

describe("packs through the CLI (webgpu)", () => {
  it("runs trained in packs of 4 get, bit for bit, their results alone; a removed result is redone to the same", () => {
    const { dir, file } = writeSpec(spec)
    const alone = memorize(["run", file, "--store", "alone", "--set", "train.pack=1"], { cwd: dir, timeoutMs: 600_000 })
    expect(alone.code, alone.stderr).toBe(0)
    const packed = memorize(["run", file, "--store", "packed", "--set", "train.pack=4"], { cwd: dir, timeoutMs: 600_000 })
    expect(packed.code, packed.stderr).toBe(0)
    const a = results(dir, "alone")
    const b = results(dir, "packed")
    expect(a.length).toBe(8)
    expect(b.map((r) => r.provenance.label)).toEqual(a.map((r) => r.provenance.label))
    for (let i = 0; i < a.length; i++) {
      const what = JSON.stringify(a[i]!.provenance.label)
      // Wall time and tokens/s are the pack's; what was trained is the run's own.
      const { steps, finalLoss, stopReason } = a[i]!.train
      expect(b[i]!.train, what).toMatchObject({ steps, finalLoss, stopReason })
      expect(b[i]!.metrics, what).toEqual(a[i]!.metrics)
      expect(a[i]!.provenance.model.pack, what).toBeUndefined()
      expect(b[i]!.provenance.model.pack?.runs, what).toBe(4)
    }
    // The runs differ from each other (so equality above is not that of identical runs).
    expect(new Set(a.map((r) => r.train.finalLoss)).size).toBe(8)

    // Resume: one result removed is trained again (alone: its chunk's other runs are complete), the rest skipped.
    const gone = b[5]!
    fs.rmSync(path.join(dir, "packed/packs", gone.runId, "result.json"))
    const again = memorize(["run", file, "--store", "packed", "--set", "train.pack=4"], { cwd: dir, timeoutMs: 600_000 })
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout + again.stderr).toMatch(/8\/8 runs complete \(7 resumed, 0 failed/)
    const c = results(dir, "packed")
    expect(c[5]!.runId).toBe(gone.runId)
    expect(c[5]!.metrics).toEqual(gone.metrics)
    expect(c[5]!.provenance.model.pack?.runs).toBe(1)
  }, 1_200_000)

  it("Ctrl-C while a pack trains stops every run of it, leaves them incomplete and exits 130", async () => {
    const { spawn } = await import("node:child_process")
    const { dir, file } = writeSpec(
      spec.replace("name: packs", "name: packs-interrupt").replace("maxSteps: 24", "maxSteps: 1000000").replace("train.lr: [0.01, 0.03]", "train.lr: [0.01]")
    )
    const child = spawn(process.execPath, [...nodeArgs(), "run", file, "--set", "train.pack=4"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (d) => {
      stderr += String(d)
    })
    const store = path.join(dir, "runs/packs-interrupt")
    // Every run of the pack has logged progress twice: they train together.
    const logged = () =>
      fs.existsSync(store)
        ? fs.readdirSync(store).filter((d) => {
            const log = path.join(store, d, "train-log.jsonl")
            return fs.existsSync(log) && fs.readFileSync(log, "utf8").trim().split("\n").length >= 2
          }).length
        : 0
    const deadline = Date.now() + 240_000
    while (logged() < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200))
    expect(logged(), stderr).toBe(4)
    const sent = Date.now()
    child.kill("SIGINT")
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)))
    expect(code, stderr).toBe(130)
    expect(Date.now() - sent).toBeLessThan(20_000)
    const runs = fs.readdirSync(store).filter((d) => fs.existsSync(path.join(store, d, "train-log.jsonl")))
    expect(runs).toHaveLength(4)
    for (const r of runs) expect(fs.existsSync(path.join(store, r, "result.json"))).toBe(false)
    expect(stderr).toMatch(/interrupted/)
  }, 400_000)
})
