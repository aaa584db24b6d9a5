/**
 * Schemas of the files the run store reads back: a file that does not
 * decode is never trusted (a `[]` or `{"runId":5}` result.json is not a
 * complete run). Writers produce exactly these shapes.
 */
import { Schema } from "effect"

const JsonRecord = Schema.Record(Schema.String, Schema.Json)
const Count = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0))

/** result.json: everything stored about one completed run (contracts.ts `RunResult`). */
export const RunResultSchema = Schema.Struct({
  runId: Schema.String.check(Schema.isMinLength(1)),
  experiment: Schema.String,
  config: JsonRecord,
  model: Schema.Struct({
    kind: Schema.String,
    paramCount: Count,
    vocabSize: Count,
    seqLen: Count,
    precision: Schema.String,
    config: JsonRecord
  }),
  dataset: Schema.Struct({
    kind: Schema.String,
    trainCount: Count,
    holdoutCount: Count,
    vocabSize: Count,
    seqLen: Count,
    entropyBitsPerSequence: Schema.NullOr(Schema.Number),
    fingerprint: Schema.String,
    stats: JsonRecord
  }),
  train: Schema.NullOr(
    Schema.Struct({
      steps: Count,
      finalLoss: Schema.Number,
      stopReason: Schema.String,
      wallMs: Schema.Number,
      tokensPerSecond: Schema.Number
    })
  ),
  metrics: Schema.Record(Schema.String, JsonRecord),
  provenance: JsonRecord
})

/** laws.json: law name → its fit (or `{ error }`). */
export const LawsSchema = Schema.Record(Schema.String, JsonRecord)

/** error.json: why a run failed, for `status` and for people. */
export const RunErrorSchema = Schema.Struct({
  runId: Schema.String,
  configHash: Schema.optional(Schema.String),
  tag: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.String),
  host: Schema.optional(Schema.String),
  pid: Schema.optional(Schema.Number),
  at: Schema.optional(Schema.String)
})
export type RunErrorRecord = typeof RunErrorSchema.Type

/** identity.json: the full config hash a run folder belongs to (folder names are short prefixes). */
export const IdentitySchema = Schema.Struct({ configHash: Schema.String.check(Schema.isPattern(/^[0-9a-f]{64}$/)) })

/** store.json: the store's format, so a different version of memorize never misreads it. */
export const StoreMetaSchema = Schema.Struct({
  format: Schema.Int,
  writtenBy: Schema.String
})

/** claim.json: who is training a run, refreshed by a heartbeat. */
export const ClaimSchema = Schema.Struct({
  holder: Schema.String,
  host: Schema.String,
  pid: Schema.Int,
  claimedAt: Schema.String,
  heartbeatAt: Schema.String,
  /** The last training step the holder reported. */
  step: Schema.optional(Schema.Number)
})
export type Claim = typeof ClaimSchema.Type

/** references/<id>/saved.json: the reference model in this folder was saved completely, by this trainer. */
export const SavedModelSchema = Schema.Struct({
  trainer: Schema.String,
  savedAt: Schema.String
})
export const SAVED_MARKER = "saved.json"

/** plugins.json: the spec's third-party plugin modules, as written (`specifier`) and as resolved (`path`, absolute). */
export const PluginsRecordSchema = Schema.Struct({
  modules: Schema.Array(Schema.Struct({ specifier: Schema.String, path: Schema.String }))
})
export const PLUGINS_FILE = "plugins.json"
