/**
 * End to end, through the real CLI: a reduced capacity sweep (one tiny GPT-2,
 * L = 1, d = 8, P = 1144, on uniform random sequences, V = 16, S = 16,
 * H = 64 bits per sequence) trained on the WebGPU device (lavapipe on CI).
 * Total memorization must saturate as the dataset grows:
 *   - at N = 8 (512 bits, well below capacity) nearly all of N·H is memorized
 *     (at most 60 of the 64 bits per sequence can be: without a BOS token the
 *     first token is unpredictable);
 *   - at N = 256 (16,384 bits, several times capacity) far less than N·H is;
 *   - from N = 64 to N = 256 (4× the data) memorization grows far less than 4×.
 * Calibrated on a 2-core CPU: about a minute (experiments/capacity-tiny.yaml
 * is the full sweep).
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { memorize } from "./cli-helpers.ts"

const H = 16 * Math.log2(16)

const SPEC = `name: capacity-saturation
seed: 0
dataset: { kind: synthetic-uniform, vocab: 16, seqLen: 16, samples: 8 }
model: { kind: gpt2, layers: 1, dModel: 8, heads: 2 }
train:
  kind: webgpu
  precision: fp32
  batchSize: 64
  lr: 0.03
  warmupSteps: 20
  maxSteps: 600
  stop: { plateau: { window: 100, minDelta: 0.002 } }
  logEvery: 20
metrics: [ { kind: memorization } ]
laws: [ { kind: capacity } ]
store: { saveModels: false }
sweep:
  grid:
    dataset.samples: [8, 64, 256]
`

interface Row {
  readonly dataset: { readonly trainCount: number; readonly entropyBitsPerSequence: number }
  readonly model: { readonly paramCount: number }
  readonly metrics: { readonly memorization: { readonly totalBits: number } }
}

describe("reduced capacity sweep (end to end)", () => {
  it("total memorization saturates as the dataset grows", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memorize-capacity-"))
    const file = path.join(dir, "spec.yaml")
    fs.writeFileSync(file, SPEC)
    const r = memorize(["run", file], { cwd: dir, timeoutMs: 300_000 })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/3\/3 runs complete/)
    const rows = fs
      .readFileSync(path.join(dir, "runs/capacity-saturation/results.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Row)
    const mem = new Map(rows.map((x) => [x.dataset.trainCount, x.metrics.memorization.totalBits]))
    for (const x of rows) expect(x.dataset.entropyBitsPerSequence).toBe(H)
    expect(rows[0].model.paramCount).toBe(1144)
    const [small, mid, large] = [8, 64, 256].map((n) => mem.get(n)!)
    // Well below capacity: close to everything (≥ 85% of N·H; the ceiling is 60/64 ≈ 94%).
    expect(small).toBeGreaterThan(0.85 * 8 * H)
    // Well above capacity: well below N·H.
    expect(large).toBeLessThan(0.3 * 256 * H)
    // Saturation: 4× the data, far less than 4× the memorized bits.
    expect(large / mid).toBeLessThan(2)
    expect(large).toBeGreaterThan(small)
    // The capacity law sees the plateau: capacity below the largest dataset's bits.
    const laws = JSON.parse(fs.readFileSync(path.join(dir, "runs/capacity-saturation/laws.json"), "utf8"))
    const g = laws.capacity.groups[0]
    expect(g.capacityBits).toBeLessThan(256 * H)
    expect(g.capacityBits).toBeGreaterThan(8 * H * 0.85)
  }, 300_000)
})
