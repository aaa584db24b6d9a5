/**
 * The publishable packages: building their dist/ (JS + .d.ts, and the WGSL
 * kernels the WebGPU backend reads beside its JS) and packing them into
 * tarballs with pnpm, which swaps in `publishConfig.exports` (dist instead of
 * src) and rewrites `workspace:` and `catalog:` versions. Used by
 * `pnpm build`, `pnpm pack:all DIR` and test/publish.test.ts.
 */
import { Effect, Schema } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs/promises"
import * as path from "node:path"

export const repoRoot = path.resolve(import.meta.dirname, "..")

/** In dependency order (a package's dependencies come before it). */
export const publishable = ["core", "datasets", "metrics", "gpu-webgpu", "eval", "cli"] as const

export class CommandError extends Schema.TaggedError<CommandError>()("CommandError", {
  command: Schema.String,
  cwd: Schema.String,
  message: Schema.String
}) {}

/** Runs a command to its end; its output is returned, and shown in the error when it fails. */
export const exec = (command: string, args: ReadonlyArray<string>, options: { readonly cwd: string; readonly env?: NodeJS.ProcessEnv }) =>
  Effect.callback<string, CommandError>((resume) => {
    const line = [command, ...args].join(" ")
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (chunk) => (output += chunk))
    child.stderr.on("data", (chunk) => (output += chunk))
    child.on("error", (e) => resume(Effect.fail(new CommandError({ command: line, cwd: options.cwd, message: e.message }))))
    child.on("close", (code, signal) =>
      resume(
        code === 0
          ? Effect.succeed(output)
          : Effect.fail(new CommandError({ command: line, cwd: options.cwd, message: `exited with ${code ?? signal}:\n${output.slice(-4000)}` }))
      )
    )
    return Effect.sync(() => child.kill("SIGTERM"))
  })

const copyError = (what: string) => (e: unknown) => new CommandError({ command: `copy ${what}`, cwd: repoRoot, message: String((e as Error)?.message ?? e) })

/** WGSL kernels are read at run time from the folder of the module that loads them (kernels/common.ts), so dist/kernels/ needs them too. */
const copyKernels = Effect.gen(function* () {
  const from = path.join(repoRoot, "packages/gpu-webgpu/src/kernels")
  const to = path.join(repoRoot, "packages/gpu-webgpu/dist/kernels")
  const files = yield* Effect.tryPromise({ try: () => fs.readdir(from), catch: copyError(from) })
  yield* Effect.forEach(
    files.filter((f) => f.endsWith(".wgsl")),
    (f) => Effect.tryPromise({ try: () => fs.copyFile(path.join(from, f), path.join(to, f)), catch: copyError(f) }),
    { discard: true }
  )
})

/** Every package's dist/: `tsc -b` (incremental; its state lives in dist/, so deleting dist/ rebuilds) and the kernels. */
export const build = Effect.gen(function* () {
  yield* exec(process.execPath, [path.join(repoRoot, "node_modules/typescript/bin/tsc"), "-b", "tsconfig.build.json"], { cwd: repoRoot })
  yield* copyKernels
})

/** Builds, then packs every publishable package into `outDir`; the tarballs' paths by package name. */
export const pack = (outDir: string) =>
  Effect.gen(function* () {
    yield* build
    yield* Effect.tryPromise({ try: () => fs.mkdir(outDir, { recursive: true }), catch: copyError(outDir) })
    const tarballs = yield* Effect.forEach(publishable, (pkg) =>
      Effect.gen(function* () {
        const cwd = path.join(repoRoot, "packages", pkg)
        const out = yield* exec("pnpm", ["pack", "--json", "--pack-destination", outDir], { cwd })
        // pnpm prints lifecycle noise before the JSON on some versions; the JSON object is the last thing printed.
        const json = JSON.parse(out.slice(out.indexOf("{"))) as { readonly name: string; readonly filename: string }
        return [json.name, path.resolve(outDir, json.filename)] as const
      })
    )
    return Object.fromEntries(tarballs) as Record<string, string>
  })
