/**
 * Memorized bits against training steps, from a run store alone: for uniform
 * synthetic data every token carries log2 V bits, so a training loss of ℓ
 * nats/token means N·(S−1)·(log2 V − ℓ/ln 2) bits stored over the predicted
 * tokens (an estimate from the logged mini-batch losses, without the per-
 * sequence max(0, ·) of the memorization metric, which result.json holds for
 * the end of training). Prints, per run, the estimate at chosen steps and the
 * gain over the last quarter of training: the plateau shown, not assumed.
 *
 *   node --import tsx scripts/memorized-vs-steps.ts runs/capacity [--every 500]
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { parseArgs } from "node:util"

const { values, positionals } = parseArgs({ allowPositionals: true, options: { every: { type: "string", default: "500" } } })
const every = Number(values.every)
const store = positionals[0]
if (store === undefined || !fs.existsSync(store)) {
  console.error("usage: scripts/memorized-vs-steps.ts RUN_STORE [--every STEPS]")
  process.exit(2)
}

interface LogLine {
  readonly step: number
  readonly loss: number
}
interface Config {
  readonly dataset: { readonly kind: string; readonly vocab: number; readonly seqLen: number; readonly samples: number }
  readonly model: { readonly dModel: number }
  readonly train: { readonly precision: string }
  readonly seed: number
}

for (const id of fs.readdirSync(store).sort()) {
  const dir = path.join(store, id)
  const logFile = path.join(dir, "train-log.jsonl")
  const configFile = path.join(dir, "config.json")
  if (!fs.existsSync(logFile) || !fs.existsSync(configFile)) continue
  const config = JSON.parse(fs.readFileSync(configFile, "utf8")) as Config
  if (config.dataset.kind !== "synthetic-uniform") continue
  const { vocab: V, seqLen: S, samples: N } = config.dataset
  const lines = fs
    .readFileSync(logFile, "utf8")
    .trim()
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as LogLine)
  if (lines.length === 0) continue
  const bits = (l: LogLine) => N * (S - 1) * (Math.log2(V) - l.loss / Math.LN2)
  const picked = lines.filter((l) => l.step % every === 0 || l === lines[lines.length - 1])
  const last = lines[lines.length - 1]
  const quarter = lines.find((l) => l.step >= 0.75 * last.step) ?? lines[0]
  const result = path.join(dir, "result.json")
  const exact = fs.existsSync(result)
    ? (JSON.parse(fs.readFileSync(result, "utf8")) as { metrics?: { memorization?: { totalBits?: number } } }).metrics?.memorization?.totalBits
    : undefined
  console.log(
    `${id}  d=${config.model.dModel} N=${N} ${config.train.precision} seed ${config.seed}${exact === undefined ? "  (not complete)" : `  metric at the end: ${Math.round(exact).toLocaleString("en-US")} bits`}`
  )
  console.log(`  ${picked.map((l) => `${l.step}: ${Math.round(bits(l) / 1000)}k`).join("  ")}`)
  console.log(`  last quarter (${quarter.step} → ${last.step}): ${((bits(last) / bits(quarter) - 1) * 100).toFixed(1)}%`)
}
