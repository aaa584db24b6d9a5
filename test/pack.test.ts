/**
 * Many-model packs through the real CLI on the WebGPU trainer (lavapipe in
 * CI): a sweep whose runs differ in seed, dataset size and learning rate,
 * trained in packs of 4, gives every run the result it gets trained alone
 * (pack: 1), bit for bit, each in its own folder; a run whose result is
 * removed is trained again alone, in a pack of one, to the same result. Needs
 * a WebGPU adapter: without one the runs fail and so does the test.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { memorize, writeSpec } from "./cli-helpers.ts"

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
})
