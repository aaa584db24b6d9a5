/**
 * Labels from what differs. A report shows several runs (or model
 * configurations) at once; naming each by its whole resolved config makes
 * every legend entry the same 80 characters with one number changed. Here a
 * run is named by the config values that differ across the set being shown
 * ("d=16", "N=256, seed 1"), and the whole config is kept for a hover.
 */
import type { Json } from "../contracts.ts"

/** A config as dotted path → leaf value. Arrays are leaves (a list of metrics is one setting). */
export const flattenConfig = (value: Json | undefined, prefix = ""): Record<string, Json> => {
  if (value === null || value === undefined || typeof value !== "object" || Array.isArray(value)) {
    return prefix === "" ? {} : { [prefix]: value ?? null }
  }
  const out: Record<string, Json> = {}
  for (const [k, v] of Object.entries(value as { readonly [k: string]: Json })) {
    Object.assign(out, flattenConfig(v, prefix === "" ? k : `${prefix}.${k}`))
  }
  return out
}

/**
 * Short names for common sweep axes, in the paper's notation (d_model, layers,
 * dataset size N, vocabulary V, sequence length S). Any other axis shows the
 * last segment of its path.
 */
export const AXIS_SYMBOLS: { readonly [lastSegment: string]: string } = {
  dModel: "d",
  layers: "L",
  samples: "N",
  vocab: "V",
  seqLen: "S"
}

/** Where an axis goes in a label: the model first, then training, data, anything else, the seed last. */
const rank = (path: string): number => {
  const head = path.split(".")[0]
  if (path === "seed") return 5
  return head === "model" ? 0 : head === "train" ? 1 : head === "dataset" ? 2 : head === "reference" ? 3 : 4
}

const key = (v: Json | undefined) => (v === undefined ? "\u0000missing" : JSON.stringify(v))

/** The paths whose values are not the same in every record, in label order. */
export const differingPaths = (records: ReadonlyArray<{ readonly [path: string]: Json }>): Array<string> => {
  const paths = new Set<string>()
  for (const r of records) for (const p of Object.keys(r)) paths.add(p)
  return [...paths].filter((p) => new Set(records.map((r) => key(r[p]))).size > 1).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0))
}

/** One axis of a label: `d=16`, `seed 1`, or a bare string value such as `bf16`. */
export const axisText = (path: string, value: Json | undefined, names: { readonly [path: string]: string }): string => {
  if (value === undefined) return `${names[path] ?? path} unset`
  if (typeof value === "string") return value
  const name = names[path] ?? path
  return name === "seed" ? `seed ${JSON.stringify(value)}` : `${name}=${JSON.stringify(value)}`
}

/** Display names for paths: the symbol or last segment, unless two paths would share it. */
const namesFor = (paths: ReadonlyArray<string>): { [path: string]: string } => {
  const short = (p: string) => {
    const last = p.split(".").at(-1)!
    return AXIS_SYMBOLS[last] ?? last
  }
  const counts = new Map<string, number>()
  for (const p of paths) counts.set(short(p), (counts.get(short(p)) ?? 0) + 1)
  return Object.fromEntries(paths.map((p) => [p, counts.get(short(p))! > 1 ? p : short(p)]))
}

/**
 * A label per record from the paths that differ across all records. When
 * nothing differs every label is `fallback`. Distinct records get distinct
 * labels (records that are equal on every path share one).
 */
export const differenceLabels = (records: ReadonlyArray<{ readonly [path: string]: Json }>, fallback = "all runs"): Array<string> => {
  const paths = differingPaths(records)
  if (paths.length === 0) return records.map(() => fallback)
  const names = namesFor(paths)
  return records.map((r) => paths.map((p) => axisText(p, r[p], names)).join(", "))
}

/**
 * Labels of groups of configs (a model configuration measured over several
 * dataset sizes and seeds): paths that vary inside any group (the dataset
 * size, the seed) are left out, and the rest is reduced to what differs
 * between the groups. Returns group → label.
 */
export const groupDifferenceLabels = (items: ReadonlyArray<{ readonly group: string; readonly config: Json }>, fallback = "all runs"): Map<string, string> => {
  const byGroup = new Map<string, Array<Record<string, Json>>>()
  for (const it of items) byGroup.set(it.group, [...(byGroup.get(it.group) ?? []), flattenConfig(it.config)])
  const groups = [...byGroup.keys()]
  const withinGroup = new Set<string>()
  for (const configs of byGroup.values()) for (const p of differingPaths(configs)) withinGroup.add(p)
  const common = groups.map((g) => Object.fromEntries(Object.entries(byGroup.get(g)![0]!).filter(([p]) => !withinGroup.has(p))))
  const labels = differenceLabels(common, fallback)
  return new Map(groups.map((g, i) => [g, labels[i]!]))
}

/** The whole resolved config as `path = value` lines, for a hover or a click. */
export const configText = (config: Json | undefined): string =>
  Object.entries(flattenConfig(config))
    .sort(([a], [b]) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0))
    .map(([p, v]) => `${p} = ${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join("\n")

/**
 * Names for several run stores shown together: the folder name, or as many
 * trailing path segments as it takes to tell them apart.
 */
export const storeLabels = (dirs: ReadonlyArray<string>): Array<string> => {
  const parts = dirs.map((d) => d.split(/[\\/]+/).filter((s) => s !== ""))
  const depth = Math.max(1, ...parts.map((p) => p.length))
  for (let n = 1; n <= depth; n++) {
    const labels = parts.map((p) => p.slice(-n).join("/"))
    if (new Set(labels).size === labels.length) return labels
  }
  return dirs.map((d) => d)
}
