/**
 * The kinds of number metric outputs store, each one Schema, so that every
 * metric's output Schema says the same thing by the same name.
 */
import { Schema } from "effect"

/** An amount of information in bits. Finite: every set a metric summarizes is non-empty. */
export const Bits = Schema.Finite

/** A share of a set (a rate, F1, AUC): in [0, 1]. */
export const Rate = Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }))
