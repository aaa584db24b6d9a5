export * from "./errors.ts"
export * from "./contracts.ts"
export * from "./plugin.ts"
export * from "./schema-helpers.ts"
