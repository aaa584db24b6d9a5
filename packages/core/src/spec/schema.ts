/**
 * The core's part of the spec language: the top-level shape of an
 * experiment. Plugin sections (`dataset`, `model`, `train`, each entry of
 * `metrics` and `laws`) are only required to name a `kind` here; their other
 * fields are decoded by that plugin's own schema (see decode.ts).
 */
import { Schema } from "effect"
import { NonNegativeInt, PositiveInt, withDefault } from "../schema-helpers.ts"

/** `{ kind: name, ...fields for that plugin }`. */
export const PluginSection = Schema.StructWithRest(
  Schema.Struct({ kind: Schema.String.check(Schema.isMinLength(1)) }),
  [Schema.Record(Schema.String, Schema.Unknown)]
)
export type PluginSection = typeof PluginSection.Type

/** Sweep axes: a spec path (`model.dModel`, `seed`) → the values it takes. */
export const SweepAxes = Schema.Record(Schema.String, Schema.NonEmptyArray(Schema.Unknown))

export const Sweep = Schema.Struct({
  /** Cartesian product of the axes. */
  grid: Schema.optional(SweepAxes),
  /** Lists paired element-wise (all the same length); combined with `grid` as a product. */
  zip: Schema.optional(SweepAxes)
})

/**
 * The reference model θ for unintended memorization: trained once per
 * distinct config (and saved in the run store when its trainer can reload
 * it), or made by a trainer that loads an existing model. `model` defaults to the run's
 * model; `dataset` holds fields that override the run's dataset section
 * (for example a larger `samples`).
 */
export const Reference = Schema.Struct({
  model: Schema.optional(PluginSection),
  train: PluginSection,
  dataset: Schema.optional(Schema.Record(Schema.String, Schema.Unknown))
})

export const ReportOptions = Schema.Struct({
  title: Schema.optional(Schema.String),
  /** How many most-memorized samples the report lists. */
  topSamples: withDefault(PositiveInt, 10)
})

export const StoreOptions = Schema.Struct({
  /** Root of the run store, relative to the working directory unless absolute. `--store` overrides. */
  root: withDefault(Schema.String, "runs"),
  /** Save each trained model into its run folder (`TrainedModel.save`: the trainer's format). */
  saveModels: withDefault(Schema.Boolean, true)
})

export const ExperimentName = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, {
    message: "a name of letters, digits, '.', '_' and '-' (it names the run store folder)"
  })
)

export const ExperimentSpec = Schema.Struct({
  name: ExperimentName,
  description: Schema.optional(Schema.String),
  /** Seed of the run (data, initialisation, batches) unless a plugin section sets its own. */
  seed: withDefault(NonNegativeInt, 0),
  dataset: PluginSection,
  model: PluginSection,
  train: PluginSection,
  reference: Schema.optional(Reference),
  metrics: withDefault(Schema.Array(PluginSection), []),
  laws: withDefault(Schema.Array(PluginSection), []),
  sweep: Schema.optional(Sweep),
  report: withDefault(ReportOptions, {}),
  store: withDefault(StoreOptions, {}),
  /** Third-party plugin modules: relative paths (from the spec's folder) or package names. */
  plugins: withDefault(Schema.Array(Schema.String), [])
})
export type ExperimentSpec = typeof ExperimentSpec.Type
