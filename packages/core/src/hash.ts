/** Stable content hashes: the same value gives the same hash whatever its key order. */
import { createHash } from "node:crypto"

/** JSON with object keys sorted at every level (arrays keep their order). */
export const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, v) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, (v as Record<string, unknown>)[k]])
        )
      : v
  )

/** The whole SHA-256 (64 hex digits) of the canonical JSON: a run's identity. */
export const fullHash = (value: unknown): string => createHash("sha256").update(canonicalJson(value)).digest("hex")

/** First `length` hex digits of the SHA-256 of the canonical JSON. */
export const stableHash = (value: unknown, length = 12): string => createHash("sha256").update(canonicalJson(value)).digest("hex").slice(0, length)
