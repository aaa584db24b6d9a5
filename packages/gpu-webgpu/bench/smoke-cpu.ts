import { Effect } from "effect"
import { makeCpuGpt2Engine } from "../src/cpu/cpu-model.ts"
import { initGpt2Weights } from "../src/model/init.ts"
import { referenceCodeLengths } from "../src/reference/gpt2.ts"
import { trainLoop } from "../src/train/loop.ts"

const shape = { vocabSize: 16, seqLen: 8, layers: 2, dModel: 16, heads: 2, layerNormEps: 1e-5, activation: "gelu_new" as const, tiedHead: true }
const main = Effect.gen(function* () {
  const w = initGpt2Weights(shape, 3)
  const eng = yield* makeCpuGpt2Engine(w, { precision: "fp32" })
  const seqs = { vocabSize: 16, seqLen: 8, count: 5, tokens: Uint32Array.from({ length: 40 }, (_, i) => (i * 7 + 3) % 16) }
  const a = yield* eng.codeLengths(seqs)
  const r = referenceCodeLengths(w, seqs)
  console.log("cpu", Array.from(a).map((x) => x.toFixed(5)).join(" "))
  console.log("ref", Array.from(r).map((x) => x.toFixed(5)).join(" "))
  const out = yield* trainLoop(eng, seqs, { batchSize: 5, lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, warmupSteps: 0, schedule: "constant", maxSteps: 300, gradClip: 1, stop: {}, logEvery: 50, seed: 0 }, (e) => Effect.sync(() => console.log(e.step, e.loss.toFixed(4))))
  console.log(out.finalLoss, yield* eng.codeLengths(seqs))
  console.log("gen", yield* eng.generate({ ...seqs, seqLen: 2, count: 5, tokens: Uint32Array.from({ length: 10 }, (_, i) => seqs.tokens[Math.floor(i / 2) * 8 + (i % 2)]) }, 6))
})
Effect.runPromise(Effect.scoped(main)).then(() => process.exit(0), (e) => { console.error(e); process.exit(1) })
