/**
 * A check for a GPU machine (run there from the device bundle): trains a
 * small GPT-2 on synthetic data with the real plugins, saves it in Hugging
 * Face layout, and writes the sequences with our per-sequence code lengths,
 * so bench/hf_check.py can load the model with transformers'
 * GPT2LMHeadModel and compare. Prints adapter info and training speed.
 *
 *   node .device/bench-device.mjs OUTDIR [layers dModel vocab seqLen samples steps batch precision]
 */
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { syntheticUniform } from "@memorize/datasets"
import { gpt2ModelPlugin, webgpuTrainerPlugin, WebGpu, adapterProvenance } from "@memorize/gpu-webgpu"

const [outDir = "device-out", L = "1", d = "32", V = "2048", S = "64", N = "512", steps = "300", batch = "512", precision = "fp32"] = process.argv.slice(2)
fs.mkdirSync(outDir, { recursive: true })

const program = Effect.gen(function* () {
  const gpu = yield* WebGpu
  console.log(JSON.stringify({ adapter: adapterProvenance(gpu) }))
  const context = { seed: 0, specDir: process.cwd(), runDir: outDir, cacheDir: path.join(outDir, ".cache") }
  const dsConfig = Schema.decodeUnknownSync(syntheticUniform.config)({ vocab: Number(V), seqLen: Number(S), samples: Number(N), holdout: 64 })
  const dataset = yield* syntheticUniform.make(dsConfig)(context)
  const model = gpt2ModelPlugin.make(Schema.decodeUnknownSync(gpt2ModelPlugin.config)({ layers: Number(L), dModel: Number(d), heads: 4 }))({
    vocabSize: dataset.vocabSize,
    seqLen: dataset.seqLen
  })
  const trainConfig = Schema.decodeUnknownSync(webgpuTrainerPlugin.config)({
    precision,
    batchSize: Number(batch),
    lr: 3e-3,
    warmupSteps: 20,
    maxSteps: Number(steps),
    logEvery: 50
  })
  const started = Date.now()
  const trained = yield* webgpuTrainerPlugin.make(trainConfig)({
    model,
    dataset,
    context,
    onProgress: (e) => Effect.sync(() => console.log(JSON.stringify({ step: e.step, loss: e.loss, tokensPerSecond: Math.round(e.tokensPerSecond) })))
  })
  console.log(JSON.stringify({ trained: trained.train, params: trained.paramCount, wallMs: Date.now() - started }))
  const evalStart = Date.now()
  const bits = yield* trained.codeLengths(dataset.train)
  const evalMs = Date.now() - evalStart
  console.log(JSON.stringify({ evalSequencesPerSecond: Math.round(dataset.train.count / (evalMs / 1000)) }))
  yield* trained.save(path.join(outDir, "model"))
  const rows: Array<string> = []
  for (let i = 0; i < Math.min(64, dataset.train.count); i++) {
    rows.push(JSON.stringify({ tokens: Array.from(dataset.train.tokens.subarray(i * dataset.seqLen, (i + 1) * dataset.seqLen)), bits: bits[i] }))
  }
  fs.writeFileSync(path.join(outDir, "sequences.jsonl"), rows.join("\n") + "\n")
})

Effect.runPromise(Effect.scoped(program).pipe(Effect.provide(Layer.mergeAll(WebGpu.layer, NodeServices.layer))) as Effect.Effect<void, unknown>).then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
