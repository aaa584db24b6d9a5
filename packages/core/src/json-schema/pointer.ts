/**
 * JSON Pointers inside one JSON Schema document (RFC 6901 in a URI
 * fragment), and the small structural helpers the spec document is built
 * with: `$ref`s to where a schema already stands instead of copies of it.
 */
import type { JsonSchema } from "effect"

export type Json = JsonSchema.JsonSchema

export const isObject = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)

/** A pointer segment as a URI fragment may hold it: what RFC 3986 does not allow there, percent-encoded. */
const fragmentSafe = (s: string) => s.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@]/gu, (c) => encodeURIComponent(c))

/** `#/a/b` for the segments a, b (escaped: `~` → `~0`, `/` → `~1`, then as a URI fragment). */
export const pointer = (segments: ReadonlyArray<string>): string =>
  `#${segments.map((s) => `/${fragmentSafe(s.replace(/~/g, "~0").replace(/\//g, "~1"))}`).join("")}`

/** The schema a local `#/...` pointer names in `root`, or undefined. */
export const resolvePointer = (root: Json, ref: string): Json | undefined => {
  if (!ref.startsWith("#")) return undefined
  let node: unknown = root
  for (const raw of ref.slice(1).split("/").slice(1)) {
    const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~")
    node = isObject(node) || Array.isArray(node) ? (node as Record<string, unknown>)[key] : undefined
  }
  return isObject(node) ? node : undefined
}

/** Every `$ref` in `json` passed through `rename` (to move a schema's definitions under a prefix). */
export const renameRefs = (json: unknown, rename: (ref: string) => string): any => {
  if (Array.isArray(json)) return json.map((x) => renameRefs(x, rename))
  if (!isObject(json)) return json
  return Object.fromEntries(Object.entries(json).map(([k, v]) => [k, k === "$ref" && typeof v === "string" ? rename(v) : renameRefs(v, rename)]))
}

/** `schema` placed at `path` in nested objects: `{ properties: { a: { properties: { b: schema } } } }`. */
export const nestAt = (path: ReadonlyArray<string>, schema: Json): Json =>
  path.reduceRight<Json>((inner, key) => ({ type: "object", properties: { [key]: inner } }), schema)

/** The annotations of a schema (what an editor shows), without its constraints. */
export const annotationsOf = (json: Json): Json => {
  const keep = ["title", "description", "default", "examples", "$comment"]
  return Object.fromEntries(Object.entries(json).filter(([k]) => keep.includes(k)))
}

/**
 * One schema for values that may match any of `refs` (pointers into `root`):
 * the `$ref` itself when there is one, else `anyOf` over the distinct ones
 * (two plugins' identical fields count once).
 */
export const anyOfRefs = (root: Json, refs: ReadonlyArray<string>): Json => {
  const seen = new Set<string>()
  const distinct = refs.filter((r) => {
    const key = JSON.stringify(resolvePointer(root, r) ?? r)
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
  return distinct.length === 1 ? { $ref: distinct[0]! } : { anyOf: distinct.map(($ref) => ({ $ref })) }
}
