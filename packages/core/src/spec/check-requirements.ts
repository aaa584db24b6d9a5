/**
 * Runs the plugins' requirement checks (requirements.ts) for every run of a
 * sweep. Each distinct (plugin, resolved config, facts) is checked once, so
 * a grid of a million runs over a few distinct sections stays cheap.
 */
import { Effect } from "effect"
import { canonicalJson } from "../hash.ts"
import type { Plugin } from "../plugin.ts"
import type { DataFacts, Problem, RunFacts } from "../requirements.ts"
import type { DecodedSection, RunSpec } from "./decode.ts"
import type { RawIssue } from "./issues.ts"
import type { SpecPath } from "./yaml-source.ts"

/** The facts a decoded dataset section declares (nothing known when the plugin declares none). */
export const factsOf = (section: DecodedSection<Extract<Plugin, { kind: "dataset" }>>): DataFacts =>
  section.plugin.facts ? section.plugin.facts(section.config) : {}

/** The run's facts, as its sections' plugins declare them. */
export const runFactsOf = (spec: RunSpec): RunFacts => ({
  dataset: factsOf(spec.dataset),
  metrics: spec.metrics.map((m) => m.plugin.name),
  ...(spec.reference ? { reference: { dataset: factsOf(spec.reference.dataset) } } : {})
})

/** Every plugin section of one run with its place in the spec and the facts it is checked against. */
const sectionsToCheck = (spec: RunSpec, modelPath: SpecPath): ReadonlyArray<{ section: DecodedSection; path: SpecPath; run: RunFacts }> => {
  const run = runFactsOf(spec)
  const list: Array<{ section: DecodedSection; path: SpecPath; run: RunFacts }> = [
    { section: spec.dataset, path: ["dataset"], run },
    { section: spec.model, path: ["model"], run },
    { section: spec.train, path: ["train"], run },
    ...spec.metrics.map((m, i) => ({ section: m as DecodedSection, path: ["metrics", i] as SpecPath, run }))
  ]
  if (spec.reference) {
    // The reference is trained on its own data: its sections see that data's facts.
    const refRun: RunFacts = { dataset: run.reference!.dataset, metrics: [] }
    list.push(
      { section: spec.reference.dataset, path: ["reference", "dataset"], run: refRun },
      { section: spec.reference.model, path: modelPath, run: refRun },
      { section: spec.reference.train, path: ["reference", "train"], run: refRun }
    )
  }
  return list
}

const toRaw = (path: SpecPath, problem: Problem): RawIssue => ({
  path: problem.specPath ?? (problem.path && problem.path.length > 0 ? [...path, ...problem.path] : [...path, "kind"]),
  message: problem.message
})

/** A memo of check results shared by every run of one decode. */
export type CheckMemo = Map<string, ReadonlyArray<Problem>>

/**
 * The unmet requirements of one run, as raw issues at spec paths.
 * `referenceModelPath` is where the reference's model section stands
 * (`reference.model`, or `model` when the reference reuses the run's model).
 */
export const checkRun = (
  spec: RunSpec,
  specDir: string,
  memo: CheckMemo,
  referenceModelPath: SpecPath = ["reference", "model"]
): Effect.Effect<ReadonlyArray<RawIssue>> =>
  Effect.gen(function* () {
    const issues: Array<RawIssue> = []
    for (const { section, path, run } of sectionsToCheck(spec, referenceModelPath)) {
      const check = section.plugin.check as ((config: unknown, input: { specDir: string; run: RunFacts }) => Effect.Effect<ReadonlyArray<Problem>>) | undefined
      if (!check) continue
      const key = `${section.plugin.kind}/${section.plugin.name}\n${canonicalJson(section.resolved)}\n${canonicalJson(run)}`
      let problems = memo.get(key)
      if (problems === undefined) {
        // A check that throws is a plugin bug; it is reported at the section rather than crashing validate.
        problems = yield* check(section.config, { specDir, run }).pipe(
          Effect.catchDefect((defect) =>
            Effect.succeed([
              {
                message: `requirement check of ${section.plugin.kind} plugin "${section.plugin.name}" crashed: ${String((defect as Error)?.message ?? defect)}`
              }
            ])
          )
        )
        memo.set(key, problems)
      }
      issues.push(...problems.map((p) => toRaw(path, p)))
    }
    return issues
  })

/** Checks of the law sections (laws see every run, so no run facts). */
export const checkLaws = (laws: ReadonlyArray<DecodedSection>, specDir: string, run: RunFacts): Effect.Effect<ReadonlyArray<RawIssue>> =>
  Effect.gen(function* () {
    const issues: Array<RawIssue> = []
    for (const [i, law] of laws.entries()) {
      const check = law.plugin.check as ((config: unknown, input: { specDir: string; run: RunFacts }) => Effect.Effect<ReadonlyArray<Problem>>) | undefined
      if (!check) continue
      const problems = yield* check(law.config, { specDir, run }).pipe(
        Effect.catchDefect((defect) =>
          Effect.succeed([{ message: `requirement check of law plugin "${law.plugin.name}" crashed: ${String((defect as Error)?.message ?? defect)}` }])
        )
      )
      issues.push(...problems.map((p) => toRaw(["laws", i], p)))
    }
    return issues
  })
