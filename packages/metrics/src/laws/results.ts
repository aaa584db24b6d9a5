/**
 * Reading RunResults for the laws: numbers inside metric values, seeds, and
 * the grouping of runs into "model configurations".
 *
 * Grouping: two runs belong to the same model configuration when they agree
 * on the trained model (result.model: kind, paramCount, vocab, seqLen,
 * precision, config) and on the spec sections named by `groupBy` (default
 * `model` and `train`, i.e. architecture, precision and training recipe),
 * with every key named `seed` removed at any depth. The dataset size and the
 * run seed are thereby left out, as capacity is a property of the model
 * and recipe, measured across dataset sizes and seeds.
 */
import { canonicalJson, type Json, type RunResult } from "@memorize/core"

/** The value at a dotted path ("membership-inference.f1Best") inside an object, or undefined. */
export const at = (value: Json | undefined, path: string): Json | undefined => {
  let cur: Json | undefined = value
  for (const part of path.split(".")) {
    if (cur === null || cur === undefined || typeof cur !== "object" || Array.isArray(cur)) return undefined
    cur = (cur as { readonly [k: string]: Json })[part]
  }
  return cur
}

/** A metric number of a run, or undefined when the run lacks it (or it is not a finite number). */
export const metricNumber = (r: RunResult, metric: string, key: string): number | undefined => {
  const v = at(r.metrics[metric] as Json | undefined, key)
  return typeof v === "number" && Number.isFinite(v) ? v : undefined
}

/** The run's seed: `config.seed` when it is a number, else 0. */
export const seedOf = (r: RunResult): number => (typeof r.config["seed"] === "number" ? (r.config["seed"] as number) : 0)

const withoutSeeds = (v: Json | undefined): Json | undefined => {
  if (v === null || v === undefined || typeof v !== "object") return v
  if (Array.isArray(v)) return v.map((x) => withoutSeeds(x) ?? null)
  const out: Record<string, Json> = {}
  for (const k of Object.keys(v).sort()) {
    if (k === "seed") continue
    const x = withoutSeeds((v as { readonly [k: string]: Json })[k])
    if (x !== undefined) out[k] = x
  }
  return out
}

/**
 * Canonical JSON (sorted keys) of what identifies a run's model configuration.
 * `searched`: paths of a recipe search (the capacity law's bestOf), which
 * name no part of the configuration: runs differing only there are one model.
 */
export const groupKey = (r: RunResult, groupBy: ReadonlyArray<string>, searched: ReadonlyArray<string> = []): string => {
  const config = searched.length === 0 ? r.config : withoutPaths(r.config, searched)
  return JSON.stringify(
    withoutSeeds({
      model: r.model,
      spec: Object.fromEntries(groupBy.map((p) => [p, at(config, p) ?? null]))
    })
  )
}

/** A short human label for a group: model kind, its config fields, precision. */
export const groupLabel = (r: RunResult): string => {
  const fields = Object.keys(r.model.config)
    .sort()
    .filter((k) => typeof r.model.config[k] !== "object")
    .map((k) => `${k}=${String(r.model.config[k])}`)
  return [r.model.kind, ...fields, r.model.precision].join(" ")
}

/** Results sorted by a total order (so fits do not depend on input order). */
export const sortRuns = <T extends { readonly result: RunResult }>(xs: ReadonlyArray<T>): Array<T> =>
  [...xs].sort(
    (a, b) =>
      a.result.dataset.trainCount - b.result.dataset.trainCount ||
      seedOf(a.result) - seedOf(b.result) ||
      (a.result.runId < b.result.runId ? -1 : a.result.runId > b.result.runId ? 1 : 0)
  )

/** A config with the values at `paths` removed (dotted paths; a path that is not there changes nothing). */
const withoutPaths = (config: Json, paths: ReadonlyArray<string>): Json => {
  const copy = JSON.parse(JSON.stringify(config)) as Json
  for (const path of paths) {
    const parts = path.split(".")
    const parent = at(copy, parts.slice(0, -1).join("."))
    const target = parts.length === 1 ? copy : parent
    if (target !== null && target !== undefined && typeof target === "object" && !Array.isArray(target)) {
      delete (target as { [k: string]: Json })[parts[parts.length - 1]!]
    }
  }
  return copy
}

/**
 * The best run of each recipe search: runs whose resolved configs agree on
 * everything but `paths` (say `train.lr`: the same model, data, seed and
 * budget trained at several learning rates) are one measurement, taken as
 * the run that stored the most (`bitsOf`). Capacity is the most a model can
 * store, so the recipe that stored less says less about it. Ties go to the
 * smaller run id, so the choice does not depend on input order. Runs without
 * a value are left out.
 */
export const bestOfRuns = (
  results: ReadonlyArray<RunResult>,
  paths: ReadonlyArray<string>,
  bitsOf: (r: RunResult) => number | undefined
): ReadonlyArray<RunResult> => {
  const best = new Map<string, { result: RunResult; bits: number }>()
  for (const result of results) {
    const bits = bitsOf(result)
    if (bits === undefined) continue
    const k = canonicalJson(withoutPaths(result.config, paths))
    const cur = best.get(k)
    if (cur === undefined || bits > cur.bits || (bits === cur.bits && result.runId < cur.result.runId)) best.set(k, { result, bits })
  }
  return [...best.values()].map((b) => b.result)
}
