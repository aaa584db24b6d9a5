import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { atPath, type Json } from "@memorize/core"
import { inspectReport, type ChartCheck } from "./browser.ts"
import { memorize, writeSpec } from "./cli-helpers.ts"

/** Two model sizes × three dataset sizes, trained briefly on WebGPU: every built-in law fits. */
const miniSpec = `name: report-mini
description: Two tiny GPT-2 sizes on three dataset sizes, for the report's tests.
seed: 0
dataset: { kind: synthetic-uniform, vocab: 16, seqLen: 8, samples: 16 }
model: { kind: gpt2, layers: 1, dModel: 4, heads: 1 }
train: { kind: webgpu, precision: fp32, batchSize: 32, lr: 0.03, warmupSteps: 5, maxSteps: 60 }
metrics: [ { kind: memorization }, { kind: membership-inference }, { kind: loss } ]
laws: [ { kind: capacity }, { kind: double-descent }, { kind: membership-f1, feature: samplesPerParameter } ]
store: { saveModels: false }
sweep: { grid: { model.dModel: [4, 8], dataset.samples: [8, 32, 128] } }
`

/** The number a headline card shows first ("1,747 ± 12 bits" → 1747). */
const shownNumber = (text: string): number => Number(/^[−-]?[\d,]*\.?\d+(e[−-]?\d+)?/.exec(text.replace(/−/g, "-"))![0].replace(/,/g, ""))

/** What a reader needs of every chart: a title, axis titles with units, data marks, legends whole. */
const expectReadable = (c: ChartCheck) => {
  expect(c.title, "chart title").not.toBe("")
  expect(c.width, c.title).toBeGreaterThan(100)
  expect(c.height, c.title).toBeGreaterThan(100)
  expect(c.marks, c.title).toBeGreaterThan(0)
  expect(c.live, `${c.title}: live view`).toBe(true)
  // Legends name exactly the chart's series, as written: nothing cut off or dropped.
  for (const l of c.legendLabels) expect(l, c.title).not.toMatch(/…$/)
  expect([...c.legendLabels].sort(), `${c.title}: legend text vs series names`).toEqual([...c.series].sort())
}

describe("report in a real browser", () => {
  it("answers first: headline values equal laws.json, short labels, paper references, whole legends, units, tooltips, toggles", async () => {
    const { dir, file } = writeSpec(miniSpec)
    const run = memorize(["run", file], { cwd: dir, timeoutMs: 300_000 })
    expect(run.code, run.stderr).toBe(0)
    const store = path.join(dir, "runs/report-mini")
    const laws = JSON.parse(fs.readFileSync(path.join(store, "laws.json"), "utf8")) as Json
    const screenshot = path.join(dir, "report.png")
    const r = await inspectReport(path.join(store, "report.html"), screenshot)
    expect(r.errors).toEqual([])
    expect(r.headlineFirst).toBe(true)
    // The spec's description stands under the title, in both files.
    expect(fs.readFileSync(path.join(store, "report.md"), "utf8")).toContain("> Two tiny GPT-2 sizes on three dataset sizes, for the report's tests.")
    expect(fs.readFileSync(path.join(store, "report.html"), "utf8")).toContain(
      `<p class="description">Two tiny GPT-2 sizes on three dataset sizes, for the report&#39;s tests.</p>`
    )

    // The headline: each value that names its laws.json path is that value, and is what is shown.
    const paths = r.facts.flatMap((f) => (f.lawsPath === undefined ? [] : [f.lawsPath]))
    expect(paths).toEqual(
      expect.arrayContaining([
        "capacity.linear.alpha",
        "capacity.groups.0.capacityBits",
        "capacity.groups.1.capacityBits",
        "double-descent.peakRatioMedian",
        "membership-f1.constants.c1",
        "membership-f1.constants.c2",
        "membership-f1.constants.c3"
      ])
    )
    for (const f of r.facts.filter((x) => x.lawsPath !== undefined)) {
      const stored = atPath(laws, f.lawsPath!)
      expect(typeof stored, f.lawsPath).toBe("number")
      expect(f.value, f.lawsPath).toBe(stored)
      const shown = shownNumber(f.text)
      expect(Math.abs(shown - (stored as number)), `${f.lawsPath}: "${f.text}"`).toBeLessThanOrEqual(0.006 * Math.abs(stored as number) + 5e-4)
    }
    const alpha = r.facts.find((f) => f.lawsPath === "capacity.linear.alpha")!
    expect(alpha.label).toMatch(/bits per parameter/)
    expect(r.facts.map((f) => f.label)).toEqual(expect.arrayContaining(["capacity, d=4", "capacity, d=8", "model sizes", "dataset sizes"]))
    // These runs are far from the paper's regime, and the report says so.
    expect(r.regimeNotes.join(" ")).toMatch(/Outside the paper's regime: models of 348–1,080 parameters/)

    const byTitle = (t: string) => {
      const c = r.charts.find((x) => x.title === t)
      expect(c, t).toBeDefined()
      return c!
    }
    expect(r.charts.length).toBeGreaterThanOrEqual(7)
    for (const c of r.charts) {
      expectReadable(c)
      expect(c.axisTitles.length, c.title).toBeGreaterThanOrEqual(2)
      for (const t of c.axisTitles) expect(t, `${c.title}: axis title with its unit`).toMatch(/\(.+\)/)
    }
    // Labels from what differs: models are d=4 and d=8, not their whole configs.
    expect(byTitle("Memorization vs dataset size").legendLabels).toEqual(["d=4", "d=8"])
    const loss = byTitle("Train (solid) and test (dashed) loss vs dataset size")
    expect(loss.legendLabels).toEqual(["d=4", "d=8", "train (members)", "test (holdout)"])
    // The paper's numbers as labelled references.
    expect(byTitle("Capacity vs parameters").series).toEqual(expect.arrayContaining(["paper: 3.51·P (bf16)", "paper: 3.83·P (fp32)", "d=4", "d=8"]))
    expect(byTitle("Membership inference F1 vs |D|/P").series).toEqual(expect.arrayContaining(["paper's law", "fitted law"]))
    // How training went, from each run's train-log.jsonl: one line per run, named by what differs.
    expect(byTitle("Training loss vs steps").legendLabels).toEqual(["d=4, N=8", "d=4, N=32", "d=4, N=128", "d=8, N=8", "d=8, N=32", "d=8, N=128"])
    const html = fs.readFileSync(path.join(store, "report.html"), "utf8")
    expect(html).toContain("paper: peak at ratio ≈ 1")
    expect(html).toContain(`<td class="label">d=4, N=8</td>`)
    // Interaction works offline: a tooltip with the mark's values, legend clicks dim the other series.
    expect(r.tooltip).toMatch(/\d/)
    expect(r.dimmedAfterLegendClick).toBeGreaterThan(0)
    // One self-contained file: no external scripts, styles or images.
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|<img[^>]+src=/)
    // report.md keeps the answers and static SVG charts beside it.
    const md = fs.readFileSync(path.join(store, "report.md"), "utf8")
    expect(md).toMatch(/## What this experiment found/)
    const svgs = [...md.matchAll(/!\[[^\]]*\]\((report-charts\/[^)]+\.svg)\)/g)].map((m) => m[1]!)
    expect(svgs.length).toBe(r.charts.length)
    for (const s of svgs) expect(fs.readFileSync(path.join(store, s), "utf8")).toMatch(/^<svg/)
    // Rewriting the report leaves no chart of an earlier report behind.
    fs.writeFileSync(path.join(store, "report-charts/s99-old-chart.svg"), "<svg/>")
    expect(memorize(["report", store]).code).toBe(0)
    expect(fs.readdirSync(path.join(store, "report-charts")).sort()).toEqual(svgs.map((s) => path.basename(s)).sort())
    expect(fs.statSync(screenshot).size).toBeGreaterThan(10_000)
    console.log(`report screenshot: ${screenshot}`)
  }, 600_000)

  it("several experiments on the same axes (fp32 vs bf16), the experiment as a series; bad folders are named", async () => {
    const { dir, file } = writeSpec(miniSpec)
    const small = ["--set", "sweep.grid={model.dModel: [4, 8], dataset.samples: [8, 32]}"]
    expect(memorize(["run", file, "--set", "name=mini-fp32", ...small], { cwd: dir, timeoutMs: 300_000 }).code).toBe(0)
    expect(memorize(["run", file, "--set", "name=mini-bf16", "--set", "train.precision=bf16", ...small], { cwd: dir, timeoutMs: 300_000 }).code).toBe(0)
    const rep = memorize(["report", "runs/mini-fp32", "runs/mini-bf16"], { cwd: dir })
    expect(rep.code, rep.stderr).toBe(0)
    const out = path.join(dir, "runs/compare-mini-fp32+mini-bf16")
    expect(rep.stdout).toContain(path.join(out, "report.html"))
    const r = await inspectReport(path.join(out, "report.html"), path.join(dir, "compare.png"))
    expect(r.errors).toEqual([])
    for (const c of r.charts) expectReadable(c)
    const mem = r.charts.find((c) => c.title === "Memorization vs dataset size")!
    expect(mem.legendLabels).toEqual(["mini-bf16 · d=4", "mini-bf16 · d=8", "mini-fp32 · d=4", "mini-fp32 · d=8"])
    const cap = r.charts.find((c) => c.title === "Capacity vs parameters")!
    // The paper's lines are drawn once; each experiment's points and fit are its own series.
    expect(cap.series.filter((s) => s.includes("3.51·P"))).toHaveLength(1)
    expect(cap.series).toEqual(expect.arrayContaining(["mini-fp32 · d=4", "mini-bf16 · d=8"]))
    // One headline block per experiment, each with its own α from its own laws.json.
    expect([...new Set(r.facts.map((f) => f.experiment))]).toEqual(["mini-fp32", "mini-bf16"])
    for (const name of ["mini-fp32", "mini-bf16"]) {
      const laws = JSON.parse(fs.readFileSync(path.join(dir, "runs", name, "laws.json"), "utf8")) as Json
      const alpha = r.facts.find((f) => f.experiment === name && f.lawsPath === "capacity.linear.alpha")!
      expect(alpha.value).toBe(atPath(laws, "capacity.linear.alpha"))
    }
    expect(fs.readFileSync(path.join(out, "report.html"), "utf8")).toContain("<th>experiment</th>")
    // Each experiment's description (read back from its stored experiment.yaml), named.
    expect(fs.readFileSync(path.join(out, "report.md"), "utf8")).toContain("> mini-bf16: Two tiny GPT-2 sizes")
    const storedSpec = path.join(dir, "runs/mini-fp32/experiment.yaml")
    const specText = fs.readFileSync(storedSpec, "utf8")
    fs.writeFileSync(storedSpec, specText.replace(/^description: .*$/m, "description: [1, 2]"))
    const badSpec = memorize(["report", "runs/mini-fp32"], { cwd: dir })
    expect(badSpec.code).not.toBe(0)
    expect(badSpec.stderr).toMatch(/mini-fp32\/experiment\.yaml.*not a valid stored spec/)
    fs.writeFileSync(storedSpec, specText)

    const missing = memorize(["report", "runs/mini-fp32", "runs/nope"], { cwd: dir })
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/runs\/nope.*not an experiment folder/)
    fs.writeFileSync(path.join(dir, "runs/mini-bf16/laws.json"), "[1, 2]")
    const corrupt = memorize(["report", "runs/mini-bf16"], { cwd: dir })
    expect(corrupt.code).not.toBe(0)
    expect(corrupt.stderr).toMatch(/mini-bf16\/laws\.json.*not an object of law fits/)
  }, 600_000)
})
