/**
 * Short names for the runs and model configurations a report shows, from
 * what differs between them (core's labels-from-what-differs), and the full
 * config for a hover. The laws name a model by its whole config
 * (`groupLabel`); charts and tables use these instead.
 */
import { configText, differenceLabels, flattenConfig, groupDifferenceLabels, type RunResult } from "@memorize/core"
import { groupKey, groupLabel } from "../laws/results.ts"

/** The default grouping of the capacity and double-descent laws. */
export const DEFAULT_GROUP_BY = ["model", "train"] as const

export interface Names {
  /** A run by what differs from every other run: "d=16, N=256, seed 1". */
  readonly run: (runId: string) => string
  /** A run's model configuration by what differs between configurations: "d=16". */
  readonly modelOfRun: (runId: string) => string
  /** A model configuration, by the capacity law's group key. */
  readonly modelOfKey: (key: string) => string | undefined
  /** A model configuration, by the laws' long label (`groupLabel`). */
  readonly modelOfLabel: (label: string) => string
  /** The whole resolved config of a run. */
  readonly configOfRun: (runId: string) => string
  /** What a model configuration's runs share (config less dataset size and seed), for a hover. */
  readonly configOfModel: (runId: string) => string
}

export const namesOf = (results: ReadonlyArray<RunResult>, groupBy: ReadonlyArray<string> = DEFAULT_GROUP_BY): Names => {
  const byId = new Map(results.map((r) => [r.runId, r]))
  const runLabels = differenceLabels(
    results.map((r) => flattenConfig(r.config)),
    "run"
  )
  const runLabel = new Map(results.map((r, i) => [r.runId, runLabels[i]!]))
  const keyOf = (r: RunResult) => groupKey(r, groupBy)
  const modelLabels = groupDifferenceLabels(
    results.map((r) => ({ group: keyOf(r), config: r.config })),
    "all models"
  )
  const byLongLabel = new Map<string, string>()
  for (const r of results) if (!byLongLabel.has(groupLabel(r))) byLongLabel.set(groupLabel(r), modelLabels.get(keyOf(r))!)
  // What all runs of a configuration share: the paths that vary inside it are dropped.
  const shared = (runId: string) => {
    const r = byId.get(runId)
    if (r === undefined) return ""
    const peers = results.filter((p) => keyOf(p) === keyOf(r)).map((p) => flattenConfig(p.config))
    const first = peers[0]!
    return configText(Object.fromEntries(Object.entries(first).filter(([k, v]) => peers.every((p) => JSON.stringify(p[k]) === JSON.stringify(v)))) as never)
  }
  return {
    run: (id) => runLabel.get(id) ?? id,
    modelOfRun: (id) => {
      const r = byId.get(id)
      return r === undefined ? id : modelLabels.get(keyOf(r))!
    },
    modelOfKey: (key) => modelLabels.get(key),
    modelOfLabel: (label) => byLongLabel.get(label) ?? label,
    configOfRun: (id) => configText(byId.get(id)?.config),
    configOfModel: shared
  }
}
