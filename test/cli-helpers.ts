/** Runs the real `memorize` CLI in a child process (the way a user does). */
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

export const repoRoot = path.resolve(__dirname, "..")

/** `node --import <tsx loader>`: absolute, so it works from any working directory. */
export const nodeArgs = (): Array<string> => ["--import", pathToFileURL(path.join(repoRoot, "node_modules/tsx/dist/loader.mjs")).href, path.join(repoRoot, "bin/memorize.ts")]

export const memorize = (args: ReadonlyArray<string>, options: { cwd?: string; timeoutMs?: number } = {}) => {
  const r = spawnSync(process.execPath, [...nodeArgs(), ...args], {
    cwd: options.cwd ?? repoRoot,
    encoding: "utf8",
    timeout: options.timeoutMs ?? 120_000,
    env: { ...process.env, NO_COLOR: "1" }
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}
