/**
 * Plugin contracts. A plugin is a named implementation of one kind, with an
 * Effect Schema for its section of the spec: the registry, not core, decides
 * what a valid `dataset:`/`model:`/`train:`/`metrics:`/`laws:` entry is.
 */
import type { Layer, Schema, Effect } from "effect"
import type {
  DatasetImpl,
  Json,
  LawFit,
  LawImpl,
  MetricImpl,
  ModelImpl,
  RunResult,
  TrainerImpl
} from "./contracts.ts"
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

/** Options of `memorize predict`, answered by a law plugin that can predict. */
export interface PredictRequest {
  readonly params: number
  readonly samples?: number
  readonly target?: number
  /** "paper", or the path of a laws.json / constants JSON file. */
  readonly constants?: string
}

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
}
export interface MetricPlugin<C = any> extends PluginBase<"metric", C, MetricImpl> {
  /** Report sections drawn from all runs' values of this metric. */
  readonly report?: (results: ReadonlyArray<RunResult>) => ReadonlyArray<ReportSection>
}
export interface LawPlugin<C = any> extends PluginBase<"law", C, LawImpl> {
  readonly report?: (fit: LawFit, results: ReadonlyArray<RunResult>) => ReadonlyArray<ReportSection>
  /** `memorize predict` support: returns the lines to print. */
  readonly predict?: (request: PredictRequest) => Effect.Effect<string, Error>
}

export type Plugin = DatasetPlugin | ModelPlugin | TrainerPlugin | MetricPlugin | LawPlugin

/**
 * Declares a plugin. Identity at runtime; its job is type inference, so a
 * plugin's `make` receives its decoded config type.
 */
export function definePlugin<C>(plugin: DatasetPlugin<C>): DatasetPlugin<C>
export function definePlugin<C>(plugin: ModelPlugin<C>): ModelPlugin<C>
export function definePlugin<C>(plugin: TrainerPlugin<C>): TrainerPlugin<C>
export function definePlugin<C>(plugin: MetricPlugin<C>): MetricPlugin<C>
export function definePlugin<C>(plugin: LawPlugin<C>): LawPlugin<C>
export function definePlugin(plugin: Plugin): Plugin {
  return plugin
}

export const isPlugin = (u: unknown): u is Plugin =>
  typeof u === "object" && u !== null &&
  typeof (u as Plugin).name === "string" &&
  ["dataset", "model", "trainer", "metric", "law"].includes((u as Plugin).kind) &&
  typeof (u as Plugin).make === "function" &&
  (u as Plugin).config != null &&
  // A Schema (an object or, for classes, a function) carries its AST.
  "ast" in Object((u as Plugin).config)
