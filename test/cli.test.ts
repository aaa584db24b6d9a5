import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { memorize, nodeArgs, repoRoot, toySweepSpec, writeSpec } from "./cli-helpers.ts"

const fixtures = path.join(repoRoot, "test/fixtures")

describe("memorize CLI (child process)", () => {
  it("validate: a spec with three mistakes reports all three with line:column, exit 2", () => {
    const { file } = writeSpec(`name: three-mistakes
plugins: [ "${fixtures}/unigram-plugins.ts" ]
dataset: { kind: toy-skewed, samples: 0 }
model: { kind: unigram, smoothing: lots }
train: { kind: counting, epochs: 3 }
`)
    const r = memorize(["validate", file])
    expect(r.code).toBe(2)
    const lines = r.stderr.trim().split("\n")
    expect(lines).toHaveLength(3)
    expect(lines[0]).toMatch(/spec\.yaml:3:\d+: dataset\.samples: expected a value greater than 0, found 0/)
    expect(lines[1]).toMatch(/spec\.yaml:4:\d+: model\.smoothing: expected number, found "lots"/)
    expect(lines[2]).toMatch(/spec\.yaml:5:\d+: train\.epochs: unknown key "epochs"/)
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/) // no stack trace for a user mistake
  })

  it("validate --print shows the resolved spec with defaults and overrides", () => {
    const { file } = writeSpec(`name: ok
plugins: [ "${fixtures}/unigram-plugins.ts" ]
dataset: { kind: toy-skewed, samples: 3 }
model: { kind: unigram }
train: { kind: counting }
`)
    const r = memorize(["validate", file, "--print", "--set", "dataset.vocab=5"])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/vocab: 5/)
    expect(r.stdout).toMatch(/smoothing: 1/)
    expect(r.stdout).toMatch(/saveModels: true/)
  })

  it("plugins lists the registered plugins with their fields and defaults", () => {
    const r = memorize(["plugins"])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/dataset plugins/)
    expect(r.stdout).toMatch(/synthetic-uniform/)
    expect(r.stdout).not.toMatch(/toy-skewed/)
    // With a spec, its plugin modules are listed beside the built-ins.
    const { file } = writeSpec(`name: listed\nplugins: [ "${fixtures}/unigram-plugins.ts" ]\n`)
    const withSpec = memorize(["plugins", file])
    expect(withSpec.code, withSpec.stderr).toBe(0)
    expect(withSpec.stdout).toMatch(/toy-skewed/)
    expect(withSpec.stdout).toMatch(/synthetic-uniform/)
    const missing = memorize(["plugins", path.join(path.dirname(file), "nope.yaml")])
    expect(missing.code).not.toBe(0)
    expect(missing.stderr).toMatch(/nope\.yaml/)
  })

  it("run: trains, measures, resumes; the report and the summary table are written", () => {
    const { dir, file } = writeSpec(toySweepSpec("cli-run", [4, 8]))
    const first = memorize(["run", file], { cwd: dir })
    expect(first.code).toBe(0)
    expect(first.stdout).toMatch(/2\/2 runs complete \(0 resumed, 0 failed\)/)
    // The summary table's metric column comes from the fixture metric's declared summary column.
    expect(first.stdout).toMatch(/toy bits/)
    const html = fs.readFileSync(path.join(dir, "runs/cli-run/report.html"), "utf8")
    expect(html).toMatch(/Run count/)
    const second = memorize(["run", file], { cwd: dir })
    expect(second.stdout).toMatch(/2\/2 runs complete \(2 resumed, 0 failed\)/)
    fs.rmSync(path.join(dir, "runs/cli-run/report.md"))
    const report = memorize(["report", path.join(dir, "runs/cli-run")])
    expect(report.code).toBe(0)
    expect(report.stdout).toMatch(/toy bits/)
    // The spec's plugin module, recorded in the store, is loaded again: its law draws its section.
    const md = fs.readFileSync(path.join(dir, "runs/cli-run/report.md"), "utf8")
    expect(md).toMatch(/## Run count/)
    expect(md).not.toMatch(/no plugin to draw it/)
  })

  it("a failing run exits 1 and names the error", () => {
    const { file } = writeSpec(`name: cli-fail
plugins: [ "${fixtures}/unigram-plugins.ts" ]
dataset: { kind: toy-skewed, samples: 8 }
model: { kind: unigram }
train: { kind: counting, failAt: train }
`)
    const r = memorize(["run", file], { cwd: path.dirname(file) })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/ModelError: asked to fail/)
  })

  it("predict: the flags of the law that predicts (membership-f1, the only one built in)", () => {
    const r = memorize(["predict", "--params", "123702528", "--f1", "0.55"])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/dataset size for membership F1 = 0\.55 at P = 123702528 parameters: \d+ sequences/)
    const both = memorize(["predict", "--params", "1000", "--f1", "0.6", "--samples", "10"])
    expect(both.code).toBe(2)
    expect(both.stderr).toMatch(/exactly one of --samples N .* or --f1 F/)
    const unknown = memorize(["predict", "--law", "capacity", "--params", "1000"])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/no law plugin "capacity" that can predict \(laws that can: membership-f1\)/)
  })

  it("usage errors exit 2", () => {
    expect(memorize(["run"]).code).toBe(2)
    expect(memorize(["validate", "/nonexistent/spec.yaml"]).stderr).toMatch(/cannot read the spec file/)
  })
})

describe("interrupting a run (SIGINT)", () => {
  it("releases the run's scoped resources, does not mark the run complete, and exits 130", async () => {
    const { spawn } = await import("node:child_process")
    const { dir, file } = writeSpec(`name: cli-interrupt
plugins: [ "${fixtures}/unigram-plugins.ts" ]
dataset: { kind: toy-skewed, samples: 8 }
model: { kind: unigram }
train: { kind: counting, holdMs: 60000 }
store: { saveModels: false }
`)
    const child = spawn(process.execPath, [...nodeArgs(), "run", file], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (d) => {
      stderr += String(d)
    })
    const storeDir = path.join(dir, "runs/cli-interrupt")
    const acquired = () => fs.existsSync(storeDir) && fs.readdirSync(storeDir).some((d) => fs.existsSync(path.join(storeDir, d, "resource-acquired")))
    const deadline = Date.now() + 90_000
    while (!acquired() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
    expect(acquired()).toBe(true)
    child.kill("SIGINT")
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)))
    expect(code).toBe(130)
    const runDirs = fs.readdirSync(storeDir).filter((d) => fs.existsSync(path.join(storeDir, d, "resource-acquired")))
    expect(runDirs).toHaveLength(1)
    expect(fs.existsSync(path.join(storeDir, runDirs[0]!, "resource-released"))).toBe(true)
    expect(fs.existsSync(path.join(storeDir, runDirs[0]!, "result.json"))).toBe(false)
    expect(stderr).toMatch(/interrupted/)
  })
})
