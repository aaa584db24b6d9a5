import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fc from "fast-check"
import { stringify } from "yaml"
import { decodeExperiment, makeRegistry, parseYamlSpec, type SpecError } from "../src/index.ts"
import plugins from "../../../test/fixtures/unigram-plugins.ts"

const registry = Effect.runSync(makeRegistry(plugins, "test"))
const decode = (text: string, sets: Array<string> = []) =>
  parseYamlSpec("spec.yaml", text).pipe(Effect.flatMap((src) => decodeExperiment(src, registry, { sets })))
const issuesOf = (text: string, sets: Array<string> = []) => Effect.runSync(Effect.flip(decode(text, sets)) as Effect.Effect<SpecError>).issues

const valid = `name: toy
seed: 3
dataset: { kind: toy-skewed, samples: 10 }
model: { kind: unigram }
train: { kind: counting }
metrics: [ { kind: toy-bits } ]
laws: [ { kind: run-count } ]
`

describe("spec decoding", () => {
  it("decodes a valid spec and applies defaults of every plugin", () => {
    const exp = Effect.runSync(decode(valid))
    expect(exp.name).toBe("toy")
    expect(exp.plans).toHaveLength(1)
    expect(exp.plans[0]!.config.dataset).toEqual({ kind: "toy-skewed", vocab: 8, seqLen: 4, samples: 10 })
    expect(exp.plans[0]!.config.model).toEqual({ kind: "unigram", smoothing: 1 })
    expect(exp.resolved.store).toEqual({ root: "runs", saveModels: true })
    expect(exp.laws.map((l) => l.plugin.name)).toEqual(["run-count"])
  })

  it("reports three mistakes at once, each with its line and column", () => {
    const text = `name: toy
dataset:
  kind: toy-skewed
  samples: -4
model: { kind: unigram, smoothnig: 1 }
train: { kind: countin }
`
    const issues = issuesOf(text)
    expect(issues).toHaveLength(3)
    expect(issues[0]).toMatchObject({ path: "dataset.samples", line: 4, column: 12 })
    expect(issues[0]!.message).toMatch(/greater than 0, found -4/)
    expect(issues[1]).toMatchObject({ path: "model.smoothnig", line: 5, column: 25 })
    expect(issues[1]!.message).toMatch(/unknown key "smoothnig" \(expected one of: smoothing\)/)
    expect(issues[2]).toMatchObject({ path: "train.kind", line: 6, column: 16 })
    expect(issues[2]!.message).toMatch(/unknown trainer plugin "countin" \(registered: counting/)
  })

  it("names a missing required section and a wrong type with what was found", () => {
    const issues = issuesOf(`name: toy\nseed: "zero"\ndataset: { kind: toy-skewed, samples: 1 }\nmodel: { kind: unigram }\n`)
    expect(issues.map((i) => i.path).sort()).toEqual(["seed", "train"])
    expect(issues.find((i) => i.path === "seed")!.message).toMatch(/found "zero"/)
    expect(issues.find((i) => i.path === "train")!.message).toMatch(/missing/)
  })

  it("reports YAML syntax errors with their position", () => {
    const issues = issuesOf("name: toy\ndataset: { kind: x\n")
    expect(issues[0]!.message).toMatch(/YAML syntax/)
    expect(issues[0]!.line).toBeGreaterThanOrEqual(2)
  })

  it("applies --set overrides typed by the schema", () => {
    const exp = Effect.runSync(decode(valid, ["dataset.samples=32", "model.smoothing=0.5"]))
    expect(exp.plans[0]!.config.dataset).toMatchObject({ samples: 32 })
    expect(exp.plans[0]!.config.model).toMatchObject({ smoothing: 0.5 })
  })

  it("rejects a bad --set path or value, naming the flag", () => {
    const bad = issuesOf(valid, ["dataset.samplez=3", "dataset.samples=many"])
    expect(bad.map((i) => i.message).join("\n")).toMatch(/unknown key "samplez".*from --set dataset\.samplez=3/)
    expect(bad.map((i) => i.message).join("\n")).toMatch(/found "many" \(from --set dataset\.samples=many\)/)
    expect(issuesOf(valid, ["no-equals-sign"])[0]!.message).toMatch(/expected --set path.to.field=value/)
  })

  it("expands grid × zip sweeps; runIds are distinct and stable", () => {
    const text = `${valid}sweep:
  grid: { dataset.samples: [4, 8, 16], seed: [0, 1] }
  zip: { dataset.vocab: [4, 8], dataset.seqLen: [2, 3] }
`
    const a = Effect.runSync(decode(text))
    expect(a.plans).toHaveLength(3 * 2 * 2)
    expect(new Set(a.plans.map((p) => p.runId)).size).toBe(12)
    const b = Effect.runSync(decode(text))
    expect(b.plans.map((p) => p.runId)).toEqual(a.plans.map((p) => p.runId))
    const pairs = a.plans.map((p) => {
      const d = p.config.dataset as { vocab: number; seqLen: number }
      return [d.vocab, d.seqLen]
    })
    expect(pairs.every(([v, s]) => (v === 4 && s === 2) || (v === 8 && s === 3))).toBe(true)
  })

  it("checks zip lengths and points at the sweep", () => {
    const issues = issuesOf(`${valid}sweep:\n  zip: { dataset.vocab: [4, 8], dataset.seqLen: [2] }\n`)
    expect(issues[0]!.message).toMatch(/same length/)
    expect(issues[0]!.line).toBe(9)
  })

  it("points a bad swept value at its place in the sweep", () => {
    const issues = issuesOf(`${valid}sweep:\n  grid: { dataset.samples: [4, -1] }\n`)
    expect(issues).toHaveLength(1)
    expect(issues[0]).toMatchObject({ path: "dataset.samples", line: 9 })
    expect(issues[0]!.message).toMatch(/swept at sweep\.grid\.dataset\.samples\[1\]/)
  })

  it("property: runId does not depend on the key order of the spec", () => {
    const base = {
      name: "toy",
      dataset: { kind: "toy-skewed", samples: 5, vocab: 6 },
      model: { kind: "unigram", smoothing: 2 },
      train: { kind: "counting" },
      metrics: [{ kind: "toy-bits" }]
    }
    const id = Effect.runSync(decode(stringify(base))).plans[0]!.runId
    fc.assert(
      fc.property(fc.array(fc.integer(), { minLength: 20, maxLength: 20 }), (keys) => {
        const shuffle = (o: Record<string, unknown>, k: number): Record<string, unknown> =>
          Object.fromEntries(
            Object.entries(o)
              .map(([key, v], i) => [key, v && typeof v === "object" && !Array.isArray(v) ? shuffle(v as Record<string, unknown>, k + i) : v] as const)
              .sort((x, y) => (keys[(k + x[0].length) % 20]! ^ x[0].charCodeAt(0)) - (keys[(k + y[0].length) % 20]! ^ y[0].charCodeAt(0)))
          )
        const reordered = shuffle(base, 0)
        expect(Effect.runSync(decode(stringify(reordered))).plans[0]!.runId).toBe(id)
      }),
      { numRuns: 50 }
    )
  })

  it("property: YAML round trip of generated specs decodes to the same resolved config", () => {
    const arb = fc.record({
      name: fc.stringMatching(/^[a-z][a-z0-9_-]{0,10}$/),
      seed: fc.nat(1000),
      samples: fc.integer({ min: 1, max: 1000 }),
      vocab: fc.integer({ min: 1, max: 5000 }),
      smoothing: fc.double({ min: 0.01, max: 10, noNaN: true })
    })
    fc.assert(
      fc.property(arb, (s) => {
        const spec = {
          name: s.name,
          seed: s.seed,
          dataset: { kind: "toy-skewed", samples: s.samples, vocab: s.vocab },
          model: { kind: "unigram", smoothing: s.smoothing },
          train: { kind: "counting" }
        }
        const once = Effect.runSync(decode(stringify(spec)))
        const twice = Effect.runSync(decode(stringify(once.resolved)))
        expect(twice.resolved).toEqual(once.resolved)
        expect(twice.plans[0]!.runId).toBe(once.plans[0]!.runId)
      }),
      { numRuns: 60 }
    )
  })
})
