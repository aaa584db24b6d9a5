/**
 * One step's rows of logits turned into the coder's frequencies: by the
 * stepper's own `quantize` where it has one (the CPU backend's native loops),
 * else by the definition (`makeQuantizer`, core's quantize.ts) row by row.
 * Both give the same integers, so which one ran changes only the speed, never
 * a file: encoder and decoder may even take different paths.
 */
import { Effect } from "effect"
import { makeQuantizer, ModelError, type NextTokenStepper, type QuantizedRows } from "@memorize/core"

/** `rows` rows of `vocab` logits into `QuantizedRows`; a refused row is a ModelError naming sequence `first + row` and position `t`. */
export type StepQuantizer = (
  stepper: NextTokenStepper,
  logits: Float32Array,
  rows: number,
  first: number,
  t: number
) => Effect.Effect<QuantizedRows, ModelError>

const refusal = (first: number, row: number, t: number, e: unknown) =>
  new ModelError({ message: `logits of sequence ${first + row} at position ${t}: ${e instanceof Error ? e.message : String(e)}` })

export const makeStepQuantizer = (vocab: number, P: number): StepQuantizer => {
  const q = makeQuantizer(vocab, P)
  const W = vocab + 1
  let cum = new Int32Array(0)
  let stats = new Float64Array(0)

  // The definition, row by row, into buffers shaped as a stepper's `quantize` fills them.
  const byDefinition = (logits: Float32Array, rows: number, first: number, t: number) =>
    Effect.try({
      try: (): QuantizedRows => {
        if (cum.length < rows * W) {
          cum = new Int32Array(rows * W)
          stats = new Float64Array(rows * 2)
        }
        for (let i = 0; i < rows; i++) {
          try {
            q.quantize(logits, i)
          } catch (e) {
            throw refusal(first, i, t, e)
          }
          q.cumulate()
          cum.set(q.cum, i * W)
          stats[2 * i] = q.lastMax()
          stats[2 * i + 1] = q.lastSum()
        }
        return { cum, stats, refused: -1 }
      },
      catch: (e) => (e instanceof ModelError ? e : new ModelError({ message: String(e) }))
    })

  // A row the fast path refuses is named by the definition's own error, so both paths fail alike.
  const named = (logits: Float32Array, row: number, first: number, t: number) =>
    Effect.suspend(() => {
      try {
        q.quantize(logits, row)
      } catch (e) {
        return Effect.fail(refusal(first, row, t, e))
      }
      return Effect.fail(
        new ModelError({
          message: `the model's quantizer refused the logits of sequence ${first + row} at position ${t}, which the definition (quantize.ts) accepts`
        })
      )
    })

  return (stepper, logits, rows, first, t) => {
    const fast = stepper.quantize
    if (fast === undefined) return byDefinition(logits, rows, first, t)
    return Effect.flatMap(
      Effect.try({
        try: () => fast(logits, P),
        catch: (e) => new ModelError({ message: `the model's quantizer failed at position ${t}: ${e instanceof Error ? e.message : String(e)}` })
      }),
      (out) => (out.refused >= 0 ? named(logits, out.refused, first, t) : Effect.succeed(out))
    )
  }
}
