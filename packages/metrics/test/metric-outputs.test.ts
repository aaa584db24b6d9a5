/**
 * Every built-in metric declares an output Schema (metrics/*-values.ts).
 * Core encodes a metric's values by it into result.json and decodes them by
 * it for the report; so, on generated models and data, what a metric returns
 * must encode to exactly the JSON it has always stored, decode back to it,
 * and a stored value that no longer matches must be named by its key.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import {
  decodeOutput,
  encodeOutput,
  makeRegistry,
  summaryColumns,
  summaryRows,
  type Json,
  type MetricPlugin,
  type MetricSubject,
  type Tokenizer
} from "@memorize/core"
import { compressionPlugin, extractionPlugin, lossPlugin, membershipPlugin, memorizationPlugin, plugins, rarityPlugin } from "../src/index.ts"
import { bigramModelArb, dataset, runResult, shapeArb, subject, tokenSequencesArb, type Shape } from "../src/testing/index.ts"

/** Letters for token ids: a tokenizer, so that rarity stores text. */
const letters = (vocabSize: number): Tokenizer => ({
  name: "letters",
  vocabSize,
  encode: (text) => Array.from(text, (c) => c.charCodeAt(0) - 97),
  decode: (tokens) => Array.from(tokens, (t) => String.fromCharCode(97 + t)).join("")
})

interface SubjectOptions {
  /** At least one holdout sequence (else 0 or more). */
  readonly holdout?: boolean
  /** Always an exact entropy or a reference model, which memorization and rarity need. */
  readonly estimate?: boolean
  readonly minSeqLen?: number
}

/**
 * A bigram model on members and holdout of a random shape; the data has an
 * exact entropy (synthetic) or not (text-like), there is a reference model or
 * not, a tokenizer or not, and per-sample rarity (small integers, so ties and
 * constant rarity, hence null correlations, occur).
 */
const subjectArb = (o: SubjectOptions = {}): fc.Arbitrary<MetricSubject> =>
  shapeArb({ maxVocab: 10, maxSeqLen: 6 })
    .map((s): Shape => ({ ...s, seqLen: Math.max(s.seqLen, o.minSeqLen ?? 1) }))
    .chain((shape) =>
      fc.record({
        model: bigramModelArb(shape),
        reference: fc.option(bigramModelArb(shape), { nil: undefined }),
        train: tokenSequencesArb(shape, { minCount: 1, maxCount: 8 }),
        holdout: tokenSequencesArb(shape, { minCount: o.holdout === true ? 1 : 0, maxCount: 6 }),
        synthetic: fc.boolean(),
        text: fc.boolean(),
        rarity: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 8 + 6, maxLength: 8 + 6 }),
        seed: fc.integer({ min: 0, max: 1000 })
      })
    )
    .map((c) => {
      // Without an entropy the estimate needs the reference: give it one where asked.
      const synthetic = c.synthetic || (o.estimate === true && c.reference === undefined)
      const data = dataset({
        train: c.train,
        holdout: c.holdout,
        kind: synthetic ? "synthetic-fixture" : "text-fixture",
        ...(synthetic ? { entropyBitsPerSequence: c.train.seqLen * Math.log2(c.train.vocabSize) } : {}),
        ...(c.text ? { tokenizer: letters(c.train.vocabSize) } : {}),
        rarity: { train: Float64Array.from(c.rarity.slice(0, c.train.count)), holdout: Float64Array.from(c.rarity.slice(8, 8 + c.holdout.count)) }
      })
      return subject(c.model, data, c.reference, c.seed)
    })

/**
 * For each generated case: the metric's values encode by its output Schema to
 * the very JSON text of the values as returned (keys, order, nulls: what
 * result.json has always held), that JSON decodes, and the decoded values
 * encode back to the same text.
 */
const roundTrips = <C, O>(plugin: MetricPlugin<C, O>, cases: fc.Arbitrary<{ readonly config: C; readonly subject: MetricSubject }>, numRuns: number) =>
  Effect.gen(function* () {
    expect(plugin.output, `${plugin.name} declares an output Schema`).toBeDefined()
    const stored: Array<Json> = []
    for (const c of fc.sample(cases, { numRuns, seed: 14 })) {
      const values = yield* plugin.make(c.config)(c.subject)
      const encoded = encodeOutput(plugin.output, values)
      if (!encoded.ok) throw new Error(`${plugin.name}: ${encoded.problem}`)
      const text = JSON.stringify(encoded.stored)
      expect(text).toBe(JSON.stringify(values))
      const decoded = decodeOutput(plugin.output, JSON.parse(text))
      if (!decoded.ok) throw new Error(`${plugin.name}: stored values do not decode: ${decoded.problem}`)
      const again = encodeOutput(plugin.output, decoded.value)
      if (!again.ok) throw new Error(`${plugin.name}: decoded values do not encode: ${again.problem}`)
      expect(JSON.stringify(again.stored)).toBe(text)
      stored.push(JSON.parse(text))
    }
    return stored
  })

const withConfig = <C>(config: fc.Arbitrary<C>, o?: SubjectOptions) => fc.record({ config, subject: subjectArb(o) })

/** `stored` with the value at `path` replaced. */
const tampered = (stored: Json, path: ReadonlyArray<string>, value: Json): Json => {
  if (path.length === 0) return value
  const [key, ...rest] = path
  const o = stored as { readonly [k: string]: Json }
  return { ...o, [key!]: tampered(o[key!]!, rest, value) }
}

const firstWith = (stored: ReadonlyArray<Json>, path: ReadonlyArray<string>): Json => {
  const found = stored.find((s) => path.reduce<Json | undefined>((o, k) => (o as { readonly [k: string]: Json } | null)?.[k] ?? undefined, s) !== undefined)
  if (found === undefined) throw new Error(`no generated case has ${path.join(".")}`)
  return found
}

/** A stored value of the wrong type fails to decode, and the complaint names its key. */
const refusesTampered = <O>(plugin: MetricPlugin<any, O>, stored: ReadonlyArray<Json>, path: ReadonlyArray<string>, value: Json) => {
  const decoded = decodeOutput(plugin.output, tampered(firstWith(stored, path), path, value))
  expect(decoded.ok, `${plugin.name}: ${path.join(".")} = ${JSON.stringify(value)}`).toBe(false)
  if (!decoded.ok) expect(decoded.problem).toContain(path[path.length - 1])
}

describe("metric output Schemas", () => {
  it.effect("memorization: values round-trip through the Schema; a tampered total is named", () =>
    Effect.gen(function* () {
      const stored = yield* roundTrips(memorizationPlugin, withConfig(fc.constant({}), { estimate: true }), 40)
      // Both estimates, with and without holdout and entropy, were generated.
      expect(new Set(stored.map((s) => (s as { estimate: string }).estimate))).toEqual(new Set(["synthetic", "reference"]))
      expect(stored.some((s) => (s as { holdout: Json }).holdout === null)).toBe(true)
      expect(stored.some((s) => (s as { totalMemorization: Json }).totalMemorization === null)).toBe(true)
      refusesTampered(memorizationPlugin, stored, ["totalBits"], "12")
      refusesTampered(memorizationPlugin, stored, ["holdout", "codeLength", "meanBits"], null)
      refusesTampered(memorizationPlugin, stored, ["estimate"], "guessed")
    })
  )

  it.effect("loss: values round-trip; a tampered holdout loss is named", () =>
    Effect.gen(function* () {
      const stored = yield* roundTrips(lossPlugin, withConfig(fc.constant({})), 30)
      refusesTampered(lossPlugin, stored, ["holdout", "meanNatsPerToken"], "5.5")
      refusesTampered(lossPlugin, stored, ["train", "count"], 1.5)
    })
  )

  it.effect("membership-inference: values round-trip; a store from before f1TopHalf still decodes; a tampered F1 is named", () =>
    Effect.gen(function* () {
      const config = fc.record({ calibrationFraction: fc.double({ min: 0.05, max: 0.95, noNaN: true }) })
      const stored = yield* roundTrips(membershipPlugin, withConfig(config, { holdout: true }), 30)
      expect(stored.some((s) => (s as { f1Calibrated: Json }).f1Calibrated === null)).toBe(true)
      const { f1TopHalf: _, ...older } = stored[0] as { readonly [k: string]: Json }
      expect(decodeOutput(membershipPlugin.output, older).ok).toBe(true)
      refusesTampered(membershipPlugin, stored, ["f1Best"], "0.9")
      refusesTampered(membershipPlugin, stored, ["auc"], 1.5)
    })
  )

  it.effect("extraction: values round-trip; a tampered rate is named", () =>
    Effect.gen(function* () {
      const config = fc
        .record({
          prefixLengths: fc
            .tuple(fc.integer({ min: 1, max: 5 }), fc.array(fc.integer({ min: 1, max: 9 }), { maxLength: 3 }))
            .map(([k, ks]) => [k, ...ks] as const),
          maxSamples: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined })
        })
        .map((c) => (c.maxSamples === undefined ? { prefixLengths: c.prefixLengths } : c))
      // Sequences of 6 tokens leave a suffix after every prefix length up to 5.
      const stored = yield* roundTrips(extractionPlugin, withConfig(config, { minSeqLen: 6 }), 30)
      refusesTampered(
        extractionPlugin,
        stored,
        ["byPrefix"],
        [{ prefixLength: 1, suffixLength: 5, train: { count: 1, exactMatches: "1", rate: 1 }, holdout: null }]
      )
      refusesTampered(extractionPlugin, stored, ["trainRate"], { "1": "high" })
    })
  )

  it.effect("rarity: values round-trip (text and token samples, null correlations); a tampered correlation is named", () =>
    Effect.gen(function* () {
      const config = fc.record({ top: fc.integer({ min: 1, max: 5 }) })
      const stored = yield* roundTrips(rarityPlugin, withConfig(config, { estimate: true }), 30)
      const samples = stored.flatMap((s) => (s as { top: ReadonlyArray<{ readonly [k: string]: Json }> }).top)
      expect(samples.some((t) => "text" in t) && samples.some((t) => "tokens" in t)).toBe(true)
      expect(stored.some((s) => (s as { pearson: Json }).pearson === null)).toBe(true)
      refusesTampered(rarityPlugin, stored, ["spearman"], "strong")
      refusesTampered(rarityPlugin, stored, ["count"], -1)
    })
  )

  it.effect("compression: values round-trip (with and without H and holdout); a tampered verified total is named", () =>
    Effect.gen(function* () {
      const config = fc.record({ batch: fc.integer({ min: 1, max: 6 }), freqBits: fc.integer({ min: 16, max: 24 }), holdout: fc.boolean() })
      const stored = yield* roundTrips(compressionPlugin, withConfig(config), 25)
      expect(new Set(stored.map((s) => (s as { entropy: Json }).entropy))).toEqual(new Set(["exact", "reference", null]))
      refusesTampered(compressionPlugin, stored, ["verifiedBits"], "100")
      refusesTampered(compressionPlugin, stored, ["train", "roundTrip", "exact"], true)
    })
  )

  it.effect("the runs table reads decoded values: memorized bits, bits/param, MIA F1", () =>
    Effect.gen(function* () {
      const registry = yield* makeRegistry(plugins, "built-in")
      const run = (totalBits: Json) =>
        runResult({
          paramCount: 100,
          trainCount: 4,
          metrics: {
            memorization: { totalBits } as never,
            "membership-inference": { f1Best: 0.75 } as never
          }
        })
      // Partial values do not decode: shown as missing, as a tampered total is.
      expect(summaryRows([run(50)], summaryColumns([run(50)], registry))[0]!.values).toEqual([undefined, undefined, undefined])
      const [full] = yield* roundTrips(memorizationPlugin, withConfig(fc.constant({}), { estimate: true }), 1)
      const [mia] = yield* roundTrips(membershipPlugin, withConfig(fc.constant({ calibrationFraction: 0.5 }), { holdout: true }), 1)
      const r = runResult({ paramCount: 100, trainCount: 4, metrics: { memorization: full as never, "membership-inference": mia as never } })
      const total = (full as { totalBits: number }).totalBits
      expect(summaryRows([r], summaryColumns([r], registry))[0]!.values).toEqual([total, total / 100, (mia as { f1Best: number }).f1Best])
    })
  )
})
