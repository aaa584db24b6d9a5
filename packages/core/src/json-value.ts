/**
 * Plugin outputs (metric values, law fits) and everything else core stores
 * are JSON. `JSON.stringify` would quietly turn a Float64Array into
 * `{"0":…}`, NaN into `null` and drop an undefined key, and the file would
 * then not decode (or decode to something else); this check names the
 * first value that is not JSON, by its path, before anything is written.
 */
import type { Json } from "./contracts.ts"

const kindOf = (value: unknown): string => {
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} (store a plain array: Array.from(...))`
  if (typeof value === "object" && value !== null) return `a ${value.constructor?.name ?? "object without prototype"} (not a plain object)`
  return typeof value === "function" ? "a function" : `${typeof value} ${String(value)}`
}

const named = (at: string): string => (at === "" ? "the value" : `key "${at}"`)

const isPlainObject = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * Why `value` is not JSON as stored: finite numbers, strings, booleans,
 * null, arrays and plain objects only. The problem names the path of the
 * first offending value below `at` (`key "holdout.totalBits" is NaN, not a
 * finite number`; `""`: the value itself). Undefined when it is JSON.
 */
export const jsonProblem = (value: unknown, at: string): string | undefined => {
  if (value === null || typeof value === "string" || typeof value === "boolean") return undefined
  if (typeof value === "number") return Number.isFinite(value) ? undefined : `${named(at)} is ${value}, not a finite number`
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = jsonProblem(value[i], `${at}[${i}]`)
      if (problem !== undefined) return problem
    }
    return undefined
  }
  if (typeof value === "object" && isPlainObject(value)) {
    for (const [key, v] of Object.entries(value)) {
      const problem = jsonProblem(v, at === "" ? key : `${at}.${key}`)
      if (problem !== undefined) return problem
    }
    return undefined
  }
  return `${named(at)} is ${value === undefined ? "undefined" : kindOf(value)}`
}

/** A type guard over `jsonProblem`. */
export const isJson = (value: unknown): value is Json => jsonProblem(value, "") === undefined

/** A JSON object (`{ [key]: Json }`), checked the same way. */
export const isJsonObject = (value: unknown): value is { readonly [k: string]: Json } =>
  typeof value === "object" && value !== null && !Array.isArray(value) && isJson(value)
