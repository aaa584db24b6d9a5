/**
 * Many-model packing (packing.ts, the interpreter's chunks): real plugins, a
 * real store. The trainer gathers under a key made of the dataset's vocab (as
 * a GPU trainer's key holds the model's shape), makes a shared value that
 * logs its close, then trains by counting.
 */
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Schema, Scope } from "effect"
import fc from "fast-check"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { countingTrainer, toyDataset, unigramModel } from "../../../test/fixtures/unigram-plugins.ts"
import {
  DatasetError,
  decodeExperiment,
  definePlugin,
  gatherPack,
  makePackRendezvous,
  makeRegistry,
  packChunks,
  Packing,
  parseYamlSpec,
  plainProgress,
  PositiveInt,
  Progress,
  runExperiment,
  TrainError,
  withDefault,
  type RunOptions
} from "../src/index.ts"

const services = Layer.mergeAll(NodeServices.layer, Progress.silent)
const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "memorize-packing-"))

interface Log {
  /** Each make: the key and the group size it was asked for. */
  readonly makes: Array<{ key: string; size: number }>
  /** Each training: its samples, key, place in its group and the group's shared value. */
  readonly groups: Array<{ samples: number; key: string; index: number; size: number; shared: number }>
  /** Whether core provided Packing to each training call. */
  readonly provided: Array<boolean>
  readonly events: Array<string>
}
const newLog = (): Log => ({ makes: [], groups: [], provided: [], events: [] })

/** The fixture's toy dataset, which may fail or take its time. */
const flakyDataset = definePlugin({
  kind: "dataset",
  name: "flaky",
  description: "toy-skewed that can fail or be slow (tests only)",
  config: Schema.Struct({
    vocab: withDefault(PositiveInt, 8),
    samples: PositiveInt,
    fail: withDefault(Schema.Boolean, false),
    delayMs: withDefault(Schema.Finite, 0)
  }),
  make: (c) => (ctx) =>
    c.fail
      ? Effect.fail(new DatasetError({ dataset: "flaky", message: "asked to fail" }))
      : Effect.andThen(Effect.sleep(c.delayMs), toyDataset.make({ vocab: c.vocab, seqLen: 4, samples: c.samples })(ctx))
})

const packedTrainer = (log: Log) =>
  definePlugin({
    kind: "trainer",
    name: "packed",
    description: "counting, in packs (tests only)",
    config: Schema.Struct({
      pack: withDefault(PositiveInt, 4),
      lane: withDefault(Schema.String, "a"),
      failMakeAtVocab: Schema.optional(PositiveInt)
    }),
    packing: { size: (c) => c.pack, shared: (c) => ({ lane: c.lane }) },
    make: (c) => (input) =>
      Effect.gen(function* () {
        log.provided.push((yield* Effect.serviceOption(Packing))._tag === "Some")
        const key = `V=${input.dataset.vocabSize}`
        log.events.push(`gathering ${input.dataset.train.count}`)
        const group = yield* gatherPack(key, (size) =>
          Effect.gen(function* () {
            const id = log.makes.length
            log.makes.push({ key, size })
            yield* Effect.addFinalizer(() => Effect.sync(() => log.events.push(`shared ${id} closed`)))
            if (c.failMakeAtVocab === input.dataset.vocabSize) return yield* new TrainError({ message: `no room for ${size} models` })
            return id
          })
        )
        log.groups.push({ samples: input.dataset.train.count, key, index: group.index, size: group.size, shared: group.shared })
        const model = yield* countingTrainer.make({})(input)
        log.events.push(`trained ${input.dataset.train.count}`)
        return model
      })
  })

const probeMetric = (log: Log) =>
  definePlugin({
    kind: "metric",
    name: "probe",
    description: "logs that it ran (tests only)",
    config: Schema.Struct({}),
    make: () => (subject) =>
      Effect.sync(() => {
        log.events.push(`metric ${subject.dataset.train.count}`)
        return {}
      })
  })

const specText = (root: string, { train = "", dataset = "", sweep = "grid: { dataset.samples: [8, 16, 32] }", extra = "" } = {}) => `name: packs
dataset: { kind: flaky, samples: 8${dataset} }
model: { kind: unigram }
train: { kind: packed${train} }
metrics: [ { kind: probe } ]
store: { root: "${root}", saveModels: false }
sweep: { ${sweep} }
${extra}`

const run = (text: string, log: Log, options: RunOptions = {}) =>
  Effect.gen(function* () {
    const source = yield* parseYamlSpec(path.join(os.tmpdir(), "spec.yaml"), text)
    const registry = yield* makeRegistry([flakyDataset, unigramModel, packedTrainer(log), probeMetric(log)], "built-in")
    const experiment = yield* decodeExperiment(source, registry)
    return { experiment, outcome: yield* runExperiment(experiment, registry, options) }
  })

const byIndex = (groups: Log["groups"]) => [...groups].sort((a, b) => a.samples - b.samples)
/** Groups in the order they were made, members by index (members of a group resume in no fixed order). */
const inOrder = (groups: Log["groups"]) => [...groups].sort((a, b) => a.shared - b.shared || a.index - b.index)

/** The chunk made one group, under key V=8, of the runs of these dataset sizes, indexed in that order. */
const expectOneGroup = (log: Log, samples: ReadonlyArray<number>) => {
  expect(log.makes).toEqual([{ key: "V=8", size: samples.length }])
  expect(byIndex(log.groups).map((g) => [g.samples, g.index, g.size])).toEqual(samples.map((n, i) => [n, i, samples.length]))
}

describe("packing through the interpreter", () => {
  it.effect("the runs of one chunk gather into one group (plan order), make runs once, and the shared scope closes after the last run", () =>
    Effect.gen(function* () {
      const log = newLog()
      const { outcome } = yield* run(specText(tempDir()), log)
      expect(outcome.failures).toEqual([])
      expect(outcome.results).toHaveLength(3)
      expect(log.provided).toEqual([true, true, true])
      expect(log.makes).toEqual([{ key: "V=8", size: 3 }])
      expect(byIndex(log.groups).map((g) => [g.samples, g.index, g.size, g.shared])).toEqual([
        [8, 0, 3, 0],
        [16, 1, 3, 0],
        [32, 2, 3, 0]
      ])
      // Every run's metrics (inside its scope) come before the shared value is released.
      expect(log.events.at(-1)).toBe("shared 0 closed")
      expect(log.events.filter((e) => e.startsWith("metric"))).toHaveLength(3)
    }).pipe(Effect.provide(services))
  )

  it.effect("different keys in one chunk form separate groups; buckets (trainer's shared config) are cut into chunks of at most size", () =>
    Effect.gen(function* () {
      const log = newLog()
      const { outcome } = yield* run(specText(tempDir(), { sweep: "grid: { dataset.vocab: [8, 16], dataset.samples: [8, 16] }" }), log)
      expect(outcome.results).toHaveLength(4)
      expect(log.makes.map((m) => m.size)).toEqual([2, 2])
      expect(new Set(log.makes.map((m) => m.key))).toEqual(new Set(["V=8", "V=16"]))
      for (const key of ["V=8", "V=16"]) {
        const groups = log.groups.filter((g) => g.key === key)
        expect(groups.map((g) => [g.samples, g.index, g.size]).sort()).toEqual([
          [16, 1, 2],
          [8, 0, 2]
        ])
        expect(new Set(groups.map((g) => g.shared)).size).toBe(1)
      }

      // Two lanes (the trainer's shared part differs): never in one pack; each lane's 3 runs as packs of 2 and 1.
      const lanes = newLog()
      const second = yield* run(specText(tempDir(), { train: ", pack: 2", sweep: "grid: { train.lane: [a, b], dataset.samples: [8, 16, 32] }" }), lanes)
      expect(second.outcome.results).toHaveLength(6)
      expect(lanes.makes.map((m) => m.size)).toEqual([2, 1, 2, 1])
      expect(inOrder(lanes.groups).map((g) => [g.samples, g.index, g.size])).toEqual([
        [8, 0, 2],
        [16, 1, 2],
        [32, 0, 1],
        [8, 0, 2],
        [16, 1, 2],
        [32, 0, 1]
      ])
    }).pipe(Effect.provide(services))
  )

  it.effect("a run whose dataset fails leaves its chunk: the others train and complete, its error.json is written", () =>
    Effect.gen(function* () {
      const log = newLog()
      const root = tempDir()
      const { outcome } = yield* run(specText(root, { sweep: "zip: { dataset.samples: [8, 16, 32], dataset.fail: [false, true, false] }" }), log)
      expect(outcome.results.map((r) => r.dataset.trainCount).sort((a, b) => a - b)).toEqual([8, 32])
      expect(outcome.failures).toHaveLength(1)
      const failed = outcome.failures[0]!.plan.runId
      expect(JSON.parse(fs.readFileSync(path.join(root, "packs", failed, "error.json"), "utf8"))).toMatchObject({ tag: "DatasetError" })
      for (const r of outcome.results) expect(fs.existsSync(path.join(root, "packs", r.runId, "result.json"))).toBe(true)
      expectOneGroup(log, [8, 32])
    }).pipe(Effect.provide(services))
  )

  it.effect("resume: a chunk whose other runs are complete packs only the pending ones", () =>
    Effect.gen(function* () {
      const root = tempDir()
      const sweep = "grid: { dataset.samples: [8, 16, 24, 32] }"
      const first = yield* run(specText(root, { sweep }), newLog())
      expect(first.outcome.results).toHaveLength(4)
      for (const r of first.outcome.results.filter((r) => r.dataset.trainCount === 16 || r.dataset.trainCount === 32))
        fs.rmSync(path.join(root, "packs", r.runId, "result.json"))
      const log = newLog()
      const second = yield* run(specText(root, { sweep }), log)
      expect(second.outcome.skipped).toBe(2)
      expect(second.outcome.results).toHaveLength(4)
      expectOneGroup(log, [16, 32])
    }).pipe(Effect.provide(services))
  )

  it.effect("--shard selects first, then the shard's runs are packed", () =>
    Effect.gen(function* () {
      const log = newLog()
      const { outcome } = yield* run(specText(tempDir(), { sweep: "grid: { dataset.samples: [8, 16, 24, 32] }" }), log, { shard: { k: 1, n: 2 } })
      expect(outcome.missing).toBe(2)
      expectOneGroup(log, [16, 32])
    }).pipe(Effect.provide(services))
  )

  it.effect("a failing make fails every member of its group with its error; the other group completes", () =>
    Effect.gen(function* () {
      const log = newLog()
      const root = tempDir()
      const { outcome } = yield* run(
        specText(root, { train: ", failMakeAtVocab: 16", sweep: "grid: { dataset.vocab: [8, 16], dataset.samples: [8, 16] }" }),
        log
      )
      expect(outcome.results.map((r) => r.dataset.vocabSize)).toEqual([8, 8])
      expect(outcome.failures).toHaveLength(2)
      for (const f of outcome.failures) {
        expect(f.error).toMatchObject({ _tag: "TrainError", message: "no room for 2 models" })
        expect(JSON.parse(fs.readFileSync(path.join(root, "packs", f.plan.runId, "error.json"), "utf8"))).toMatchObject({
          tag: "TrainError",
          message: "no room for 2 models"
        })
      }
      // make ran once per group; the failed group's scope was closed too.
      expect(log.makes).toHaveLength(2)
      expect(log.events.filter((e) => e.startsWith("shared")).sort()).toEqual(["shared 0 closed", "shared 1 closed"])
    }).pipe(Effect.provide(services))
  )

  it.effect("size 1: no Packing, runs one after another as before; a reference model never gets Packing", () =>
    Effect.gen(function* () {
      const log = newLog()
      const lines: Array<string> = []
      const { outcome } = yield* run(specText(tempDir(), { train: ", pack: 1" }), log, { concurrency: 2 }).pipe(
        Effect.provide(
          Layer.succeed(
            Progress,
            plainProgress((l) => lines.push(l))
          )
        )
      )
      expect(outcome.results).toHaveLength(3)
      expect(log.provided).toEqual([false, false, false])
      expect(log.makes.map((m) => m.size)).toEqual([1, 1, 1])
      expect(log.events.filter((e) => !e.startsWith("shared"))).toEqual([
        "gathering 8",
        "trained 8",
        "metric 8",
        "gathering 16",
        "trained 16",
        "metric 16",
        "gathering 32",
        "trained 32",
        "metric 32"
      ])
      expect(lines).toContain('--concurrency 2 ignored: trainer "packed" runs one model at a time')

      const packed = newLog()
      const packedLines: Array<string> = []
      const second = yield* run(specText(tempDir(), { extra: "reference: { dataset: { samples: 8 }, train: { kind: packed } }" }), packed, {
        concurrency: 2
      }).pipe(
        Effect.provide(
          Layer.succeed(
            Progress,
            plainProgress((l) => packedLines.push(l))
          )
        )
      )
      expect(second.outcome.results).toHaveLength(3)
      // Main models first (they train together), then each run's reference, alone.
      expect(packed.provided).toEqual([true, true, true, false, false, false])
      expect(packed.makes.map((m) => m.size)).toEqual([3, 1, 1, 1])
      expect(packedLines).toContain('--concurrency 2 ignored: trainer "packed" trains up to 4 runs at once as one pack')
    }).pipe(Effect.provide(services))
  )

  it.live("interrupting the sweep while runs wait at the rendezvous (Ctrl-C) ends it promptly, claims released", () =>
    Effect.gen(function* () {
      const log = newLog()
      const root = tempDir()
      const fiber = yield* Effect.forkChild(run(specText(root, { sweep: "zip: { dataset.samples: [8, 16, 32], dataset.delayMs: [0, 0, 60000] }" }), log))
      // Two runs wait for the third, whose dataset takes a minute.
      while (log.events.filter((e) => e.startsWith("gathering")).length < 2) yield* Effect.sleep(10)
      const exit = yield* Fiber.interrupt(fiber).pipe(
        Effect.andThen(Fiber.await(fiber)),
        Effect.timeoutOrElse({ duration: 5000, orElse: () => Effect.die("the sweep hung") })
      )
      expect(Exit.hasInterrupts(exit)).toBe(true)
      const runs = fs.readdirSync(path.join(root, "packs")).filter((f) => fs.statSync(path.join(root, "packs", f)).isDirectory())
      for (const r of runs) {
        expect(fs.existsSync(path.join(root, "packs", r, "claim.json"))).toBe(false)
        expect(fs.existsSync(path.join(root, "packs", r, "result.json"))).toBe(false)
      }
      expect(log.makes).toEqual([])
    }).pipe(Effect.provide(services))
  )

  it.live("worker mode: a run another process holds leaves its chunk; it is packed again once free", () =>
    Effect.gen(function* () {
      const log = newLog()
      const root = tempDir()
      const text = specText(root)
      const source = yield* parseYamlSpec(path.join(os.tmpdir(), "spec.yaml"), text)
      const registry = yield* makeRegistry([flakyDataset, unigramModel, packedTrainer(log), probeMetric(log)], "built-in")
      const experiment = yield* decodeExperiment(source, registry)
      const held = experiment.plans[1]!
      const claim = path.join(root, "packs", held.runId, "claim.json")
      fs.mkdirSync(path.dirname(claim), { recursive: true })
      const now = new Date().toISOString()
      fs.writeFileSync(claim, JSON.stringify({ holder: "elsewhere:1:ab", host: os.hostname(), pid: process.pid, claimedAt: now, heartbeatAt: now }))
      // The other process finishes without a result (it was stopped): the claim goes.
      yield* Effect.forkChild(
        Effect.andThen(
          Effect.sleep(300),
          Effect.sync(() => fs.rmSync(claim))
        )
      )
      const outcome = yield* runExperiment(experiment, registry, { worker: true, pollMs: 50 }).pipe(Effect.timeout(10_000))
      expect(outcome.results).toHaveLength(3)
      expect(outcome.heldElsewhere).toBe(0)
      expect(log.makes.map((m) => m.size)).toEqual([2, 1])
      expect(inOrder(log.groups).map((g) => [g.samples, g.index, g.size])).toEqual([
        [8, 0, 2],
        [32, 1, 2],
        [16, 0, 1]
      ])
      expect(log.provided).toEqual([true, true, true])
    }).pipe(Effect.provide(services))
  )
})

describe("the rendezvous", () => {
  const makeOf = (made: Array<number>) => (size: number) =>
    Effect.sync(() => {
      made.push(size)
      return `shared of ${size}`
    })

  it.live("a member interrupted while waiting counts as left: the others form their group without it", () =>
    Effect.gen(function* () {
      const made: Array<number> = []
      const members = yield* makePackRendezvous(3)
      const gather = (i: number) => Effect.scoped(members[i]!.packing.gather("k", makeOf(made)))
      const first = yield* Effect.forkChild(gather(0))
      // Its scope stays open: the interruption itself, not the scope's close, makes it leave.
      const second = yield* Effect.forkChild(Scope.provide(members[1]!.packing.gather("k", makeOf(made)), yield* Scope.make()))
      yield* Effect.sleep(20)
      yield* Fiber.interrupt(second)
      const third = yield* gather(2)
      expect(yield* Fiber.join(first)).toEqual({ shared: "shared of 2", index: 0, size: 2 })
      expect(third).toEqual({ shared: "shared of 2", index: 1, size: 2 })
      expect(made).toEqual([2])
    }).pipe(Effect.timeout(2000))
  )

  it.live("the group's first member interrupted while its make runs: the others still get the value", () =>
    Effect.gen(function* () {
      const members = yield* makePackRendezvous(2)
      const make = (size: number) => Effect.as(Effect.sleep(50), size)
      const first = yield* Effect.forkChild(Effect.scoped(members[0]!.packing.gather("k", make)))
      const second = yield* Effect.forkChild(Effect.scoped(members[1]!.packing.gather("k", make)))
      yield* Effect.sleep(10)
      yield* Fiber.interrupt(first)
      expect(yield* Fiber.join(second)).toEqual({ shared: 2, index: 1, size: 2 })
    }).pipe(Effect.timeout(2000))
  )

  it.live("leave before gathering, leave twice, gather after the chunk formed (alone), and different keys", () =>
    Effect.gen(function* () {
      const made: Array<number> = []
      const members = yield* makePackRendezvous(4)
      yield* members[3]!.leave
      yield* members[3]!.leave
      const a = yield* Effect.forkChild(Effect.scoped(members[0]!.packing.gather("a", makeOf(made))))
      const b = yield* Effect.forkChild(Effect.scoped(members[1]!.packing.gather("b", makeOf(made))))
      const c = yield* Effect.scoped(members[2]!.packing.gather("a", makeOf(made)))
      expect(yield* Fiber.join(a)).toEqual({ shared: "shared of 2", index: 0, size: 2 })
      expect(yield* Fiber.join(b)).toEqual({ shared: "shared of 1", index: 0, size: 1 })
      expect(c).toEqual({ shared: "shared of 2", index: 1, size: 2 })
      const late = yield* Effect.scoped(members[3]!.packing.gather("a", makeOf(made)))
      expect(late).toEqual({ shared: "shared of 1", index: 0, size: 1 })
      expect(made.sort()).toEqual([1, 1, 2])
    }).pipe(Effect.timeout(2000))
  )

  it.effect("the shared scope closes only once the last member's scope has closed", () =>
    Effect.gen(function* () {
      const members = yield* makePackRendezvous(2)
      let closed = 0
      const make = (size: number) =>
        Effect.as(
          Effect.addFinalizer(() => Effect.sync(() => closed++)),
          size
        )
      const scopes = [yield* Scope.make(), yield* Scope.make()] as const
      const first = yield* Effect.forkChild(Scope.provide(members[0]!.packing.gather("k", make), scopes[0]))
      const second = yield* Scope.provide(members[1]!.packing.gather("k", make), scopes[1])
      expect((yield* Fiber.join(first)).size).toBe(2)
      expect(second.index).toBe(1)
      yield* Scope.close(scopes[1], Exit.void)
      expect(closed).toBe(0)
      yield* Scope.close(scopes[0], Exit.void)
      expect(closed).toBe(1)
    })
  )

  it("chunks partition the plans: at most size each, one key per chunk, plan order kept", () => {
    fc.assert(
      fc.property(fc.array(fc.nat(4), { maxLength: 40 }), fc.array(fc.integer({ min: -1, max: 6 }), { minLength: 5, maxLength: 5 }), (keys, sizes) => {
        const plans = keys.map((key, index) => ({ index, key: `k${key}` }))
        const sizeOf = (p: { key: string }) => sizes[Number(p.key.slice(1))]!
        const chunks = packChunks(plans, (p) => p.key, sizeOf)
        expect(
          chunks
            .flat()
            .map((p) => p.index)
            .sort((a, b) => a - b)
        ).toEqual(plans.map((p) => p.index))
        for (const chunk of chunks) {
          expect(chunk.length).toBeGreaterThan(0)
          expect(chunk.length).toBeLessThanOrEqual(Math.max(1, sizeOf(chunk[0]!)))
          expect(new Set(chunk.map((p) => p.key)).size).toBe(1)
          expect(chunk.map((p) => p.index)).toEqual([...chunk.map((p) => p.index)].sort((a, b) => a - b))
        }
        // Within a key, chunks follow plan order, and only the last chunk of a key may be short.
        for (const key of new Set(plans.map((p) => p.key))) {
          const ofKey = chunks.filter((c) => c[0]!.key === key)
          expect(ofKey.flat().map((p) => p.index)).toEqual(plans.filter((p) => p.key === key).map((p) => p.index))
          const size = Math.max(1, sizeOf({ key }))
          for (const c of ofKey.slice(0, -1)) expect(c).toHaveLength(size)
        }
      })
    )
  })
})
