/**
 * The WebGPU backend's incremental pass as evaluation.ts's `decoder`, over
 * step plans (step-plan.ts). A plan is costly to make (buffers, dispatches)
 * and a coder asks for a decoder per batch and direction, all of a few
 * shapes, so plans are pooled by shape: a decoder takes a free plan of its
 * shape or makes one, and gives it back once its last position is fed (the
 * logits are read back by then). A decoder dropped earlier keeps its plan
 * out of the pool; the scope `make` allocates in frees every plan.
 */
import { type DeviceError, ModelError } from "@memorize/core"
import { Effect } from "effect"
import { type BatchDecoder, feedProblem } from "./evaluation.ts"
import type { StepPlan } from "./step-plan.ts"

/** `decoder(B, T)` of a model of vocabulary V whose plans come from `make`. */
export const pooledDecoders = (V: number, make: (B: number, T: number) => Effect.Effect<StepPlan, DeviceError>) => {
  const free = new Map<string, Array<StepPlan>>()
  const toModelError = (e: DeviceError) => new ModelError({ message: `incremental pass: ${e.message}` })
  return (B: number, T: number): Effect.Effect<BatchDecoder, ModelError> =>
    Effect.gen(function* () {
      const pool = free.get(`${B}x${T}`) ?? []
      free.set(`${B}x${T}`, pool)
      const plan = pool.pop() ?? (yield* Effect.mapError(make(B, T), toModelError))
      // The decoder's own logits (the next step, not another decoder's, may overwrite them).
      const out = new Float32Array(B * V)
      let pos = 0
      return {
        step: (tokens) =>
          Effect.gen(function* () {
            const problem = feedProblem(B, T, V, pos, tokens)
            if (problem !== undefined) return yield* Effect.fail(new ModelError({ message: problem }))
            yield* Effect.mapError(plan.run(pos, tokens, out), toModelError)
            if (++pos === T) pool.push(plan)
            return out
          })
      } satisfies BatchDecoder
    })
}
