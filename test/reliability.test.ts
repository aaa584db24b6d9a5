/**
 * Reliability (issue 13): nothing accepted that later fails, bad flags and
 * files refused with their location, non-finite checkpoints refused by eval,
 * and a fuzz over the built-in dataset and metric plugins' config fields.
 */
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as fc from "fast-check"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { decodeExperiment, makeRegistry, parseYamlSpec, Progress, runExperiment, type SpecError } from "@memorize/core"
import { plugins as datasetPlugins } from "@memorize/datasets"
import { gpt2TensorShapes, initGpt2Weights, plugins as gpuPlugins, saveCheckpoint } from "@memorize/gpu-webgpu"
import { plugins as metricPlugins } from "@memorize/metrics"
import { prepareEval } from "@memorize/eval"
import toyPlugins from "./fixtures/unigram-plugins.ts"
import { memorize, writeSpec } from "./cli-helpers.ts"

const services = Layer.mergeAll(NodeServices.layer, Progress.silent)
const registry = Effect.runSync(makeRegistry([...datasetPlugins, ...gpuPlugins, ...metricPlugins, ...toyPlugins] as never, "test"))

const decode = (text: string, file = path.join(os.tmpdir(), "spec.yaml")) =>
  parseYamlSpec(file, text).pipe(Effect.flatMap((src) => decodeExperiment(src, registry)))
const issuesOf = (text: string) => Effect.runPromise(Effect.flip(decode(text)) as Effect.Effect<SpecError>).then((e) => e.issues)

const gpt2 = `model: { kind: gpt2, layers: 1, dModel: 8, heads: 2 }
train: { kind: webgpu, maxSteps: 2 }`

describe("validate: requirements between plugins, before any training", () => {
  it("each unmet requirement is reported at its line:column", async () => {
    const text = `name: req
dataset: { kind: synthetic-uniform, vocab: 16, seqLen: 8, samples: 4, holdout: 0 }
${gpt2}
metrics:
  - { kind: extraction, prefixLengths: [8, 16] }
  - { kind: membership-inference }
  - { kind: rarity }
`
    const issues = await issuesOf(text)
    expect(issues.map((i) => [i.path, i.line])).toEqual([
      ["dataset.holdout", 2],
      ["metrics[0].prefixLengths", 6],
      ["metrics[2].kind", 8]
    ])
    expect(issues[1]!.message).toMatch(/every prefix length \(8, 16\) is ≥ the sequence length 8/)
    expect(issues[0]!.message).toMatch(/membership-inference needs non-members, but the dataset has holdout 0/)
    expect(issues[2]!.message).toMatch(/needs per-sample rarity/)
  })

  it("text data: memorization without a reference, unknown tokenizer, missing file — each located", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memorize-req-"))
    const file = path.join(dir, "spec.yaml")
    const text = `name: req
dataset: { kind: text, path: missing.jsonl, tokenizer: llama, samples: 4, seqLen: 8 }
${gpt2}
metrics: [ { kind: memorization } ]
`
    const e = await Effect.runPromise(Effect.flip(decode(text, file)) as Effect.Effect<SpecError>)
    const byPath = Object.fromEntries(e.issues.map((i) => [i.path, i]))
    expect(byPath["dataset.tokenizer"]).toMatchObject({ line: 2, column: 56 })
    expect(byPath["dataset.tokenizer"]!.message).toMatch(/unknown tokenizer "llama"/)
    expect(byPath["dataset.path"]).toMatchObject({ line: 2 })
    expect(byPath["dataset.path"]!.message).toContain(`file not found: ${path.join(dir, "missing.jsonl")}`)
    expect(byPath["metrics[0].kind"]!.message).toMatch(/needs the data's exact entropy or a reference model/)
    expect(e.message).toContain(`${file}:2:56: dataset.tokenizer`)
  })

  it("a swept value that breaks a requirement is located at the sweep entry", async () => {
    const issues = await issuesOf(`name: req
dataset: { kind: synthetic-uniform, vocab: 16, seqLen: 8, samples: 4 }
${gpt2}
metrics: [ { kind: membership-inference } ]
sweep: { grid: { dataset.holdout: [4, 0] } }
`)
    expect(issues).toHaveLength(1)
    expect(issues[0]).toMatchObject({ path: "dataset.holdout", line: 6, column: 39 })
    expect(issues[0]!.message).toMatch(/value swept at sweep.grid.dataset.holdout\[1\]/)
  })

  it("values the schemas reject: vocab, seqLen, samples, holdout, seed (19 cases of the issue)", async () => {
    const cases: Array<[string, string]> = [
      ["synthetic-uniform", "vocab: 0"],
      ["synthetic-uniform", "vocab: -1"],
      ["synthetic-uniform", "vocab: 1"],
      ["synthetic-uniform", "vocab: -5"],
      ["synthetic-uniform", "seqLen: 0"],
      ["synthetic-uniform", "seqLen: -1"],
      ["synthetic-uniform", "samples: 0"],
      ["synthetic-uniform", "samples: -1"],
      ["synthetic-uniform", "holdout: -1"],
      ["synthetic-uniform", "seed: -1"],
      ["text", "seqLen: 0"],
      ["text", "seqLen: -1"],
      ["text", "samples: 0"],
      ["text", "samples: -1"],
      ["text", "holdout: -1"],
      ["text", "seed: -1"],
      ["tokens", "vocab: 1"],
      ["tokens", "vocab: 0"],
      ["tokens", "seqLen: 0"]
    ]
    const base: Record<string, string> = {
      "synthetic-uniform": "vocab: 16, seqLen: 8, samples: 4",
      text: "source: brown, tokenizer: bytes, samples: 4, seqLen: 8",
      tokens: `path: ${JSON.stringify(__filename)}, vocab: 16, seqLen: 8`
    }
    for (const [kind, field] of cases) {
      const key = field.split(":")[0]!
      const fields = base[kind]!.split(", ")
        .filter((f) => !f.startsWith(`${key}:`))
        .concat(field)
        .join(", ")
      const issues = await issuesOf(`name: bad\ndataset: { kind: ${kind}, ${fields} }\n${gpt2}\n`)
      expect(
        issues.some((i) => i.path === `dataset.${key}` && i.line === 2),
        `${kind} ${field}: ${JSON.stringify(issues)}`
      ).toBe(true)
    }
  })
})

describe("CLI: flags and files refused with what was wrong", () => {
  const toy = (name: string) => `name: ${name}
dataset: { kind: toy-skewed, samples: 4 }
model: { kind: unigram }
train: { kind: counting }
store: { saveModels: false }
`
  it('--concurrency 0 / -1 and --store "" are usage errors (exit 2); a spec folder and an alias bomb name the file', () => {
    const { dir, file } = writeSpec(toy("flags"))
    for (const args of [
      ["--concurrency", "0"],
      ["--concurrency", "-1"],
      ["--store", ""]
    ]) {
      const r = memorize(["run", file, ...args], { cwd: dir })
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(2)
      expect(r.stderr).toContain(args[0]!)
    }
    expect(fs.readdirSync(dir)).toEqual(["spec.yaml"])
    const folder = memorize(["validate", dir], { cwd: dir })
    expect(folder.code).toBe(2)
    expect(folder.stderr).toMatch(/cannot read the spec file .*: it is a directory/)
    const missing = memorize(["validate", path.join(dir, "nope.yaml")], { cwd: dir })
    expect(missing.stderr).toMatch(/ENOENT/)
    const bomb = path.join(dir, "bomb.yaml")
    const lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for (let i = 0; i < 8; i++)
      lines.push(
        `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`
      )
    fs.writeFileSync(bomb, `${lines.join("\n")}\n`)
    const b = memorize(["validate", bomb], { cwd: dir })
    expect(b.code).toBe(2)
    expect(b.stderr).toContain(bomb)
  })

  it("--set plugins=[...] loads the plugin module; .nan is reported as NaN, not null", () => {
    const { dir, file } = writeSpec(toy("setplugins"))
    const fixture = path.resolve(__dirname, "fixtures/unigram-plugins.ts")
    const ok = memorize(["validate", file, "--set", `plugins=[${JSON.stringify(fixture)}]`], { cwd: dir })
    expect(ok.code, ok.stderr).toBe(0)
    const nan = memorize(["validate", file, "--set", `plugins=[${JSON.stringify(fixture)}]`, "--set", "dataset.samples=.nan"], { cwd: dir })
    expect(nan.code).toBe(2)
    expect(nan.stderr).toMatch(/found NaN/)
  })
})

describe("eval refuses non-finite weights", () => {
  it.effect("a NaN in one tensor: ModelError naming the tensor and the file, before any GPU work", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memorize-nan-"))
      const shape = { vocabSize: 8, nPositions: 4, layers: 1, dModel: 8, heads: 2, layerNormEps: 1e-5, activation: "gelu_new" as const, tiedHead: true }
      const weights = initGpt2Weights(shape, 0)
      const name = gpt2TensorShapes(shape)[3]![0]
      weights.tensors.get(name)!.data[2] = Number.NaN
      yield* saveCheckpoint(dir, weights)
      fs.writeFileSync(path.join(dir, "tokens.jsonl"), "[1, 2, 3, 4]\n")
      const error = yield* Effect.flip(prepareEval({ model: dir, tokens: path.join(dir, "tokens.jsonl") }))
      expect(error._tag).toBe("ModelError")
      expect(error.message).toMatch(/holds NaN at element 2/)
      expect((error as { tensor?: string }).tensor).toContain(name.split(".").slice(-2).join("."))
    })
  )
})

/**
 * Fuzz: one config field of one built-in dataset or metric plugin set to a
 * hostile value; `validate` must reject it with a location, or the run must
 * succeed (tiny data, the CPU unigram fixture as model and trainer).
 */
describe("fuzz: validate rejects with a location, or the run succeeds", () => {
  const hostile = [0, -1, 0.5, 1e12, Number.NaN, Infinity, -Infinity, "x", null, [1]]
  const datasets: Record<string, { base: string; fields: ReadonlyArray<string> }> = {
    "synthetic-uniform": { base: "vocab: 4, seqLen: 4, samples: 4", fields: ["vocab", "seqLen", "samples", "holdout", "seed"] },
    text: {
      base: "source: brown, categories: [r], tokenizer: bytes, seqLen: 8, samples: 4, holdout: 4",
      fields: ["seqLen", "samples", "holdout", "seed", "tokenizer", "rarity", "shuffle", "allowFewer", "categories", "cache"]
    }
  }
  const metrics: Record<string, ReadonlyArray<string>> = {
    "membership-inference": ["calibrationFraction"],
    extraction: ["prefixLengths", "maxSamples"],
    rarity: ["top"],
    loss: []
  }
  const yamlOf = (v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? (Number.isNaN(v) ? ".nan" : v > 0 ? ".inf" : "-.inf") : JSON.stringify(v))
  const caseArb = fc.oneof(
    fc.record({
      section: fc.constant("dataset" as const),
      kind: fc.constantFrom(...Object.keys(datasets)),
      field: fc.nat(),
      value: fc.constantFrom(...hostile)
    }),
    fc.record({
      section: fc.constant("metric" as const),
      kind: fc.constantFrom("membership-inference", "extraction", "rarity"),
      field: fc.nat(),
      value: fc.constantFrom(...hostile)
    })
  )
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "memorize-fuzz-"))

  it("over a sample of (plugin, field, value) cases, within a bounded time", async () => {
    const started = Date.now()
    let rejected = 0
    let ran = 0
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const fields = c.section === "dataset" ? datasets[c.kind]!.fields : metrics[c.kind]!
        const field = fields[c.field % fields.length]!
        const value = yamlOf(c.value)
        const dataset =
          c.section === "dataset"
            ? `{ kind: ${c.kind}, ${datasets[c.kind]!.base.split(", ")
                .filter((f) => !f.startsWith(`${field}:`))
                .concat(`${field}: ${value}`)
                .join(", ")} }`
            : `{ kind: text, ${datasets.text!.base}, rarity: true }`
        const metric = c.section === "metric" ? `{ kind: ${c.kind}, ${field}: ${value} }` : "{ kind: loss }"
        const text = `name: fuzz
dataset: ${dataset}
model: { kind: unigram }
train: { kind: counting }
metrics: [ ${metric} ]
reference: { train: { kind: counting } }
store: { root: ${JSON.stringify(root)}, saveModels: false }
`
        const decoded = await Effect.runPromise(Effect.result(decode(text)))
        if (decoded._tag === "Failure") {
          rejected++
          // Rejected: every issue has a location (line:column) and a path.
          for (const issue of decoded.failure.issues) {
            expect(issue.line, `${JSON.stringify(c)} ${decoded.failure.message}`).toBeGreaterThan(0)
            expect(issue.path).not.toBe("")
          }
          return
        }
        ran++
        const outcome = await Effect.runPromise(
          runExperiment(decoded.success, registry, { fresh: true }).pipe(Effect.provide(services)) as unknown as Effect.Effect<{
            failures: ReadonlyArray<{ error: { message: string } }>
          }>
        )
        expect(
          outcome.failures.map((f) => f.error.message),
          `${JSON.stringify(c)} was accepted but failed`
        ).toEqual([])
      }),
      { numRuns: 60, seed: 13, interruptAfterTimeLimit: 50_000 }
    )
    expect(rejected).toBeGreaterThan(0)
    expect(ran).toBeGreaterThan(0)
    expect(Date.now() - started).toBeLessThan(90_000)
  }, 120_000)
})
