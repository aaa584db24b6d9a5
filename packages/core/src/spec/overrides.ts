/**
 * `--set a.b.c=value` overrides. The value is read as YAML (so `3` is a
 * number, `[1,2]` a list, `fp32` a string); whether the path and the value
 * are valid is decided later by the same schemas that decode the spec.
 */
import { parse as parseYaml } from "yaml"
import type { SpecIssue } from "../errors.ts"
import type { SpecPath } from "./yaml-source.ts"

export interface Override {
  /** The flag as the user typed it, for error messages. */
  readonly text: string
  readonly path: ReadonlyArray<string | number>
  readonly value: unknown
}

const segment = /^[A-Za-z_][A-Za-z0-9_-]*$/

/** Parses one `a.b[2].c=value`; an issue when it is malformed. */
export const parseOverride = (text: string): Override | SpecIssue => {
  const eq = text.indexOf("=")
  if (eq <= 0) return { path: `--set ${text}`, message: "expected --set path.to.field=value" }
  const pathText = text.slice(0, eq).trim()
  const path: Array<string | number> = []
  for (const part of pathText.split(".")) {
    const m = /^([^[\]]+)((?:\[\d+\])*)$/.exec(part)
    if (!m || !segment.test(m[1]!)) {
      return { path: `--set ${text}`, message: `"${pathText}" is not a field path (expected names separated by dots, like model.dModel or metrics[0].kind)` }
    }
    path.push(m[1]!)
    for (const idx of m[2]!.matchAll(/\[(\d+)\]/g)) path.push(Number(idx[1]))
  }
  let value: unknown
  try {
    value = parseYaml(text.slice(eq + 1))
  } catch (e) {
    return { path: `--set ${text}`, message: `value is not valid YAML: ${(e as Error).message.split("\n")[0]}` }
  }
  return { text, path, value: value === null && text.slice(eq + 1).trim() === "" ? "" : value }
}

/** A deep copy of `root` with `value` set at `path` (objects created along the way). */
export const setAt = (root: unknown, path: SpecPath, value: unknown): unknown => {
  if (path.length === 0) return value
  const [head, ...rest] = path
  if (typeof head === "number") {
    const arr = Array.isArray(root) ? [...root] : []
    arr[head] = setAt(arr[head], rest, value)
    return arr
  }
  const obj = root !== null && typeof root === "object" && !Array.isArray(root) ? { ...(root as Record<string, unknown>) } : {}
  obj[head!] = setAt(obj[head!], rest, value)
  return obj
}

export const isPrefix = (prefix: SpecPath, path: SpecPath): boolean => prefix.length <= path.length && prefix.every((k, i) => String(k) === String(path[i]))
