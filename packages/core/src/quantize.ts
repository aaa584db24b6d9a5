/**
 * From a model's float32 logits to integer frequencies summing to T = 2^P,
 * every frequency ≥ 1, computed identically by encoder and decoder.
 *
 * This is the definition of the frequencies an arithmetic-coded file
 * (`memorize compress`) is written with. It lives in core because a backend
 * may compute them faster (`NextTokenStepper.quantize`, the CPU addon's
 * native/quantize.cc): such a twin must give these integers bit for bit, and
 * its tests compare it with this file.
 *
 * Determinism: only IEEE-754 +, −, ×, ÷ and floor are used (correctly
 * rounded everywhere); 2^x is our own table + polynomial, not Math.exp,
 * whose last bit may differ between JavaScript engines. Accuracy (≈1e-15
 * relative) only matters for the measured quantization loss, not for
 * decodability.
 *
 * Frequencies: with B = T − V, f_s = 1 + ⌊p_s·B⌋ and the remainder
 * B − Σ⌊p_s·B⌋ (< V) goes to the most probable symbol. Then
 * f_s/T > p_s·B/T = p_s·(1 − V/T) for every s, so coding with f costs at most
 * −log2(1 − V/T) bits per token more than −log2 p (`quantizationBound`).
 */

// The definition spells its constants out (the same doubles as Math.LN2 and Math.LOG2E), as native/quantize.cc does.
// biome-ignore lint/suspicious/noApproximativeNumericConstant: written out on purpose, see above
const LN2 = 0.6931471805599453
// biome-ignore lint/suspicious/noApproximativeNumericConstant: written out on purpose, see above
const LOG2E = 1.4426950408889634
/** Below 2^−80 a probability is 0 for quantization (it gets the floor frequency 1 anyway). */
const MIN_EXP = -80
const FRACTION_STEPS = 64

/** e^y for |y| ≤ 0.7 by its Taylor series to y^18 (error < 1e-17 relative). */
const expSeries = (y: number): number => {
  let term = 1
  let sum = 1
  for (let k = 1; k <= 18; k++) {
    term = (term * y) / k
    sum += term
  }
  return sum
}

// 2^(n/64) for n = −5120…0, built once by the same exact operations everywhere:
// 2^k (k ≤ 0) by halving, 2^(j/64) by the series, their product.
const POW64 = (() => {
  const fraction = Float64Array.from({ length: FRACTION_STEPS }, (_, j) => expSeries((j / FRACTION_STEPS) * LN2))
  const halves = new Float64Array(-MIN_EXP + 1)
  halves[0] = 1
  for (let k = 1; k < halves.length; k++) halves[k] = halves[k - 1] / 2
  return Float64Array.from({ length: -MIN_EXP * FRACTION_STEPS + 1 }, (_, i) => {
    const n = i + MIN_EXP * FRACTION_STEPS
    const k = Math.floor(n / FRACTION_STEPS)
    return halves[-k] * fraction[n - k * FRACTION_STEPS]
  })
})()
const OFFSET = -MIN_EXP * FRACTION_STEPS
const STEP_LN2 = LN2 / FRACTION_STEPS

/**
 * 2^x for x ≤ 0 (0 below 2^−80): 2^(n/64) from the table, n = ⌊64x⌋, times
 * e^r for the rest r = (64x − n)·ln2/64 < 0.011 by its series to r^6 (error
 * < 4e-18 relative). 64x and 64x − n are exact.
 */
export const exp2NonPositive = (x: number): number => {
  if (!(x >= MIN_EXP)) return 0
  const y = x * FRACTION_STEPS
  const n = Math.floor(y)
  const r = (y - n) * STEP_LN2
  return POW64[n + OFFSET] * (1 + r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r / 720))))))
}

/** −log2(1 − V/2^P): the most quantization can add to one token's code length, bits. */
export const quantizationBound = (vocab: number, P: number): number => -Math.log2(1 - vocab / 2 ** P)

/**
 * −log2 p of a logit l in a row with maximum m and Z = Σ 2^((l' − m)·log2 e):
 * (m − l)·log2 e + log2 Z. For reports and bounds, not part of the code.
 */
export const logitBitsOf = (max: number, sum: number, logit: number): number => (max - logit) * LOG2E + Math.log2(sum)

/** Working buffers for one vocabulary size, reused across rows. */
export interface Quantizer {
  readonly vocab: number
  readonly P: number
  /** Quantizes row `row` of `logits` (rows of `vocab` floats) into `freq`; throws RangeError on NaN/+∞. */
  readonly quantize: (logits: Float32Array, row: number) => void
  /** f_s after `quantize` (integers below 2^24: int32 arithmetic is exact). */
  readonly freq: Int32Array
  /** Σ_{s' < s} f_s' of the row last quantized: where symbol s's interval starts. */
  readonly cumLow: (s: number) => number
  /** −log2 p_s of the row last quantized, from the same logits (the model's own code length of s). */
  readonly logitBits: (s: number) => number
  /** The row last quantized: its maximum logit m and Z = Σ 2^((l − m)·log2 e) (what `QuantizedRows.stats` holds per row). */
  readonly lastMax: () => number
  readonly lastSum: () => number
  /** cum[0] = 0, cum[s + 1] = cum[s] + f_s, cum[V] = 2^P; filled by `cumulate`. */
  readonly cum: Int32Array
  readonly cumulate: () => void
}

/*
 * Speed: the coder quantizes every row of V logits once per direction, so
 * these loops are most of its time (README, "Verified compression"). 2^x is
 * written out inside the exponential loop (the same operations as
 * exp2NonPositive, so the same doubles), and ⌊e·scale⌋ is an int32
 * truncation: 0 ≤ e·scale ≤ 2^P − V < 2^31, where truncation is floor.
 */
export const makeQuantizer = (vocab: number, P: number): Quantizer => {
  const T = 2 ** P
  const budget = T - vocab
  if (!(budget > 0)) throw new RangeError(`a vocabulary of ${vocab} needs more than 2^${P} total frequency`)
  const freq = new Int32Array(vocab)
  const e = new Float64Array(vocab)
  const cum = new Int32Array(vocab + 1)
  let z = 0
  let max = 0
  let last: Float32Array = new Float32Array(vocab)
  let lastBase = 0
  const quantize = (logits: Float32Array, row: number): void => {
    const base = row * vocab
    let m = -Infinity
    let best = 0
    for (let s = 0; s < vocab; s++) {
      const l = logits[base + s]
      if (l > m) {
        m = l
        best = s
      }
    }
    if (!Number.isFinite(m)) throw new RangeError(`logits row ${row} has no finite maximum (${m})`)
    // A local sum (a captured variable in this loop would be a memory write per logit); kept in `z` after.
    let sum = 0
    for (let s = 0; s < vocab; s++) {
      const l = logits[base + s]
      if (!(l <= m)) throw new RangeError(`logits row ${row} has a non-finite value at ${s}`)
      // exp2NonPositive((l − m)·log2 e), inlined.
      const x = (l - m) * LOG2E
      let v = 0
      if (x >= MIN_EXP) {
        const y = x * FRACTION_STEPS
        const n = Math.floor(y)
        const r = (y - n) * STEP_LN2
        v = POW64[n + OFFSET] * (1 + r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r / 720))))))
      }
      e[s] = v
      sum += v
    }
    let assigned = 0
    z = sum
    const scale = budget / z
    for (let s = 0; s < vocab; s++) {
      const g = (e[s] * scale) | 0
      freq[s] = 1 + g
      assigned += g
    }
    // The remainder (0 ≤ it < V up to rounding) goes to the most probable symbol.
    freq[best] += budget - assigned
    max = m
    last = logits
    lastBase = base
  }
  return {
    vocab,
    P,
    freq,
    cum,
    quantize,
    cumLow: (s) => {
      let c = 0
      for (let k = 0; k < s; k++) c += freq[k]
      return c
    },
    logitBits: (s) => logitBitsOf(max, z, last[lastBase + s]),
    lastMax: () => max,
    lastSum: () => z,
    cumulate: () => {
      let c = 0
      for (let s = 0; s < vocab; s++) {
        cum[s] = c
        c += freq[s]
      }
      cum[vocab] = c
    }
  }
}
