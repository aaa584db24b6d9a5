import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import {
  decodeExperiment,
  makeRegistry,
  makeRunStore,
  parseYamlSpec,
  Progress,
  runExperiment,
  withPluginModules,
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

const load = (text: string) =>
  Effect.gen(function*() {
    const source = yield* parseYamlSpec(path.join(fixtures, "spec.yaml"), text)
    const base = yield* makeRegistry([], "built-in")
    const registry = yield* withPluginModules(base, (source.value as { plugins: Array<string> }).plugins, fixtures)
    return { experiment: yield* decodeExperiment(source, registry), registry }
  })

describe("run store", () => {
  it.effect("commits result.json atomically: no temporary file is left, the content is whole", () =>
    Effect.gen(function*() {
      const root = tempDir()
      const store = yield* makeRunStore(root, "exp")
      const result = { runId: "abc", experiment: "exp", metrics: {} } as unknown as RunResult
      yield* store.commit(result)
      expect(fs.readdirSync(path.join(root, "exp", "abc"))).toEqual(["result.json"])
      expect((yield* store.readResult("abc"))?.runId).toBe("abc")
      expect(yield* store.readResult("missing")).toBeUndefined()
    }).pipe(Effect.provide(services)))

  it.effect("a run folder without result.json (a crash between writes) does not count as complete", () =>
    Effect.gen(function*() {
      const root = tempDir()
      const store = yield* makeRunStore(root, "exp")
      yield* store.writeFile("r1/config.json", "{}")
      // A temp file of an interrupted commit, never renamed:
      fs.writeFileSync(path.join(root, "exp", "r1", "result.json.tmp-1-x"), "{\"runId\":")
      expect(yield* store.readResult("r1")).toBeUndefined()
      expect(yield* store.allResults()).toEqual([])
    }).pipe(Effect.provide(services)))
})

describe("interpreter", () => {
  it.effect("runs every plan, fits laws, and resumes by skipping complete runs", () =>
    Effect.gen(function*() {
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
    }).pipe(Effect.provide(services)))

  it.effect("--shard k/n runs every n-th plan", () =>
    Effect.gen(function*() {
      const root = tempDir()
      const { experiment, registry } = yield* load(specText(root))
      const a = yield* runExperiment(experiment, registry, { shard: { k: 0, n: 2 } })
      expect(a.results.map((r) => r.dataset.trainCount).sort((x, y) => x - y)).toEqual([8, 32])
      expect(a.missing).toBe(1)
      const b = yield* runExperiment(experiment, registry, { shard: { k: 1, n: 2 } })
      expect(b.results).toHaveLength(3)
      expect(b.skipped).toBe(0)
    }).pipe(Effect.provide(services)))

  it.effect("a failing run is recorded, not committed, and the other runs go on", () =>
    Effect.gen(function*() {
      const root = tempDir()
      const { experiment, registry } = yield* load(specText(root).replace("train: { kind: counting }", "train: { kind: counting, failAt: train }"))
      const outcome = yield* runExperiment(experiment, registry)
      expect(outcome.failures).toHaveLength(3)
      expect(outcome.results).toHaveLength(0)
      const id = outcome.failures[0]!.plan.runId
      expect(fs.existsSync(path.join(root, "toy", id, "result.json"))).toBe(false)
      expect(JSON.parse(fs.readFileSync(path.join(root, "toy", id, "error.json"), "utf8"))).toMatchObject({ tag: "ModelError", message: "asked to fail" })
    }).pipe(Effect.provide(services)))

  it.effect("plugin modules: a clash and a non-plugin export are clear errors", () =>
    Effect.gen(function*() {
      const base = yield* makeRegistry([], "built-in")
      const twice = yield* Effect.flip(withPluginModules(base, ["./unigram-plugins.ts", "./unigram-plugins.ts"], fixtures))
      expect(twice.message).toMatch(/defines dataset plugin "toy-skewed", but a dataset plugin with that name is already registered/)
      const bad = yield* Effect.flip(withPluginModules(base, ["./not-a-plugin.ts"], fixtures))
      expect(bad.message).toMatch(/export #0 is not a plugin/)
      const missing = yield* Effect.flip(withPluginModules(base, ["./nope.ts"], fixtures))
      expect(missing.message).toMatch(/cannot load plugin module "\.\/nope\.ts"/)
    }))
})
