/**
 * Issue 15 on a real scheduler: a one-node Slurm cluster from Debian's
 * slurm-wlm and munge (test/slurm/cluster.sh: slurmctld + slurmd,
 * proctrack/linuxproc, no cgroups, all state in a temp folder) runs
 * examples/slurm/sweep.sbatch as a 4-task job array over one shared store.
 *
 * - Every run is trained exactly once (one "started" and one "done" line per
 *   run over all task logs), and the store equals a single-process
 *   `memorize run` of the same spec: same run ids, same memorized bits (the
 *   CPU trainer on one thread is deterministic), same laws; report written.
 * - A task cancelled mid-run (scancel, as a user, a time limit or a preemption would) loses
 *   its run to another task's worker, which finishes it with the same result.
 *
 * Needs root and Slurm: ./scripts/test installs slurm-wlm and munge (apt-get).
 * The same claims without a scheduler: test/workers.test.ts.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest"
import { memorize, repoRoot } from "./cli-helpers.ts"

const clusterScript = path.join(repoRoot, "test/slurm/cluster.sh")
const sbatchScript = path.join(repoRoot, "examples/slurm/sweep.sbatch")
const NAME = "slurm-sweep"
const TASKS = 4

// Six tiny GPT-2 runs (1.1k and 3.8k parameters, 1,500 steps, 1–2 s of CPU
// each): long enough for a task to be caught mid-run, short enough for the
// whole file to take about 75 s on 2 cores.
// threads: 1 makes the trainer deterministic and keeps four workers from
// fighting over two cores.
const spec = `name: ${NAME}
seed: 0
dataset: { kind: synthetic-uniform, vocab: 16, seqLen: 16, samples: 64 }
model: { kind: gpt2, layers: 1, dModel: 8, heads: 2 }
train: { kind: cpu, precision: fp32, batchSize: 32, lr: 0.02, maxSteps: 1500, threads: 1 }
metrics: [ { kind: memorization }, { kind: membership-inference } ]
laws: [ { kind: capacity }, { kind: membership-f1 } ]
store: { saveModels: false }
sweep: { grid: { model.dModel: [8, 16], dataset.samples: [16, 64, 256] } }
`
const RUNS = 6

let work = ""
let clusterDir = ""
let specFile = ""
let slurmEnv: NodeJS.ProcessEnv = {}
let baseline = new Map<string, Result>()
let baselineLaws: unknown
let failed = false

interface Result {
  readonly runId: string
  readonly metrics: { readonly memorization: { readonly totalBits: number }; readonly [k: string]: unknown }
  readonly train: { readonly steps: number; readonly finalLoss: number; readonly stopReason: string } | null
}

const sh = (command: string, args: ReadonlyArray<string>, options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) => {
  const r = spawnSync(command, args, { cwd: options.cwd ?? work, env: options.env ?? slurmEnv, encoding: "utf8", timeout: 60_000 })
  if (r.error) throw new Error(`${command} ${args.join(" ")}: ${r.error.message}`)
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

const runIdsOf = (store: string) =>
  fs
    .readdirSync(store)
    .filter((f) => fs.existsSync(path.join(store, f, "identity.json")))
    .sort()
const resultsOf = (store: string) =>
  new Map(
    runIdsOf(store)
      .filter((id) => fs.existsSync(path.join(store, id, "result.json")))
      .map((id) => [id, JSON.parse(fs.readFileSync(path.join(store, id, "result.json"), "utf8")) as Result])
  )

/** Deep equality, numbers within a relative 1e-9: law fits may sum the same runs in another order. */
const expectClose = (actual: unknown, expected: unknown, where = "laws"): void => {
  if (typeof expected === "number" && typeof actual === "number") {
    expect(Math.abs(actual - expected), `${where}: ${actual} vs ${expected}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)))
  } else if (Array.isArray(expected)) {
    expect(Array.isArray(actual), where).toBe(true)
    expect((actual as Array<unknown>).length, where).toBe(expected.length)
    expected.forEach((e, i) => expectClose((actual as Array<unknown>)[i], e, `${where}[${i}]`))
  } else if (expected !== null && typeof expected === "object") {
    expect(Object.keys(actual as object).sort(), where).toEqual(Object.keys(expected).sort())
    for (const [k, v] of Object.entries(expected)) expectClose((actual as Record<string, unknown>)[k], v, `${where}.${k}`)
  } else {
    expect(actual, where).toEqual(expected)
  }
}

interface Task {
  readonly jobId: string
  readonly taskId: number
  readonly state: string
  readonly exitCode: string
}

/** Submits the example job array; its task logs (memorize-%A_%a.log) go to `jobDir`. */
const submit = (store: string, jobDir: string): string => {
  fs.mkdirSync(jobDir, { recursive: true })
  const r = sh("sbatch", ["--parsable", `--array=0-${TASKS - 1}`, sbatchScript, specFile, store], { cwd: jobDir })
  expect(r.code, `sbatch failed: ${r.stderr}`).toBe(0)
  const id = r.stdout.trim().split(";")[0]!
  expect(id).toMatch(/^\d+$/)
  return id
}

/** Each array task's final state, once none is pending or running. */
const waitForArray = async (arrayId: string, timeoutMs: number): Promise<ReadonlyArray<Task>> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const q = sh("squeue", ["-h", "-j", arrayId, "-o", "%i %T"])
    if (q.code === 0 && q.stdout.trim() === "") break
    if (Date.now() > deadline) throw new Error(`job array ${arrayId} still queued or running after ${timeoutMs / 1000} s:\n${q.stdout}${q.stderr}`)
    await new Promise((r) => setTimeout(r, 500))
  }
  const show = sh("scontrol", ["show", "job", arrayId, "-o"])
  expect(show.code, show.stderr).toBe(0)
  return show.stdout
    .trim()
    .split("\n")
    .map((line) => {
      const field = (name: string) => new RegExp(`(?:^| )${name}=(\\S+)`).exec(line)?.[1] ?? ""
      return { jobId: field("JobId"), taskId: Number(field("ArrayTaskId")), state: field("JobState"), exitCode: field("ExitCode") }
    })
    .sort((a, b) => a.taskId - b.taskId)
}

const taskLogs = (jobDir: string, arrayId: string): Map<number, string> =>
  new Map(
    Array.from({ length: TASKS }, (_, k) => {
      const file = path.join(jobDir, `memorize-${arrayId}_${k}.log`)
      return [k, fs.existsSync(file) ? fs.readFileSync(file, "utf8") : ""] as const
    })
  )

/** Lines `[i/6 <runId> label] started` / `... done: ...` a worker writes (plain progress, not a TTY). */
const count = (log: string, runId: string, what: "started" | "done:") =>
  (log.match(new RegExp(`^\\[\\d+/${RUNS} ${runId} [^\\]]*\\] ${what}`, "gm")) ?? []).length

const dump = (logs: Map<number, string>) =>
  [...logs]
    .map(
      ([k, log]) =>
        `--- task ${k}\n${log
          .split("\n")
          .filter((l) => !/ step \d+\//.test(l))
          .join("\n")}`
    )
    .join("\n")

/** The store matches the single-process run: same run ids, same memorized bits and metrics, same laws; report written. */
const expectSameAsBaseline = (store: string) => {
  const results = resultsOf(store)
  expect([...results.keys()].sort()).toEqual([...baseline.keys()].sort())
  for (const [id, r] of results) {
    const b = baseline.get(id)!
    expect(r.runId).toBe(id)
    expect(r.metrics.memorization.totalBits, `${id} memorized bits`).toBe(b.metrics.memorization.totalBits)
    expect(r.metrics, `${id} metrics`).toEqual(b.metrics)
    // Training itself, less its timing.
    expect({ steps: r.train?.steps, finalLoss: r.train?.finalLoss, stopReason: r.train?.stopReason }, `${id} training`).toEqual({
      steps: b.train?.steps,
      finalLoss: b.train?.finalLoss,
      stopReason: b.train?.stopReason
    })
  }
  const lines = fs.readFileSync(path.join(store, "results.jsonl"), "utf8").trim().split("\n")
  expect(lines.map((l) => (JSON.parse(l) as Result).runId).sort()).toEqual([...baseline.keys()].sort())
  expectClose(JSON.parse(fs.readFileSync(path.join(store, "laws.json"), "utf8")), baselineLaws)
  for (const f of ["report.html", "report.md"]) expect(fs.statSync(path.join(store, f)).size, f).toBeGreaterThan(1000)
  for (const id of results.keys()) expect(fs.existsSync(path.join(store, id, "claim.json")), `${id} claim left behind`).toBe(false)
  const status = memorize(["status", store], { cwd: work })
  expect(status.code, status.stderr).toBe(0)
  expect(status.stdout).toMatch(new RegExp(`${RUNS}/${RUNS} complete, 0 claimed, 0 stale claims, 0 failed, 0 waiting`))
}

describe("a sweep as a job array on a real one-node Slurm", () => {
  beforeAll(() => {
    // Until the set-up below has succeeded, afterAll keeps the folder (cluster logs) for a look.
    failed = true
    if (process.getuid?.() !== 0) {
      throw new Error("the Slurm test needs root (its slurmctld/slurmd run as SlurmUser=root); ./scripts/test runs as root in CI")
    }
    work = fs.mkdtempSync(path.join(os.tmpdir(), "memorize-slurm-"))
    clusterDir = path.join(work, "cluster")
    fs.mkdirSync(clusterDir)
    specFile = path.join(work, "spec.yaml")
    fs.writeFileSync(specFile, spec)
    const started = spawnSync("bash", [clusterScript, "start", clusterDir], { encoding: "utf8", timeout: 60_000 })
    if (started.status !== 0) throw new Error(`one-node Slurm cluster did not start (test/slurm/cluster.sh):\n${started.stderr}${started.stdout}`)
    slurmEnv = {
      ...process.env,
      PATH: `${process.env.PATH}:/usr/sbin:/sbin`,
      SLURM_CONF: path.join(clusterDir, "slurm.conf"),
      // The job script runs ./memorize from the checkout; sbatch passes the environment on.
      MEMORIZE_HOME: repoRoot,
      // Heartbeats often enough that the test sees a run's step in its claim.
      MEMORIZE_HEARTBEAT_MS: "200",
      NO_COLOR: "1"
    }
    // The reference: the same spec, one process, its own store.
    const single = memorize(["run", specFile, "--store", path.join(work, "single")], { cwd: work, timeoutMs: 170_000 })
    if (single.code !== 0) throw new Error(`single-process run failed (${single.code}):\n${single.stderr}`)
    const store = path.join(work, "single", NAME)
    baseline = resultsOf(store)
    if (baseline.size !== RUNS) throw new Error(`single-process run left ${baseline.size} results, expected ${RUNS}`)
    baselineLaws = JSON.parse(fs.readFileSync(path.join(store, "laws.json"), "utf8"))
    failed = false
  }, 180_000)

  afterAll(() => {
    if (!clusterDir) return
    // Stops this cluster's jobs and daemons by PID (never anything else on the machine).
    const stopped = spawnSync("bash", [clusterScript, "stop", clusterDir], { encoding: "utf8", timeout: 60_000 })
    if (stopped.status !== 0) throw new Error(`stopping the test cluster failed: ${stopped.stderr}`)
    // A failed test keeps the task logs and the daemons' logs (cluster/log) to read.
    if (failed) console.error(`slurm test: kept ${work} (task logs, cluster/log/*.log)`)
    else fs.rmSync(work, { recursive: true, force: true })
  }, 90_000)

  it(`${TASKS} array tasks on one store train each run exactly once; the store equals a single-process run`, async () => {
    const jobDir = path.join(work, "array")
    const store = path.join(work, "array-runs", NAME)
    onTestFailed(() => {
      failed = true
    })
    const arrayId = submit(path.join(work, "array-runs"), jobDir)
    const tasks = await waitForArray(arrayId, 170_000)
    const logs = taskLogs(jobDir, arrayId)
    expect(
      tasks.map((t) => t.taskId),
      dump(logs)
    ).toEqual([0, 1, 2, 3])
    for (const t of tasks) expect(`${t.taskId}: ${t.state} ${t.exitCode}`, dump(logs)).toBe(`${t.taskId}: COMPLETED 0:0`)

    const all = [...logs.values()].join("\n")
    expect(runIdsOf(store)).toEqual([...baseline.keys()].sort())
    for (const id of baseline.keys()) {
      expect(count(all, id, "started"), `${id} started\n${dump(logs)}`).toBe(1)
      expect(count(all, id, "done:"), `${id} done\n${dump(logs)}`).toBe(1)
    }
    // The array shared the work out (the claims, not a static split, decided who trained what).
    const busy = [...logs.values()].filter((log) => /\] started$/m.test(log)).length
    expect(busy, dump(logs)).toBeGreaterThanOrEqual(2)
    expectSameAsBaseline(store)
  }, 200_000)

  it("a task cancelled mid-run (scancel): another task's worker trains its run to the same result", async () => {
    const jobDir = path.join(work, "cancel")
    const store = path.join(work, "cancel-runs", NAME)
    onTestFailed(() => {
      failed = true
    })
    const arrayId = submit(path.join(work, "cancel-runs"), jobDir)

    // A run some task is training, well before its end (claims carry the step, via the heartbeat).
    let victim: { runId: string; pid: number; step: number } | undefined
    for (const deadline = Date.now() + 120_000; !victim && Date.now() < deadline; ) {
      if (fs.existsSync(store)) {
        for (const id of runIdsOf(store)) {
          try {
            const claim = JSON.parse(fs.readFileSync(path.join(store, id, "claim.json"), "utf8")) as { pid: number; host: string; step?: number }
            if (claim.host === os.hostname() && claim.step !== undefined && claim.step >= 50 && claim.step <= 600)
              victim = { runId: id, pid: claim.pid, step: claim.step }
          } catch {
            // no claim (yet, or any more), or caught mid-rename: look again
          }
          if (victim) break
        }
      }
      if (!victim) await new Promise((r) => setTimeout(r, 50))
    }
    expect(victim, `no run seen mid-training:\n${dump(taskLogs(jobDir, arrayId))}`).toBeDefined()
    const { runId, pid } = victim!
    // Which task holds it: the holder's own Slurm environment (same host, root may read it).
    const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")
    const envOf = (k: string) => environ.find((e) => e.startsWith(`${k}=`))?.slice(k.length + 1)
    const victimTask = Number(envOf("SLURM_ARRAY_TASK_ID"))
    expect(envOf("SLURM_ARRAY_JOB_ID")).toBe(arrayId)
    // ARRAY_TASK, as users cancel one task. (Slurm 22.05 refuses a running task's own
    // SLURM_JOB_ID with "Invalid job id specified", and exits 0 all the same: hence the stderr check.)
    const cancel = sh("scancel", [`${arrayId}_${victimTask}`])
    expect(cancel.code, cancel.stderr).toBe(0)
    expect(cancel.stderr).toBe("")

    const tasks = await waitForArray(arrayId, 170_000)
    const logs = taskLogs(jobDir, arrayId)
    for (const t of tasks) {
      expect(`${t.taskId}: ${t.state}`, dump(logs)).toBe(`${t.taskId}: ${t.taskId === victimTask ? "CANCELLED" : "COMPLETED"}`)
      if (t.taskId !== victimTask) expect(t.exitCode, dump(logs)).toBe("0:0")
    }
    // The victim started the run and never finished it; exactly one other task did.
    const victimLog = logs.get(victimTask)!
    expect(count(victimLog, runId, "started"), dump(logs)).toBe(1)
    expect(count(victimLog, runId, "done:"), dump(logs)).toBe(0)
    // scancel's SIGTERM interrupted the worker, which let its claim go without marking the run complete.
    expect(victimLog, dump(logs)).toContain("interrupted: runs in progress were not marked complete")
    const finishers = [...logs].filter(([k, log]) => k !== victimTask && count(log, runId, "done:") === 1).map(([k]) => k)
    expect(finishers, dump(logs)).toHaveLength(1)
    expect(count(logs.get(finishers[0]!)!, runId, "started"), dump(logs)).toBe(1)
    // Every other run: trained once.
    const all = [...logs.values()].join("\n")
    for (const id of baseline.keys()) if (id !== runId) expect(count(all, id, "done:"), `${id}\n${dump(logs)}`).toBe(1)
    expectSameAsBaseline(store)
  }, 200_000)
})
