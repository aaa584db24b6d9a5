/**
 * The `memorize` command line: validate, run, report, status, plugins, schema, predict.
 * Handlers print for people; typed errors become messages and exit codes
 * (0 ok, 1 a run failed, 2 bad spec or usage) in main.ts.
 */
import { Console, Effect, FileSystem, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import * as NodePath from "node:path"
import { stringify as toYaml } from "yaml"
import { SpecError } from "../errors.ts"
import { runExperiment, pluginLayers, storeRootOf } from "../interpreter.ts"
import type { Plugin } from "../plugin.ts"
import { Registry, withPluginModules } from "../registry.ts"
import { describePlugins } from "./describe-plugins.ts"
import { predictCommand } from "./predict.ts"
import { writeComparisonReport, writeReport } from "../report/write.ts"
import { storeLabels } from "../report/labels.ts"
import { loadExperimentFolder } from "../report/load.ts"
import { resultsTable } from "../report/summary.ts"
import { setExitCode } from "./exit.ts"
import { formatStatus, storeStatus } from "../status.ts"
import { loadExperiment, readSpec, specRegistry } from "./load-spec.ts"
import { schemaCommand } from "./schema.ts"

const specArgument = Argument.String("spec").pipe(Argument.withDescription("path of the experiment's YAML spec"))
const setFlag = Flag.String("set").pipe(
  Flag.withDescription("override a spec field: --set model.dModel=64 (repeatable; the value is read as YAML)"),
  Flag.atLeast(0)
)

const validate = Command.make(
  "validate",
  {
    spec: specArgument,
    set: setFlag,
    print: Flag.Boolean("print").pipe(Flag.withDescription("print the resolved spec (defaults and overrides applied)"), Flag.withDefault(false))
  },
  ({ spec, set, print }) =>
    Effect.gen(function* () {
      const { experiment } = yield* loadExperiment(spec, set)
      if (print) yield* Console.log(toYaml(experiment.resolved).trimEnd())
      yield* Console.error(`${spec}: valid — experiment "${experiment.name}", ${experiment.plans.length} run${experiment.plans.length === 1 ? "" : "s"}`)
    })
).pipe(Command.withDescription("check a spec; every problem is reported with its line:column"))

const parseShard = (text: string) => {
  const m = /^(\d+)\/(\d+)$/.exec(text)
  const k = m ? Number(m[1]) : NaN
  const n = m ? Number(m[2]) : NaN
  if (!m || n < 1 || k >= n) {
    return Effect.fail(
      new SpecError({
        file: "--shard",
        issues: [{ path: "--shard", message: `expected k/n with 0 ≤ k < n (run plans whose index ≡ k mod n), found "${text}"` }]
      })
    )
  }
  return Effect.succeed({ k, n })
}

const usageError = (flag: string, message: string) => new SpecError({ file: flag, issues: [{ path: flag, message }] })

const run = Command.make(
  "run",
  {
    spec: specArgument,
    set: setFlag,
    fresh: Flag.Boolean("fresh").pipe(Flag.withDescription("re-run runs that are already complete"), Flag.withDefault(false)),
    concurrency: Flag.Int("concurrency").pipe(Flag.withDescription("runs trained at once, where the trainer allows"), Flag.withDefault(1)),
    shard: Flag.String("shard").pipe(
      Flag.withDescription("k/n: run only plans whose index ≡ k (mod n), for job arrays over a shared run store"),
      Flag.optional
    ),
    store: Flag.String("store").pipe(Flag.withDescription("run store root (default: the spec's store.root, relative to the working directory)"), Flag.optional),
    worker: Flag.Boolean("worker").pipe(
      Flag.withDescription(
        "take unclaimed, incomplete runs from the shared store until none is left (any number of workers, on any machines sharing the store)"
      ),
      Flag.withDefault(false)
    )
  },
  (flags) =>
    Effect.gen(function* () {
      if (!Number.isInteger(flags.concurrency) || flags.concurrency < 1) {
        return yield* usageError("--concurrency", `expected an integer ≥ 1 (runs trained at once), found ${flags.concurrency}`)
      }
      if (Option.isSome(flags.store) && flags.store.value.trim() === "") {
        return yield* usageError("--store", `expected a folder (the run store root), found an empty string`)
      }
      if (flags.worker && flags.fresh) {
        return yield* usageError("--fresh", `cannot be combined with --worker (every worker would redo every run); run once without --worker to redo them`)
      }
      const { experiment, registry } = yield* loadExperiment(flags.spec, flags.set)
      const shard = Option.isSome(flags.shard) ? yield* parseShard(flags.shard.value) : undefined
      const options = {
        fresh: flags.fresh,
        concurrency: flags.concurrency,
        worker: flags.worker,
        ...(shard ? { shard } : {}),
        ...(Option.isSome(flags.store) ? { storeRoot: NodePath.resolve(flags.store.value) } : {})
      }
      const outcome = yield* runExperiment(experiment, registry, options).pipe(Effect.provide(pluginLayers(experiment)))
      const paths = outcome.lawsWritten
        ? yield* writeReport(outcome.store, experiment.name, outcome.results, outcome.laws, registry, experiment.spec.report, experiment.spec.description)
        : []
      yield* Console.log(resultsTable(outcome.results, registry))
      const elsewhere = outcome.heldElsewhere > 0 ? `, ${outcome.heldElsewhere} being trained by other processes` : ""
      const otherShards = outcome.missing - outcome.failures.length - outcome.heldElsewhere
      yield* Console.log(
        `\n${outcome.results.length}/${experiment.plans.length} runs complete (${outcome.skipped} resumed, ${outcome.failures.length} failed${elsewhere}${otherShards > 0 && shard ? `, ${otherShards} in other shards` : ""})` +
          `\nrun store: ${NodePath.relative(process.cwd(), storeRootOf(experiment, options)) || "."}/${experiment.name}\nreport: ${paths.length ? paths.join(", ") : "not written (runs remain)"}`
      )
      if (outcome.failures.length > 0) {
        for (const f of outcome.failures) yield* Console.error(`run ${f.plan.runId} failed: ${f.error._tag}: ${f.error.message}`)
        yield* setExitCode(1)
      }
    })
).pipe(Command.withDescription("run an experiment: train, measure, fit laws, write the report (complete runs are skipped)"))

const report = Command.make(
  "report",
  {
    dirs: Argument.String("dir").pipe(
      Argument.withDescription("an experiment's folder in the run store, e.g. runs/quickstart; several are drawn on the same axes"),
      Argument.atLeast(1)
    ),
    out: Flag.String("out").pipe(
      Flag.withDescription("folder for the report of several experiments (default: <first's run store>/compare-<names>)"),
      Flag.optional
    )
  },
  ({ dirs, out }) =>
    Effect.gen(function* () {
      const loaded = yield* Effect.forEach(dirs, loadExperimentFolder)
      // The plugin modules the experiments' specs loaded (recorded in their stores), so their report sections are drawn too.
      const modules = [...new Set(loaded.flatMap((e) => e.pluginModules))]
      const registry = yield* withPluginModules(yield* Registry, modules, process.cwd())
      const labels = storeLabels(loaded.map((e) => e.dir))
      if (loaded.length === 1 && Option.isNone(out)) {
        const e = loaded[0]!
        const paths = yield* writeReport(e.store, e.name, e.results, e.laws, registry, { topSamples: 10 }, e.description)
        yield* Console.log(resultsTable(e.results, registry))
        return yield* Console.log(`report: ${paths.join(", ")}`)
      }
      const outDir = Option.isSome(out) ? out.value : NodePath.join(NodePath.dirname(loaded[0]!.dir), `compare-${loaded.map((e) => e.name).join("+")}`)
      const inputs = loaded.map((e, i) => ({ label: labels[i]!, results: e.results, laws: e.laws, description: e.description, curves: e.curves }))
      const paths = yield* writeComparisonReport(outDir, inputs, registry, { topSamples: 10 })
      for (const [i, e] of loaded.entries()) yield* Console.log(`${labels[i]}\n${resultsTable(e.results, registry)}\n`)
      yield* Console.log(`report: ${paths.join(", ")}`)
    })
).pipe(Command.withDescription("write report.html and report.md from one run store folder, or one report comparing several"))

const plugins = Command.make(
  "plugins",
  {
    spec: Argument.String("spec").pipe(
      Argument.withDescription("a spec whose plugins: modules are listed too (default: the built-in plugins only)"),
      Argument.optional
    )
  },
  ({ spec }) =>
    Effect.gen(function* () {
      const registry = Option.isSome(spec) ? yield* specRegistry(yield* readSpec(spec.value), [], true) : yield* Registry
      yield* Console.log(describePlugins(registry.plugins))
    })
).pipe(Command.withDescription("list every registered plugin (with SPEC: and that spec's plugin modules) with its config fields, defaults and descriptions"))

const status = Command.make(
  "status",
  { dir: Argument.String("dir").pipe(Argument.withDescription("an experiment's folder in the run store, e.g. runs/quickstart")) },
  ({ dir }) =>
    Effect.gen(function* () {
      const abs = NodePath.resolve(dir)
      const fs = yield* FileSystem.FileSystem
      if (!(yield* fs.exists(NodePath.join(abs, "experiment.yaml")).pipe(Effect.orElseSucceed(() => false)))) {
        return yield* new SpecError({ file: dir, issues: [{ path: "", message: `"${dir}" is not an experiment folder of a run store (no experiment.yaml)` }] })
      }
      yield* Console.log(formatStatus(yield* storeStatus(abs)))
    })
).pipe(Command.withDescription("progress of a (distributed) sweep from the run store alone: complete, claimed (by whom, since when, step), failed, waiting"))

/** The `memorize` command; `builtins` are the plugins whose laws `predict` offers. */
export const makeCommand = (extra: ReadonlyArray<Command.Command<any, any, any, any, any>> = [], builtins: ReadonlyArray<Plugin> = []) =>
  Command.make("memorize").pipe(
    Command.withDescription("measure how much language models memorize"),
    Command.withSubcommands([validate, run, report, status, plugins, schemaCommand, predictCommand(builtins), ...extra])
  )

export type BuiltinPlugins = ReadonlyArray<Plugin>
