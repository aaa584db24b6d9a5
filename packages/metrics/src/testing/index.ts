/**
 * @memorize/metrics/testing: CPU models, fixtures, fast-check arbitraries and
 * invariant suites for metric and law plugin authors.
 */
export * from "./models.ts"
export * from "./fixtures.ts"
export * from "./results.ts"
export * from "./arbitraries.ts"
export * from "./suites.ts"
