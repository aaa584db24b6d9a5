/**
 * Plugin contracts. A plugin is a named implementation of one kind, with an
 * Effect Schema for its section of the spec: the registry, not core, decides
 * what a valid `dataset:`/`model:`/`train:`/`metrics:`/`laws:` entry is.
 */
import type { Layer, Schema, Effect } from "effect"
import type { DatasetImpl, Json, LawImpl, MetricImpl, MetricValues, ModelImpl, RunResult, TrainerImpl, TrainInput } from "./contracts.ts"
import type { Headline } from "./report/headline.ts"
import type { FactsOf, RequirementCheck } from "./requirements.ts"

export type PluginKind = "dataset" | "model" | "trainer" | "metric" | "law"

/** A chart (Vega-Lite spec, rendered to SVG by core) and/or a table in the report. */
export interface ReportSection {
  readonly title: string
  readonly description?: string
  /** A Vega-Lite spec with its data inline (`data.values`). */
  readonly chart?: { readonly [k: string]: Json }
  readonly table?: {
    readonly columns: ReadonlyArray<string>
    readonly rows: ReadonlyArray<ReadonlyArray<Json>>
    /** Per row, text shown on hover (the full config of the run or model the row names). */
    readonly rowTitles?: ReadonlyArray<string>
  }
  /** Answers for the headline block at the top of the report (a section may hold only these). */
  readonly headline?: Headline
}

/**
 * A column a metric adds to the runs table (printed after `run`, at the top
 * of report.md, in report.html), read from that metric's stored values.
 */
export interface SummaryColumn<O = MetricValues> {
  readonly header: string
  /** This run's value, or undefined when it has none (shown as "—"); `values` decoded by the metric's output Schema. */
  // Method syntax: a column of a metric whose make never succeeds (O = never) is still a column.
  value(values: O, result: RunResult): number | undefined
  /** Digits after the point (0: rounded to an integer). */
  readonly digits: number
}

/** One flag of `memorize predict` that a law reads (`--name`). */
export interface PredictFlag {
  /** The flag's name without the dashes. */
  readonly name: string
  readonly type: "number" | "string"
  readonly description: string
}

/**
 * `memorize predict` support of a law plugin: the flags it reads, a Schema
 * that decodes them (the given flags, by name, as a record; its errors are
 * shown as usage errors) and the answer, as lines to print.
 */
export interface PredictHook<I = any> {
  /** What the law predicts, for `memorize predict --help`. */
  readonly description: string
  readonly flags: ReadonlyArray<PredictFlag>
  readonly input: Schema.Codec<I, any>
  readonly run: (input: I) => Effect.Effect<string, Error>
}

/** Declares a predict hook; identity at runtime, it infers the decoded input type for `run`. */
export const definePredict = <I>(hook: PredictHook<I>): PredictHook<I> => hook

/** Reloads a model that `TrainedModel.save` wrote into `dir` (see TrainerPlugin.reload). */
export type ReloadImpl = (dir: string, input: TrainInput) => ReturnType<TrainerImpl>

interface PluginBase<K extends PluginKind, C, Impl> {
  readonly kind: K
  /** The `kind:` value a spec uses to pick this plugin. */
  readonly name: string
  readonly description: string
  /** Decodes this plugin's section of the spec (without `kind`). Unknown keys are errors. */
  readonly config: Schema.Codec<C, any>
  readonly make: (config: C) => Impl
  /**
   * Services the implementation needs (a GPU device, say), built once per
   * process when a spec uses this plugin and released at exit.
   */
  readonly layer?: Layer.Layer<any, any, never>
  /**
   * Requirements checked by `validate` for every run of a sweep before any
   * work: paths that must exist, what this section needs of the dataset or
   * the reference (requirements.ts).
   */
  readonly check?: RequirementCheck<C>
}

export interface DatasetPlugin<C = any> extends PluginBase<"dataset", C, DatasetImpl> {
  /** What this config will produce (seqLen, holdout, entropy...), for other plugins' checks. */
  readonly facts?: FactsOf<C>
}
export interface ModelPlugin<C = any> extends PluginBase<"model", C, ModelImpl> {}
export interface TrainerPlugin<C = any> extends PluginBase<"trainer", C, TrainerImpl> {
  /** Whether several runs may train at once on this trainer (`--concurrency`). */
  readonly concurrent?: boolean
  /**
   * Loads a model this trainer trained and saved (with `TrainedModel.save`)
   * from its folder, with this config, instead of training it again. Core uses
   * it for reference models: trained once per config, saved under
   * references/<id>/, reloaded by later runs. A trainer without it (one that
   * loads an existing checkpoint, say) makes its model anew each time.
   */
  readonly reload?: (config: C) => ReloadImpl
  /**
   * Sweep runs this trainer may train at once as one pack (packing.ts). Core
   * then runs a sweep's runs in chunks, concurrently within a chunk, and
   * provides `Packing` around each run's main training; the trainer gathers
   * (`gatherPack`) before taking anything exclusive, since the others of its
   * chunk wait for it.
   */
  readonly packing?: {
    /** Runs per pack for this config (1: no packing); an Effect where it depends on the trainer's services (its layer's). */
    readonly size: (config: C) => number | Effect.Effect<number, never, any>
    /** The part of the config that must be equal for runs to share a pack (the rest — seed, lr, schedule, steps, stop rule — may differ). */
    readonly shared: (config: C) => Json
  }
}
/**
 * The Schema of what a metric or law returns (plugin-output.ts): core encodes
 * `make`'s output by it into the JSON it stores and decodes the stored JSON
 * by it for the plugin's hooks. Without one, the output is plain JSON as is.
 */
export type OutputSchema<O> = Schema.Codec<O, unknown>

export interface MetricPlugin<C = any, O = any> extends PluginBase<"metric", C, MetricImpl<O>> {
  /** What one run's values of this metric are (result.json `metrics.<name>`). */
  readonly output?: OutputSchema<O>
  /** Report sections drawn from all runs' values of this metric. */
  readonly report?: (results: ReadonlyArray<RunResult>) => ReadonlyArray<ReportSection>
  /** Columns of the runs table taken from this metric's values. */
  readonly summary?: ReadonlyArray<SummaryColumn<O>>
}
export interface LawPlugin<C = any, F = any> extends PluginBase<"law", C, LawImpl<F>> {
  /** What this law's fit is (laws.json `<name>`). */
  readonly output?: OutputSchema<F>
  /** Report sections from the fit (decoded by `output`) and the runs it was fitted to. */
  report?(fit: F, results: ReadonlyArray<RunResult>): ReadonlyArray<ReportSection>
  /** `memorize predict --law <name>` support. */
  readonly predict?: PredictHook
}

export type Plugin = DatasetPlugin | ModelPlugin | TrainerPlugin | MetricPlugin | LawPlugin

/**
 * Declares a plugin. Identity at runtime; its job is type inference, so a
 * plugin's `make` receives its decoded config type.
 */
export function definePlugin<C>(plugin: DatasetPlugin<C>): DatasetPlugin<C>
export function definePlugin<C>(plugin: ModelPlugin<C>): ModelPlugin<C>
export function definePlugin<C>(plugin: TrainerPlugin<C>): TrainerPlugin<C>
export function definePlugin<C, O>(plugin: MetricPlugin<C, O>): MetricPlugin<C, O>
export function definePlugin<C, F>(plugin: LawPlugin<C, F>): LawPlugin<C, F>
export function definePlugin(plugin: Plugin): Plugin {
  return plugin
}

export const isPlugin = (u: unknown): u is Plugin =>
  typeof u === "object" &&
  u !== null &&
  typeof (u as Plugin).name === "string" &&
  ["dataset", "model", "trainer", "metric", "law"].includes((u as Plugin).kind) &&
  typeof (u as Plugin).make === "function" &&
  (u as Plugin).config != null &&
  // A Schema (an object or, for classes, a function) carries its AST.
  "ast" in Object((u as Plugin).config)
