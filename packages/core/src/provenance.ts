/**
 * Where a run ran: Node, OS, package versions, git commit. Recorded in
 * result.json. The interpreter collects it once, when an experiment starts:
 * the code its runs execute is the code loaded then, while the checkout may
 * move on during hours of training (collected at a run's end, a commit made
 * meanwhile was recorded as the run's, and as clean).
 */
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { createRequire } from "node:module"
import * as os from "node:os"
import type { Json } from "./contracts.ts"
import { version } from "./version.ts"

const require = createRequire(import.meta.url)

const versionOf = (pkg: string): string | null => {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version
  } catch {
    return null
  }
}

const gitCommit = (cwd: string) =>
  Effect.callback<string | null>((resume) => {
    execFile("git", ["rev-parse", "HEAD"], { cwd, timeout: 5000 }, (err, stdout) => resume(Effect.succeed(err ? null : stdout.trim() || null)))
  })

const gitDirty = (cwd: string) =>
  Effect.callback<boolean | null>((resume) => {
    execFile("git", ["status", "--porcelain", "--untracked-files=no"], { cwd, timeout: 5000 }, (err, stdout) =>
      resume(Effect.succeed(err ? null : stdout.trim().length > 0))
    )
  })

export const collectProvenance = (cwd: string): Effect.Effect<{ readonly [k: string]: Json }> =>
  Effect.gen(function* () {
    return {
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      os: `${os.type()} ${os.release()}`,
      cpus: os.cpus().length,
      hostname: os.hostname(),
      packages: { "@memorize/core": version, effect: versionOf("effect"), yaml: versionOf("yaml") },
      git: { commit: yield* gitCommit(cwd), dirty: yield* gitDirty(cwd) }
    }
  })
