/**
 * `membership-f1` law: fits F1 = ½(1 + c1·σ(c2·(x + c3))) (f1-law.ts) to the
 * runs' membership-inference F1 by Levenberg–Marquardt from several starts.
 * Output keys (laws.json):
 *
 *   feature, alpha, f1Key     what x is and which F1 was fitted
 *   n                         points used (runs with the F1 value)
 *   constants {c1, c2, c3}, stdErrors {c1, c2, c3} | null (n = 3), ssr, rmse
 *   converged, iterations
 *   points [{ runId, paramCount, trainCount, x, f1, predicted, residual,
 *             paperPredicted (the paper's law evaluated for this run) }]
 *   paper                     the paper's law in the form that reproduces its validation
 *   heldOut                   with config.holdout { path, values }: the runs whose config
 *                             value at `path` (dotted, e.g. "dataset.samples") is one of
 *                             `values` are left out of the fit and predicted by it:
 *                             { path, values, n, points [...as above], rmse, meanAbsError,
 *                               maxAbsError }; null without config.holdout
 *
 * `predict` answers `memorize predict` from these constants (a laws.json or
 * a constants file) or the paper's.
 */
import { Effect, Schema } from "effect"
import { readFileSync } from "node:fs"
import { definePlugin, definePredict, LawError, PositiveNumber, withDefault, type RunResult } from "@memorize/core"
import { type MembershipF1Fit, MembershipF1FitSchema } from "./membership-f1-fit.ts"
import { featureOf, fitF1Law, invertF1, PAPER_LAW, predictF1, type F1Law, type Feature } from "./f1-law.ts"
import { at, metricNumber, sortRuns } from "./results.ts"
import { readsProblems } from "./reads.ts"
import { membershipF1Report } from "../report/membership-f1.ts"

export const MEMBERSHIP_F1 = "membership-f1"

export const MembershipF1Config = Schema.Struct({
  feature: withDefault(
    Schema.Literals(["capacityPerSample", "samplesPerParameter"]).annotate({
      description: "x of the law: capacityPerSample = α·P/|D| (the paper's printed form) or samplesPerParameter = |D|/P"
    }),
    "capacityPerSample"
  ),
  alpha: withDefault(
    PositiveNumber.annotate({ description: "bits per parameter turning P into Capacity = α·P (feature capacityPerSample); the paper: 3.64" }),
    PAPER_LAW.alpha
  ),
  /**
   * Which membership-inference F1 to fit. The law tends to ½ at chance, so the
   * default is f1TopHalf (label-free, chance exactly ½); f1Best's chance level
   * is 2/3 and f1Calibrated's lies between, so fits to them misplace the tail.
   */
  f1Key: withDefault(
    Schema.String.annotate({ description: "the membership-inference F1 to fit: f1TopHalf (chance ½, the law's limit), f1Best (chance 2/3) or f1Calibrated" }),
    "f1TopHalf"
  ),
  holdout: Schema.optional(
    Schema.Struct({
      path: Schema.String.annotate({ description: "dotted path into a run's resolved config: dataset.samples, model.dModel, seed..." }),
      values: Schema.Array(Schema.Unknown).annotate({ description: "a run is held out when its value at path equals one of these" })
    })
  ).annotate({ description: "runs left out of the fit and predicted by it (validation on held-out runs)" })
})
export type MembershipF1Config = typeof MembershipF1Config.Type

const lawError = (message: string) => new LawError({ law: MEMBERSHIP_F1, message })

export const fitMembershipF1 =
  (config: MembershipF1Config) =>
  (results: ReadonlyArray<RunResult>): Effect.Effect<MembershipF1Fit, LawError> =>
    Effect.gen(function* () {
      const all = sortRuns(
        results.flatMap((result) => {
          const f1 = metricNumber(result, "membership-inference", config.f1Key)
          return f1 === undefined ? [] : [{ result, f1 }]
        })
      )
      const holdout = config.holdout
      const wanted = holdout === undefined ? [] : holdout.values.map((v) => JSON.stringify(v))
      const isHeldOut = (r: RunResult) => holdout !== undefined && wanted.includes(JSON.stringify(at(r.config, holdout.path) ?? null))
      const runs = all.filter((r) => !isHeldOut(r.result))
      const held = all.filter((r) => isHeldOut(r.result))
      if (runs.length < 3) {
        return yield* Effect.fail(
          lawError(
            `fitting c1, c2, c3 needs at least 3 runs with metrics["membership-inference"].${config.f1Key}, got ${runs.length} of ${results.length} results` +
              (held.length > 0 ? ` (${held.length} held out by ${holdout!.path})` : "")
          )
        )
      }
      const law0 = { feature: config.feature as Feature, alpha: config.alpha }
      const xs = runs.map((r) => featureOf(law0, r.result.model.paramCount, r.result.dataset.trainCount))
      const ys = runs.map((r) => r.f1)
      if (new Set(xs).size < 3) {
        return yield* Effect.fail(lawError(`fitting 3 constants needs at least 3 distinct values of ${config.feature}, got ${new Set(xs).size}`))
      }
      const fit = fitF1Law(xs, ys)
      if (fit === undefined) return yield* Effect.fail(lawError("no starting point converged to finite constants"))
      const [c1, c2, c3] = fit.params
      const law: F1Law = { ...law0, constants: { c1, c2, c3 } }
      const pointOf = (r: { result: RunResult; f1: number }) => {
        const predicted = predictF1(law, r.result.model.paramCount, r.result.dataset.trainCount)
        const paperPredicted = predictF1(PAPER_LAW, r.result.model.paramCount, r.result.dataset.trainCount)
        const x = featureOf(law0, r.result.model.paramCount, r.result.dataset.trainCount)
        return {
          runId: r.result.runId,
          paramCount: r.result.model.paramCount,
          trainCount: r.result.dataset.trainCount,
          x,
          f1: r.f1,
          predicted,
          residual: r.f1 - predicted,
          paperPredicted
        }
      }
      const points = runs.map(pointOf)
      const heldPoints = held.map(pointOf)
      const heldOut: MembershipF1Fit["heldOut"] =
        holdout === undefined
          ? null
          : {
              path: holdout.path,
              values: holdout.values,
              n: heldPoints.length,
              points: heldPoints,
              rmse: heldPoints.length === 0 ? null : Math.sqrt(heldPoints.reduce((a, p) => a + p.residual ** 2, 0) / heldPoints.length),
              meanAbsError: heldPoints.length === 0 ? null : heldPoints.reduce((a, p) => a + Math.abs(p.residual), 0) / heldPoints.length,
              maxAbsError: heldPoints.length === 0 ? null : Math.max(...heldPoints.map((p) => Math.abs(p.residual)))
            }
      return {
        feature: config.feature,
        alpha: config.alpha,
        f1Key: config.f1Key,
        n: runs.length,
        constants: { c1, c2, c3 },
        stdErrors: fit.stdErrors === null ? null : { c1: fit.stdErrors[0], c2: fit.stdErrors[1], c3: fit.stdErrors[2] },
        ssr: fit.ssr,
        rmse: Math.sqrt(fit.ssr / runs.length),
        converged: fit.converged,
        iterations: fit.iterations,
        points,
        heldOut,
        paper: PAPER_LAW
      }
    })

const isObj = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)
const isNum = (u: unknown): u is number => typeof u === "number" && Number.isFinite(u)

/**
 * Reads a law from a laws.json (its "membership-f1" entry), a fit object
 * ({ feature, alpha, constants: {c1,c2,c3} }) or plain { c1, c2, c3 [, feature, alpha] }.
 * A file without `feature` means the printed form (x = Capacity/|D|).
 */
export const lawFromJson = (u: unknown, source: string): Effect.Effect<F1Law, LawError> => {
  const entry = isObj(u) && isObj(u[MEMBERSHIP_F1]) ? u[MEMBERSHIP_F1] : u
  if (!isObj(entry)) return Effect.fail(lawError(`${source}: expected a JSON object with constants c1, c2, c3`))
  const c = isObj(entry["constants"]) ? entry["constants"] : entry
  if (!isNum(c["c1"]) || !isNum(c["c2"]) || !isNum(c["c3"])) {
    return Effect.fail(lawError(`${source}: needs numeric constants c1, c2, c3 (top level, under "constants", or under "${MEMBERSHIP_F1}")`))
  }
  const feature = entry["feature"] ?? "capacityPerSample"
  if (feature !== "capacityPerSample" && feature !== "samplesPerParameter") {
    return Effect.fail(lawError(`${source}: feature must be "capacityPerSample" or "samplesPerParameter", got ${JSON.stringify(feature)}`))
  }
  const alpha = entry["alpha"] ?? PAPER_LAW.alpha
  if (!isNum(alpha) || alpha <= 0) return Effect.fail(lawError(`${source}: alpha must be a positive number`))
  return Effect.succeed({ feature, alpha, constants: { c1: c["c1"], c2: c["c2"], c3: c["c3"] } })
}

export const loadLaw = (constants: string | undefined): Effect.Effect<F1Law, LawError> =>
  constants === undefined || constants === "paper"
    ? Effect.succeed(PAPER_LAW)
    : Effect.flatMap(
        Effect.try({
          try: () => JSON.parse(readFileSync(constants, "utf8")) as unknown,
          catch: (e) => lawError(`cannot read constants file ${constants}: ${(e as Error).message}`)
        }),
        (u) => lawFromJson(u, constants)
      )

const fmt = (x: number) => (Math.abs(x) >= 1e4 ? x.toExponential(4) : x.toPrecision(6))

export const describeLaw = (law: F1Law, source: string): string =>
  `${source}: F1 = ½(1 + ${fmt(law.constants.c1)}·σ(${fmt(law.constants.c2)}·(x + ${fmt(law.constants.c3)}))), x = ${law.feature === "capacityPerSample" ? `${law.alpha}·P/|D|` : "|D|/P"}`

/** What `memorize predict --law membership-f1` reads: --params, and --samples or --f1. */
export const PredictInput = Schema.Struct({
  params: Schema.Finite,
  samples: Schema.optional(Schema.Finite),
  f1: Schema.optional(Schema.Finite),
  /** "paper", or the path of a laws.json / constants JSON file. */
  constants: withDefault(Schema.String, "paper")
})
export type PredictInput = typeof PredictInput.Type

export const predict = (request: PredictInput): Effect.Effect<string, LawError> =>
  Effect.gen(function* () {
    if (!(request.params > 0)) return yield* Effect.fail(lawError(`--params must be a positive number, got ${request.params}`))
    if ((request.samples === undefined) === (request.f1 === undefined)) {
      return yield* Effect.fail(lawError("give exactly one of --samples N (to predict F1) or --f1 F (to find the dataset size)"))
    }
    const law = yield* loadLaw(request.constants)
    const lines = [describeLaw(law, `constants ${request.constants}`)]
    if (request.samples !== undefined) {
      if (!(request.samples > 0)) return yield* Effect.fail(lawError(`--samples must be a positive number, got ${request.samples}`))
      lines.push(
        `predicted membership F1 for P = ${request.params} parameters, |D| = ${request.samples} sequences: ${predictF1(law, request.params, request.samples).toFixed(4)}`
      )
    }
    if (request.f1 !== undefined) {
      const inv = invertF1(law, request.params, request.f1)
      if (!inv.ok) return yield* Effect.fail(lawError(inv.reason))
      lines.push(
        `dataset size for membership F1 = ${request.f1} at P = ${request.params} parameters: ${Math.round(inv.samples)} sequences (${inv.samples.toExponential(4)})`
      )
    }
    return lines.join("\n")
  })

const predictHook = definePredict({
  description: "membership-inference F1 from the fitted law (or the dataset size for a target F1)",
  flags: [
    { name: "params", type: "number", description: "model parameter count P" },
    { name: "samples", type: "number", description: "training set size |D| (sequences): prints the predicted membership F1" },
    { name: "f1", type: "number", description: "target membership F1: prints the dataset size that gives it" },
    { name: "constants", type: "string", description: '"paper" (default) or a laws.json / constants JSON file' }
  ],
  input: PredictInput,
  run: predict
})

export const membershipF1Plugin = definePlugin({
  kind: "law",
  name: MEMBERSHIP_F1,
  description:
    "Membership-inference scaling law F1 = ½(1 + c1·σ(c2·(Capacity/|D| + c3))): Levenberg–Marquardt fit with standard errors; predicts F1 or the dataset size for a target F1.",
  config: MembershipF1Config,
  output: MembershipF1FitSchema,
  check: (c, input) => readsProblems(MEMBERSHIP_F1, [{ field: "f1Key", metric: "membership-inference", key: c.f1Key }], input),
  make: fitMembershipF1,
  report: (fit, results) => membershipF1Report(fit, results),
  predict: predictHook
})
