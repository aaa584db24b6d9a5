/** Shared test helpers: a run context in a temp folder, running a dataset plugin. */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Schema } from "effect"
import type { Dataset, DatasetError, DatasetPlugin, RunContext } from "@memorize/core"

export const tempDir = (prefix = "memorize-datasets-"): string => mkdtempSync(join(tmpdir(), prefix))

export const context = (specDir: string, seed = 0): RunContext => ({ seed, specDir, runDir: specDir, cacheDir: join(specDir, "cache") })

/** Decodes a spec section with the plugin's own schema (as core does), then builds the dataset. */
export const load = (plugin: DatasetPlugin, section: unknown, ctx: RunContext): Effect.Effect<Dataset, DatasetError> =>
  Effect.gen(function* () {
    const config = yield* Effect.orDie(Schema.decodeUnknownEffect(plugin.config)(section, { onExcessProperty: "error" }))
    return yield* Effect.scoped(plugin.make(config)(ctx))
  })

/** Row i of a sequence set as a plain array. */
export const row = (tokens: Uint32Array, seqLen: number, i: number): Array<number> => Array.from(tokens.subarray(i * seqLen, (i + 1) * seqLen))

/** The rows of a token matrix as strings, for set comparisons. */
export const rowKeys = (tokens: Uint32Array, seqLen: number): Array<string> => {
  const out: Array<string> = []
  for (let i = 0; i < tokens.length / seqLen; i++) out.push(row(tokens, seqLen, i).join(","))
  return out
}
