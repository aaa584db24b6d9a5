/**
 * Claims across processes (issues 13 and 15): several `memorize run --worker`
 * processes on one store train every run exactly once; a worker killed
 * mid-run leaves a claim another worker takes over; `status` reads it all
 * from the store. Real child processes, the CPU fixture plugins.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { fixturePlugins, memorize, nodeArgs, repoRoot, writeSpec } from "./cli-helpers.ts"

const spec = (holdMs: number) => `name: workers
plugins: [ "${fixturePlugins}" ]
dataset: { kind: toy-skewed, samples: 8 }
model: { kind: unigram }
train: { kind: counting, holdMs: ${holdMs} }
metrics: [ { kind: toy-bits } ]
laws: [ { kind: run-count } ]
store: { saveModels: false }
sweep: { grid: { dataset.samples: [2, 3, 4, 5, 6, 7] } }
`

const startCommand = (command: string, args: ReadonlyArray<string>, cwd: string, env: Record<string, string> = {}) => {
  const child = spawn(command, args, { cwd, env: { ...process.env, NO_COLOR: "1", MEMORIZE_HEARTBEAT_MS: "200", MEMORIZE_STALE_MS: "3000", ...env } })
  let stderr = ""
  child.stderr.on("data", (d) => {
    stderr += String(d)
  })
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on("exit", (code) => resolve({ code, stderr })))
  return { child, done }
}

const start = (args: ReadonlyArray<string>, cwd: string) => startCommand(process.execPath, [...nodeArgs(), ...args], cwd)

const runDirs = (store: string) => fs.readdirSync(store).filter((f) => fs.existsSync(path.join(store, f, "identity.json")))

describe("workers sharing one run store", () => {
  it("two workers on the same shard train each run exactly once; laws and report are written", async () => {
    const { dir, file } = writeSpec(spec(1500))
    // One worker through the Slurm example's job script (run by bash, as a task would run it), one plain.
    const sbatch = path.join(repoRoot, "examples/slurm/sweep.sbatch")
    const a = startCommand("bash", [sbatch, file, path.join(dir, "runs")], dir, { MEMORIZE_HOME: repoRoot })
    const b = start(["run", file, "--worker", "--store", path.join(dir, "runs")], dir)
    const [ra, rb] = await Promise.all([a.done, b.done])
    expect(ra.code, ra.stderr).toBe(0)
    expect(rb.code, rb.stderr).toBe(0)
    const store = path.join(dir, "runs/workers")
    const ids = runDirs(store)
    expect(ids).toHaveLength(6)
    for (const id of ids) {
      // The counting trainer logs one progress line per training: two lines = trained twice.
      expect(
        fs
          .readFileSync(path.join(store, id, "train-log.jsonl"), "utf8")
          .trim()
          .split("\n"),
        id
      ).toHaveLength(1)
      expect(fs.existsSync(path.join(store, id, "result.json"))).toBe(true)
      expect(fs.existsSync(path.join(store, id, "claim.json"))).toBe(false)
    }
    // Both did work (the claims shared it out).
    expect((ra.stderr.match(/started/g) ?? []).length).toBeGreaterThan(0)
    expect((rb.stderr.match(/started/g) ?? []).length).toBeGreaterThan(0)
    expect(JSON.parse(fs.readFileSync(path.join(store, "laws.json"), "utf8"))["run-count"]).toEqual({ runs: 6 })
    expect(fs.existsSync(path.join(store, "report.html"))).toBe(true)
    const status = memorize(["status", store], { cwd: dir })
    expect(status.code).toBe(0)
    expect(status.stdout).toMatch(/6\/6 complete, 0 claimed, 0 stale claims, 0 failed, 0 waiting/)
  }, 180_000)

  it("a worker killed mid-run: its claim shows in status, and another worker takes the run over", async () => {
    const { dir, file } = writeSpec(spec(4000))
    const store = path.join(dir, "runs/workers")
    const victim = start(["run", file, "--worker"], dir)
    // Wait until the victim holds a claim, then kill it without any chance to clean up.
    for (let i = 0; i < 200 && !(fs.existsSync(store) && runDirs(store).some((id) => fs.existsSync(path.join(store, id, "claim.json")))); i++) {
      await new Promise((r) => setTimeout(r, 100))
    }
    const claimed = runDirs(store).find((id) => fs.existsSync(path.join(store, id, "claim.json")))!
    expect(claimed).toBeDefined()
    victim.child.kill("SIGKILL")
    await victim.done
    const status = memorize(["status", store], { cwd: dir })
    expect(status.stdout).toMatch(/1 stale claims/)
    expect(status.stdout).toContain(`${claimed}  stale-claim by`)
    const rescuer = await start(["run", file, "--worker"], dir).done
    expect(rescuer.code, rescuer.stderr).toBe(0)
    expect(rescuer.stderr).toMatch(new RegExp(`\\[${claimed}\\] taking over: holder .* is no longer running`))
    expect(runDirs(store).filter((id) => fs.existsSync(path.join(store, id, "result.json")))).toHaveLength(6)
    expect(memorize(["status", store], { cwd: dir }).stdout).toMatch(/6\/6 complete/)
  }, 180_000)
})
