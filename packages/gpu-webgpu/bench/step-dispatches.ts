/**
 * Every dispatch of one training step, in order and tagged by pass: forward,
 * backward (with the loss), gradient norm and AdamW, as gpu-model.ts's
 * stepper builds them, for a model of the bench shape with seeded weights.
 * A batch wider than the adapter's micro-batch limit is trained as `accum`
 * micro-batches (train/loop.ts's microBatching): the list then holds one
 * micro-batch's forward and backward, which the trainer runs `accum` times
 * before the optimizer. The workgroups and profile benches both read this list.
 */
import { Effect } from "effect"
import type { Dispatch } from "../src/device/gpu.ts"
import { storageBuffer } from "../src/device/gpu.ts"
import { adamw } from "../src/kernels/adamw.ts"
import type { MatmulTile } from "../src/kernels/matmul.ts"
import { REDUCE_GROUPS, totalSum } from "../src/kernels/reduce.ts"
import { makeGpuGpt2Engine } from "../src/model/gpu-model.ts"
import { initGpt2Weights } from "../src/model/init.ts"
import { microBatching } from "../src/train/loop.ts"
import { benchShape } from "./setup.ts"

export type StepPass = "forward" | "backward" | "optimizer"

export const stepDispatches = (
  c: { readonly V: number; readonly S: number; readonly L: number; readonly d: number; readonly B: number },
  tile: MatmulTile,
  fuseGelu = true
) =>
  Effect.gen(function* () {
    const engine = yield* makeGpuGpt2Engine(initGpt2Weights(benchShape(c), 0), { precision: "fp32", tile, fuseGelu })
    const { micro, accum } = microBatching(c.B, engine.maxMicroBatch(c.S), undefined)
    const plan = yield* engine.plan(micro, c.S)
    const { device, layout } = engine
    const sl = (b: GPUBuffer, n: number) => ({ buffer: b, offset: 0, size: n * 4 })
    const n = layout.total
    const all = sl(engine.grads, n)
    const normSq = sl(storageBuffer(device, "normSq", 1), 1)
    const norm = yield* totalSum(device, {
      n,
      x: all,
      out: normSq,
      partials: sl(storageBuffer(device, "partials", REDUCE_GROUPS), REDUCE_GROUPS),
      square: true,
      accumulate: false
    })
    const opt = yield* adamw(device, {
      n,
      decayEnd: layout.decayEnd,
      params: sl(engine.params, n),
      grads: all,
      m: sl(storageBuffer(device, "m", n), n),
      v: sl(storageBuffer(device, "v", n), n),
      normSq,
      roundParamsBf16: false
    })
    const list: ReadonlyArray<readonly [StepPass, Dispatch]> = [
      ...plan.forward.map((d) => ["forward", d] as const),
      ...plan.backward.map((d) => ["backward", d] as const),
      ...norm.map((d) => ["optimizer", d] as const),
      ["optimizer", opt.dispatch] as const
    ]
    return { engine, list, micro, accum }
  })
