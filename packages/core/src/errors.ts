/**
 * The project's typed errors. Each names what was wrong and where, so the CLI
 * can print it for a person (no stack trace for a user mistake).
 */
import { Schema } from "effect"

/** One problem in a spec, with its YAML path and source position when known. */
export const SpecIssue = Schema.Struct({
  path: Schema.String,
  message: Schema.String,
  line: Schema.optional(Schema.Number),
  column: Schema.optional(Schema.Number)
})
export type SpecIssue = typeof SpecIssue.Type

/** A spec (file, override or sweep) that does not decode; lists every issue found. */
export class SpecError extends Schema.TaggedError<SpecError>()("SpecError", {
  file: Schema.String,
  issues: Schema.Array(SpecIssue)
}) {
  override get message(): string {
    return this.issues
      .map((i) => `${this.file}${i.line !== undefined ? `:${i.line}:${i.column ?? 1}` : ""}: ${i.path ? `${i.path}: ` : ""}${i.message}`)
      .join("\n")
  }
}

/** A plugin module that cannot be loaded, or two plugins with the same kind and name. */
export class PluginError extends Schema.TaggedError<PluginError>()("PluginError", {
  plugin: Schema.String,
  message: Schema.String
}) {}

/** A dataset that cannot be built: missing file, bad column, too few samples... */
export class DatasetError extends Schema.TaggedError<DatasetError>()("DatasetError", {
  dataset: Schema.String,
  message: Schema.String,
  file: Schema.optional(Schema.String)
}) {}

/** No adapter, device lost, validation error from the GPU driver. */
export class DeviceError extends Schema.TaggedError<DeviceError>()("DeviceError", {
  message: Schema.String
}) {}

/** Training failed: divergence (with the step), bad config for this data, ... */
export class TrainError extends Schema.TaggedError<TrainError>()("TrainError", {
  message: Schema.String,
  step: Schema.optional(Schema.Number)
}) {}

/** A model cannot be evaluated/saved/loaded (shape mismatch, bad checkpoint...). */
export class ModelError extends Schema.TaggedError<ModelError>()("ModelError", {
  message: Schema.String,
  file: Schema.optional(Schema.String),
  tensor: Schema.optional(Schema.String)
}) {}

/** A metric that cannot be computed on this model/dataset pair. */
export class MetricError extends Schema.TaggedError<MetricError>()("MetricError", {
  metric: Schema.String,
  message: Schema.String
}) {}

/** A law fit that cannot be made (too few points, no convergence...). */
export class LawError extends Schema.TaggedError<LawError>()("LawError", {
  law: Schema.String,
  message: Schema.String
}) {}

/** The run store cannot be read or written. */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  path: Schema.String,
  message: Schema.String,
  /** The OS error code behind it (ENOSPC, EROFS, EACCES, ENOTDIR...), when there is one. */
  code: Schema.optional(Schema.String)
}) {}

/** A file a command was asked to write (`--out`) cannot be written; `path` is the file as given. */
export class OutputError extends Schema.TaggedError<OutputError>()("OutputError", {
  path: Schema.String,
  message: Schema.String,
  /** The OS error code behind it (EACCES, ENOSPC, EROFS, ENOTDIR...), when there is one. */
  code: Schema.optional(Schema.String)
}) {}

/** A run failed with something unexpected (a defect: allocation failure, a bug in a plugin). */
export class RunDefect extends Schema.TaggedError<RunDefect>()("RunDefect", {
  runId: Schema.String,
  message: Schema.String
}) {}

/** Errors a person caused (bad spec, bad flag, bad file): exit code 2. */
export type UserError = SpecError | PluginError
