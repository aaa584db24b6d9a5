/**
 * `rarity` metric: how per-sample rarity (TF-IDF from the dataset plugin)
 * relates to per-sample memorization of members, and the most memorized
 * members. What each stored key means: rarity-values.ts.
 */
import { Effect, Schema } from "effect"
import { definePlugin, MetricError, PositiveInt, withDefault, type MetricImpl, type MetricSubject } from "@memorize/core"
import { pearson, spearman } from "../numerics/stats.ts"
import { rarityReport } from "../report/metrics.ts"
import { checkCompatible } from "./common.ts"
import { perSampleMemorization } from "./per-sample.ts"
import { rarityNeeds } from "./requirements.ts"
import { RarityValuesSchema, type RaritySample, type RarityValues } from "./rarity-values.ts"

export const RARITY = "rarity"

const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null)

export const RarityConfig = Schema.Struct({
  top: withDefault(PositiveInt.annotate({ description: "how many most-memorized samples to list, with their rarity (decoded for text)" }), 10)
})

export const measureRarity = (config: typeof RarityConfig.Type): MetricImpl<RarityValues> =>
  Effect.fn("measureRarity")(function* (subject: MetricSubject) {
    const { model, dataset, reference } = subject
    yield* checkCompatible(RARITY, model, dataset, "model")
    if (reference !== undefined) yield* checkCompatible(RARITY, reference, dataset, "reference model")
    if (dataset.rarity === undefined) {
      return yield* Effect.fail(
        new MetricError({ metric: RARITY, message: `dataset "${dataset.kind}" provides no per-sample rarity (TF-IDF); enable it in the dataset plugin` })
      )
    }
    if (dataset.rarity.train.length !== dataset.train.count) {
      return yield* Effect.fail(
        new MetricError({ metric: RARITY, message: `dataset rarity has ${dataset.rarity.train.length} values for ${dataset.train.count} training sequences` })
      )
    }
    if (dataset.train.count === 0) {
      return yield* Effect.fail(new MetricError({ metric: RARITY, message: `dataset "${dataset.kind}" has no training sequences` }))
    }
    const ps = yield* perSampleMemorization(RARITY, subject, dataset.train)
    const mem = ps.unintended
    const rar = dataset.rarity.train
    const order = Array.from({ length: mem.length }, (_, i) => i).sort((a, b) => mem[b] - mem[a] || a - b)
    const s = dataset.seqLen
    const top = order.slice(0, config.top).map((i): RaritySample => {
      const tokens = Array.from(dataset.train.tokens.subarray(i * s, i * s + s))
      return {
        index: i,
        memorizationBits: mem[i],
        rarity: rar[i],
        ...(dataset.tokenizer === undefined ? { tokens } : { text: dataset.tokenizer.decode(tokens) })
      }
    })
    return {
      count: mem.length,
      estimate: ps.estimate,
      pearson: finiteOrNull(pearson(rar, mem)),
      spearman: finiteOrNull(spearman(rar, mem)),
      top
    }
  })

export const rarityPlugin = definePlugin({
  kind: "metric",
  name: RARITY,
  description: "Correlation of per-sample TF-IDF rarity with memorization, and the most memorized samples (decoded for text).",
  config: RarityConfig,
  output: RarityValuesSchema,
  check: (_config, input) => Effect.succeed(rarityNeeds(RARITY, input)),
  make: measureRarity,
  report: rarityReport
})
