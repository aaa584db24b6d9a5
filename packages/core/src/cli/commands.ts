/**
 * The `memorize` command line: validate, run, report, plugins, predict.
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
import { Progress } from "../progress.ts"
import { Registry, withPluginModules, type RegistryShape } from "../registry.ts"
import { describePlugins } from "./describe-plugins.ts"
import { writeReport } from "../report/write.ts"
import { resultsTable } from "../report/summary.ts"
import { decodeExperiment } from "../spec/decode.ts"
import { parseYamlSpec } from "../spec/yaml-source.ts"
import { setExitCode } from "./exit.ts"

const specArgument = Argument.String("spec").pipe(Argument.withDescription("path of the experiment's YAML spec"))
const setFlag = Flag.String("set").pipe(
  Flag.withDescription("override a spec field: --set model.dModel=64 (repeatable; the value is read as YAML)"),
  Flag.atLeast(0)
)

/** Reads, parses and decodes a spec against the registry (plus its own plugins). */
export const loadExperiment = (file: string, sets: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError(() => new SpecError({ file, issues: [{ path: "", message: `cannot read the spec file "${file}"` }] }))
    )
    const source = yield* parseYamlSpec(file, text)
    const builtin = yield* Registry
    const pluginList = (source.value as { plugins?: unknown } | null)?.plugins
    const registry: RegistryShape = Array.isArray(pluginList) && pluginList.every((p) => typeof p === "string")
      ? yield* withPluginModules(builtin, pluginList as Array<string>, NodePath.dirname(NodePath.resolve(file)))
      : builtin
    const experiment = yield* decodeExperiment(source, registry, { sets })
    return { experiment, registry }
  })

const validate = Command.make(
  "validate",
  {
    spec: specArgument,
    set: setFlag,
    print: Flag.Boolean("print").pipe(Flag.withDescription("print the resolved spec (defaults and overrides applied)"), Flag.withDefault(false))
  },
  ({ spec, set, print }) =>
    Effect.gen(function*() {
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
    return Effect.fail(new SpecError({ file: "--shard", issues: [{ path: "--shard", message: `expected k/n with 0 ≤ k < n (run plans whose index ≡ k mod n), found "${text}"` }] }))
  }
  return Effect.succeed({ k, n })
}

const run = Command.make(
  "run",
  {
    spec: specArgument,
    set: setFlag,
    fresh: Flag.Boolean("fresh").pipe(Flag.withDescription("re-run runs that are already complete"), Flag.withDefault(false)),
    concurrency: Flag.Int("concurrency").pipe(Flag.withDescription("runs trained at once, where the trainer allows"), Flag.withDefault(1)),
    shard: Flag.String("shard").pipe(Flag.withDescription("k/n: run only plans whose index ≡ k (mod n), for job arrays over a shared run store"), Flag.optional),
    store: Flag.String("store").pipe(Flag.withDescription("run store root (default: the spec's store.root, relative to the working directory)"), Flag.optional)
  },
  (flags) =>
    Effect.gen(function*() {
      const { experiment, registry } = yield* loadExperiment(flags.spec, flags.set)
      const shard = Option.isSome(flags.shard) ? yield* parseShard(flags.shard.value) : undefined
      const options = {
        fresh: flags.fresh,
        concurrency: flags.concurrency,
        ...(shard ? { shard } : {}),
        ...(Option.isSome(flags.store) ? { storeRoot: NodePath.resolve(flags.store.value) } : {})
      }
      const outcome = yield* runExperiment(experiment, registry, options).pipe(Effect.provide(pluginLayers(experiment)))
      const paths = yield* writeReport(outcome.store, experiment.name, outcome.results, outcome.laws, registry, experiment.spec.report)
      yield* Console.log(resultsTable(outcome.results))
      yield* Console.log(
        `\n${outcome.results.length}/${experiment.plans.length} runs complete (${outcome.skipped} resumed, ${outcome.failures.length} failed${outcome.missing - outcome.failures.length > 0 && shard ? `, ${outcome.missing - outcome.failures.length} in other shards` : ""})` +
          `\nrun store: ${NodePath.relative(process.cwd(), storeRootOf(experiment, options)) || "."}/${experiment.name}\nreport: ${paths.join(", ")}`
      )
      if (outcome.failures.length > 0) {
        for (const f of outcome.failures) yield* Console.error(`run ${f.plan.runId} failed: ${f.error._tag}: ${f.error.message}`)
        yield* setExitCode(1)
      }
    })
).pipe(Command.withDescription("run an experiment: train, measure, fit laws, write the report (complete runs are skipped)"))

const report = Command.make(
  "report",
  { dir: Argument.String("dir").pipe(Argument.withDescription("an experiment's folder in the run store, e.g. runs/quickstart")) },
  ({ dir }) =>
    Effect.gen(function*() {
      const registry = yield* Registry
      const { makeRunStore } = yield* Effect.promise(() => import("../store.ts"))
      const abs = NodePath.resolve(dir)
      const fs = yield* FileSystem.FileSystem
      if (!(yield* fs.exists(NodePath.join(abs, "experiment.yaml")).pipe(Effect.orElseSucceed(() => false)))) {
        return yield* new SpecError({ file: dir, issues: [{ path: "", message: `"${dir}" is not an experiment folder of a run store (no experiment.yaml)` }] })
      }
      const store = yield* makeRunStore(NodePath.dirname(abs), NodePath.basename(abs))
      const results = yield* store.allResults()
      const laws = (yield* store.readJson("laws.json").pipe(Effect.orElseSucceed(() => ({})))) as Record<string, any>
      const paths = yield* writeReport(store, NodePath.basename(abs), results, laws, registry, { topSamples: 10 })
      yield* Console.log(resultsTable(results))
      yield* Console.log(`report: ${paths.join(", ")}`)
    })
).pipe(Command.withDescription("write report.html and report.md from a run store folder"))

const plugins = Command.make("plugins", {}, () =>
  Effect.gen(function*() {
    const registry = yield* Registry
    yield* Console.log(describePlugins(registry.plugins))
  })).pipe(Command.withDescription("list every registered plugin with its config fields and defaults"))

const predict = Command.make(
  "predict",
  {
    params: Flag.Finite("params").pipe(Flag.withDescription("model parameter count P")),
    samples: Flag.Finite("samples").pipe(Flag.withDescription("training set size |D| (sequences): prints the predicted membership F1"), Flag.optional),
    f1: Flag.Finite("f1").pipe(Flag.withDescription("target membership F1: prints the dataset size that gives it"), Flag.optional),
    constants: Flag.String("constants").pipe(Flag.withDescription("\"paper\" or a laws.json / constants JSON file"), Flag.withDefault("paper")),
    law: Flag.String("law").pipe(Flag.withDescription("law plugin that predicts"), Flag.withDefault("membership-f1"))
  },
  (flags) =>
    Effect.gen(function*() {
      const registry = yield* Registry
      const law = registry.find("law", flags.law)
      const usage = (message: string) => new SpecError({ file: "memorize predict", issues: [{ path: "", message }] })
      if (!law?.predict) return yield* usage(`no law plugin "${flags.law}" that can predict (registered laws: ${registry.names("law").join(", ")})`)
      if (Option.isSome(flags.samples) === Option.isSome(flags.f1)) return yield* usage("give exactly one of --samples N or --f1 F")
      const text = yield* law.predict({
        params: flags.params,
        ...(Option.isSome(flags.samples) ? { samples: flags.samples.value } : {}),
        ...(Option.isSome(flags.f1) ? { target: flags.f1.value } : {}),
        constants: flags.constants
      }).pipe(Effect.mapError((e) => usage(e.message)))
      yield* Console.log(text)
    })
).pipe(Command.withDescription("predict membership-inference F1 from the fitted law (or invert it)"))

export const makeCommand = (extra: ReadonlyArray<Command.Command<any, any, any, any, any>> = []) =>
  Command.make("memorize").pipe(
    Command.withDescription("measure how much language models memorize"),
    Command.withSubcommands([validate, run, report, plugins, predict, ...extra])
  )

export type BuiltinPlugins = ReadonlyArray<Plugin>
