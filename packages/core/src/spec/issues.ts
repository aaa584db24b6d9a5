/**
 * Turns Schema decoding failures into SpecIssues a person can act on: the
 * YAML path, what was expected and what was found.
 */
import { Exit, Schema, SchemaIssue } from "effect"
import type { SpecPath } from "./yaml-source.ts"

export interface RawIssue {
  readonly path: SpecPath
  readonly message: string
  /** Point at the key rather than its value (unknown keys). */
  readonly atKey?: boolean
}

export type DecodeOutcome<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly issues: ReadonlyArray<RawIssue> }

const standardFormatter = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * Decodes `value` with `schema`, unknown keys rejected, all issues collected.
 * Each issue's path is prefixed with `basePath`, and its message says what
 * was found at that place.
 */
export const decodeWithIssues = <A>(schema: Schema.Codec<A, any>, value: unknown, basePath: SpecPath = []): DecodeOutcome<A> => {
  const exit = Schema.decodeUnknownExit(schema as Schema.Codec<A, unknown>)(value, { errors: "all", onExcessProperty: "error" })
  if (Exit.isSuccess(exit)) return { ok: true, value: exit.value }
  const schemaError = findSchemaError(exit.cause)
  if (schemaError === undefined) {
    return { ok: false, issues: [{ path: basePath, message: String(exit.cause) }] }
  }
  const formatted = standardFormatter(schemaError.issue)
  const issues = formatted.issues.map((i): RawIssue => {
    const local = (i.path ?? []).map((k) => (typeof k === "object" && k !== null ? (k as { key: PropertyKey }).key : k)) as Array<string | number>
    return describe(schema, value, local, basePath, i.message)
  })
  return { ok: false, issues }
}

const findSchemaError = (cause: unknown): Schema.SchemaError | undefined => {
  const reasons = (cause as { reasons?: ReadonlyArray<{ error?: unknown; defect?: unknown }> }).reasons ?? []
  for (const r of reasons) {
    const e = r.error ?? r.defect
    if (Schema.isSchemaError(e)) return e
  }
  return undefined
}

const describe = (schema: Schema.Codec<any, any>, root: unknown, local: ReadonlyArray<string | number>, basePath: SpecPath, message: string): RawIssue => {
  const path = [...basePath, ...local]
  if (message === "Expected no excess property") {
    const key = local[local.length - 1]
    const allowed = allowedKeys(schema, local.slice(0, -1))
    return {
      path,
      atKey: true,
      message: `unknown key "${String(key)}"${allowed ? ` (expected one of: ${allowed.join(", ")})` : ""}`
    }
  }
  if (message === "Missing key") return { path, message: "missing required key" }
  const found = valueAt(root, local)
  return { path, message: `${lowerFirst(message)}, found ${showValue(found)}` }
}

/** The keys a struct schema accepts at `path` (walking nested structs), if known. */
const allowedKeys = (schema: Schema.Codec<any, any>, path: ReadonlyArray<string | number>): Array<string> | undefined => {
  let current: any = schema
  for (const key of path) {
    const fields = structFields(current)
    if (!fields || !(String(key) in fields)) return undefined
    current = fields[String(key)]
  }
  const fields = structFields(current)
  return fields ? Object.keys(fields) : undefined
}

/** The keys of a struct schema (through defaults/refinements), or undefined when it is not a struct. */
export const structKeys = (schema: Schema.Codec<any, any>): ReadonlyArray<string> | undefined => {
  const fields = structFields(schema)
  return fields ? Object.keys(fields) : undefined
}

/** The fields of a struct schema (through defaults/refinements), or undefined when it is not a struct. */
export const structFields = (schema: any): Record<string, unknown> | undefined => {
  let s = schema
  // Unwrap defaults/optionals/refinements down to a struct, if there is one.
  for (let i = 0; i < 6 && s; i++) {
    if (s.fields && typeof s.fields === "object") return s.fields
    s = s.schema ?? s.from ?? s.to ?? undefined
  }
  return undefined
}

export const valueAt = (root: unknown, path: ReadonlyArray<string | number>): unknown => {
  let v: any = root
  for (const k of path) {
    if (v === null || typeof v !== "object") return undefined
    v = v[k as any]
  }
  return v
}

export const showValue = (v: unknown): string => {
  if (v === undefined) return "nothing"
  // JSON would print NaN and ±Infinity (YAML .nan, .inf) as null.
  if (typeof v === "number" && !Number.isFinite(v)) return String(v)
  if (typeof v === "string") return JSON.stringify(v)
  let s: string
  try {
    s = JSON.stringify(v) ?? String(v)
  } catch {
    s = String(v)
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s
}

const lowerFirst = (s: string) => (s.length > 0 ? s[0]!.toLowerCase() + s.slice(1) : s)
