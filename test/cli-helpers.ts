/** Runs the real `memorize` CLI in a child process (the way a user does). */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

export const repoRoot = path.resolve(__dirname, "..")

/** `node bin/memorize.ts` (Node strips the types, as ./memorize does): absolute, so it works from any working directory. */
export const nodeArgs = (): Array<string> => [path.join(repoRoot, "bin/memorize.ts")]

export const memorize = (args: ReadonlyArray<string>, options: { cwd?: string; timeoutMs?: number } = {}) => {
  const r = spawnSync(process.execPath, [...nodeArgs(), ...args], {
    cwd: options.cwd ?? repoRoot,
    encoding: "utf8",
    timeout: options.timeoutMs ?? 120_000,
    env: { ...process.env, NO_COLOR: "1" }
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** The fixture plugin module (tiny CPU dataset, model, trainer, metric and law). */
export const fixturePlugins = path.join(repoRoot, "test/fixtures/unigram-plugins.ts")

/** A spec file in a fresh temporary folder. */
export const writeSpec = (text: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memorize-cli-"))
  const file = path.join(dir, "spec.yaml")
  fs.writeFileSync(file, text)
  return { dir, file }
}

/** A small sweep over the fixture plugins, with a metric and a law. */
export const toySweepSpec = (name: string, samples: ReadonlyArray<number>) => `name: ${name}
plugins: [ "${fixturePlugins}" ]
dataset: { kind: toy-skewed, samples: 8 }
model: { kind: unigram }
train: { kind: counting }
metrics: [ { kind: toy-bits } ]
laws: [ { kind: run-count } ]
store: { saveModels: false }
sweep: { grid: { dataset.samples: [${samples.join(", ")}] } }
`
