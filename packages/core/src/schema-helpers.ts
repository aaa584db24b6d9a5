/** Small helpers plugin authors use to declare config fields with defaults. */
import { Effect, Schema } from "effect"

/** A config field that takes `value` when the spec leaves it out. */
export const withDefault = <S extends Schema.Top>(schema: S, value: S["Encoded"]) => schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

/** A positive integer (> 0). */
export const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
/** A non-negative integer (≥ 0). */
export const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
/** A finite number > 0. */
export const PositiveNumber = Schema.Finite.check(Schema.isGreaterThan(0))
