/**
 * The core's part of the spec language: the top-level shape of an
 * experiment. Plugin sections (`dataset`, `model`, `train`, each entry of
 * `metrics` and `laws`) are only required to name a `kind` here; their other
 * fields are decoded by that plugin's own schema (see decode.ts).
 *
 * Descriptions are annotations, not comments, so editors show them
 * (`memorize schema`). Annotate a field's schema before `withDefault`:
 * what is annotated after it is not carried into JSON Schema.
 */
import { Schema } from "effect"
import { NonNegativeInt, PositiveInt, withDefault } from "../schema-helpers.ts"

/** The spec keys that hold plugin sections, and the kind of plugin each takes. */
export const sectionKinds = { dataset: "dataset", model: "model", train: "trainer", metrics: "metric", laws: "law" } as const

/** `{ kind: name, ...fields for that plugin }`. */
export const PluginSection = Schema.StructWithRest(Schema.Struct({ kind: Schema.String.check(Schema.isMinLength(1)) }), [
  Schema.Record(Schema.String, Schema.Unknown)
])
export type PluginSection = typeof PluginSection.Type

/** Sweep axes: a spec path (`model.dModel`, `seed`) → the values it takes. */
export const SweepAxes = Schema.Record(Schema.String, Schema.NonEmptyArray(Schema.Unknown))

export const Sweep = Schema.Struct({
  grid: Schema.optional(SweepAxes).annotate({ description: "cartesian product of the axes: every combination of their values is a run" }),
  zip: Schema.optional(SweepAxes).annotate({
    description: "lists paired element-wise (all the same length); combined with grid as a product"
  })
})

/**
 * The reference model θ for unintended memorization: trained once per
 * distinct config (and saved in the run store when its trainer can reload
 * it), or made by a trainer that loads an existing model. `model` defaults to the run's
 * model; `dataset` holds fields that override the run's dataset section
 * (for example a larger `samples`).
 */
export const Reference = Schema.Struct({
  model: Schema.optional(PluginSection).annotate({ description: "the reference model (default: the run's model section)" }),
  train: PluginSection.annotate({ description: "how the reference is made: a trainer, or { kind: checkpoint, path: ... } to load one" }),
  dataset: Schema.optional(Schema.Record(Schema.String, Schema.Unknown)).annotate({
    description: "fields laid over the run's dataset section for the reference's data (e.g. a larger samples)"
  })
})

export const ReportOptions = Schema.Struct({
  title: Schema.optional(Schema.String).annotate({ description: "the report's title (default: the experiment's name)" }),
  topSamples: withDefault(PositiveInt.annotate({ description: "how many most-memorized samples the report lists" }), 10)
})

export const StoreOptions = Schema.Struct({
  root: withDefault(
    Schema.String.annotate({ description: "root folder of the run store, relative to the working directory unless absolute; --store overrides it" }),
    "runs"
  ),
  saveModels: withDefault(
    Schema.Boolean.annotate({ description: "save each trained model into its run folder (the trainer's format: safetensors for GPT-2)" }),
    true
  )
})

export const ExperimentName = Schema.String.check(
  // The `u` flag lets the pattern into JSON Schema (Effect only exports unicode patterns); same matches here.
  Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9._-]*$/u, {
    message: "a name of letters, digits, '.', '_' and '-' (it names the run store folder)"
  })
)

export const ExperimentSpec = Schema.Struct({
  name: ExperimentName.annotate({ description: "the experiment's name: letters, digits, '.', '_', '-'; names its run store folder" }),
  description: Schema.optional(Schema.String).annotate({ description: "free text about the experiment" }),
  seed: withDefault(NonNegativeInt.annotate({ description: "seed of each run (data, initialisation, batch order) unless a section sets its own" }), 0),
  dataset: PluginSection.annotate({ description: "the training data: a dataset plugin (memorize plugins lists them)" }),
  model: PluginSection.annotate({ description: "the model architecture: a model plugin" }),
  train: PluginSection.annotate({ description: "how the model is trained (or loaded): a trainer plugin" }),
  reference: Schema.optional(Reference).annotate({
    description: "a reference model θ, for unintended memorization L(x|θ) − L(x|θ̂) on data whose entropy is unknown (text)"
  }),
  metrics: withDefault(Schema.Array(PluginSection).annotate({ description: "what is measured on every trained model: metric plugins" }), []),
  laws: withDefault(Schema.Array(PluginSection).annotate({ description: "what is fitted across all runs: law plugins" }), []),
  sweep: Schema.optional(Sweep).annotate({ description: "runs over several values of spec fields (dotted paths like model.dModel)" }),
  report: withDefault(ReportOptions.annotate({ description: "options of report.html / report.md" }), {}),
  store: withDefault(StoreOptions.annotate({ description: "where and what the run store keeps" }), {}),
  plugins: withDefault(
    Schema.Array(Schema.String).annotate({
      description: "third-party plugin modules: paths relative to the spec's folder, or package names"
    }),
    []
  )
})
export type ExperimentSpec = typeof ExperimentSpec.Type
