/**
 * The spec language's JSON Schema against `memorize validate`: the
 * generated memorize.schema.json is current, every spec in experiments/
 * points at it and passes it, and a second validator (ajv, draft 2020-12)
 * agrees with validate on generated valid and invalid specs. Rules that need
 * two fields at once are validate's alone; they are listed below with a spec
 * that shows each.
 */
import { describe, expect, it } from "@effect/vitest"
import Ajv2020 from "ajv/dist/2020.js"
import { Effect } from "effect"
import * as fc from "fast-check"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { stringify } from "yaml"
import { decodeExperiment, describeFields, makeRegistry, parseYamlSpec, renderSpecSchema, type SpecIssue } from "@memorize/core"
import { builtinPlugins } from "../bin/plugins.ts"
import { fixturePlugins, memorize, repoRoot, writeSpec } from "./cli-helpers.ts"

// ajv's CommonJS default export seen through ESM interop: the class is on `.default`.
const Ajv = Ajv2020 as unknown as typeof Ajv2020.default
const schemaFile = path.join(repoRoot, "memorize.schema.json")
const registry = Effect.runSync(makeRegistry(builtinPlugins, "built-in"))
// Strict about keywords, types and tuples; not `strictRequired`: the sweep rules require keys that are defined elsewhere.
const ajvCheck = new Ajv({ allErrors: true, strictSchema: true, strictTypes: true, strictTuples: true }).compile(JSON.parse(renderSpecSchema(builtinPlugins)))

/** validate's verdict on a spec (as YAML text, so both validators read the same parsed value), with its issues; its file checks are asynchronous. */
const validateText = async (text: string): Promise<{ ok: boolean; issues: ReadonlyArray<SpecIssue>; value: unknown }> => {
  const source = Effect.runSync(parseYamlSpec("spec.yaml", text))
  const verdict = await Effect.runPromise(
    decodeExperiment(source, registry).pipe(Effect.match({ onFailure: (e) => ({ ok: false, issues: e.issues }), onSuccess: () => ({ ok: true, issues: [] }) }))
  )
  return { ...verdict, value: source.value }
}
const verdicts = async (spec: unknown) => {
  const v = await validateText(stringify(spec))
  return { validate: v.ok, schema: ajvCheck(v.value), issues: v.issues, errors: ajvCheck.errors ?? [] }
}

const valueAt = (root: unknown, dotted: string): unknown =>
  dotted.split(".").reduce<any>((v, k) => (v !== null && typeof v === "object" ? v[k] : undefined), root)

const specFiles = (dir: string): Array<string> =>
  fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? specFiles(path.join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [path.join(dir, e.name)] : []))

describe("memorize.schema.json", () => {
  it("is what `memorize schema` writes for the built-in plugins", () => {
    const committed = fs.readFileSync(schemaFile, "utf8")
    expect(committed === renderSpecSchema(builtinPlugins), "memorize.schema.json is stale: run ./memorize schema --out memorize.schema.json").toBe(true)
  })

  const files = specFiles(path.join(repoRoot, "experiments"))
  for (const file of files) {
    const name = path.relative(repoRoot, file)
    it(`${name} starts with the yaml-language-server line naming it, and passes it`, async () => {
      const [first] = fs.readFileSync(file, "utf8").split("\n")
      const m = /^# yaml-language-server: \$schema=(\S+)$/.exec(first ?? "")
      expect(m, `${name} must start with "# yaml-language-server: $schema=${path.relative(path.dirname(file), schemaFile)}"`).not.toBeNull()
      expect(path.resolve(path.dirname(file), m![1]!)).toBe(schemaFile)
      // validate's verdict on these is test/experiments.test.ts's (some need corpora the user downloads).
      const { value } = await validateText(fs.readFileSync(file, "utf8"))
      expect(ajvCheck(value), JSON.stringify(ajvCheck.errors?.slice(0, 3))).toBe(true)
    })

    it(`${name}: validate still reports the line of a mistake below the header line`, async () => {
      const lines = fs.readFileSync(file, "utf8").split("\n")
      const at = lines.findIndex((l) => /^name:/.test(l))
      lines[at] = "name: not a valid name"
      const { ok, issues } = await validateText(lines.join("\n"))
      expect(ok).toBe(false)
      expect(issues.find((i) => i.path === "name")).toMatchObject({ line: at + 1, column: 7 })
    })
  }
})

describe("field descriptions", () => {
  // Described by the engineers who own these files (being edited now); remove an entry once its description lands.
  const owedElsewhere: Array<string> = []

  it("every field of every built-in plugin has one, shown by `memorize plugins` and in the schema", () => {
    const missing = builtinPlugins.flatMap((p) =>
      describeFields(p.config)
        .filter((f) => !f.description)
        .map((f) => `${p.kind} ${p.name}.${f.name}`)
    )
    expect(missing.sort()).toEqual([...owedElsewhere].sort())
    const defs = JSON.parse(fs.readFileSync(schemaFile, "utf8")).$defs
    expect(defs["trainer.webgpu"].properties.batchSize.description).toMatch(/sequences per optimizer step/)
  })
})

// Generated specs: valid ones over the built-in plugins (free of cross-field problems), then value-level mistakes.
const pick = <T>(xs: ReadonlyArray<T>) => fc.constantFrom(...xs)
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined })
const small = (min: number, max: number) => fc.integer({ min, max })
const unit = fc.double({ min: 0, max: 0.999, noNaN: true })

const dataset = fc.record(
  {
    kind: fc.constant("synthetic-uniform"),
    vocab: small(2, 4096),
    seqLen: small(2, 64),
    samples: small(1, 256),
    holdout: optional(small(1, 256)),
    seed: optional(small(0, 100))
  },
  { requiredKeys: ["kind", "vocab", "seqLen", "samples"] }
)

const model = fc
  .record({
    heads: pick([1, 2, 4]),
    k: small(1, 16),
    layers: small(1, 3),
    bos: optional(fc.boolean()),
    layerNormEps: optional(fc.double({ min: 1e-8, max: 1e-3, noNaN: true }))
  })
  .map(({ heads, k, ...rest }) => ({ kind: "gpt2", heads, dModel: heads * k, ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) }))

const trainFields = {
  precision: optional(pick(["fp32", "bf16", "bf16-params", "fp16"])),
  batchSize: optional(small(1, 256)),
  lr: optional(fc.double({ min: 1e-6, max: 1, noNaN: true })),
  beta1: optional(unit),
  beta2: optional(unit),
  eps: optional(fc.double({ min: 1e-12, max: 1e-3, noNaN: true })),
  weightDecay: optional(fc.double({ min: 0, max: 1, noNaN: true })),
  warmupSteps: optional(small(0, 100)),
  schedule: optional(pick(["constant", "cosine", "linear"])),
  maxSteps: optional(small(1, 5000)),
  gradClip: optional(fc.double({ min: 0, max: 5, noNaN: true })),
  stop: optional(
    fc.record(
      {
        plateau: fc.record({ window: small(1, 500), minDelta: fc.double({ min: 0, max: 0.1, noNaN: true }) }),
        targetLoss: fc.double({ min: 0, max: 5, noNaN: true })
      },
      { requiredKeys: [] }
    )
  ),
  logEvery: optional(small(1, 100)),
  microBatch: optional(small(1, 64)),
  seed: optional(small(-5, 100))
}
const defined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))
const train = fc.oneof(
  fc.record({ ...trainFields, threads: optional(small(1, 8)) }).map((t) => ({ kind: "cpu", ...defined(t) })),
  fc.record({ ...trainFields, autotune: optional(fc.boolean()) }).map((t) => ({ kind: "webgpu", ...defined(t) }))
)

/** Metrics, and laws reading only what those metrics give. */
const measures = (seqLen: number) =>
  fc
    .record({
      memorization: fc.boolean(),
      loss: fc.boolean(),
      membership: optional(optional(fc.double({ min: 0.05, max: 0.95, noNaN: true }))),
      extraction: optional(
        fc.record(
          { prefixLengths: fc.uniqueArray(small(1, seqLen - 1), { minLength: 1, maxLength: 3 }), maxSamples: optional(small(1, 100)) },
          { requiredKeys: ["prefixLengths"] }
        )
      ),
      laws: fc.subarray(["capacity", "double-descent", "membership-f1"] as const)
    })
    .map((m) => ({
      metrics: [
        ...(m.memorization ? [{ kind: "memorization" }] : []),
        ...(m.loss ? [{ kind: "loss" }] : []),
        ...(m.membership !== undefined ? [{ kind: "membership-inference", ...defined({ calibrationFraction: m.membership }) }] : []),
        ...(m.extraction ? [{ kind: "extraction", ...defined(m.extraction) }] : [])
      ],
      laws: m.laws
        .filter((l) => (l === "capacity" ? m.memorization : l === "double-descent" ? m.memorization && m.loss : m.membership !== undefined))
        .map((kind) => (kind === "membership-f1" ? { kind, alpha: 3.64, feature: "samplesPerParameter" } : { kind }))
    }))

/** A sweep over distinct values (equal configs are refused), zip lists of one length, no axis twice; it may take a required field out of its section. */
const sweep = fc.record({
  gridAxes: fc.subarray(["dataset.samples", "seed", "train.lr", "model.layers"] as const, { maxLength: 2 }),
  zipAxes: fc.subarray(["dataset.vocab", "train.maxSteps"] as const, { maxLength: 2 }),
  n: small(1, 3),
  lift: fc.boolean()
})
const axisValues: Record<string, (n: number) => fc.Arbitrary<Array<number>>> = {
  "dataset.samples": (n) => fc.uniqueArray(small(1, 128), { minLength: n, maxLength: n }),
  seed: (n) => fc.uniqueArray(small(0, 50), { minLength: n, maxLength: n }),
  "train.lr": (n) => fc.uniqueArray(fc.double({ min: 1e-5, max: 0.5, noNaN: true }), { minLength: n, maxLength: n }),
  "model.layers": (n) => fc.uniqueArray(small(1, 3), { minLength: n, maxLength: n }),
  "dataset.vocab": (n) => fc.uniqueArray(small(2, 512), { minLength: n, maxLength: n }),
  "train.maxSteps": (n) => fc.uniqueArray(small(1, 500), { minLength: n, maxLength: n })
}
const axes = (keys: ReadonlyArray<string>, n: number) =>
  fc.tuple(...keys.map((k) => axisValues[k]!(n))).map((lists) => Object.fromEntries(keys.map((k, i) => [k, lists[i]])))

const validSpec = fc
  .record({
    name: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,12}$/),
    description: optional(fc.string({ maxLength: 20 })),
    seed: optional(small(0, 1000)),
    dataset,
    model,
    train,
    report: optional(fc.record({ title: fc.string({ maxLength: 10 }), topSamples: small(1, 20) }, { requiredKeys: [] })),
    store: optional(fc.record({ root: fc.constantFrom("runs", "out/runs"), saveModels: fc.boolean() }, { requiredKeys: [] })),
    reference: optional(fc.constant({ train: { kind: "cpu", maxSteps: 10 }, dataset: { samples: 300 } })),
    sweep: optional(sweep)
  })
  .chain((s) =>
    fc
      .tuple(measures(s.dataset.seqLen), s.sweep ? fc.tuple(axes(s.sweep.gridAxes, 3), axes(s.sweep.zipAxes, s.sweep.n)) : fc.constant(undefined))
      .map(([m, swept]) => {
        const spec: Record<string, any> = { ...defined({ ...s, sweep: undefined }), ...m }
        if (s.sweep && swept) {
          const [grid, zip] = swept
          spec.sweep = defined({ grid: Object.keys(grid).length ? grid : undefined, zip: Object.keys(zip).length ? zip : undefined })
          // A required field left to the sweep.
          if (s.sweep.lift && "dataset.samples" in grid) {
            const { samples: _samples, ...rest } = spec.dataset
            spec.dataset = rest
          }
        }
        return spec
      })
  )

/** Value-level mistakes: each breaks one field's type, bound, key or kind. */
/**
 * Value-level mistakes: each breaks one field's type, bound, key or kind.
 * A mistake in a field that the spec's sweep sets is not made: validate never
 * reads a swept field's written value (one of the two cases where the schema
 * is stricter, below).
 */
const mistakes: ReadonlyArray<readonly [string, (s: Record<string, any>) => void]> = [
  ["vocab as a string", (s) => void (s.dataset.vocab = "64")],
  ["vocab 1", (s) => void (s.dataset.vocab = 1)],
  ["samples 0", (s) => void (s.dataset.samples = 0)],
  ["samples past 2^32 − 1", (s) => void (s.dataset.samples = 2 ** 32)],
  ["holdout null", (s) => void (s.dataset.holdout = null)],
  ["holdout −1", (s) => void (s.dataset.holdout = -1)],
  ["layers 1.5", (s) => void (s.model.layers = 1.5)],
  ["heads 0", (s) => void (s.model.heads = 0)],
  ["bos as a string", (s) => void (s.model.bos = "yes")],
  ["layerNormEps 0", (s) => void (s.model.layerNormEps = 0)],
  ["lr 0", (s) => void (s.train.lr = 0)],
  ["beta1 1", (s) => void (s.train.beta1 = 1)],
  ["precision fp8", (s) => void (s.train.precision = "fp8")],
  ["schedule exp", (s) => void (s.train.schedule = "exp")],
  ["microBatch null", (s) => void (s.train.microBatch = null)],
  ["plateau without minDelta", (s) => void (s.train.stop = { plateau: { window: 10 } })],
  ["targetLoss −1", (s) => void (s.train.stop = { targetLoss: -1 })],
  ["an unknown stop rule", (s) => void (s.train.stop = { patience: 3 })],
  ["seed −1", (s) => void (s.seed = -1)],
  ["a name with a space", (s) => void (s.name = "my run")],
  ["description null", (s) => void (s.description = null)],
  ["an unknown top-level key", (s) => void (s.extra = 1)],
  ["an unknown dataset key", (s) => void (s.dataset.sampels = 3)],
  ["an unknown trainer key", (s) => void (s.train.learningRate = 0.1)],
  ["an unknown model kind", (s) => void (s.model.kind = "gpt3")],
  ["an unknown trainer kind", (s) => void (s.train.kind = "tpu")],
  ["no train section", (s) => void delete s.train],
  ["a model without heads", (s) => void delete s.model.heads],
  ["an unknown metric", (s) => void (s.metrics = [...(s.metrics ?? []), { kind: "perplexity" }])],
  ["a metric with an unknown key", (s) => void (s.metrics = [...(s.metrics ?? []), { kind: "loss", holdout: true }])],
  ["calibrationFraction 1", (s) => void (s.metrics = [{ kind: "membership-inference", calibrationFraction: 1 }])],
  ["no prefix lengths", (s) => void (s.metrics = [{ kind: "extraction", prefixLengths: [] }])],
  ["alpha 0", (s) => void (s.laws = [{ kind: "membership-f1", alpha: 0 }])],
  ["an unknown law", (s) => void (s.laws = [{ kind: "scaling" }])],
  ["topSamples 0", (s) => void (s.report = { topSamples: 0 })],
  ["saveModels as a string", (s) => void (s.store = { saveModels: "no" })],
  ["plugins not a list", (s) => void (s.plugins = "x")],
  ["an empty sweep axis", (s) => void (s.sweep = { grid: { "dataset.samples": [] } })],
  ["a sweep axis that is no list", (s) => void (s.sweep = { grid: { seed: 3 } })],
  ["a misspelt sweep path", (s) => void (s.sweep = { grid: { "model.dmodel": [16, 32] } })],
  ["a swept value out of bounds", (s) => void (s.sweep = { grid: { "train.lr": [0.01, -1] } })],
  ["a swept value of the wrong type", (s) => void (s.sweep = { zip: { "model.layers": [1, "two"] } })],
  ["an unknown sweep kind", (s) => void (s.sweep = { cartesian: {} })],
  ["reference without train", (s) => void (s.reference = { dataset: { samples: 10 } })],
  ["a reference dataset field no dataset has", (s) => void (s.reference = { train: { kind: "cpu" }, dataset: { size: 10 } })],
  ["a reference dataset value out of bounds", (s) => void (s.reference = { train: { kind: "cpu" }, dataset: { samples: 0 } })]
]

describe("ajv and validate agree", () => {
  it("on generated valid specs and on each value-level mistake in them", async () => {
    let accepted = 0
    let refused = 0
    await fc.assert(
      fc.asyncProperty(validSpec, fc.option(fc.integer({ min: 0, max: mistakes.length - 1 }), { nil: undefined, freq: 3 }), async (spec, m) => {
        const broken = structuredClone(spec)
        const swept = Object.keys({ ...spec.sweep?.grid, ...spec.sweep?.zip })
        if (m !== undefined) mistakes[m]![1](broken)
        if (m !== undefined && swept.some((axis) => JSON.stringify(valueAt(broken, axis)) !== JSON.stringify(valueAt(spec, axis)))) return
        const v = await verdicts(broken)
        const why = JSON.stringify({ mistake: m === undefined ? null : mistakes[m]![0], issues: v.issues, errors: v.errors.slice(0, 3), spec: broken })
        if (m === undefined) expect(v.validate, why).toBe(true)
        expect(v.schema, why).toBe(v.validate)
        if (v.validate) accepted++
        else refused++
      }),
      { numRuns: 400 }
    )
    // Both sides were exercised.
    expect(accepted).toBeGreaterThan(50)
    expect(refused).toBeGreaterThan(50)
  })

  const base = {
    name: "x",
    dataset: { kind: "synthetic-uniform", vocab: 16, seqLen: 8, samples: 4 },
    model: { kind: "gpt2", layers: 1, dModel: 8, heads: 2 },
    train: { kind: "cpu" }
  }
  for (const [what, mistake] of mistakes) {
    it(`both refuse ${what}`, async () => {
      const spec: Record<string, any> = structuredClone(base)
      mistake(spec)
      const v = await verdicts(spec)
      expect(v.validate, JSON.stringify(v.issues)).toBe(false)
      expect(v.schema).toBe(false)
    })
  }

  /**
   * Cross-field rules: validate refuses these, the schema cannot say them
   * (or says them for any plugin of the slot, not the one `kind` picks).
   */
  const crossField: ReadonlyArray<readonly [string, (s: Record<string, any>) => void, RegExp]> = [
    ["gpt2: dModel divisible by heads", (s) => void (s.model = { ...s.model, dModel: 9, heads: 2 }), /must be divisible by heads/],
    ["sweep: zip lists of one length", (s) => void (s.sweep = { zip: { seed: [0, 1], "dataset.samples": [4] } }), /the same length/],
    ["sweep: an axis in grid and zip at once", (s) => void (s.sweep = { grid: { seed: [0, 1] }, zip: { seed: [2, 3] } }), /swept twice/],
    ["sweep: no two runs with the same resolved config", (s) => void (s.sweep = { grid: { seed: [1, 1] } }), /same resolved config/],
    [
      "sweep: a swept field belongs to the plugin kind picks (threads is cpu's, not webgpu's)",
      (s) => void ((s.train = { kind: "webgpu" }), (s.sweep = { grid: { "train.threads": [1, 2] } })),
      /unknown key "threads"/
    ],
    [
      "sweep: swept values suit the plugin kind picks (a swept section is checked against every plugin of its slot)",
      (s) => void (s.sweep = { grid: { model: [{ kind: "gpt2", layers: 1 }] } }),
      /missing required key/
    ],
    [
      "reference.dataset: its fields suit the dataset plugin of the merged section",
      (s) => void (s.reference = { train: { kind: "cpu" }, dataset: { shuffle: true } }),
      /unknown key "shuffle"/
    ],
    ["metrics / laws: one entry per kind", (s) => void (s.metrics = [{ kind: "loss" }, { kind: "loss" }]), /listed twice/],
    [
      "memorization: needs exact entropy or a reference",
      (s) => void ((s.dataset = { kind: "tokens", path: "README.md", vocab: 16, seqLen: 8 }), (s.metrics = [{ kind: "memorization" }])),
      /exact entropy or a reference/
    ],
    ["membership-inference: needs a holdout", (s) => void ((s.dataset.holdout = 0), (s.metrics = [{ kind: "membership-inference" }])), /needs non-members/],
    [
      "extraction: a prefix shorter than the sequence",
      (s) => void (s.metrics = [{ kind: "extraction", prefixLengths: [8, 16] }]),
      /nothing is left to extract/
    ],
    [
      "compression: 2^freqBits above 2·vocab",
      (s) => void ((s.dataset.vocab = 2 ** 24), (s.metrics = [{ kind: "compression", freqBits: 16 }])),
      /too small for a vocabulary/
    ],
    ["laws: the metric a law reads is in the spec", (s) => void (s.laws = [{ kind: "capacity" }]), /has no memorization metric/],
    [
      "laws: the key a law reads is a field of that metric",
      (s) => void ((s.metrics = [{ kind: "memorization" }]), (s.laws = [{ kind: "capacity", metricKey: "bits" }])),
      /not a field of the memorization metric/
    ],
    ["datasets and checkpoints: their files exist", (s) => void (s.train = { kind: "checkpoint", path: "no/such/model" }), /no checkpoint at/],
    [
      "synthetic-uniform: (samples + holdout) × seqLen ≤ 2^31 tokens",
      (s) => void (s.dataset = { ...s.dataset, samples: 2 ** 30, seqLen: 4 }),
      /may hold in memory/
    ],
    ["gpt2: the model fits in this machine's memory", (s) => void (s.model = { ...s.model, layers: 4096, dModel: 8192, heads: 8 }), /more than this machine/]
  ]
  for (const [rule, make, because] of crossField) {
    it(`validate alone refuses: ${rule}`, async () => {
      const spec: Record<string, any> = structuredClone(base)
      make(spec)
      const v = await verdicts(spec)
      expect(v.schema, JSON.stringify(v.errors.slice(0, 3))).toBe(true)
      expect(v.validate).toBe(false)
      // Refused for the rule itself: not for a mistake in the value the rule's spec was built on.
      expect(v.issues.length).toBeGreaterThan(0)
      for (const i of v.issues) expect(i.message).toMatch(because)
    })
  }

  /**
   * The other way: a sweep replaces what the spec writes, and validate reads
   * only the replaced values; the schema still checks what is written.
   */
  const schemaStricter: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
    [
      "a section whose kind is swept is checked against its written kind",
      { train: { kind: "webgpu", threads: 2 }, sweep: { grid: { "train.kind": ["cpu"] } } }
    ],
    ["a section field that is swept is checked as written", { train: { kind: "cpu", lr: "tbd" }, sweep: { grid: { "train.lr": [0.01, 0.02] } } }]
  ]
  for (const [rule, change] of schemaStricter) {
    it(`the schema alone refuses: ${rule}`, async () => {
      const v = await verdicts({ ...structuredClone(base), ...change })
      expect(v.validate, JSON.stringify(v.issues)).toBe(true)
      expect(v.schema).toBe(false)
    })
  }
})

describe("memorize schema", () => {
  it("with a spec, includes its plugin modules; --out writes the file", () => {
    const { dir, file } = writeSpec(`name: third-party\nplugins: [ "${fixturePlugins}" ]\n`)
    const out = path.join(dir, "spec.schema.json")
    const r = memorize(["schema", file, "--out", out])
    expect(r.code, r.stderr).toBe(0)
    const schema = JSON.parse(fs.readFileSync(out, "utf8"))
    expect(schema.$defs["model.unigram"].properties.kind.const).toBe("unigram")
    expect(schema.$defs["model.gpt2"]).toBeDefined()
  })

  it("an --out it cannot write is an OutputError naming the file, and nothing is left behind", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memorize-schema-"))
    fs.writeFileSync(path.join(dir, "file"), "")
    const out = path.join(dir, "file", "schema.json")
    const r = memorize(["schema", "--out", out])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(new RegExp(`OutputError \\(${out.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}\\): cannot write: E[A-Z]+: `))
    expect(fs.readdirSync(dir)).toEqual(["file"])
  })
})
