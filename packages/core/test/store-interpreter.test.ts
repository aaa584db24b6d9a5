import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { countingTrainer } from "../../../test/fixtures/unigram-plugins.ts"
import { jsonProblem } from "../src/json-value.ts"
import {
  decodeExperiment,
  definePlugin,
  loadExperimentFolder,
  makeRegistry,
  makeRunStore,
  parseYamlSpec,
  Progress,
  resultsTable,
  runExperiment,
  withPluginModules,
  type Plugin,
  type RunResult
} from "../src/index.ts"

const fixtures = path.resolve(__dirname, "../../../test/fixtures")
const services = Layer.mergeAll(NodeServices.layer, Progress.silent)

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "memorize-core-"))

const specText = (storeRoot: string, extra = "") => `name: toy
plugins: [ "${path.join(fixtures, "unigram-plugins.ts")}" ]
dataset: { kind: toy-skewed, samples: 16 }
model: { kind: unigram }
train: { kind: counting }
metrics: [ { kind: toy-bits } ]
laws: [ { kind: run-count } ]
store: { root: "${storeRoot}", saveModels: false }
sweep: { grid: { dataset.samples: [8, 16, 32] } }
${extra}`

const load = (text: string, builtins: ReadonlyArray<Plugin> = []) =>
  Effect.gen(function* () {
    const source = yield* parseYamlSpec(path.join(fixtures, "spec.yaml"), text)
    const base = yield* makeRegistry(builtins, "built-in")
    const registry = yield* withPluginModules(base, (source.value as { plugins: Array<string> }).plugins, fixtures)
    return { experiment: yield* decodeExperiment(source, registry), registry }
  })

/** A complete, schema-valid result.json for `runId`. */
const validResult = (runId: string, config: RunResult["config"] = { seed: 0 }): RunResult => ({
  runId,
  experiment: "exp",
  config,
  model: { kind: "unigram", paramCount: 8, vocabSize: 8, seqLen: 4, precision: "fp64", config: {} },
  dataset: { kind: "toy-skewed", trainCount: 8, holdoutCount: 8, vocabSize: 8, seqLen: 4, entropyBitsPerSequence: null, fingerprint: "x", stats: {} },
  train: null,
  metrics: {},
  provenance: {}
})

describe("run store", () => {
  it.effect("commits result.json atomically: no temporary file is left, the content is whole", () =>
    Effect.gen(function* () {
      const root = tempDir()
      const store = yield* makeRunStore(root, "exp")
      const result = validResult("abc")
      yield* store.commit(result)
      expect(fs.readdirSync(path.join(root, "exp", "abc"))).toEqual(["result.json"])
      expect((yield* store.readResult("abc"))?.runId).toBe("abc")
      expect(yield* store.readResult("missing")).toBeUndefined()
    }).pipe(Effect.provide(services))
  )

  it.effect("a run folder without result.json (a crash between writes) does not count as complete", () =>
    Effect.gen(function* () {
      const root = tempDir()
      const store = yield* makeRunStore(root, "exp")
      yield* store.writeFile("r1/config.json", "{}")
      // A temp file of an interrupted commit, never renamed:
      fs.writeFileSync(path.join(root, "exp", "r1", "result.json.tmp-1-x"), '{"runId":')
      expect(yield* store.readResult("r1")).toBeUndefined()
      expect(yield* store.allResults()).toEqual([])
    }).pipe(Effect.provide(services))
  )
})

describe("interpreter", () => {
  it.effect("records the git state the experiment started from, though the checkout moves during it", () =>
    Effect.gen(function* () {
      // The spec in a git repository of its own; the trainer commits there while the runs train (as a developer
      // does during hours of training), so a provenance collected per run would name the later commits.
      const repo = tempDir()
      const git = (...args: Array<string>) =>
        execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...args], { cwd: repo, encoding: "utf8" }).trim()
      git("init", "-q")
      git("commit", "-q", "--allow-empty", "-m", "start")
      const start = git("rev-parse", "HEAD")
      const committing = definePlugin({
        ...countingTrainer,
        name: "committing",
        make: (c) => (input) =>
          Effect.andThen(
            Effect.sync(() => git("commit", "-q", "--allow-empty", "-m", "during")),
            countingTrainer.make(c)(input)
          )
      })
      const text = specText(tempDir()).replace("train: { kind: counting }", "train: { kind: committing }")
      const source = yield* parseYamlSpec(path.join(repo, "spec.yaml"), text)
      const registry = yield* withPluginModules(yield* makeRegistry([committing], "built-in"), [path.join(fixtures, "unigram-plugins.ts")], repo)
      const { results } = yield* runExperiment(yield* decodeExperiment(source, registry), registry)
      expect(results).toHaveLength(3)
      expect(git("rev-parse", "HEAD")).not.toBe(start)
      for (const r of results) expect(r.provenance["git"]).toEqual({ commit: start, dirty: false })
    }).pipe(Effect.provide(services))
  )

  it.effect("runs every plan, fits laws, and resumes by skipping complete runs", () =>
    Effect.gen(function* () {
      const root = tempDir()
      const { experiment, registry } = yield* load(specText(root))
      const first = yield* runExperiment(experiment, registry)
      expect(first.results).toHaveLength(3)
      expect(first.skipped).toBe(0)
      expect(first.laws["run-count"]).toEqual({ runs: 3 })
      const r = first.results.find((x) => x.dataset.trainCount === 32)!
      expect(r.metrics["toy-bits"]).toHaveProperty("totalBits")
      expect(r.provenance["node"]).toBe(process.version)
      expect(fs.existsSync(path.join(root, "toy", r.runId, "config.json"))).toBe(true)
      expect(fs.readFileSync(path.join(root, "toy", r.runId, "train-log.jsonl"), "utf8")).toMatch(/"step":1/)
      for (const f of ["experiment.yaml", "laws.json", "results.jsonl"]) expect(fs.existsSync(path.join(root, "toy", f))).toBe(true)

      // Remove one result: only that run is redone.
      fs.rmSync(path.join(root, "toy", r.runId, "result.json"))
      const second = yield* runExperiment(experiment, registry)
      expect(second.skipped).toBe(2)
      expect(second.results).toHaveLength(3)
      const third = yield* runExperiment(experiment, registry, { fresh: true })
      expect(third.skipped).toBe(0)
    }).pipe(Effect.provide(services))
  )

  it.effect("--shard k/n runs every n-th plan", () =>
    Effect.gen(function* () {
      const root = tempDir()
      const { experiment, registry } = yield* load(specText(root))
      const a = yield* runExperiment(experiment, registry, { shard: { k: 0, n: 2 } })
      expect(a.results.map((r) => r.dataset.trainCount).sort((x, y) => x - y)).toEqual([8, 32])
      expect(a.missing).toBe(1)
      const b = yield* runExperiment(experiment, registry, { shard: { k: 1, n: 2 } })
      expect(b.results).toHaveLength(3)
      expect(b.skipped).toBe(0)
    }).pipe(Effect.provide(services))
  )

  it.effect("a failing run is recorded, not committed, and the other runs go on", () =>
    Effect.gen(function* () {
      const root = tempDir()
      const { experiment, registry } = yield* load(specText(root).replace("train: { kind: counting }", "train: { kind: counting, failAt: train }"))
      const outcome = yield* runExperiment(experiment, registry)
      expect(outcome.failures).toHaveLength(3)
      expect(outcome.results).toHaveLength(0)
      const id = outcome.failures[0]!.plan.runId
      expect(fs.existsSync(path.join(root, "toy", id, "result.json"))).toBe(false)
      expect(JSON.parse(fs.readFileSync(path.join(root, "toy", id, "error.json"), "utf8"))).toMatchObject({ tag: "ModelError", message: "asked to fail" })
    }).pipe(Effect.provide(services))
  )

  it.effect("plugin modules: a clash and a non-plugin export are clear errors", () =>
    Effect.gen(function* () {
      const base = yield* makeRegistry([], "built-in")
      const twice = yield* Effect.flip(withPluginModules(base, ["./unigram-plugins.ts", "./unigram-plugins.ts"], fixtures))
      expect(twice.message).toMatch(/defines dataset plugin "toy-skewed", but a dataset plugin with that name is already registered/)
      const bad = yield* Effect.flip(withPluginModules(base, ["./not-a-plugin.ts"], fixtures))
      expect(bad.message).toMatch(/export #0 is not a plugin/)
      const missing = yield* Effect.flip(withPluginModules(base, ["./nope.ts"], fixtures))
      expect(missing.message).toMatch(/cannot load plugin module "\.\/nope\.ts"/)
    })
  )
})

describe("reliability: a store that cannot lie", () => {
  const corruptions: ReadonlyArray<[string, string]> = [
    ["an empty list", "[]"],
    ["a runId only", '{"runId":5}'],
    ["a truncated file", '{"runId": "ab'],
    ["another run's result", "OTHER"],
    ["another config's result", "FOREIGN"]
  ]
  for (const [what, content] of corruptions) {
    it.effect(`a result.json that is ${what} is not complete: the run is redone with a warning, the bad file kept beside it`, () =>
      Effect.gen(function* () {
        const root = tempDir()
        const { experiment, registry } = yield* load(specText(root))
        const first = yield* runExperiment(experiment, registry)
        const victim = first.results[1]!
        const file = path.join(root, "toy", victim.runId, "result.json")
        const text =
          content === "OTHER"
            ? JSON.stringify({ ...victim, runId: "someone-else" })
            : content === "FOREIGN"
              ? JSON.stringify({ ...victim, config: { ...victim.config, seed: 99 } })
              : content
        fs.writeFileSync(file, text)
        const logs: Array<string> = []
        const progress = Layer.succeed(Progress, {
          runStarted: () => Effect.void,
          trainProgress: () => Effect.void,
          runFinished: () => Effect.void,
          log: (l: string) =>
            Effect.sync(() => {
              logs.push(l)
            }),
          close: Effect.void
        })
        const second = yield* runExperiment(experiment, registry).pipe(Effect.provide(progress))
        expect(second.skipped).toBe(2)
        expect(second.results).toHaveLength(3)
        expect(logs.some((l) => l.includes(file) && l.includes("not a valid result") && l.includes("redone"))).toBe(true)
        const kept = fs.readdirSync(path.dirname(file)).filter((f) => f.startsWith("result.json.invalid-"))
        expect(kept).toHaveLength(1)
        expect(fs.readFileSync(path.join(path.dirname(file), kept[0]!), "utf8")).toBe(text)
        expect(JSON.parse(fs.readFileSync(file, "utf8")).runId).toBe(victim.runId)
      }).pipe(Effect.provide(services))
    )
  }

  it.effect("an allocation failure inside one run becomes that run's error.json (run id, cause); the sweep goes on", () =>
    Effect.gen(function* () {
      const root = tempDir()
      // vocab 2^47: the counting trainer's Float64Array(V) cannot be allocated (a real RangeError).
      const { experiment, registry } = yield* load(
        specText(root).replace("sweep: { grid: { dataset.samples: [8, 16, 32] } }", "sweep: { grid: { dataset.vocab: [8, 140737488355328, 16] } }")
      )
      const outcome = yield* runExperiment(experiment, registry)
      expect(outcome.results).toHaveLength(2)
      expect(outcome.failures).toHaveLength(1)
      const failed = outcome.failures[0]!
      expect(failed.error._tag).toBe("RunDefect")
      const record = JSON.parse(fs.readFileSync(path.join(root, "toy", failed.plan.runId, "error.json"), "utf8"))
      expect(record).toMatchObject({ runId: failed.plan.runId, configHash: failed.plan.configHash, tag: "RunDefect" })
      expect(record.message).toMatch(/RangeError: Array buffer allocation failed/)
      expect(record.cause).toMatch(/Array buffer allocation failed/)
      expect(fs.existsSync(path.join(root, "toy", failed.plan.runId, "result.json"))).toBe(false)
      expect(fs.existsSync(path.join(root, "toy", failed.plan.runId, "claim.json"))).toBe(false)
    }).pipe(Effect.provide(services))
  )

  it.effect("forced short run ids: colliding prefixes get longer folder names, within a sweep and against the store", () =>
    Effect.gen(function* () {
      const root = tempDir()
      const text = specText(root).replace(
        "sweep: { grid: { dataset.samples: [8, 16, 32] } }",
        "sweep: { grid: { dataset.samples: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20] } }"
      )
      const source = yield* parseYamlSpec(path.join(fixtures, "spec.yaml"), text)
      const registry = yield* withPluginModules(yield* makeRegistry([], "built-in"), (source.value as { plugins: Array<string> }).plugins, fixtures)
      // One hex digit: 20 runs in 16 folders must collide.
      const experiment = yield* decodeExperiment(source, registry, { runIdLength: 1 })
      const ids = experiment.plans.map((p) => p.runId)
      expect(new Set(ids).size).toBe(20)
      expect(ids.some((id) => id.length > 1)).toBe(true)
      for (const p of experiment.plans) expect(p.configHash.startsWith(p.runId)).toBe(true)
      // A folder already owned by another config (an earlier sweep): the run goes to a longer name.
      const short = experiment.plans.find((p) => p.runId.length === 1)!
      fs.mkdirSync(path.join(root, "toy", short.runId), { recursive: true })
      fs.writeFileSync(path.join(root, "toy", short.runId, "identity.json"), JSON.stringify({ configHash: "f".repeat(64) }))
      fs.writeFileSync(path.join(root, "toy", short.runId, "result.json"), JSON.stringify(validResult(short.runId, { other: true })))
      const outcome = yield* runExperiment(experiment, registry)
      expect(outcome.results).toHaveLength(20)
      expect(outcome.failures).toHaveLength(0)
      const moved = outcome.results.find((r) => JSON.stringify(r.config) === JSON.stringify(short.config))!
      expect(moved.runId).toBe(short.configHash.slice(0, 16))
      // The other config's folder is untouched.
      expect(JSON.parse(fs.readFileSync(path.join(root, "toy", short.runId, "result.json"), "utf8")).config).toEqual({ other: true })
    }).pipe(Effect.provide(services))
  )

  it.effect("a store of another format is refused with a clear message", () =>
    Effect.gen(function* () {
      const root = tempDir()
      fs.mkdirSync(path.join(root, "exp"), { recursive: true })
      fs.writeFileSync(path.join(root, "exp", "store.json"), JSON.stringify({ format: 999, writtenBy: "memorize 9.9.9" }))
      const error = yield* Effect.flip(makeRunStore(root, "exp"))
      expect(error.message).toMatch(/format 999 \(written by memorize 9\.9\.9\); this memorize .* reads format 2/)
    }).pipe(Effect.provide(services))
  )

  it.effect("a failed write keeps the OS reason and path, and leaves no temporary file", () =>
    Effect.gen(function* () {
      const root = tempDir()
      const store = yield* makeRunStore(root, "exp")
      fs.writeFileSync(path.join(root, "exp", "afile"), "")
      const error = yield* Effect.flip(store.writeFile("afile/result.json", "{}"))
      expect(error.code).toMatch(/ENOTDIR|EEXIST/)
      expect(error.message).toMatch(/ENOTDIR|EEXIST/)
      expect(error.path).toBe(path.join(root, "exp", "afile", "result.json"))
      expect(fs.readdirSync(path.join(root, "exp")).filter((f) => f.includes(".tmp-"))).toEqual([])
    }).pipe(Effect.provide(services))
  )
})

describe("contracts core fills from plugins, not names", () => {
  /** The fixture's counting trainer, which also saves (a marker file) and reloads what it saved. */
  const savingTrainer = (counts: { trained: number; reloaded: number }) =>
    definePlugin({
      kind: "trainer",
      name: "saving-counting",
      description: "counting, with save and reload (tests only)",
      config: Schema.Struct({}),
      make: () => (input) =>
        Effect.map(countingTrainer.make({})(input), (model) => {
          counts.trained++
          return {
            ...model,
            save: (dir: string) =>
              Effect.sync(() => {
                fs.mkdirSync(dir, { recursive: true })
                fs.writeFileSync(path.join(dir, "counts.bin"), "")
              })
          }
        }),
      reload: () => (dir, input) =>
        Effect.gen(function* () {
          expect(fs.existsSync(path.join(dir, "counts.bin"))).toBe(true)
          counts.reloaded++
          return yield* countingTrainer.make({})(input)
        })
    })

  it.effect("a reference model is trained once, saved, and reloaded by later runs through its trainer's reload", () =>
    Effect.gen(function* () {
      const root = tempDir()
      const counts = { trained: 0, reloaded: 0 }
      const { experiment, registry } = yield* load(specText(root, "reference: { dataset: { samples: 8 }, train: { kind: saving-counting } }"), [
        savingTrainer(counts)
      ])
      const outcome = yield* runExperiment(experiment, registry)
      expect(outcome.failures).toEqual([])
      expect(counts).toEqual({ trained: 1, reloaded: 2 })
      const refs = fs.readdirSync(path.join(root, "toy", "references"))
      expect(refs).toHaveLength(1)
      expect(JSON.parse(fs.readFileSync(path.join(root, "toy", "references", refs[0]!, "saved.json"), "utf8")).trainer).toBe("saving-counting")
    }).pipe(Effect.provide(services))
  )

  it.effect("a metric value JSON cannot hold is refused, naming the metric and the key; a law's becomes its { error }", () =>
    Effect.gen(function* () {
      const root = tempDir()
      const badMetric = definePlugin({
        kind: "metric",
        name: "bad-values",
        description: "returns values JSON cannot hold (tests only)",
        config: Schema.Struct({ what: Schema.Literals(["typed", "nan", "undefined"]) }),
        make: (c) => () =>
          Effect.succeed(
            (c.what === "typed" ? { bits: new Float64Array(2) } : c.what === "nan" ? { holdout: { totalBits: NaN } } : { total: undefined }) as never
          )
      })
      const badLaw = definePlugin({
        kind: "law",
        name: "bad-fit",
        description: "fits NaN (tests only)",
        config: Schema.Struct({}),
        make: () => () => Effect.succeed({ alpha: NaN })
      })
      const want = { typed: /key "bits" is a Float64Array/, nan: /key "holdout\.totalBits" is NaN, not a finite number/, undefined: /key "total" is undefined/ }
      for (const [what, message] of Object.entries(want)) {
        const spec = specText(root)
          .replace("metrics: [ { kind: toy-bits } ]", `metrics: [ { kind: bad-values, what: ${what} } ]`)
          .replace("laws: [ { kind: run-count } ]", "laws: [ { kind: bad-fit } ]")
          .replace("name: toy", `name: toy-${what}`)
        const loaded = yield* load(spec, [badMetric, badLaw])
        const outcome = yield* runExperiment(loaded.experiment, loaded.registry)
        expect(outcome.failures).toHaveLength(3)
        const error = outcome.failures[0]!.error
        expect(error._tag).toBe("MetricError")
        expect(error.message).toMatch(message)
        expect((error as { metric?: string }).metric).toBe("bad-values")
        expect(outcome.laws["bad-fit"]).toEqual({ error: expect.stringMatching(/key "alpha" is NaN/) })
      }
    }).pipe(Effect.provide(services))
  )

  it.effect("the store records the spec's plugin modules (resolved), the report loads them back; summary columns come from metrics", () =>
    Effect.gen(function* () {
      const root = tempDir()
      const { experiment, registry } = yield* load(specText(root))
      const outcome = yield* runExperiment(experiment, registry)
      const record = JSON.parse(fs.readFileSync(path.join(root, "toy", "plugins.json"), "utf8"))
      expect(record.modules).toEqual([{ specifier: path.join(fixtures, "unigram-plugins.ts"), path: path.join(fixtures, "unigram-plugins.ts") }])
      const folder = yield* loadExperimentFolder(path.join(root, "toy"))
      expect(folder.pluginModules).toEqual([path.join(fixtures, "unigram-plugins.ts")])
      const table = resultsTable(outcome.results, registry).split("\n")
      expect(table[0]).toMatch(/toy bits/)
      expect(table[2]).toMatch(/\d+\.\d\s+\S+$/)
      // Without the metric's plugin, the column is not there (core names no metric).
      expect(resultsTable(outcome.results, yield* makeRegistry([], "built-in"))).not.toMatch(/toy bits/)
    }).pipe(Effect.provide(services))
  )

  it.effect("the store refuses to write JSON a reader could not decode back", () =>
    Effect.gen(function* () {
      const root = tempDir()
      const store = yield* makeRunStore(root, "exp")
      const error = yield* Effect.flip(store.writeJson("laws.json", { capacity: { alpha: Infinity } }))
      expect(error.message).toMatch(/key "capacity\.alpha" is Infinity/)
      expect(fs.existsSync(path.join(root, "exp", "laws.json"))).toBe(false)
      expect(jsonProblem({ a: [1, { b: new Map() }] }, "")).toMatch(/key "a\[1\]\.b" is a Map/)
      expect(jsonProblem({ a: [1, "x", null, true, { b: -0.5 }] }, "")).toBeUndefined()
    }).pipe(Effect.provide(services))
  )
})
