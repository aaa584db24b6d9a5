/**
 * Metrics end to end on an imported model: a GPT-2 checkpoint written as
 * safetensors (Hugging Face layout) is loaded by the `checkpoint` trainer,
 * measured by every metric through the interpreter, and its numbers are
 * checked against an independent float64 evaluation of the same weights.
 */
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { decodeExperiment, makeRegistry, parseYamlSpec, pluginLayers, Progress, runExperiment } from "@memorize/core"
import { syntheticUniform } from "@memorize/datasets"
import { initGpt2Weights, saveCheckpoint } from "@memorize/gpu-webgpu"
import { oracleCodeLengths } from "../packages/gpu-webgpu/test/oracle/gpt2.ts"
import { builtinPlugins } from "../bin/plugins.ts"

describe("metrics on an imported safetensors model", () => {
  it.effect("checkpoint → memorization, membership, extraction, loss; code lengths match float64", () =>
    Effect.gen(function* () {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "memorize-imported-"))
      const shape = { vocabSize: 16, nPositions: 12, layers: 1, dModel: 16, heads: 2, layerNormEps: 1e-5, activation: "gelu_new" as const, tiedHead: true }
      const weights = initGpt2Weights(shape, 7)
      yield* saveCheckpoint(path.join(dir, "model"), weights)
      const specFile = path.join(dir, "spec.yaml")
      const text = `name: imported
dataset: { kind: synthetic-uniform, vocab: 16, seqLen: 12, samples: 24, holdout: 24 }
model: { kind: gpt2, layers: 1, dModel: 16, heads: 2 }
train: { kind: checkpoint, path: model }
metrics:
  - { kind: memorization }
  - { kind: membership-inference }
  - { kind: extraction, prefixLengths: [4, 8] }
  - { kind: loss }
store: { root: ${path.join(dir, "runs")}, saveModels: false }
`
      const registry = yield* makeRegistry(builtinPlugins, "built-in")
      const experiment = yield* decodeExperiment(yield* parseYamlSpec(specFile, text), registry)
      const outcome = yield* runExperiment(experiment, registry).pipe(Effect.provide(pluginLayers(experiment)))
      expect(outcome.failures.map((f) => f.error.message)).toEqual([])
      const r = outcome.results[0]!
      expect(r.train?.stopReason).toBe("loaded")
      expect(Object.keys(r.metrics).sort()).toEqual(["extraction", "loss", "membership-inference", "memorization"])

      // The same data and weights, evaluated in float64 on the CPU.
      const dataset = yield* Effect.scoped(
        syntheticUniform.make(Schema.decodeUnknownSync(syntheticUniform.config)({ vocab: 16, seqLen: 12, samples: 24, holdout: 24 }))({
          seed: 0,
          specDir: dir,
          runDir: dir,
          cacheDir: dir
        })
      )
      const bits = oracleCodeLengths(weights, dataset.train)
      const h = 12 * 4
      const expectedTotal = Array.from(bits).reduce((acc, l) => acc + Math.max(0, h - l), 0)
      const mem = r.metrics["memorization"] as { totalBits: number; codeLength: { meanBits: number } }
      const meanBits = Array.from(bits).reduce((a, b) => a + b, 0) / bits.length
      expect(mem.codeLength.meanBits).toBeCloseTo(meanBits, 2)
      expect(Math.abs(mem.totalBits - expectedTotal)).toBeLessThan(0.05 + 1e-3 * expectedTotal)
      // An untrained model knows nothing: memorization is tiny next to the data's entropy.
      expect(mem.totalBits).toBeLessThan(0.1 * 24 * h)
      const mia = r.metrics["membership-inference"] as { auc: number; members: number; nonMembers: number }
      expect(mia.auc).toBeGreaterThanOrEqual(0)
      expect(mia.auc).toBeLessThanOrEqual(1)
    }).pipe(Effect.provide(Layer.mergeAll(NodeServices.layer, Progress.silent)))
  )
})
