/** Laws declare what they read: `validate` refuses a law over a missing metric or a misspelt key, naming the field. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { capacityPlugin } from "../src/laws/capacity.ts"
import { doubleDescentPlugin } from "../src/laws/double-descent.ts"
import { membershipF1Plugin } from "../src/laws/membership-f1.ts"

const input = (metrics: ReadonlyArray<string>) => ({ specDir: ".", run: { dataset: {}, metrics } })
const decode = <C>(schema: Schema.Codec<C, any>, v: unknown) => Schema.decodeUnknownSync(schema)(v)

describe("laws check what they read", () => {
  it.effect("capacity: the memorization metric must be there, and its key a memorization field", () =>
    Effect.gen(function* () {
      const check = (c: unknown, m: ReadonlyArray<string>) => capacityPlugin.check!(decode(capacityPlugin.config, c), input(m))
      expect(yield* check({}, ["memorization"])).toEqual([])
      expect(yield* check({ metricKey: "holdout.totalBits" }, ["memorization"])).toEqual([])
      const missing = yield* check({}, ["loss"])
      expect(missing[0].path).toEqual(["metricKey"])
      expect(missing[0].message).toMatch(/no memorization metric/)
      const typo = yield* check({ metricKey: "totalbits" }, ["memorization"])
      expect(typo[0].message).toMatch(/"totalbits" is not a field of the memorization metric/)
    })
  )
  it.effect("double descent reads memorization and loss; membership-f1 reads membership-inference", () =>
    Effect.gen(function* () {
      const dd = yield* doubleDescentPlugin.check!(decode(doubleDescentPlugin.config, { lossKey: "test.meanNatsPerToken" }), input(["memorization"]))
      expect(dd.map((p) => p.path)).toEqual([["lossKey"], ["trainLossKey"]])
      const ok = yield* doubleDescentPlugin.check!(decode(doubleDescentPlugin.config, {}), input(["memorization", "loss"]))
      expect(ok).toEqual([])
      const f1 = yield* membershipF1Plugin.check!(decode(membershipF1Plugin.config, { f1Key: "f1" }), input(["membership-inference"]))
      expect(f1[0].path).toEqual(["f1Key"])
      expect(yield* membershipF1Plugin.check!(decode(membershipF1Plugin.config, { f1Key: "auc" }), input(["membership-inference"]))).toEqual([])
    })
  )
})
