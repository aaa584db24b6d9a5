/**
 * Runs the `memorize` CLI with a set of built-in plugins. Typed errors are
 * printed for people (no stack traces for user mistakes) and mapped to exit
 * codes: 0 ok, 1 a run failed, 2 bad spec or usage, 130 interrupted.
 * The runtime's teardown ends the process explicitly: a live WebGPU
 * instance would otherwise keep Node running.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Console, Effect, Exit, Layer } from "effect"
import { Command } from "effect/cli"
import type { Plugin } from "../plugin.ts"
import { Progress } from "../progress.ts"
import { Registry } from "../registry.ts"
import { makeCommand } from "./commands.ts"
import { exitCode, setExitCode } from "./exit.ts"
import { version } from "../version.ts"

const userTags = new Set(["SpecError", "PluginError"])

/** A person-readable line (or lines) for any failure of a command. */
export const describeFailure = (error: unknown): { readonly text: string; readonly code: number } => {
  const e = error as { _tag?: string; message?: string; file?: string; path?: string; tensor?: string; step?: number }
  if (e?._tag === "SpecError") return { text: e.message ?? "invalid spec", code: 2 }
  if (e?._tag === "PluginError") return { text: `plugin error: ${e.message}`, code: 2 }
  if (
    typeof e?._tag === "string" &&
    /^(ShowHelp|MissingOption|MissingArgument|InvalidValue|UnknownSubcommand|UnrecognizedOption|DuplicateOption|UserError)/.test(e._tag)
  ) {
    return { text: e.message ?? e._tag, code: 2 }
  }
  if (typeof e?._tag === "string") {
    const where = [e.file, e.tensor ? `tensor ${e.tensor}` : undefined, e.path, e.step !== undefined ? `step ${e.step}` : undefined].filter(Boolean).join(", ")
    return { text: `${e._tag}${where ? ` (${where})` : ""}: ${e.message}`, code: userTags.has(e._tag) ? 2 : 1 }
  }
  return { text: String((error as Error)?.message ?? error), code: 1 }
}

export const runCli = (builtins: ReadonlyArray<Plugin>, extraCommands: ReadonlyArray<Command.Command<any, any, any, any, any>> = []) => {
  const command = makeCommand(extraCommands, builtins)
  const program = Command.run(command, { version, renderErrors: false }).pipe(
    Effect.catch((error: unknown) =>
      Effect.gen(function* () {
        const tag = (error as { _tag?: string })?._tag
        if (process.env.MEMORIZE_DEBUG) console.error(error)
        if (tag === "ShowHelp") {
          // Help was printed; a parse problem behind it is named too.
          for (const e of (error as { errors?: ReadonlyArray<{ message?: string; _tag: string }> }).errors ?? []) {
            yield* Console.error(`error: ${e.message ?? e._tag}`)
          }
          return yield* setExitCode((error as { errors?: ReadonlyArray<unknown> }).errors?.length ? 2 : 0)
        }
        const { text, code } = describeFailure(error)
        yield* Console.error(text)
        yield* setExitCode(code)
      })
    ),
    Effect.provide(Layer.mergeAll(Registry.layer(builtins), Progress.layer, NodeServices.layer))
  )
  NodeRuntime.runMain(program as Effect.Effect<void, unknown>, {
    disableErrorReporting: true,
    teardown: (exit, onExit) => {
      if (Exit.isSuccess(exit)) return onExit(exitCode())
      if (Cause.hasInterruptsOnly(exit.cause)) {
        process.stderr.write("interrupted: runs in progress were not marked complete; `run` again resumes\n")
        return onExit(130)
      }
      const { text, code } = describeFailure(Cause.squash(exit.cause))
      process.stderr.write(`${text}\n`)
      onExit(code)
    }
  })
}
