/**
 * Plugin outputs through their Schemas. A metric's values and a law's fit are
 * stored as JSON (result.json, laws.json). A plugin that declares `output`
 * (plugin.ts) has what its `make` returns encoded by that Schema before it is
 * stored, and the stored JSON decoded by it before its hooks (report,
 * summary) see it: the hooks get typed values, and a stored file that no
 * longer matches (written by another version of the plugin, edited by hand)
 * is named instead of misread. Either way the stored value must be JSON
 * (json-value.ts): NaN or a Float64Array is refused before anything is written.
 */
import { Cause, Exit, Schema } from "effect"
import type { Json } from "./contracts.ts"
import { jsonProblem } from "./json-value.ts"

type Stored = { readonly [k: string]: Json }

/** A Schema's complaint (the SchemaError inside a failed exit's cause), in at most three lines joined by "; ". */
const schemaMessage = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  const text = Schema.isSchemaError(error) ? error.message : String((error as { message?: unknown })?.message ?? error)
  return text.split("\n").slice(0, 3).join("; ")
}

/**
 * What `make` returned, as the JSON object to store; or why it cannot be
 * stored (it does not match the plugin's output Schema, or is not JSON).
 */
export const encodeOutput = <A>(
  schema: Schema.Codec<A, unknown> | undefined,
  value: A
): { readonly ok: true; readonly stored: Stored } | { readonly ok: false; readonly problem: string } => {
  let encoded: unknown = value
  if (schema !== undefined) {
    const exit = Schema.encodeUnknownExit(schema)(value)
    if (Exit.isFailure(exit)) return { ok: false, problem: `it does not match the plugin's output Schema: ${schemaMessage(exit.cause)}` }
    encoded = exit.value
  }
  const problem = jsonProblem(encoded, "")
  if (problem !== undefined)
    return { ok: false, problem: `${problem} (stored outputs are JSON: finite numbers, strings, booleans, null, arrays and plain objects)` }
  if (typeof encoded !== "object" || encoded === null || Array.isArray(encoded)) return { ok: false, problem: "it is not a JSON object" }
  return { ok: true, stored: encoded as Stored }
}

/** A stored output decoded by the plugin's output Schema (as stored without one); or why it does not decode. */
export const decodeOutput = <A>(
  schema: Schema.Codec<A, unknown> | undefined,
  stored: Json
): { readonly ok: true; readonly value: A } | { readonly ok: false; readonly problem: string } => {
  // Without a Schema the plugin declared its output as plain JSON: it gets what was stored.
  if (schema === undefined) return { ok: true, value: stored as A }
  const exit = Schema.decodeUnknownExit(schema)(stored)
  return Exit.isSuccess(exit) ? { ok: true, value: exit.value } : { ok: false, problem: schemaMessage(exit.cause) }
}
