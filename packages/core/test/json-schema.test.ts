import { describe, expect, it } from "@effect/vitest"
import Ajv2020 from "ajv/dist/2020.js"
import { Effect, Schema } from "effect"
import * as fc from "fast-check"
import { stringify } from "yaml"
import { decodeExperiment, makeRegistry, parseYamlSpec, PositiveInt, withDefault } from "../src/index.ts"
import { configJsonSchema } from "../src/json-schema/config.ts"
import { specJsonSchema } from "../src/json-schema/spec.ts"
import { decodeWithIssues } from "../src/spec/issues.ts"
import plugins from "../../../test/fixtures/unigram-plugins.ts"

// ajv's CommonJS default export seen through ESM interop: the class is on `.default`.
const Ajv = Ajv2020 as unknown as typeof Ajv2020.default
// Strict about keywords, types and tuples; not `strictRequired`: the sweep rules require keys that are defined elsewhere.
const ajv = () => new Ajv({ allErrors: true, strictSchema: true, strictTypes: true, strictTuples: true })

/** A config exercising what plugin configs use: bounds, optional and defaulted fields, literals, unions, lists, nesting, a cross-field check. */
const Config = Schema.Struct({
  count: PositiveInt.annotate({ description: "how many" }),
  rate: withDefault(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1, exclusiveMaximum: true })).annotate({ description: "a share" }), 0.5),
  loose: Schema.optional(Schema.Number),
  mode: withDefault(Schema.Literals(["a", "b"]), "a"),
  paths: Schema.optional(Schema.Union([Schema.String, Schema.Array(Schema.String)])),
  steps: withDefault(Schema.NonEmptyArray(PositiveInt), [1, 2]),
  stop: withDefault(Schema.Struct({ window: PositiveInt, delta: withDefault(Schema.Finite, 0) }), { window: 5 })
}).check(Schema.makeFilter((c) => (c.count >= c.steps.length ? undefined : { path: ["count"], issue: "count must cover the steps" })))

describe("a config Schema as JSON Schema", () => {
  const json = configJsonSchema(Config).schema
  const props = json.properties as Record<string, any>

  it("keeps types, bounds, descriptions and defaults, and refuses unknown keys", () => {
    expect(props.count).toMatchObject({ type: "integer", exclusiveMinimum: 0, description: "how many" })
    expect(props.rate).toMatchObject({ type: "number", minimum: 0, exclusiveMaximum: 1, default: 0.5, description: "a share" })
    expect(props.mode).toMatchObject({ enum: ["a", "b"], default: "a" })
    expect(props.steps).toMatchObject({ type: "array", minItems: 1, default: [1, 2] })
    expect(props.steps.prefixItems).toBeUndefined()
    expect(props.stop.default).toEqual({ window: 5, delta: 0 })
    expect(props.stop.properties.delta.default).toBe(0)
    expect(json.required).toEqual(["count"])
    expect(json.additionalProperties).toBe(false)
  })

  it("an optional field takes no null (YAML `key: ~` is refused by validate) and a number is a number", () => {
    expect(JSON.stringify(props.loose)).toBe(JSON.stringify({ type: "number" }))
    expect(JSON.stringify(json)).not.toMatch(/"null"|Infinity|NaN/)
  })

  it("an empty struct takes no keys", () => {
    const empty = configJsonSchema(Schema.Struct({}).check(Schema.makeFilter(() => true))).schema
    expect(empty).toEqual({ type: "object", properties: {}, additionalProperties: false })
  })

  const value = fc.oneof(
    fc.integer({ min: -3, max: 12 }),
    fc.double({ min: -2, max: 2, noNaN: true }),
    fc.constantFrom("a", "b", "c", "", null, true),
    fc.array(fc.oneof(fc.integer({ min: -1, max: 4 }), fc.constant("x")), { maxLength: 3 }),
    fc.record({ window: fc.oneof(fc.integer({ min: -1, max: 9 }), fc.constant("7")), delta: fc.double({ min: -1, max: 1, noNaN: true }) }, { requiredKeys: [] })
  )
  const input = fc.dictionary(fc.constantFrom("count", "rate", "loose", "mode", "paths", "steps", "stop", "other"), value, { maxKeys: 5 })

  it("ajv accepts exactly what the Schema decodes, but for cross-field checks", () => {
    const check = ajv().compile(json)
    fc.assert(
      fc.property(input, (raw) => {
        const decoded = decodeWithIssues(Config, raw)
        const crossField = !decoded.ok && decoded.issues.every((i) => /count must cover/.test(i.message))
        expect(check(raw), JSON.stringify({ raw, issues: decoded.ok ? [] : decoded.issues })).toBe(decoded.ok || crossField)
      }),
      { numRuns: 400 }
    )
  })
})

describe("the spec's JSON Schema", () => {
  const registry = Effect.runSync(makeRegistry(plugins, "test"))
  const schema = specJsonSchema(plugins)
  const check = ajv().compile(schema)
  // Plugins' file checks are asynchronous, so validate's verdict is awaited.
  const validates = (spec: unknown) =>
    Effect.runPromise(
      parseYamlSpec("spec.yaml", stringify(spec)).pipe(
        Effect.flatMap((s) => decodeExperiment(s, registry)),
        Effect.match({ onFailure: () => false, onSuccess: () => true })
      )
    )
  const base = {
    name: "toy",
    dataset: { kind: "toy-skewed", samples: 4 },
    model: { kind: "unigram" },
    train: { kind: "counting" },
    metrics: [{ kind: "toy-bits" }],
    laws: [{ kind: "run-count" }]
  }
  const agree = async (spec: unknown, expected: boolean) => {
    expect(await validates(spec), "validate").toBe(expected)
    expect(check(spec), JSON.stringify(check.errors?.slice(0, 3))).toBe(expected)
  }

  it("lists each slot as a union discriminated on kind, with each plugin's description", () => {
    const defs = schema.$defs as Record<string, any>
    expect(defs.dataset.oneOf).toEqual([{ $ref: "#/$defs/dataset.toy-skewed" }])
    expect(defs["dataset.toy-skewed"].properties.kind.const).toBe("toy-skewed")
    expect(defs["metric.toy-bits"].additionalProperties).toBe(false)
    expect(Object.keys(defs["sweep.axes"].properties)).toContain("dataset.samples")
  })

  it("agrees with validate on plugin sections, kinds and unknown keys", async () => {
    await agree(base, true)
    await agree({ ...base, dataset: { kind: "toy-skewed", samples: 0 } }, false)
    await agree({ ...base, dataset: { kind: "toy-skewed", samples: 4, sampels: 3 } }, false)
    await agree({ ...base, dataset: { kind: "toy-skewed", samples: 4, vocab: null } }, false)
    await agree({ ...base, model: { kind: "bigram" } }, false)
    await agree({ ...base, metrics: [{ kind: "toy-bits", extra: 1 }] }, false)
    await agree({ ...base, extra: 1 }, false)
  })

  it("lets a sweep supply a required field, and checks swept values and axis names", async () => {
    const { samples: _samples, ...partial } = base.dataset
    await agree({ ...base, dataset: partial }, false)
    await agree({ ...base, dataset: partial, sweep: { grid: { "dataset.samples": [2, 4] } } }, true)
    await agree({ ...base, dataset: partial, sweep: { zip: { "dataset.samples": [2, 4], seed: [0, 1] } } }, true)
    await agree({ ...base, dataset: partial, sweep: { grid: { dataset: [{ kind: "toy-skewed", samples: 3 }] } } }, true)
    await agree({ ...base, sweep: { grid: { "dataset.samples": [2, -1] } } }, false)
    await agree({ ...base, sweep: { grid: { "dataset.sampels": [2] } } }, false)
    await agree({ ...base, sweep: { grid: { "dataset.samples": [] } } }, false)
  })
})
