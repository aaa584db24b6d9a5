/**
 * `memorize predict --law NAME --flag value ...`: a law plugin's prediction.
 * Core knows no law: the command's flags are those the registered laws
 * declare (`LawPlugin.predict.flags`), each optional here; the chosen law's
 * Schema decodes the given ones and its `run` answers.
 */
import { Console, Effect, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { SpecError } from "../errors.ts"
import type { LawPlugin, Plugin, PredictFlag } from "../plugin.ts"
import { Registry } from "../registry.ts"

const usage = (message: string) => new SpecError({ file: "memorize predict", issues: [{ path: "", message }] })

const predictors = (plugins: ReadonlyArray<Plugin>): ReadonlyArray<LawPlugin> =>
  plugins.filter((p): p is LawPlugin => p.kind === "law" && p.predict !== undefined)

/** Every flag some law reads, once (the first declaration describes it; each law's Schema checks its own). */
const unionFlags = (laws: ReadonlyArray<LawPlugin>): ReadonlyArray<PredictFlag & { readonly laws: ReadonlyArray<string> }> => {
  const byName = new Map<string, { flag: PredictFlag; laws: Array<string> }>()
  for (const law of laws) {
    for (const flag of law.predict!.flags) {
      const seen = byName.get(flag.name)
      if (seen) seen.laws.push(law.name)
      else byName.set(flag.name, { flag, laws: [law.name] })
    }
  }
  return [...byName.values()].map(({ flag, laws }) => ({ ...flag, laws }))
}

const cliFlag = (flag: PredictFlag & { readonly laws: ReadonlyArray<string> }): Flag.Flag<Option.Option<number | string>> => {
  const text = `${flag.description} (law${flag.laws.length === 1 ? "" : "s"} ${flag.laws.join(", ")})`
  return flag.type === "number"
    ? Flag.Finite(flag.name).pipe(Flag.withDescription(text), Flag.optional)
    : Flag.String(flag.name).pipe(Flag.withDescription(text), Flag.optional)
}

const decodeMessage = (e: Schema.SchemaError): string => e.message.split("\n").slice(0, 4).join("; ")

/** The `predict` command over the laws among `plugins` that can predict. */
export const predictCommand = (plugins: ReadonlyArray<Plugin>) => {
  const laws = predictors(plugins)
  const flags = unionFlags(laws)
  const inputs: Record<string, Flag.Flag<Option.Option<number | string>>> = {}
  for (const f of flags) inputs[f.name] = cliFlag(f)
  const only = laws.length === 1 ? laws[0]!.name : undefined
  const lawFlag = Flag.String("law").pipe(Flag.withDescription(`law plugin that predicts: ${laws.map((l) => l.name).join(", ") || "none registered"}`))
  return Command.make("predict", { law: only === undefined ? lawFlag : lawFlag.pipe(Flag.withDefault(only)), inputs }, (given) =>
    Effect.gen(function* () {
      const registry = yield* Registry
      const law = registry.find("law", given.law)
      if (law?.predict === undefined) {
        return yield* usage(`no law plugin "${given.law}" that can predict (laws that can: ${laws.map((l) => l.name).join(", ") || "none"})`)
      }
      const own = new Set(law.predict.flags.map((f) => f.name))
      const values: Record<string, number | string> = {}
      for (const [name, value] of Object.entries(given.inputs)) {
        if (Option.isNone(value)) continue
        if (!own.has(name)) return yield* usage(`--${name} is not an input of law "${law.name}" (its flags: ${[...own].map((n) => `--${n}`).join(", ")})`)
        values[name] = value.value
      }
      const input = yield* Schema.decodeUnknownEffect(law.predict.input)(values).pipe(Effect.mapError((e) => usage(`law "${law.name}": ${decodeMessage(e)}`)))
      const text = yield* law.predict.run(input).pipe(Effect.mapError((e) => usage(e.message)))
      yield* Console.log(text)
    })
  ).pipe(Command.withDescription(`a law's prediction: ${laws.map((l) => `${l.name}: ${l.predict!.description}`).join("; ") || "no law can predict"}`))
}
