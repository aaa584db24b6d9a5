/**
 * `memorize schema [SPEC] [--out FILE]`: the spec language as one JSON
 * Schema, for YAML editors. With SPEC, the plugin modules that spec names
 * are in it too (the spec itself is not validated: that is `validate`).
 */
import { Console, Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { writeFileAtomic } from "../atomic-write.ts"
import { OutputError } from "../errors.ts"
import { specJsonSchema } from "../json-schema/spec.ts"
import { Registry } from "../registry.ts"
import { readSpec, specRegistry } from "./load-spec.ts"

/** The schema document as written: 2-space JSON, one trailing newline (stable, so a generated copy can be compared). */
export const renderSpecSchema = (plugins: Parameters<typeof specJsonSchema>[0]): string => `${JSON.stringify(specJsonSchema(plugins), null, 2)}\n`

export const schemaCommand = Command.make(
  "schema",
  {
    spec: Argument.String("spec").pipe(
      Argument.withDescription("a spec whose plugins: modules are to be included (default: the built-in plugins only)"),
      Argument.optional
    ),
    out: Flag.String("out").pipe(Flag.withDescription("file to write, atomically (default: stdout)"), Flag.optional)
  },
  ({ spec, out }) =>
    Effect.gen(function* () {
      const registry = Option.isSome(spec) ? yield* specRegistry(yield* readSpec(spec.value), [], true) : yield* Registry
      const text = renderSpecSchema(registry.plugins)
      if (Option.isNone(out)) return yield* Console.log(text.trimEnd())
      const file = out.value
      yield* writeFileAtomic(file, text).pipe(Effect.mapError((e) => new OutputError({ path: file, message: e.message, ...(e.code ? { code: e.code } : {}) })))
      yield* Console.error(`${file}: JSON Schema of the spec language with ${registry.plugins.length} plugins`)
    })
).pipe(Command.withDescription("write the JSON Schema (draft 2020-12) of the spec language, for YAML editors (yaml-language-server)"))
