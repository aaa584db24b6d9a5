/**
 * spec.yaml → Experiment: overrides applied, the sweep expanded, every run's
 * spec decoded by the core schema and each plugin section by its plugin's
 * schema. Every issue found (in any run of the sweep) is reported at once,
 * with its YAML line:column, or with the `--set` flag that caused it.
 */
import { isJsonObject } from "../json-value.ts"
import { Effect, Schema } from "effect"
import * as NodePath from "node:path"
import type { Json } from "../contracts.ts"
import { SpecError, type SpecIssue } from "../errors.ts"
import { fullHash } from "../hash.ts"
import type { Plugin, PluginKind } from "../plugin.ts"
import type { RegistryShape } from "../registry.ts"
import { checkLaws, checkRun, runFactsOf, type CheckMemo } from "./check-requirements.ts"
import { decodeWithIssues, structKeys, type RawIssue } from "./issues.ts"
import { isPrefix, parseOverride, setAt, type Override } from "./overrides.ts"
import { ExperimentSpec, sectionKinds } from "./schema.ts"
import { expandSweep, type Assignment } from "./sweep.ts"
import { formatPath, positionOf, type SpecPath, type SpecSource } from "./yaml-source.ts"

/** A plugin section decoded by its plugin. */
export interface DecodedSection<P extends Plugin = Plugin> {
  readonly plugin: P
  /** The plugin's decoded config (what `make` receives). */
  readonly config: unknown
  /** The config with defaults filled in, as JSON, `kind` first. */
  readonly resolved: { readonly kind: string; readonly [k: string]: Json }
}

export interface RunSpec {
  readonly seed: number
  readonly dataset: DecodedSection<Extract<Plugin, { kind: "dataset" }>>
  readonly model: DecodedSection<Extract<Plugin, { kind: "model" }>>
  readonly train: DecodedSection<Extract<Plugin, { kind: "trainer" }>>
  readonly metrics: ReadonlyArray<DecodedSection<Extract<Plugin, { kind: "metric" }>>>
  readonly reference?: {
    readonly dataset: DecodedSection<Extract<Plugin, { kind: "dataset" }>>
    readonly model: DecodedSection<Extract<Plugin, { kind: "model" }>>
    readonly train: DecodedSection<Extract<Plugin, { kind: "trainer" }>>
  }
}

/**
 * One run of an experiment: its identity is the full SHA-256 of its resolved
 * config (`configHash`); `runId`, its folder name, is a prefix of it, made
 * longer where two configs of the sweep share the short one.
 */
export interface RunPlan {
  readonly index: number
  readonly runId: string
  readonly configHash: string
  /** Swept values of this run (axis → value). */
  readonly label: Readonly<Record<string, Json>>
  readonly spec: RunSpec
  /** The fully resolved run config (hashed into runId, saved as config.json). */
  readonly config: { readonly [k: string]: Json }
}

export interface Experiment {
  readonly name: string
  readonly description: string | undefined
  readonly source: SpecSource
  /** Folder of the spec: relative paths resolve against it. */
  readonly specDir: string
  readonly spec: ExperimentSpec
  readonly plans: ReadonlyArray<RunPlan>
  readonly laws: ReadonlyArray<DecodedSection<Extract<Plugin, { kind: "law" }>>>
  /** The whole spec with overrides and defaults applied (`validate --print`). */
  readonly resolved: { readonly [k: string]: Json }
  readonly overrides: ReadonlyArray<Override>
}

/** Where a raw issue's path came from: an override, a sweep value, or the YAML itself. */
interface Origins {
  readonly overrides: ReadonlyArray<Override>
  readonly assignments: ReadonlyArray<Assignment>
}

const locate = (source: SpecSource, origins: Origins, issue: RawIssue): SpecIssue => {
  const path = formatPath(issue.path)
  const override = [...origins.overrides].reverse().find((o) => isPrefix(o.path, issue.path))
  if (override) return { path, message: `${issue.message} (from --set ${override.text})` }
  const assignment = origins.assignments.find((a) => isPrefix(a.path, issue.path))
  if (assignment) {
    const pos = positionOf(source, assignment.source)
    return { path, message: `${issue.message} (value swept at ${formatPath(assignment.source)})`, ...(pos ? { line: pos.line, column: pos.column } : {}) }
  }
  const pos = positionOf(source, issue.path, issue.atKey === true)
  return { path, message: issue.message, ...(pos ? { line: pos.line, column: pos.column } : {}) }
}

/** Decodes one plugin section (with `kind`) by the registry's plugin for that slot. */
const decodeSection = <K extends PluginKind>(
  registry: RegistryShape,
  kind: K,
  section: Record<string, unknown>,
  path: SpecPath
): { ok: true; value: DecodedSection<Extract<Plugin, { kind: K }>> } | { ok: false; issues: ReadonlyArray<RawIssue> } => {
  const name = String(section.kind)
  const plugin = registry.find(kind, name)
  if (!plugin) {
    const known = registry.names(kind)
    return {
      ok: false,
      issues: [
        {
          path: [...path, "kind"],
          message: `unknown ${kind} plugin "${name}" (registered: ${known.length ? known.join(", ") : "none"}; add third-party ones under plugins:)`
        }
      ]
    }
  }
  const { kind: _kind, ...fields } = section
  const decoded = decodeWithIssues(plugin.config, fields, path)
  // Some schemas (an empty Struct, say) let unknown keys through; the spec language never does.
  const allowed = structKeys(plugin.config)
  const unknown: Array<RawIssue> =
    allowed === undefined
      ? []
      : Object.keys(fields)
          .filter((k) => !allowed.includes(k))
          .map((k) => ({
            path: [...path, k],
            atKey: true,
            message: `unknown key "${k}" (${allowed.length ? `expected one of: ${allowed.join(", ")}` : `${kind} plugin "${name}" takes no options`})`
          }))
  if (!decoded.ok) {
    // A failure of the whole section (its own unknown-key check, say) already covers them.
    const seen = new Set(decoded.issues.map((i) => formatPath(i.path)))
    const wholeSection = seen.has(formatPath(path))
    return { ok: false, issues: [...decoded.issues, ...(wholeSection ? [] : unknown.filter((u) => !seen.has(formatPath(u.path))))] }
  }
  if (unknown.length > 0) return { ok: false, issues: unknown }
  let encoded: Record<string, Json>
  try {
    encoded = Schema.encodeSync(plugin.config as Schema.Codec<unknown, unknown>)(decoded.value) as Record<string, Json>
  } catch {
    encoded = fields as Record<string, Json>
  }
  return { ok: true, value: { plugin, config: decoded.value, resolved: { kind: name, ...encoded } } }
}

export interface DecodeOptions {
  /** `--set` flags, in order (later ones win). */
  readonly sets?: ReadonlyArray<string>
  /** Hex digits of the config hash that name a run's folder (default 12; tests force collisions with fewer). */
  readonly runIdLength?: number
}

/** Folder-name lengths tried, shortest first, when runs' short ids collide. */
const idLengths = (first: number) => [first, 16, 24, 32, 64].filter((l, i, all) => l >= first && all.indexOf(l) === i)

/**
 * Run ids: the first `length` hex digits of each config hash; runs whose
 * prefixes collide (with different configs) get the next longer prefix
 * until they differ, so no two runs of a sweep ever share a folder.
 */
export const assignRunIds = (hashes: ReadonlyArray<string>, length = 12): ReadonlyArray<string> => {
  const ids = hashes.map((h) => h.slice(0, length))
  for (const l of idLengths(length).slice(1)) {
    const byId = new Map<string, Set<string>>()
    hashes.forEach((h, i) => {
      const set = byId.get(ids[i]!) ?? new Set<string>()
      set.add(h)
      byId.set(ids[i]!, set)
    })
    let collided = false
    hashes.forEach((h, i) => {
      if (byId.get(ids[i]!)!.size > 1) {
        ids[i] = h.slice(0, l)
        collided = true
      }
    })
    if (!collided) break
  }
  return ids
}

/** The `--set` overrides, parsed and applied to the raw spec. */
const applyOverrides = (
  source: SpecSource,
  sets: ReadonlyArray<string>
): { readonly raw: unknown; readonly overrides: ReadonlyArray<Override> } | { readonly issues: ReadonlyArray<SpecIssue> } => {
  const overrides: Array<Override> = []
  const issues: Array<SpecIssue> = []
  for (const text of sets) {
    const o = parseOverride(text)
    if ("text" in o) overrides.push(o)
    else issues.push(o)
  }
  if (issues.length > 0) return { issues }
  let raw: unknown = source.value ?? {}
  for (const o of overrides) raw = setAt(raw, o.path, o.value)
  return { raw, overrides }
}

interface PlannedRun {
  readonly plan: RunPlan
  readonly origins: Origins
  /** Where the reference model's section is written (for locating its issues). */
  readonly referenceModelPath: SpecPath
}

/** Each sweep point as a full spec decoded on its own, with its plugin sections. */
const planRuns = (
  source: SpecSource,
  registry: RegistryShape,
  raw: unknown,
  overrides: ReadonlyArray<Override>,
  points: ReturnType<typeof expandSweep>["points"],
  issues: Array<SpecIssue>
): ReadonlyArray<PlannedRun> => {
  const planned: Array<PlannedRun> = []
  const { sweep: _sweep, ...withoutSweep } = raw as Record<string, unknown>
  for (const point of points) {
    let pointRaw: unknown = withoutSweep
    for (const a of point.assignments) pointRaw = setAt(pointRaw, a.path, a.value)
    const origins: Origins = { overrides, assignments: point.assignments }
    const pointShape = decodeWithIssues(ExperimentSpec, pointRaw)
    if (!pointShape.ok) {
      issues.push(...pointShape.issues.map((i) => locate(source, origins, i)))
      continue
    }
    const runSpec = decodeRunSpec(registry, pointShape.value)
    if (!runSpec.ok) {
      issues.push(...runSpec.issues.map((i) => locate(source, origins, i)))
      continue
    }
    const config = runConfig(runSpec.value)
    const configHash = fullHash(config)
    planned.push({
      plan: { index: planned.length, runId: configHash, configHash, label: point.label as Record<string, Json>, spec: runSpec.value, config },
      origins,
      referenceModelPath: pointShape.value.reference?.model ? ["reference", "model"] : ["model"]
    })
  }
  return planned
}

/**
 * Run ids. Identity is the full hash: equal hashes are equal configs,
 * never a collision of short ids; two runs with one config are a sweep axis
 * that changes nothing.
 */
const identifyRuns = (
  source: SpecSource,
  plans: ReadonlyArray<RunPlan>,
  runIdLength: number
): { readonly ok: true; readonly plans: ReadonlyArray<RunPlan> } | { readonly ok: false; readonly issue: SpecIssue } => {
  const byHash = new Map<string, number>()
  for (const p of plans) {
    if (byHash.has(p.configHash)) {
      const issue = {
        path: "sweep",
        message: `runs #${byHash.get(p.configHash)} and #${p.index} have the same resolved config (a sweep axis that changes nothing?)`,
        ...(positionOf(source, ["sweep"]) ?? {})
      }
      return { ok: false, issue }
    }
    byHash.set(p.configHash, p.index)
  }
  const runIds = assignRunIds(
    plans.map((p) => p.configHash),
    runIdLength
  )
  return { ok: true, plans: plans.map((p, i) => ({ ...p, runId: runIds[i]! })) }
}

/** The resolved spec the store keeps (experiment.yaml): the first run's sections, every default filled in. */
const resolvedSpec = (spec: ExperimentSpec, first: RunPlan, laws: ReadonlyArray<DecodedSection>): Record<string, Json> => ({
  name: spec.name,
  ...(spec.description !== undefined ? { description: spec.description } : {}),
  seed: spec.seed,
  dataset: first.config.dataset!,
  model: first.config.model!,
  train: first.config.train!,
  ...(first.config.reference ? { reference: first.config.reference } : {}),
  metrics: first.config.metrics!,
  laws: laws.map((l) => l.resolved),
  // Sweep values come from YAML, so they are JSON (YAML's .nan/.inf, which are not, cannot name a run's config either).
  ...(spec.sweep && isJsonObject(spec.sweep) ? { sweep: spec.sweep } : {}),
  report: spec.report,
  store: spec.store,
  plugins: [...spec.plugins]
})

export const decodeExperiment = (source: SpecSource, registry: RegistryShape, options: DecodeOptions = {}): Effect.Effect<Experiment, SpecError> =>
  Effect.suspend(() => {
    const fail = (issues: ReadonlyArray<SpecIssue>) => Effect.fail(new SpecError({ file: source.file, issues: dedupe(issues) }))

    const applied = applyOverrides(source, options.sets ?? [])
    if ("issues" in applied) return fail(applied.issues)
    const { raw, overrides } = applied

    // Core shape (plugin sections only checked for `kind`).
    const noSweepOrigins: Origins = { overrides, assignments: [] }
    const shape = decodeWithIssues(ExperimentSpec, raw)
    if (!shape.ok) {
      // Still check the plugin sections that are there, so every mistake shows at once.
      const more = sectionIssues(registry, raw)
      return fail([...shape.issues, ...more].map((i) => locate(source, noSweepOrigins, i)))
    }
    const spec = shape.value

    const sweep = expandSweep(spec.sweep)
    if (sweep.issues.length > 0) {
      return fail(
        sweep.issues.map((i) => {
          const pos = positionOf(source, i.source, true)
          return { path: formatPath(i.source), message: i.message, ...(pos ? { line: pos.line, column: pos.column } : {}) }
        })
      )
    }
    const issues: Array<SpecIssue> = []
    const planned = planRuns(source, registry, raw, overrides, sweep.points, issues)

    // Laws are over all runs: decoded once.
    const laws: Array<DecodedSection<Extract<Plugin, { kind: "law" }>>> = []
    spec.laws.forEach((section, i) => {
      const d = decodeSection(registry, "law", section as Record<string, unknown>, ["laws", i])
      if (d.ok) laws.push(d.value)
      else issues.push(...d.issues.map((x) => locate(source, noSweepOrigins, x)))
    })
    checkDuplicateKinds(spec.laws, "laws", source, noSweepOrigins, issues)
    if (issues.length > 0) return fail(issues)

    const ids = identifyRuns(
      source,
      planned.map((p) => p.plan),
      options.runIdLength ?? 12
    )
    if (!ids.ok) return fail([ids.issue])
    const identified = ids.plans
    const first = identified[0]!
    const specDir = NodePath.dirname(NodePath.resolve(source.file))
    const experiment: Experiment = {
      name: spec.name,
      description: spec.description,
      source,
      specDir,
      spec,
      plans: identified,
      laws,
      resolved: resolvedSpec(spec, first, laws),
      overrides
    }

    // What the plugins require of each run (paths, data facts, reference), before any work.
    return Effect.gen(function* () {
      const memo: CheckMemo = new Map()
      const found: Array<SpecIssue> = []
      for (const [i, plan] of identified.entries()) {
        const { origins, referenceModelPath } = planned[i]!
        const raw = yield* checkRun(plan.spec, specDir, memo, referenceModelPath)
        found.push(...raw.map((r) => locate(source, origins, r)))
      }
      const lawIssues = yield* checkLaws(laws, specDir, runFactsOf(first.spec))
      found.push(...lawIssues.map((r) => locate(source, noSweepOrigins, r)))
      if (found.length > 0) return yield* fail(found)
      return experiment
    })
  })

/** Issues of each plugin section present in a raw spec (used when the whole spec does not decode). */
const sectionIssues = (registry: RegistryShape, raw: unknown): ReadonlyArray<RawIssue> => {
  const spec = (raw ?? {}) as Record<string, unknown>
  const found: Array<RawIssue> = []
  const check = (kind: PluginKind, section: unknown, path: SpecPath) => {
    if (section && typeof section === "object" && typeof (section as { kind?: unknown }).kind === "string") {
      const d = decodeSection(registry, kind, section as Record<string, unknown>, path)
      if (!d.ok) found.push(...d.issues)
    }
  }
  check("dataset", spec.dataset, ["dataset"])
  check("model", spec.model, ["model"])
  check("trainer", spec.train, ["train"])
  if (Array.isArray(spec.metrics)) spec.metrics.forEach((m, i) => check("metric", m, ["metrics", i]))
  if (Array.isArray(spec.laws)) spec.laws.forEach((m, i) => check("law", m, ["laws", i]))
  return found
}

const checkDuplicateKinds = (
  sections: ReadonlyArray<{ readonly kind: string }>,
  slot: "metrics" | "laws",
  source: SpecSource,
  origins: Origins,
  issues: Array<SpecIssue>
) => {
  sections.forEach((s, i) => {
    if (sections.findIndex((t) => t.kind === s.kind) !== i) {
      issues.push(locate(source, origins, { path: [slot, i, "kind"], message: `"${s.kind}" is listed twice in ${slot} (results are keyed by kind)` }))
    }
  })
}

const decodeRunSpec = (registry: RegistryShape, spec: ExperimentSpec): { ok: true; value: RunSpec } | { ok: false; issues: ReadonlyArray<RawIssue> } => {
  const issues: Array<RawIssue> = []
  const take = <K extends PluginKind>(kind: K, section: unknown, path: SpecPath) => {
    const d = decodeSection(registry, kind, section as Record<string, unknown>, path)
    if (!d.ok) {
      issues.push(...d.issues)
      return undefined
    }
    return d.value
  }
  const dataset = take(sectionKinds.dataset, spec.dataset, ["dataset"])
  const model = take(sectionKinds.model, spec.model, ["model"])
  const train = take(sectionKinds.train, spec.train, ["train"])
  const metrics = spec.metrics.map((m, i) => take(sectionKinds.metrics, m, ["metrics", i]))
  spec.metrics.forEach((s, i) => {
    if (spec.metrics.findIndex((t) => t.kind === s.kind) !== i) {
      issues.push({ path: ["metrics", i, "kind"], message: `"${s.kind}" is listed twice in metrics (results are keyed by kind)` })
    }
  })
  let reference: RunSpec["reference"]
  if (spec.reference) {
    const refDataset = take(sectionKinds.dataset, { ...spec.dataset, ...(spec.reference.dataset ?? {}) }, ["reference", "dataset"])
    const refModel = take(sectionKinds.model, spec.reference.model ?? spec.model, spec.reference.model ? ["reference", "model"] : ["model"])
    const refTrain = take(sectionKinds.train, spec.reference.train, ["reference", "train"])
    if (refDataset && refModel && refTrain) reference = { dataset: refDataset, model: refModel, train: refTrain }
  }
  if (issues.length > 0 || !dataset || !model || !train) return { ok: false, issues }
  return {
    ok: true,
    value: {
      seed: spec.seed,
      dataset,
      model,
      train,
      metrics: metrics as Array<DecodedSection<Extract<Plugin, { kind: "metric" }>>>,
      ...(reference ? { reference } : {})
    }
  }
}

/** The config that identifies a run (and is saved with it). */
const runConfig = (s: RunSpec): { readonly [k: string]: Json } => ({
  seed: s.seed,
  dataset: s.dataset.resolved,
  model: s.model.resolved,
  train: s.train.resolved,
  metrics: s.metrics.map((m) => m.resolved),
  ...(s.reference ? { reference: { dataset: s.reference.dataset.resolved, model: s.reference.model.resolved, train: s.reference.train.resolved } } : {})
})

const dedupe = (issues: ReadonlyArray<SpecIssue>): ReadonlyArray<SpecIssue> => {
  const seen = new Set<string>()
  return issues
    .filter((i) => {
      const key = `${i.line}:${i.column}:${i.path}:${i.message}`
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
    .sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity) || (a.column ?? 0) - (b.column ?? 0))
}
